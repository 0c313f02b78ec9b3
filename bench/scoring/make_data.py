"""Writes the scoring benchmark's input and models.

Usage: python make_data.py OUT_DIR ROWS

OUT_DIR/rows.parquet   ROWS rows x 20 float64 columns (c0..c19) and an int64 id
OUT_DIR/batch/         a batch score function (`# modelop.score batch`) calling a
                       scikit-learn LogisticRegression's predict_proba per batch
OUT_DIR/record/        a per-record score function (cheap arithmetic, so the
                       per-record calls and the data movement are what is measured)
OUT_DIR/model.pkl      the LogisticRegression, trained on 50,000 rows; the plain
                       script (plain.py) loads the same file
"""
import os
import pickle
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression

FEATURES = [f"c{i}" for i in range(20)]

BATCH = '''import pickle

import pandas as pd

FEATURES = [f"c{i}" for i in range(20)]
MODEL = None


# modelop.init
def begin():
    global MODEL
    with open("model.pkl", "rb") as f:
        MODEL = pickle.load(f)


# modelop.score batch
def score(df):
    return pd.DataFrame({"id": df["id"], "probability": MODEL.predict_proba(df[FEATURES])[:, 1]})
'''

RECORD = '''# modelop.score
def score(r):
    return {"id": r["id"], "y": r["c0"] * 2 + r["c1"] - r["c19"]}
'''


def main(out, rows):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, len(FEATURES)))
    cols = {"id": np.arange(1, rows + 1, dtype=np.int64)}
    cols.update({f: x[:, i] for i, f in enumerate(FEATURES)})
    pq.write_table(pa.table(cols), os.path.join(out, "rows.parquet"))
    n = min(rows, 50_000)
    w = rng.standard_normal(len(FEATURES))
    y = (x[:n] @ w + rng.standard_normal(n) > 0).astype(np.int64)
    model = LogisticRegression(max_iter=1000).fit(x[:n], y)
    blob = pickle.dumps(model)
    with open(os.path.join(out, "model.pkl"), "wb") as f:
        f.write(blob)
    for name, source in (("batch", BATCH), ("record", RECORD)):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"bench_{name}.py"), "w") as f:
            f.write(source)
        if name == "batch":
            with open(os.path.join(d, "model.pkl"), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
