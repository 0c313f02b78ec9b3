"""The peer: a bare Python loop calling the same per-record function on the same rows.

It reads the Parquet file with pyarrow, calls score(record) per row, and writes
the results to Parquet, which is what a Keel scoring job does end to end.
"""
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq


def score(r):
    return {"y": r["c0"] * 2 + r["c1"]}


start = time.perf_counter()
out = []
for batch in pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=10_000):
    for r in batch.to_pylist():
        out.append(score(r))
pq.write_table(pa.Table.from_pylist(out), sys.argv[2])
print(f"{time.perf_counter() - start:.3f}")
