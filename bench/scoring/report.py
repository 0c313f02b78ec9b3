"""Reads the scoring benchmark's runs and prints the ratios against their targets.

Keel's own CPU is the run's CPU (the keel process and its workers) minus the
CPU the workers report spending inside the model's score function (the job
log's "workers used ... of it in the score function" note)."""
import json
import os
import re
import statistics
import sys

runs_path, home, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
NOTE = re.compile(r"workers used ([0-9.]+) s of CPU, ([0-9.]+) s of it in the score function")


def function_cpu(job):
    with open(os.path.join(home, "logs", f"{job['id']}.log")) as f:
        m = NOTE.search(f.read())
    if m is None:
        sys.exit(f"job {job['id']} logged no CPU note")
    return float(m.group(1)), float(m.group(2))


groups = {}
for line in open(runs_path):
    r = json.loads(line)
    key = (r["kind"], r.get("workers"))
    run = r["run"]
    if r["kind"] != "plain":
        job = json.loads(run["stdout"])
        assert job["status"] == "COMPLETED", job
        assert job["counts"]["written"] == rows, job["counts"]
        run["workers_cpu"], run["function_cpu"] = function_cpu(job)
    groups.setdefault(key, []).append(run)


def med(key, field):
    return statistics.median(r[field] for r in groups[key])


plain = med(("plain", None), "wall")
print(f"rows: {rows:,}, {len(groups[('plain', None)])} runs each, medians")
print(f"plain pandas script: wall {plain:.2f} s, cpu {med(('plain', None), 'cpu'):.2f} s "
      f"(predict_proba {med(('plain', None), 'model_cpu'):.2f} s)")
for kind in ("batch", "record"):
    for w in (1, 2):
        k = (kind, w)
        own = statistics.median(r["cpu"] - r["function_cpu"] for r in groups[k])
        print(f"keel {kind:6} {w} worker(s): wall {med(k, 'wall'):.2f} s, cpu {med(k, 'cpu'):.2f} s "
              f"(workers {med(k, 'workers_cpu'):.2f} s, of it score function {med(k, 'function_cpu'):.2f} s; "
              f"keel's own {own:.2f} s)")
batch2 = med(("batch", 2), "wall")
own = statistics.median(r["cpu"] - r["function_cpu"] for r in groups[("batch", 2)])
fn = med(("batch", 2), "function_cpu")
speedup = med(("record", 1), "wall") / med(("record", 2), "wall")
print()
print(f"batch, default settings / plain script, wall: {batch2 / plain:.2f}x   (target <= 0.8x)")
print(f"per-record, 1 worker / 2 workers, wall:       {speedup:.2f}x   (target >= 1.7x)")
print(f"batch: keel's own CPU / score function's CPU:  {own / fn * 100:.0f} %  (target <= 15 %)")
