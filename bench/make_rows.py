"""Writes the throughput benchmark's input (N rows x 10 float64 columns) and its model."""
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
table = pa.table({f"c{i}": rng.random(rows) for i in range(10)})
pq.write_table(table, os.path.join(out, "rows.parquet"))
os.makedirs(os.path.join(out, "model"), exist_ok=True)
with open(os.path.join(out, "model", "bench_model.py"), "w") as f:
    f.write('# modelop.score\ndef score(r):\n    return {"y": r["c0"] * 2 + r["c1"]}\n')
