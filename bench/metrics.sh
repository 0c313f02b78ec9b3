#!/usr/bin/env bash
# Keel's built-in metrics against the pandas + scikit-learn (numpy/scipy for
# drift) equivalent, end to end on the same generated Parquet files: read,
# compute, write the JSON result. Usage: bench/metrics.sh [ROWS...]
# (default 1000000 10000000). See bench/metrics/README.md.
#   KEEL_BENCH_KINDS      comma-separated subset of binary,multiclass,regression,drift
#   KEEL_BENCH_RUNS       runs per side (default 3 below 10M rows, 1 from 10M); median wall
#   KEEL_BENCH_DATA       data cache (default ${TMPDIR:-/tmp}/keel-bench-metrics)
#   KEEL_BENCH_SUBSAMPLES subsamples behind each standard deviation, both sides
#                         (default 5; 0: no standard deviations)
#   KEEL_BENCH_PEER_ONLY  1: run only the peer (no cargo build, no keel)
#   KEEL_BIN              a keel binary to use instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 1000000 10000000
KINDS="${KEEL_BENCH_KINDS:-binary,multiclass,regression,drift}"
DATA="${KEEL_BENCH_DATA:-${TMPDIR:-/tmp}/keel-bench-metrics}"
PEER_ONLY="${KEEL_BENCH_PEER_ONLY:-0}"
export KEEL_BENCH_SUBSAMPLES="${KEEL_BENCH_SUBSAMPLES:-5}"
scripts/setup-python.sh >/dev/null
PY="$PWD/.venv/bin/python"
if [ -n "${KEEL_BIN:-}" ]; then
  KEEL="$KEEL_BIN"
else
  KEEL="${CARGO_TARGET_DIR:-$PWD/target}/release/keel"
  [ "$PEER_ONLY" = 1 ] || cargo build --release --locked -p keel
fi
if [ -x /usr/bin/time ]; then HAVE_TIME=1; else HAVE_TIME=0; fi

# measure TAG CMD...: runs CMD with stdout discarded and stderr in TAG.err, and
# appends "TAG WALL_S PEAK_KB" (or "TAG FAIL FAIL") to $RESULTS.
measure() {
  local tag="$1"; shift
  local t0 t1 peak
  t0=$(date +%s.%N)
  if [ "$HAVE_TIME" = 1 ]; then
    if /usr/bin/time -f '%M' -o "$OUT/$tag.rss" "$@" >/dev/null 2>"$OUT/$tag.err"; then
      t1=$(date +%s.%N)
      peak=$(tail -n 1 "$OUT/$tag.rss")
    else
      echo "  $tag failed, stderr:" >&2; tail -n 5 "$OUT/$tag.err" >&2
      echo "$tag FAIL FAIL" >>"$RESULTS"; return 0
    fi
  else
    if "$PY" -c '
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
_, status, ru = os.wait4(p.pid, 0)
print(ru.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))' "$OUT/$tag.err" "$@" >"$OUT/$tag.rss"; then
      t1=$(date +%s.%N)
      peak=$(tail -n 1 "$OUT/$tag.rss")
    else
      echo "  $tag failed, stderr:" >&2; tail -n 5 "$OUT/$tag.err" >&2
      echo "$tag FAIL FAIL" >>"$RESULTS"; return 0
    fi
  fi
  echo "$tag $("$PY" -c "print(f'{$t1 - $t0:.4f}')") $peak" >>"$RESULTS"
}

for ROWS in "$@"; do
  IN="$DATA/$ROWS"
  OUT="$DATA/out/$ROWS"
  RESULTS="$OUT/results.txt"
  rm -rf "$OUT" && mkdir -p "$OUT"
  "$PY" bench/metrics/make_data.py "$IN" "$ROWS"
  cat "$IN"/*.parquet >/dev/null  # same warm page cache for both sides
  RUNS="${KEEL_BENCH_RUNS:-$([ "$ROWS" -ge 10000000 ] && echo 1 || echo 3)}"
  for KIND in ${KINDS//,/ }; do
    case "$KIND" in
      binary) keel_args=(metrics "$IN/binary.parquet" --problem-type binary --label y --probability p
                         --threshold 0.5 --protected group --subsamples "$KEEL_BENCH_SUBSAMPLES")
              peer_args=(binary "$IN/binary.parquet") ;;
      multiclass|regression)
              keel_args=(metrics "$IN/$KIND.parquet" --problem-type "$KIND" --label y --prediction yhat
                         --subsamples "$KEEL_BENCH_SUBSAMPLES")
              peer_args=("$KIND" "$IN/$KIND.parquet") ;;
      drift)  keel_args=(drift "$IN/drift_baseline.parquet" "$IN/drift_current.parquet")
              peer_args=(drift "$IN/drift_baseline.parquet" "$IN/drift_current.parquet") ;;
      *) echo "error: unknown kind '$KIND' (binary, multiclass, regression, drift)" >&2; exit 2 ;;
    esac
    for ((r = 1; r <= RUNS; r++)); do
      echo "rows $ROWS, $KIND, run $r/$RUNS" >&2
      if [ "$PEER_ONLY" != 1 ]; then
        measure "$KIND.keel.$r" "$KEEL" "${keel_args[@]}" --out "$OUT/$KIND.keel.json"
        # --timings also sorts each column once more as a yardstick, which is
        # not Keel's work: the time split comes from this separate, untimed run.
        [ "$r" = 1 ] && measure "$KIND.keelsplit.$r" "$KEEL" "${keel_args[@]}" \
          --out "$OUT/$KIND.keelsplit.json" --timings
      fi
      measure "$KIND.peer.$r" "$PY" bench/metrics/peer.py "${peer_args[@]}" "$OUT/$KIND.peer.json"
    done
  done

  "$PY" - "$OUT" "$ROWS" "$KINDS" "$PEER_ONLY" <<'PY' | tee "$OUT/results.md"
import json, math, os, statistics, sys

out, rows, kinds, peer_only = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4] == "1"
TARGET = {"binary": 20 if rows >= 10_000_000 else 15, "multiclass": 30, "drift": 10}

runs = {}  # (kind, side) -> [(wall_s, peak_kb, timings)]
for line in open(os.path.join(out, "results.txt")):
    tag, wall, peak = line.split()
    kind, side, _ = tag.split(".")
    timings = {}
    for l in open(os.path.join(out, tag + ".err")):
        if l.startswith("{"):
            try:
                timings = json.loads(l)
            except ValueError:
                pass
    ok = wall != "FAIL"
    runs.setdefault((kind, side), []).append(
        (float(wall) if ok else math.nan, int(peak) if ok else 0, timings))


def summary(kind, side):
    rs = [r for r in runs.get((kind, side), []) if not math.isnan(r[0])]
    if not rs:
        return None
    med = lambda xs: statistics.median(xs) if xs else math.nan  # noqa: E731
    keys = set().union(*(r[2] for r in rs))
    return {"wall": med([r[0] for r in rs]), "peak_mb": max(r[1] for r in rs) / 1024,
            "t": {k: med([r[2][k] for r in rs if k in r[2]]) for k in keys}}


def f(x, d=2):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def mark(ok):
    return "ok" if ok else "MISS"


subsamples = int(os.environ["KEEL_BENCH_SUBSAMPLES"])
print(f"\n### {rows:,} rows, standard deviations from {subsamples or 'no'} subsamples\n")
print("| kind | keel s | peer s | ratio peer/keel | target | keel peak MB | peer peak MB | column MB "
      "| mem ratio (≤3) | compute/(read+sort) (≤3) |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
splits = []
for kind in kinds:
    k, p = summary(kind, "keel"), summary(kind, "peer")
    split = summary(kind, "keelsplit")
    if k and split:
        k["t"] = split["t"]
    ratio = p["wall"] / k["wall"] if k and p else None
    target = TARGET.get(kind)
    ratio_s = f(ratio, 1) + (f" {mark(ratio >= target)}" if ratio and target else "")
    col_mb = mem = comp = None
    if k:
        t = k["t"]
        if t.get("column_bytes"):
            col_mb = t["column_bytes"] / 2**20
            mem = k["peak_mb"] / col_mb
        if "compute_ms" in t and t.get("read_ms", 0) + t.get("sort_once_ms", 0) > 0:
            comp = t["compute_ms"] / (t.get("read_ms", 0) + t.get("sort_once_ms", 0))
    print(f"| {kind} | {f(k and k['wall'], 3)} | {f(p and p['wall'])} | {ratio_s} "
          f"| {f'≥{target}×' if target else '—'} | {f(k and k['peak_mb'], 0)} | {f(p and p['peak_mb'], 0)} "
          f"| {f(col_mb, 1)} | {f(mem)}{f' {mark(mem <= 3)}' if mem else ''} "
          f"| {f(comp)}{f' {mark(comp <= 3)}' if comp else ''} |")
    fmt = lambda s: ", ".join(f"{a[:-3]} {v:,.0f}" for a, v in sorted(s["t"].items()) if a.endswith("_ms"))  # noqa: E731
    splits.append(f"- {kind}: keel ms: {fmt(k) if k else '—'}; peer ms: {fmt(p) if p else '—'}")
print("\nTime split (median ms, from each side's own stderr line):\n")
print("\n".join(splits))


# Agreement: every number both documents hold at the same path must agree to
# 1e-6 (absolute, or relative for values above 1). Standard deviations are left
# out: the two sides draw different random subsamples. Keel's sections that
# restate the input or repeat the same numbers in ModelOp's test shape are
# left out too.
KEEL_ONLY = {"version", "problem_type", "dataset", "settings", "performance", "bias", "data_drift"}
def flatten(x, path, acc):
    if isinstance(x, dict):
        if "value" in x and "standard_deviation" in x:
            return flatten(x["value"], path, acc)
        for key, v in x.items():
            flatten(v, f"{path}.{key}" if path else key, acc)
    elif isinstance(x, list):
        acc[path + ".len"] = float(len(x))
        for i, v in enumerate(x):
            flatten(v, f"{path}[{i}]", acc)
    elif isinstance(x, bool) or x is None:
        pass
    elif isinstance(x, (int, float)):
        acc[path] = float(x)
    elif x in ("NaN", "Infinity", "-Infinity"):
        acc[path] = float(x.replace("Infinity", "inf"))
    return acc


def close(a, b):
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


print("\nAgreement (keel vs peer, to 1e-6):\n")
for kind in kinds:
    paths = [os.path.join(out, f"{kind}.{s}.json") for s in ("keel", "peer")]
    if peer_only or not all(os.path.exists(p) for p in paths):
        print(f"- {kind}: not compared (no keel result)")
        continue
    keel_doc = {k: v for k, v in json.load(open(paths[0])).items() if k not in KEEL_ONLY}
    a, b = flatten(keel_doc, "", {}), flatten(json.load(open(paths[1])), "", {})
    common = sorted(set(a) & set(b))
    bad = [k for k in common if not close(a[k], b[k])]
    only_k, only_p = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    extra = f"; only in keel: {len(only_k)} ({', '.join(only_k[:4])}{', …' if len(only_k) > 4 else ''})" if only_k else ""
    extra += f"; only in peer: {len(only_p)} ({', '.join(only_p[:4])}{', …' if len(only_p) > 4 else ''})" if only_p else ""
    if not common:
        print(f"- {kind}: NOT COMPARABLE, no number at a common path{extra}")
    elif bad:
        worst = ", ".join(f"{k} keel={a[k]:.10g} peer={b[k]:.10g}" for k in bad[:6])
        print(f"- {kind}: DIFFER at {len(bad)} of {len(common)} values: {worst}{' …' if len(bad) > 6 else ''}{extra}")
    else:
        print(f"- {kind}: agree on all {len(common)} values{extra}")
PY
done
