"""Reads the scoring benchmark's runs and prints the ratios against their targets.

Keel's own CPU is the run's CPU (the keel process and its workers) minus the
CPU the workers report spending inside the model's score function (the job
log's "workers used ... of it in the score function" note). A cold run's CPU
is what the embedded keel command and its reaped workers used; a warm run's
is the server's CPU during the job plus what its workers reported."""
import json
import os
import re
import statistics
import sys

runs_path, cold_home, warm_home, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
NOTE = re.compile(r"workers used ([0-9.]+) s of CPU, ([0-9.]+) s of it in the score function")


def function_cpu(job, home):
    with open(os.path.join(home, "logs", f"{job['id']}.log")) as f:
        text = f.read()
    m = NOTE.search(text)
    if m is None:
        sys.exit(f"job {job['id']} logged no CPU note")
    return float(m.group(1)), float(m.group(2)), "kept warm" in text


groups = {}
for line in open(runs_path):
    r = json.loads(line)
    warm = bool(r.get("warm"))
    key = (r["kind"], r.get("workers"), warm)
    run = r["run"]
    if r["kind"] != "plain":
        job = json.loads(run["stdout"])
        assert job["status"] == "COMPLETED", job
        assert job["counts"]["written"] == rows, job["counts"]
        run["workers_cpu"], run["function_cpu"], was_warm = function_cpu(
            job, warm_home if warm else cold_home
        )
        assert was_warm == warm, f"job {job['id']}: warm {was_warm}, expected {warm}"
        if warm:
            run["cpu"] += run["workers_cpu"]
        run["own"] = run["cpu"] - run["function_cpu"]
    groups.setdefault(key, []).append(run)


def med(key, field):
    return statistics.median(r[field] for r in groups[key])


plain_key = ("plain", None, False)
plain = med(plain_key, "wall")
plain_cpu = med(plain_key, "cpu")
print(f"rows: {rows:,}, {len(groups[plain_key])} runs each, medians")
print(f"plain pandas script: wall {plain:.2f} s, cpu {plain_cpu:.2f} s "
      f"(predict_proba {med(plain_key, 'model_cpu'):.2f} s)")
for warm in (False, True):
    for kind in ("batch", "record"):
        for w in (1, 2):
            k = (kind, w, warm)
            if k not in groups:
                continue
            print(f"keel {'warm' if warm else 'cold'} {kind:6} {w} worker(s): wall {med(k, 'wall'):.2f} s, "
                  f"cpu {med(k, 'cpu'):.2f} s (workers {med(k, 'workers_cpu'):.2f} s, of it score "
                  f"function {med(k, 'function_cpu'):.2f} s; keel's own {med(k, 'own'):.2f} s)")
for warm in (False, True):
    if ("batch", 2, warm) not in groups:
        continue
    name = "warm (server)" if warm else "cold (one embedded command)"
    batch = ("batch", 2, warm)
    speedup = med(("record", 1, warm), "wall") / med(("record", 2, warm), "wall")
    own, fn = med(batch, "own"), med(batch, "function_cpu")
    print()
    print(f"{name}:")
    print(f"  batch, default settings / plain script, wall:      {med(batch, 'wall') / plain:.2f}x  (target <= 0.8x)")
    print(f"  per-record, 1 worker / 2 workers, wall:            {speedup:.2f}x  (target >= 1.7x)")
    print(f"  batch: keel's own CPU / score function's CPU:      {own / fn * 100:.0f} %")
    print(f"  batch: keel's CPU beyond the plain script's CPU:   "
          f"{(med(batch, 'cpu') - plain_cpu) / plain_cpu * 100:+.0f} %  (target <= 15 %)")
