"""Writes the metrics benchmark's inputs: python make_data.py OUTDIR ROWS.

Files (all ROWS rows, fixed seeds, so a given ROWS always gives the same bytes):
  binary.parquet          y int8 0/1 (~30 % positive), p float64 probability
                          correlated with y, group string (4 groups of unequal size)
  multiclass.parquet      y, yhat int64 classes 0..4 (~70 % accurate)
  regression.parquet      y, yhat float64
  drift_baseline.parquet  f0..f9 float64
  drift_current.parquet   f0..f9 float64, some features shifted and/or scaled

A file that already exists with ROWS rows is kept (10M rows take a while to
generate); files are written to a temporary name and renamed, so an interrupted
run never leaves a truncated file behind.
"""
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def have(path, rows):
    try:
        return pq.ParquetFile(path).metadata.num_rows == rows
    except Exception:
        return False


def write(path, rows, make):
    if have(path, rows):
        print(f"kept    {path}", file=sys.stderr)
        return
    tmp = path + ".tmp"
    pq.write_table(make(), tmp)
    os.replace(tmp, path)
    print(f"wrote   {path}", file=sys.stderr)


def binary(n):
    rng = np.random.default_rng(1)
    y = rng.random(n) < 0.3
    # A logistic score whose logit is shifted for positives: AUC around 0.8.
    logit = rng.normal(-0.6, 1.0, n) + 1.4 * y
    p = 1.0 / (1.0 + np.exp(-logit))
    names = pa.array(["north", "south", "east", "west"])
    codes = rng.choice(4, size=n, p=[0.55, 0.25, 0.15, 0.05]).astype(np.int32)
    group = pa.DictionaryArray.from_arrays(pa.array(codes), names).cast(pa.string())
    return pa.table({"y": pa.array(y.astype(np.int8)), "p": p, "group": group})


def multiclass(n):
    rng = np.random.default_rng(2)
    y = rng.choice(5, size=n, p=[0.35, 0.25, 0.2, 0.15, 0.05]).astype(np.int64)
    wrong = rng.random(n) >= 0.7
    # A wrong prediction is one of the other four classes, uniformly.
    yhat = np.where(wrong, (y + rng.integers(1, 5, n)) % 5, y).astype(np.int64)
    return pa.table({"y": y, "yhat": yhat})


def regression(n):
    rng = np.random.default_rng(3)
    y = rng.normal(100.0, 15.0, n)
    yhat = 0.9 * y + 10.0 + rng.normal(0.0, 5.0, n)
    return pa.table({"y": y, "yhat": yhat})


# Per feature: (distribution, current shift, current scale). Features 0, 3, 6
# and 9 do not drift; the others shift, widen or both, mildly to strongly.
DRIFT = [
    ("normal", 0.0, 1.0),
    ("normal", 0.1, 1.0),
    ("normal", 0.5, 1.0),
    ("lognormal", 0.0, 1.0),
    ("lognormal", 0.2, 1.3),
    ("uniform", 0.05, 1.0),
    ("uniform", 0.0, 1.0),
    ("exponential", 0.0, 1.5),
    ("normal", -0.3, 0.8),
    ("exponential", 0.0, 1.0),
]


def drift(n, current):
    rng = np.random.default_rng(5 if current else 4)
    cols = {}
    for i, (dist, shift, scale) in enumerate(DRIFT):
        if dist == "normal":
            x = rng.normal(0.0, 1.0, n)
        elif dist == "lognormal":
            x = rng.lognormal(0.0, 0.5, n)
        elif dist == "uniform":
            x = rng.random(n)
        else:
            x = rng.exponential(1.0, n)
        if current:
            x = x * scale + shift
        cols[f"f{i}"] = x
    return pa.table(cols)


def main():
    out, rows = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "binary.parquet"), rows, lambda: binary(rows))
    write(os.path.join(out, "multiclass.parquet"), rows, lambda: multiclass(rows))
    write(os.path.join(out, "regression.parquet"), rows, lambda: regression(rows))
    write(os.path.join(out, "drift_baseline.parquet"), rows, lambda: drift(rows, False))
    write(os.path.join(out, "drift_current.parquet"), rows, lambda: drift(rows, True))


if __name__ == "__main__":
    main()
