"""Drives bench/monitor.sh: one monitoring execution over ROWS captured
inferences joined with ROWS labels, beside `keel metrics` over the same rows
already joined, each as its own process; wall time and peak resident memory
(ru_maxrss) of each, and their ratio (the issue's target: the execution
within 10x of `keel metrics`)."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

KEEL, OUT = sys.argv[1], sys.argv[2]
ROWS = [int(r) for r in sys.argv[3:]] or [1_000_000, 10_000_000]


def run(args, env):
    """Wall time and peak resident memory (MB, from /usr/bin/time) of one
    process; a violation (exit 7) counts as a run."""
    rss = os.path.join(OUT, "rss.txt")
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss] + args, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.time() - t0
    if p.returncode not in (0, 7):
        sys.exit(f"{' '.join(args)} exited {p.returncode}:\n{p.stderr.decode(errors='replace')}")
    with open(rss) as f:
        return wall, int(f.read().split()[-1]) / 1024


for rows in ROWS:
    d = os.path.join(OUT, str(rows))
    os.makedirs(os.path.join(d, "captured"), exist_ok=True)
    r = np.random.default_rng(5)
    y = r.integers(0, 2, rows)
    p = np.clip(0.3 * y + r.random(rows) * 0.7, 0, 1)
    ids = np.char.add("inf-", np.arange(rows).astype(str))
    t = pd.Timestamp("2026-11-29T09:00:00Z") + pd.to_timedelta(np.arange(rows) * (3599.0 / rows), unit="s")
    pd.DataFrame({"inference_id": ids, "inference_time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                  "probability": p}).to_parquet(os.path.join(d, "captured", "part-0.parquet"), index=False)
    order = r.permutation(rows)
    pd.DataFrame({"inference_id": ids[order], "label": y[order]}).to_parquet(os.path.join(d, "labels.parquet"), index=False)
    pd.DataFrame({"label": y, "probability": p}).to_parquet(os.path.join(d, "joined.parquet"), index=False)
    with open(os.path.join(d, "constraints.json"), "w") as f:
        json.dump({"version": 0.0, "binary_classification_constraints": {
            "auc": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}}}, f)
    definition = {
        "JobDefinitionName": "bench",
        "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": f"file://{d}/constraints.json"}},
        "ModelQualityAppSpecification": {"ImageUri": "keel", "ProblemType": "BinaryClassification"},
        "ModelQualityJobInput": {
            "BatchTransformInput": {"DataCapturedDestinationS3Uri": f"{d}/captured",
                                    "DatasetFormat": {"Parquet": {}},
                                    "ProbabilityAttribute": "probability", "ProbabilityThresholdAttribute": 0.5,
                                    "StartTimeOffset": "-PT1H", "EndTimeOffset": "-PT0H"},
            "GroundTruthS3Input": {"S3Uri": f"{d}/labels.parquet"}},
        "ModelQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {"S3Uri": f"{d}/reports"}}]},
    }
    with open(os.path.join(d, "definition.json"), "w") as f:
        json.dump(definition, f)
    env = dict(os.environ, KEEL_HOME=os.path.join(d, "home"))
    env.pop("KEEL_URL", None)
    subprocess.run([KEEL, "monitor", "definition", "create", os.path.join(d, "definition.json")], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([KEEL, "monitor", "schedule", "create", "hourly", "--definition", "bench",
                    "--expression", "cron(0 * ? * * *)"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cat", os.path.join(d, "captured", "part-0.parquet"), os.path.join(d, "labels.parquet"),
                    os.path.join(d, "joined.parquet")], stdout=subprocess.DEVNULL, check=True)
    exec_wall, exec_mb = run([KEEL, "monitor", "execute", "hourly", "--at", "2026-11-29T10:00:00Z"], env)
    metrics_wall, metrics_mb = run([KEEL, "metrics", os.path.join(d, "joined.parquet"), "--problem-type", "binary",
                                    "--label", "label", "--probability", "probability", "--out",
                                    os.path.join(d, "metrics.json")], env)
    stats = json.load(open(os.path.join(d, "reports/hourly/2026/11/29/10/statistics.json")))
    assert stats["dataset"]["item_count"] == rows, stats["dataset"]
    print(json.dumps({"rows": rows, "execution_s": round(exec_wall, 2), "execution_peak_mb": round(exec_mb),
                      "keel_metrics_s": round(metrics_wall, 2), "keel_metrics_peak_mb": round(metrics_mb),
                      "ratio": round(exec_wall / metrics_wall, 1)}), flush=True)
