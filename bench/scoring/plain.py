"""The peer of the batch benchmark: a plain pandas script that reads the same
Parquet file, calls predict_proba once and writes Parquet. Prints its wall
and CPU seconds as JSON."""
import json
import pickle
import resource
import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402  (imports are part of what a script pays)

FEATURES = [f"c{i}" for i in range(20)]
src, model_path, dst = sys.argv[1:4]
with open(model_path, "rb") as f:
    model = pickle.load(f)
df = pd.read_parquet(src)
m0 = time.process_time()
p = model.predict_proba(df[FEATURES])[:, 1]
model_cpu = time.process_time() - m0
pd.DataFrame({"id": df["id"], "probability": p}).to_parquet(dst, index=False)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "model_cpu": model_cpu}))
