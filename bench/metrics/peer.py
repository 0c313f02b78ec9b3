"""The peer of `keel metrics` / `keel drift`: the same result computed the way a
data scientist would with pandas + scikit-learn (numpy/scipy for drift).

  python peer.py binary     FILE OUT.json   (columns y, p, group; p > 0.5 is positive)
  python peer.py multiclass FILE OUT.json   (columns y, yhat)
  python peer.py regression FILE OUT.json   (columns y, yhat)
  python peer.py drift      BASELINE CURRENT OUT.json

End to end: read the Parquet file (only the needed columns), compute, write
JSON. Every scalar is {value, standard_deviation}, the standard deviation over
5 random 80 % subsamples, each metric recomputed on each (KEEL_BENCH_SUBSAMPLES
sets how many; 0 computes none). Prints its own timing
split to stderr as one JSON line: {"import_ms", "read_ms", "compute_ms",
"write_ms"} (import_ms: importing pandas, scipy and scikit-learn).
"""
import time

T_START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.spatial.distance import jensenshannon  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

# KEEL_BENCH_SUBSAMPLES=0 computes no standard deviations, as `keel metrics --subsamples 0`.
SUBSAMPLES = int(os.environ.get("KEEL_BENCH_SUBSAMPLES", "5"))
FRACTION = 0.8
SEED = 0
CURVE_POINTS = 1000


def with_std(data, scalars):
    """{name: {value, standard_deviation}}: scalars(*data) on all rows, and the
    standard deviation of scalars(*subsample) over the random subsamples."""
    full = scalars(*data)
    if SUBSAMPLES == 0:
        return {k: {"value": float(v), "standard_deviation": float("nan")} for k, v in full.items()}
    n = len(data[0])
    rng = np.random.default_rng(SEED)
    subs = []
    for _ in range(SUBSAMPLES):
        idx = rng.choice(n, size=int(n * FRACTION), replace=False)
        subs.append(scalars(*(a[idx] for a in data)))
    return {
        k: {"value": float(v), "standard_deviation": float(np.std([s[k] for s in subs]))}
        for k, v in full.items()
    }


def thin(*curve):
    """At most CURVE_POINTS evenly spaced points of a curve, ends included."""
    idx = np.unique(np.round(np.linspace(0, len(curve[0]) - 1, CURVE_POINTS)).astype(int))
    return [c[idx].tolist() for c in curve]


def confusion(y, yhat, labels):
    cm = skm.confusion_matrix(y, yhat, labels=labels)
    return {str(a): {str(b): int(cm[i, j]) for j, b in enumerate(labels)} for i, a in enumerate(labels)}


# --- binary -------------------------------------------------------------------

def binary_scalars(y, p, threshold=0.5):
    yhat = (p > threshold).astype(np.int8)
    tn, fp, fn, tp = skm.confusion_matrix(y, yhat, labels=[0, 1]).ravel()
    # The best constant classifier (SageMaker's) always predicts positive; its
    # metrics follow from the prevalence.
    prev = y.mean()
    const_f = lambda beta: (1 + beta**2) * prev / (beta**2 * prev + 1)  # noqa: E731
    return {
        "recall": skm.recall_score(y, yhat, zero_division=0),
        "precision": skm.precision_score(y, yhat, zero_division=0),
        "accuracy": skm.accuracy_score(y, yhat),
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": prev,
        "accuracy_best_constant_classifier": prev,
        "true_positive_rate": tp / (tp + fn),
        "true_negative_rate": tn / (tn + fp),
        "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (fn + tp),
        "auc": skm.roc_auc_score(y, p),
        "f0_5": skm.fbeta_score(y, yhat, beta=0.5, zero_division=0),
        "f1": skm.f1_score(y, yhat, zero_division=0),
        "f2": skm.fbeta_score(y, yhat, beta=2, zero_division=0),
        "f0_5_best_constant_classifier": const_f(0.5),
        "f1_best_constant_classifier": const_f(1),
        "f2_best_constant_classifier": const_f(2),
        "log_loss": skm.log_loss(y, p, labels=[0, 1]),
        "average_precision": skm.average_precision_score(y, p),
        "brier_score": skm.brier_score_loss(y, p),
    }


def fairness(df, attr, threshold=0.5):
    df = df.assign(yhat=df["p"] > threshold)
    g = df.groupby(attr, observed=True)
    t = pd.DataFrame({
        "count": g.size(),
        "positives": g["y"].sum(),
        "predicted_positives": g["yhat"].sum(),
        "positive_rate": g["yhat"].mean(),
        "true_positive_rate": df[df["y"] == 1].groupby(attr, observed=True)["yhat"].mean(),
        "false_positive_rate": df[df["y"] == 0].groupby(attr, observed=True)["yhat"].mean(),
        "precision": df[df["yhat"]].groupby(attr, observed=True)["y"].mean(),
    })
    ref = t["count"].idxmax()
    r = t.loc[ref]
    t["statistical_parity_difference"] = t["positive_rate"] - r["positive_rate"]
    t["disparate_impact"] = t["positive_rate"] / r["positive_rate"]
    t["equal_opportunity_difference"] = t["true_positive_rate"] - r["true_positive_rate"]
    t["average_odds_difference"] = 0.5 * (
        (t["false_positive_rate"] - r["false_positive_rate"])
        + (t["true_positive_rate"] - r["true_positive_rate"])
    )
    counts = ("count", "positives", "predicted_positives")
    groups = [{"group": str(k), **{c: (int(v) if c in counts else float(v)) for c, v in row.items()}}
              for k, row in t.sort_index().to_dict("index").items()]
    return {attr: {"reference_group": str(ref), "groups": groups}}


def binary(path):
    df = pd.read_parquet(path, columns=["y", "p", "group"])
    t_read = time.perf_counter()
    y, p = df["y"].to_numpy(), df["p"].to_numpy()
    m = {"confusion_matrix": confusion(y, (p > 0.5).astype(np.int8), [0, 1])}
    m.update(with_std((y, p), binary_scalars))
    # Keel thins the curve without dropped points (collinear points included).
    fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=False)
    fpr, tpr = thin(fpr, tpr)
    m["receiver_operating_characteristic_curve"] = {
        "false_positive_rates": fpr, "true_positive_rates": tpr}
    precision, recall, _ = skm.precision_recall_curve(y, p)
    precision, recall = thin(precision, recall)
    m["precision_recall_curve"] = {"precisions": precision, "recalls": recall}
    return t_read, {"binary_classification_metrics": m, "fairness": fairness(df, "group")}


# --- multiclass ---------------------------------------------------------------

def multiclass_scalars(y, yhat):
    out = {"accuracy": skm.accuracy_score(y, yhat)}
    for avg in ("weighted", "macro"):
        for beta, name in ((0.5, "f0_5"), (1, "f1"), (2, "f2")):
            prec, rec, f, _ = skm.precision_recall_fscore_support(
                y, yhat, beta=beta, average=avg, zero_division=0)
            out[f"{avg}_{name}"] = f
        out[f"{avg}_recall"] = rec
        out[f"{avg}_precision"] = prec
    # The best constant classifier predicts the most frequent class c (share
    # pi) for every row: precision pi and recall 1 on c, 0 on every other class.
    labels, counts = np.unique(y, return_counts=True)
    pi, k = counts.max() / len(y), len(labels)
    fc = {name: (1 + beta**2) * pi / (beta**2 * pi + 1)
          for beta, name in ((0.5, "f0_5"), (1, "f1"), (2, "f2"))}
    out["accuracy_best_constant_classifier"] = pi
    out["weighted_recall_best_constant_classifier"] = pi
    out["weighted_precision_best_constant_classifier"] = pi * pi
    out["macro_recall_best_constant_classifier"] = 1 / k
    out["macro_precision_best_constant_classifier"] = pi / k
    for name, f in fc.items():
        out[f"weighted_{name}_best_constant_classifier"] = pi * f
        out[f"macro_{name}_best_constant_classifier"] = f / k
    return out


def multiclass(path):
    df = pd.read_parquet(path, columns=["y", "yhat"])
    t_read = time.perf_counter()
    y, yhat = df["y"].to_numpy(), df["yhat"].to_numpy()
    labels = np.union1d(np.unique(y), np.unique(yhat)).tolist()
    m = {"confusion_matrix": confusion(y, yhat, labels)}
    m.update(with_std((y, yhat), multiclass_scalars))
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        y, yhat, labels=labels, average=None, zero_division=0)
    predicted = pd.Series(yhat).value_counts().reindex(labels, fill_value=0)
    m["per_class"] = {
        str(c): {"support": int(support[i]), "predicted": int(predicted[c]),
                 "precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i])}
        for i, c in enumerate(labels)}
    return t_read, {"multiclass_classification_metrics": m}


# --- regression ---------------------------------------------------------------

def regression_scalars(y, yhat):
    return {
        "mae": skm.mean_absolute_error(y, yhat),
        "mse": skm.mean_squared_error(y, yhat),
        "rmse": skm.root_mean_squared_error(y, yhat),
        "r2": skm.r2_score(y, yhat),
        "mape": skm.mean_absolute_percentage_error(y, yhat),
        "max_error": skm.max_error(y, yhat),
    }


def regression(path):
    df = pd.read_parquet(path, columns=["y", "yhat"])
    t_read = time.perf_counter()
    m = with_std((df["y"].to_numpy(), df["yhat"].to_numpy()), regression_scalars)
    return t_read, {"regression_metrics": m}


# --- drift --------------------------------------------------------------------

BINS = 10
EPS = 1e-4  # a bin's share is at least this in PSI, so PSI stays finite


def numeric_drift(b, c):
    # Interior edges at the baseline's deciles; the outer bins are open.
    inner = np.unique(np.quantile(b, np.linspace(0, 1, BINS + 1)[1:-1]))
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    pb = np.histogram(b, bins=edges)[0] / len(b)
    pc = np.histogram(c, bins=edges)[0] / len(c)
    qb, qc = np.clip(pb, EPS, None), np.clip(pc, EPS, None)
    ks = stats.ks_2samp(b, c)
    return {
        "psi": float(np.sum((qc - qb) * np.log(qc / qb))),
        "ks_statistic": float(ks.statistic),
        "ks_p_value": float(ks.pvalue),
        "jensen_shannon_distance": float(jensenshannon(pb, pc)),
        "wasserstein_distance": float(stats.wasserstein_distance(b, c)),
        "bins": {"edges": inner.tolist(), "baseline_fractions": pb.tolist(),
                 "current_fractions": pc.tolist()},
    }


def categorical_drift(b, c):
    t = pd.concat([b.value_counts(), c.value_counts()], axis=1).fillna(0)
    chi2, pvalue, _, _ = stats.chi2_contingency(t.to_numpy().T, correction=False)
    shares = t / t.sum()
    return {
        "chi_squared": float(chi2),
        "chi_squared_p_value": float(pvalue),
        "l_infinity": float((shares.iloc[:, 0] - shares.iloc[:, 1]).abs().max()),
    }


def drift(baseline_path, current_path):
    base = pd.read_parquet(baseline_path)
    cur = pd.read_parquet(current_path)
    t_read = time.perf_counter()
    features = []
    for col in [c for c in base.columns if c in cur.columns]:
        b, c = base[col].dropna(), cur[col].dropna()
        if pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(c):
            d = numeric_drift(b.to_numpy(dtype=float), c.to_numpy(dtype=float))
        else:
            d = categorical_drift(b, c)
        features.append({"name": col, "baseline_missing": int(base[col].isna().sum()),
                         "current_missing": int(cur[col].isna().sum()), **d})
    return t_read, {"features": features}


def main():
    kind, args = sys.argv[1], sys.argv[2:]
    run = {"binary": binary, "multiclass": multiclass, "regression": regression, "drift": drift}[kind]
    t0 = time.perf_counter()
    t_read, result = run(*args[:-1])
    t1 = time.perf_counter()
    with open(args[-1], "w") as f:
        json.dump(result, f)
    t2 = time.perf_counter()
    ms = lambda s: round(s * 1000, 1)  # noqa: E731
    print(json.dumps({"import_ms": ms(t0 - T_START), "read_ms": ms(t_read - t0), "compute_ms": ms(t1 - t_read),
                      "write_ms": ms(t2 - t1)}), file=sys.stderr)


if __name__ == "__main__":
    main()
