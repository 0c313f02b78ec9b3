"""Golden cases for keel-metrics' binary, multiclass and regression kernels.

Every expected value is computed by scikit-learn (or, for the few metrics
sklearn has no function for, by numpy from sklearn's confusion matrix) on
generated data with fixed seeds, and the standard deviations by replicating
the kernels' seeded subsamples (`src/sample.rs`) exactly.

Run from the repository root:

    .venv/bin/python crates/keel-metrics/golden/classification.py

It rewrites crates/keel-metrics/test_data/classification_{binary,multiclass,
regression}.json, which tests/golden/classification.rs checks.

JSON conventions: a null in the data is a row the column adapter would drop
(null or NaN); the Rust test drops those rows itself before calling a kernel,
and the expected values here are computed on the remaining rows. Non-finite
expected values are the strings "NaN", "Infinity", "-Infinity", as the crate
serialises them.
"""

import json
import math
import os
import warnings

import numpy as np
import sklearn
from sklearn import metrics as M

warnings.simplefilter("ignore")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test_data")

# --- The kernels' subsamples (src/sample.rs), replicated exactly. ---------

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix_int(x):
    """splitmix64's finalizer on one Python int (wrapping at 64 bits)."""
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def mix_np(z):
    """The same on a uint64 array, whose arithmetic wraps."""
    z = z + np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


assert mix_int(0) == 0xE220A8397B1DCDAF
assert int(mix_np(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF

DEFAULT_U = {"enabled": True, "seed": 0, "subsamples": 5, "fraction": 0.8, "min_samples": 200}


def subsample_masks(u, n):
    """The boolean row masks of the subsamples, or [] when no spread is wanted."""
    s = min(u["subsamples"], 8)
    if not (u["enabled"] and s > 0 and n >= u["min_samples"]):
        return []
    bound = np.uint64(min(int(u["fraction"] * 2.0**64), MASK64))
    rows = np.arange(n, dtype=np.uint64)
    masks = []
    for k in range(s):
        base = mix_int(u["seed"] ^ (((k + 1) * GOLDEN) & MASK64))
        masks.append(mix_np(np.uint64(base) ^ rows) < bound)
    return masks


def scalars(fn, masks, *arrays):
    """{metric: {value, standard_deviation}} for a function returning a dict of
    metric values; the deviation is np.std (ddof=0) over the subsamples, NaN
    when any subsample value is NaN or there are no subsamples."""
    full = fn(*arrays)
    subs = [fn(*(a[m] for a in arrays)) for m in masks]
    out = {}
    for name, value in full.items():
        values = [s[name] for s in subs]
        if len(values) < 2 or any(math.isnan(v) for v in values):
            std = float("nan")
        else:
            std = float(np.std(values))
        out[name] = {"value": float(value), "standard_deviation": std}
    return out


def clean(x):
    """Makes a structure JSON-safe the way the crate serialises it."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def data_list(values, valid):
    """A data column with None where the row is invalid."""
    return [v if ok else None for v, ok in zip(values, valid)]


def safe(f):
    """sklearn's value, or NaN where sklearn raises for undefined input."""
    try:
        return float(f())
    except ValueError:
        return float("nan")


# --- Binary --------------------------------------------------------------


def ratio_nan(a, b):
    return a / b if b else float("nan")


def binary_threshold_metrics(y, p):
    """Metrics of the predicted labels, and of the all-positive classifier."""
    ones = np.ones_like(y)
    tn, fp, fn, tp = M.confusion_matrix(y, p, labels=[0, 1]).ravel()
    out = {
        "recall": M.recall_score(y, p, labels=[0, 1], zero_division=0),
        "precision": M.precision_score(y, p, labels=[0, 1], zero_division=0),
        "accuracy": M.accuracy_score(y, p),
        "recall_best_constant_classifier": M.recall_score(y, ones, labels=[0, 1], zero_division=0),
        "precision_best_constant_classifier": M.precision_score(
            y, ones, labels=[0, 1], zero_division=0
        ),
        "accuracy_best_constant_classifier": M.accuracy_score(y, ones),
        "true_positive_rate": ratio_nan(tp, tp + fn),
        "true_negative_rate": ratio_nan(tn, tn + fp),
        "false_positive_rate": ratio_nan(fp, fp + tn),
        "false_negative_rate": ratio_nan(fn, fn + tp),
    }
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        out[name] = M.fbeta_score(y, p, beta=beta, labels=[0, 1], zero_division=0)
        out[name + "_best_constant_classifier"] = M.fbeta_score(
            y, ones, beta=beta, labels=[0, 1], zero_division=0
        )
    return out


def binary_rank_metrics(y, s):
    return {
        "auc": safe(lambda: M.roc_auc_score(y, s)),
        "average_precision": safe(lambda: M.average_precision_score(y, s)),
    }


# The curve length the thinned-curve expectations use.
THIN_POINTS = 7


def binary_case(name, actual, score=None, predicted=None, u=DEFAULT_U, valid=None):
    """One binary case. `actual` is 0/1; `score` (or None) the probability of
    the positive class; `predicted` defaults to score > 0.5; `valid` marks the
    rows the column adapter keeps."""
    n_all = len(actual)
    if valid is None:
        valid = np.ones(n_all, dtype=bool)
    if predicted is None:
        predicted = (score > 0.5).astype(int)
    y = np.asarray(actual)[valid].astype(int)
    p = np.asarray(predicted)[valid].astype(int)
    s = None if score is None else np.asarray(score, dtype=float)[valid]
    rank_score = s if s is not None else p.astype(float)
    masks = subsample_masks(u, len(y))

    exp = {"count": len(y), "positives": int(y.sum()), "negatives": int((1 - y).sum())}
    tn, fp, fn, tp = M.confusion_matrix(y, p, labels=[0, 1]).ravel()
    exp["confusion"] = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    exp.update(scalars(binary_threshold_metrics, masks, y, p))
    exp.update(scalars(binary_rank_metrics, masks, y, rank_score))
    if s is not None:
        exp.update(
            scalars(
                lambda y, s: {
                    "log_loss": M.log_loss(y, s, labels=[0, 1]),
                    "brier_score": M.brier_score_loss(y, s, pos_label=1),
                },
                masks,
                y,
                s,
            )
        )
    fpr, tpr, thr = M.roc_curve(y, rank_score)
    exp["roc"] = {"false_positive_rates": fpr, "true_positive_rates": tpr, "thresholds": thr}
    prec, rec, pthr = M.precision_recall_curve(y, rank_score)
    exp["pr"] = {"precisions": prec, "recalls": rec, "thresholds": pthr}

    # With more thresholds than THIN_POINTS, Keel thins both curves to points
    # at evenly spaced indices of the curves without dropped points (see
    # `binary` in src/binary.rs).
    thinned = None
    fpr_all, tpr_all, thr_all = M.roc_curve(y, rank_score, drop_intermediate=False)
    if len(thr_all) > THIN_POINTS:
        idx = np.unique(np.round(np.linspace(0, len(thr_all) - 1, THIN_POINTS)).astype(int))
        thinned = {
            "curve_points": THIN_POINTS,
            "roc": {
                "false_positive_rates": fpr_all[idx],
                "true_positive_rates": tpr_all[idx],
                "thresholds": thr_all[idx],
            },
            "pr": {
                "precisions": prec[idx],
                "recalls": rec[idx],
                "thresholds": pthr[idx[:-1]],
            },
        }

    return {
        "name": name,
        "uncertainty": u,
        "actual": data_list([int(a) for a in actual], valid),
        "predicted": data_list([int(a) for a in predicted], valid),
        "score": None if score is None else data_list([float(x) for x in score], valid),
        "expected": exp,
        "thinned": thinned,
    }


def random_binary(rng, n, prevalence=0.4, decimals=None):
    """Labels and scores that separate the classes imperfectly."""
    y = (rng.random(n) < prevalence).astype(int)
    s = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.2 * (2 * y - 1))))
    if decimals is not None:
        s = np.round(s, decimals)
    return y, s


def binary_cases():
    rng = np.random.default_rng(20240601)
    cases = []
    # Full-precision scores where the curves stay small; 3 decimals keep the
    # 1000-row file small while leaving few ties.
    for n, decimals in ((1, None), (2, None), (17, None), (199, None), (200, 3), (1000, 3)):
        y, s = random_binary(rng, n, decimals=decimals)
        cases.append(binary_case(f"random_{n}", y, s))
    y, s = random_binary(rng, 1000, decimals=1)
    cases.append(binary_case("ties_1_decimal_1000", y, s))
    y, s = random_binary(rng, 3000, prevalence=0.2, decimals=2)
    cases.append(binary_case("ties_2_decimals_3000", y, s))
    y, s = random_binary(rng, 240, decimals=2)
    s[:] = 0.5
    cases.append(binary_case("all_tied_240", y, s))

    y = np.ones(250, dtype=int)
    _, s = random_binary(rng, 250, decimals=3)
    cases.append(binary_case("all_positive_250", y, s))
    y = np.zeros(250, dtype=int)
    cases.append(binary_case("all_negative_250", y, s))

    y = (rng.random(300) < 0.5).astype(int)
    perfect = np.round(np.where(y == 1, 0.6 + 0.4 * rng.random(300), 0.4 * rng.random(300)), 3)
    cases.append(binary_case("perfect_300", y, perfect))
    cases.append(binary_case("inverted_300", y, np.round(1.0 - perfect, 3)))

    # Probabilities of exactly 0 and 1, some confidently wrong: log loss clips.
    y, s = random_binary(rng, 260, decimals=2)
    s[:20] = 0.0
    s[20:40] = 1.0
    cases.append(binary_case("certain_probabilities_260", y, s))

    # Rows with NaN scores or missing labels; the expected values are over the
    # other rows, which are also the rows the subsamples number.
    y, s = random_binary(rng, 330, decimals=3)
    valid = rng.random(330) > 0.1
    cases.append(binary_case("nan_rows_330", y, s, valid=valid))

    # Predicted labels without scores: rank metrics over 0/1 predictions.
    y = (rng.random(500) < 0.3).astype(int)
    p = np.where(rng.random(500) < 0.75, y, 1 - y)
    cases.append(binary_case("labels_only_500", y, None, predicted=p))
    y = (rng.random(40) < 0.5).astype(int)
    cases.append(binary_case("labels_only_40_all_negative_predictions", y, None, predicted=0 * y))

    # Other subsample parameters.
    y, s = random_binary(rng, 600, decimals=2)
    u = {"enabled": True, "seed": 987654321, "subsamples": 8, "fraction": 0.6, "min_samples": 100}
    cases.append(binary_case("seeded_8_subsamples_600", y, s, u=u))
    u = {"enabled": True, "seed": 12345, "subsamples": 3, "fraction": 0.5, "min_samples": 200}
    cases.append(binary_case("seeded_3_subsamples_400", *random_binary(rng, 400, decimals=2), u=u))
    u = dict(DEFAULT_U, enabled=False)
    cases.append(binary_case("spread_disabled_300", *random_binary(rng, 300, decimals=2), u=u))
    return cases


# --- Multiclass ----------------------------------------------------------


def multiclass_metrics(classes):
    labels = list(range(classes))

    def fn(y, p):
        out = {"accuracy": M.accuracy_score(y, p)}
        best = int(np.bincount(y, minlength=classes).argmax()) if len(y) else 0
        const = np.full_like(y, best)
        out["accuracy_best_constant_classifier"] = M.accuracy_score(y, const)
        for avg in ("weighted", "macro"):
            for who, pred in (("", p), ("_best_constant_classifier", const)):
                for fname, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
                    pr, rc, f, _ = M.precision_recall_fscore_support(
                        y, pred, labels=labels, beta=beta, average=avg, zero_division=0
                    )
                    out[f"{avg}_{fname}{who}"] = f
                out[f"{avg}_recall{who}"] = rc
                out[f"{avg}_precision{who}"] = pr
        return out

    return fn


def multiclass_case(name, y, p, classes, u=DEFAULT_U):
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=int)
    masks = subsample_masks(u, len(y))
    labels = list(range(classes))
    exp = {"count": len(y), "confusion_matrix": M.confusion_matrix(y, p, labels=labels).tolist()}
    exp.update(scalars(multiclass_metrics(classes), masks, y, p))
    pr, rc, f1, support = M.precision_recall_fscore_support(
        y, p, labels=labels, average=None, zero_division=0
    )
    predicted = np.bincount(p, minlength=classes)
    exp["per_class"] = [
        {"support": support[k], "predicted": predicted[k], "precision": pr[k], "recall": rc[k], "f1": f1[k]}
        for k in range(classes)
    ]
    return {
        "name": name,
        "uncertainty": u,
        "classes": classes,
        "actual": y.tolist(),
        "predicted": p.tolist(),
        "expected": exp,
    }


def noisy(rng, y, classes, accuracy):
    wrong = rng.integers(0, classes, size=len(y))
    return np.where(rng.random(len(y)) < accuracy, y, wrong)


def multiclass_cases():
    rng = np.random.default_rng(7)
    cases = []
    y = rng.integers(0, 3, 17)
    cases.append(multiclass_case("three_classes_17", y, noisy(rng, y, 3, 0.6), 3))
    # Class 3 occurs only in the predictions.
    y = rng.choice(3, size=500, p=[0.5, 0.3, 0.2])
    p = noisy(rng, y, 3, 0.7)
    p[rng.random(500) < 0.05] = 3
    cases.append(multiclass_case("prediction_only_class_500", y, p, 4))
    # Class 4 is never predicted.
    y = rng.choice(5, size=1000, p=[0.1, 0.4, 0.2, 0.2, 0.1])
    p = noisy(rng, y, 4, 0.65)
    cases.append(multiclass_case("never_predicted_class_1000", y, p, 5))
    y = rng.choice(7, size=3000, p=[0.05, 0.1, 0.3, 0.2, 0.15, 0.1, 0.1])
    cases.append(multiclass_case("seven_classes_3000", y, noisy(rng, y, 7, 0.55), 7))
    y = rng.choice(2, size=300, p=[0.8, 0.2])
    cases.append(multiclass_case("two_classes_300", y, noisy(rng, y, 2, 0.7), 2))
    y = np.zeros(50, dtype=int)
    cases.append(multiclass_case("single_class_50", y, y, 1))
    # Equal supports: the best constant is the lowest code.
    y = np.repeat(np.arange(4), 60)
    rng.shuffle(y)
    cases.append(multiclass_case("equal_supports_240", y, noisy(rng, y, 4, 0.5), 4))
    u = {"enabled": True, "seed": 4242, "subsamples": 4, "fraction": 0.7, "min_samples": 100}
    y = rng.choice(6, size=400)
    cases.append(multiclass_case("seeded_6_classes_400", y, noisy(rng, y, 6, 0.6), 6, u=u))
    return cases


# --- Regression ----------------------------------------------------------


def regression_metrics(y, p):
    return {
        "mae": M.mean_absolute_error(y, p),
        "mse": M.mean_squared_error(y, p),
        "rmse": M.root_mean_squared_error(y, p),
        "r2": M.r2_score(y, p),
        "mape": M.mean_absolute_percentage_error(y, p),
        "max_error": M.max_error(y, p),
    }


def regression_case(name, y, p, u=DEFAULT_U):
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    masks = subsample_masks(u, len(y))
    exp = {"count": len(y)}
    exp.update(scalars(regression_metrics, masks, y, p))
    return {"name": name, "uncertainty": u, "actual": y.tolist(), "predicted": p.tolist(), "expected": exp}


def regression_cases():
    rng = np.random.default_rng(99)
    cases = []
    for n in (1, 2, 17, 300):
        y = rng.normal(10, 3, n)
        cases.append(regression_case(f"random_{n}", y, y + rng.normal(0, 1, n)))
    y = np.round(rng.normal(10, 3, 1000), 3)
    cases.append(regression_case("random_1000", y, np.round(y + rng.normal(0, 1, 1000), 3)))
    y = np.round(rng.normal(50, 20, 3000), 2)
    cases.append(regression_case("rounded_3000", y, np.round(y + rng.normal(0, 5, 3000), 2)))
    # A constant target whose mean is exact, so sklearn's force_finite rule
    # applies (see the Rust test for constants whose mean rounds).
    y = np.full(250, 3.0)
    cases.append(regression_case("constant_target_250", y, np.round(y + rng.normal(0, 1, 250), 3)))
    cases.append(regression_case("constant_target_perfect_10", y[:10], y[:10]))
    y = np.round(rng.normal(0, 2, 400), 1)
    y[::10] = 0.0
    cases.append(regression_case("zeros_in_target_400", y, np.round(y + rng.normal(0, 0.5, 400), 2)))
    y = 1e9 + np.round(rng.normal(0, 1e3, 500), 1)
    cases.append(regression_case("large_magnitudes_500", y, y + np.round(rng.normal(0, 100, 500), 1)))
    u = {"enabled": True, "seed": 31337, "subsamples": 6, "fraction": 0.75, "min_samples": 50}
    y = rng.exponential(5, 120)
    cases.append(regression_case("seeded_120", y, y * rng.uniform(0.8, 1.2, 120), u=u))
    return cases


def write(name, cases):
    doc = {
        "generator": "golden/classification.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": clean(cases),
    }
    path = os.path.normpath(os.path.join(OUT, f"classification_{name}.json"))
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("binary", binary_cases())
    write("multiclass", multiclass_cases())
    write("regression", regression_cases())
