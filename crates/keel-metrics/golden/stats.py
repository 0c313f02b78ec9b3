# Golden cases for keel-metrics' statistics: fairness, drift, and the paired
# champion/challenger tests (DeLong, McNemar, paired bootstrap).
#
# Run from the repository root:
#     .venv/bin/python crates/keel-metrics/golden/stats.py
# It writes crates/keel-metrics/test_data/stats_*.json, which
# crates/keel-metrics/tests/golden/stats.rs compares Keel against. Every random
# draw uses a fixed seed, so the files are reproducible.
#
# Reference implementations: pandas groupby (fairness), numpy / scipy.stats /
# scipy.spatial (drift), a plain numpy DeLong cross-checked against
# sklearn.metrics.roc_auc_score, scipy.stats.binomtest and chi2.sf (McNemar),
# and scikit-learn metrics on each bootstrap resample.
#
# Large drift samples are not stored: they are generated on both sides from a
# splitmix64 hash with exactly representable arithmetic (see `hashed`), so a
# case of millions of values costs a few bytes. Stored data are rounded to a
# few decimals so that every JSON number parses to the same double everywhere.

import json
import math
import os
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics as skm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test_data")
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def clean(x):
    """Floats to JSON-safe values: NaN and infinities become strings."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write(name, doc):
    path = os.path.join(OUT, f"stats_{name}.json")
    with open(path, "w") as f:
        json.dump(clean(doc), f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


# --- splitmix64, shared with the Rust side -----------------------------------


def mix_np(x):
    """The splitmix64 finalizer on a numpy uint64 array (wrapping)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def mix_int(x):
    z = (x + GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def uniforms(seed, n):
    """u_i = (mix(seed + i) >> 11) / 2^53, exactly, for i in 0..n."""
    with np.errstate(over="ignore"):
        x = np.uint64(seed) + np.arange(n, dtype=np.uint64)
    return (mix_np(x) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def hashed(spec):
    """A sample from a generator spec that stats.rs evaluates identically.

    kind "uniform":    offset + scale * u
    kind "triangular": offset + scale * (u + u'), u' from seed ^ 0x5555...
    kind "discrete":   offset + floor(u * levels)
    kind "grid":       offset + scale * (i / n), evenly spaced, no hashing
    Each operation is one correctly rounded IEEE operation, so both sides get
    the same doubles.
    """
    u = uniforms(spec["seed"], spec["n"])
    if spec["kind"] == "uniform":
        return spec["offset"] + spec["scale"] * u
    if spec["kind"] == "triangular":
        v = uniforms(spec["seed"] ^ 0x5555555555555555, spec["n"])
        return spec["offset"] + spec["scale"] * (u + v)
    if spec["kind"] == "grid":
        return spec["offset"] + spec["scale"] * (np.arange(spec["n"]) / spec["n"])
    if spec["kind"] == "discrete":
        return spec["offset"] + np.floor(u * spec["levels"])
    raise ValueError(spec["kind"])


def resample_indices(seed, r, n):
    """Draw j of resample r: (mix(mix(seed ^ (r+1)·φ) ^ j) · n) >> 64."""
    base = mix_int(seed ^ (((r + 1) * GOLDEN) & MASK))
    h = mix_np(np.uint64(base) ^ np.arange(n, dtype=np.uint64))
    # (h · n) >> 64 without 128-bit integers: split h into 32-bit halves.
    hi = h >> np.uint64(32)
    lo = h & np.uint64(0xFFFFFFFF)
    nn = np.uint64(n)
    with np.errstate(over="ignore"):
        idx = (hi * nn + ((lo * nn) >> np.uint64(32))) >> np.uint64(32)
    return idx.astype(np.int64)


# --- fairness ------------------------------------------------------------------


def fairness_expected(actual, predicted, groups, names, reference):
    df = pd.DataFrame({"a": actual, "p": predicted, "g": groups})
    df["tp"] = df.a & df.p
    df["fp"] = ~df.a & df.p
    agg = df.groupby("g").agg(count=("a", "size"), positives=("a", "sum"),
                              predicted_positives=("p", "sum"), tp=("tp", "sum"),
                              fp=("fp", "sum"))
    agg = agg.reindex(range(len(names)), fill_value=0)

    def div(a, b):
        return a / b if b else float("nan")

    rows = []
    for code, name in enumerate(names):
        r = agg.loc[code]
        rows.append(dict(
            group=name, count=int(r["count"]), positives=int(r.positives),
            predicted_positives=int(r.predicted_positives),
            positive_rate=div(r.predicted_positives, r["count"]),
            true_positive_rate=div(r.tp, r.positives),
            false_positive_rate=div(r.fp, r["count"] - r.positives),
            precision=div(r.tp, r.predicted_positives),
        ))
    if reference is None:
        counts = [r["count"] for r in rows]
        ref = counts.index(max(counts))
    else:
        ref = names.index(reference)
    R = rows[ref]
    for r in rows:
        r["statistical_parity_difference"] = r["positive_rate"] - R["positive_rate"]
        r["disparate_impact"] = (r["positive_rate"] / R["positive_rate"]
                                 if R["positive_rate"] != 0 else float("nan"))
        r["equal_opportunity_difference"] = r["true_positive_rate"] - R["true_positive_rate"]
        r["average_odds_difference"] = ((r["false_positive_rate"] - R["false_positive_rate"])
                                        + (r["true_positive_rate"] - R["true_positive_rate"])) / 2
    return {"reference_group": names[ref], "groups": rows}


def fairness_cases(rng):
    cases = []

    def add(name, actual, predicted, groups, names, reference=None):
        actual = np.asarray(actual, bool)
        predicted = np.asarray(predicted, bool)
        groups = np.asarray(groups, np.int64)
        cases.append(dict(
            name=name, actual=actual.astype(int), predicted=predicted.astype(int),
            groups=groups, group_names=names, reference=reference,
            expected=fairness_expected(actual, predicted, groups, names, reference)))

    n = 300
    g = rng.choice(2, n, p=[0.6, 0.4])
    a = rng.random(n) < 0.4
    p = rng.random(n) < np.where(g == 0, 0.45, 0.3)
    add("two groups, default reference", a, p, g, ["male", "female"])
    add("two groups, explicit reference", a, p, g, ["male", "female"], "female")

    g = rng.choice(4, n, p=[0.2, 0.3, 0.3, 0.2])
    a = rng.random(n) < 0.5
    p = rng.random(n) < 0.5
    a[g == 2] = False  # group c has no positives
    p[g == 3] = False  # group d has no predicted positives
    add("four groups with empty cells", a, p, g, ["a", "b", "c", "d"])
    # Groups b and c tie for largest: the first wins.
    add("tie for largest", a, p, g, ["a", "b", "c", "d"])
    # A reference with no predicted positives makes the ratio NaN.
    add("reference without predicted positives", a, p, g, ["a", "b", "c", "d"], "d")

    g = rng.choice(3, 200)
    a = rng.random(200) < 0.3
    p = a ^ (rng.random(200) < 0.2)
    add("three groups, unused name", a, p, g, ["x", "y", "z", "never"])
    return cases


# --- numeric drift -------------------------------------------------------------


def numeric_expected(b, c, bins, eps):
    bs = np.sort(b)
    edges = np.unique(np.quantile(bs, np.arange(1, bins) / bins)) if bins > 1 else np.array([])
    nb = len(edges) + 1
    bf = np.bincount(np.searchsorted(edges, b, side="right"), minlength=nb) / len(b)
    cf = np.bincount(np.searchsorted(edges, c, side="right"), minlength=nb) / len(c)
    bp, cp = np.maximum(bf, eps), np.maximum(cf, eps)
    psi = float(np.sum((cp - bp) * np.log(cp / bp)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ks = stats.ks_2samp(b, c)
    return dict(
        baseline_count=len(b), current_count=len(c), psi=psi,
        ks_statistic=float(ks.statistic), ks_p_value=float(ks.pvalue),
        ks_method="exact" if max(len(b), len(c)) <= 10000 else "asymp",
        jensen_shannon_distance=float(jensenshannon(bf, cf)),
        wasserstein_distance=float(stats.wasserstein_distance(b, c)),
        bin_edges=edges, baseline_fractions=bf, current_fractions=cf,
    )


def numeric_cases(rng):
    cases = []

    def add_inline(name, b, c, bins=10, eps=1e-4):
        b = np.round(np.asarray(b, float), 4)
        c = np.round(np.asarray(c, float), 4)
        cases.append(dict(name=name, baseline=b, current=c, bins=bins, psi_epsilon=eps,
                          expected=numeric_expected(b, c, bins, eps)))

    def add_hashed(name, bspec, cspec, bins=10, eps=1e-4):
        b, c = hashed(bspec), hashed(cspec)
        cases.append(dict(name=name, baseline_spec=bspec, current_spec=cspec, bins=bins,
                          psi_epsilon=eps, expected=numeric_expected(b, c, bins, eps)))

    def spec(kind, seed, n, offset=0.0, scale=1.0, levels=0):
        return dict(kind=kind, seed=seed, n=n, offset=offset, scale=scale, levels=levels)

    add_inline("normal vs shifted normal, equal sizes", rng.normal(0, 1, 200), rng.normal(0.3, 1, 200))
    add_inline("unequal sizes, wider spread", rng.normal(0, 1, 300), rng.normal(0, 1.5, 170), bins=5)
    add_inline("ties: small integers", rng.integers(0, 6, 250), rng.integers(1, 7, 180), bins=10)
    x = rng.normal(5, 2, 150)
    add_inline("identical samples", x, x)
    add_inline("fully separated", rng.random(40), rng.random(60) + 3.0, bins=4, eps=1e-3)
    add_inline("tiny samples", [1.0, 2.0, 3.0], [2.5], bins=10)
    add_inline("constant baseline", [2.0] * 30, rng.integers(1, 4, 20).astype(float))
    # Exact KS, equal and unequal sizes, up to the 10 000 limit.
    add_hashed("hashed exact, n1 == n2", spec("triangular", 1, 3000), spec("triangular", 2, 3000, 0.05))
    add_hashed("hashed exact, n1 != n2", spec("uniform", 3, 10000, 0.0, 10.0),
               spec("triangular", 4, 7001, 0.0, 5.0), bins=20)
    add_hashed("hashed exact, discrete", spec("discrete", 5, 5000, 0.0, 1.0, 12),
               spec("discrete", 6, 4000, 1.0, 1.0, 12))
    # Asymptotic KS (max size above 10 000), through each kstwo branch.
    add_hashed("asymp, n = 1428, smirnov sum", spec("triangular", 7, 12000), spec("triangular", 8, 1621, 0.1))
    add_hashed("asymp, n = 1428, Pelz-Good", spec("uniform", 9, 12000), spec("uniform", 10, 1621))
    add_hashed("asymp, n = 1428, Durbin matrix", spec("grid", 0, 12000), spec("grid", 0, 1621, 0.005))
    add_hashed("asymp, n = 1428, Ruben-Gambino near 1/n", spec("grid", 0, 12000), spec("grid", 0, 1621))
    add_hashed("asymp, n = 6346, p underflows", spec("uniform", 9, 15000), spec("uniform", 10, 11000, 0.25))
    add_hashed("asymp, n = 60, Durbin matrix", spec("grid", 0, 30000), spec("grid", 0, 60, 0.05))
    add_hashed("asymp, n = 60, x >= 0.5", spec("grid", 0, 30000), spec("grid", 0, 60, 0.55))
    add_hashed("asymp, n = 100, Ruben-Gambino near 1", spec("grid", 0, 20000), spec("grid", 0, 100, 0.995))
    add_hashed("asymp, n = 6346, Pelz-Good", spec("uniform", 11, 15000), spec("uniform", 12, 11000, 0.004))
    add_hashed("asymp, n = 100, small-n smirnov", spec("uniform", 13, 20000), spec("uniform", 14, 100, 0.1))
    add_hashed("asymp, n = 60, small-n smirnov", spec("uniform", 15, 30000), spec("uniform", 16, 60, 0.3))
    add_hashed("asymp, n = 60, Pomeranz", spec("uniform", 17, 30000), spec("uniform", 18, 60))
    add_hashed("asymp, n = 250000, smirnov sum", spec("triangular", 19, 500000), spec("triangular", 20, 500000, 0.006))
    add_hashed("asymp, n > 10^6, smirnov approximation", spec("uniform", 21, 2100000),
               spec("uniform", 22, 2100000, 0.002))
    add_hashed("asymp, identical", spec("discrete", 23, 20000, 0.0, 1.0, 5), spec("discrete", 23, 20000, 0.0, 1.0, 5))
    return cases


# --- categorical drift ---------------------------------------------------------


def categorical_cases():
    cases = []

    def add(name, bc, cc):
        bc, cc = np.asarray(bc), np.asarray(cc)
        keep = (bc + cc) > 0
        table = np.vstack([bc[keep], cc[keep]])
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        bf, cf = bc / bc.sum(), cc / cc.sum()
        cases.append(dict(name=name, baseline_counts=bc, current_counts=cc, expected=dict(
            baseline_count=int(bc.sum()), current_count=int(cc.sum()), chi_squared=float(chi2),
            chi_squared_p_value=float(p), degrees_of_freedom=int(dof),
            l_infinity=float(np.max(np.abs(bf - cf))), baseline_fractions=bf, current_fractions=cf)))

    add("two categories", [120, 80], [90, 110])
    add("five categories, one unseen", [50, 30, 0, 15, 5], [40, 35, 0, 10, 15])
    add("new category in current", [100, 100, 0], [90, 95, 20])
    add("one category", [0, 40, 0], [0, 7, 0])
    add("same shares", [10, 20, 30], [20, 40, 60])
    r = np.random.default_rng(3)
    add("fifty categories", r.integers(0, 400, 50), r.integers(0, 400, 50))
    add("strong shift", [1000, 10, 10], [10, 1000, 10])
    return cases


# --- DeLong ----------------------------------------------------------------


def midrank(x):
    order = np.argsort(x, kind="mergesort")
    z = x[order]
    n = len(x)
    t = np.zeros(n)
    i = 0
    while i < n:
        j = i
        while j < n and z[j] == z[i]:
            j += 1
        t[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(n)
    out[order] = t
    return out


def delong_reference(y, s1, s2, confidence):
    """DeLong's test in Sun & Xu's midrank form, written out in numpy."""
    y = np.asarray(y, bool)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        nan = float("nan")
        return dict(champion=nan, challenger=nan, delta=nan, ci_low=nan, ci_high=nan,
                    p_value=nan, statistic=None)
    aucs, v10, v01 = [], [], []
    for s in (np.asarray(s1, float), np.asarray(s2, float)):
        pos, neg = s[y], s[~y]
        tx, ty, tz = midrank(pos), midrank(neg), midrank(np.concatenate([pos, neg]))
        aucs.append(tz[:m].sum() / m / n - (m + 1.0) / 2.0 / n)
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    for a, s in zip(aucs, (s1, s2)):
        assert abs(a - skm.roc_auc_score(y, s)) < 1e-12, (a, skm.roc_auc_score(y, s))
    S = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    l = np.array([-1.0, 1.0])
    var = float(l @ S @ l)
    se = math.sqrt(var)
    delta = aucs[1] - aucs[0]
    z = delta / se
    zc = stats.norm.ppf((1 + confidence) / 2)
    return dict(champion=aucs[0], challenger=aucs[1], delta=delta, ci_low=delta - zc * se,
                ci_high=delta + zc * se, p_value=float(2 * stats.norm.sf(abs(z))), statistic=z)


def delong_cases(rng):
    cases = []

    def add(name, y, s1, s2, confidence=0.95, scores=True):
        y = np.asarray(y, int)
        s1 = np.round(np.asarray(s1, float), 4)
        s2 = np.round(np.asarray(s2, float), 4)
        cases.append(dict(name=name, actual=y, champion=s1, challenger=s2, confidence=confidence,
                          scores=scores, expected=delong_reference(y, s1, s2, confidence)))

    n = 400
    y = rng.random(n) < 0.35
    base = rng.normal(0, 1, n) + 1.2 * y
    add("correlated continuous scores", y, 1 / (1 + np.exp(-base)),
        1 / (1 + np.exp(-(base + 0.8 * rng.normal(0, 1, n) + 0.5 * y))))
    y = rng.random(300) < 0.5
    add("heavy ties", y, np.round(rng.random(300) * 0.5 + 0.3 * y, 1),
        np.round(rng.random(300) * 0.5 + 0.2 * y, 1), confidence=0.9)
    y = rng.random(250) < 0.2
    p1 = (rng.random(250) < np.where(y, 0.7, 0.2)).astype(float)
    p2 = (rng.random(250) < np.where(y, 0.8, 0.1)).astype(float)
    add("0/1 predictions, no scores", y, p1, p2, scores=False)
    add("one class", np.ones(20, bool), rng.random(20), rng.random(20))
    return cases


# --- McNemar ---------------------------------------------------------------


def mcnemar_cases():
    cases = []

    def add(name, both_right, b, c, both_wrong, confidence=0.95):
        n = both_right + b + c + both_wrong
        if b + c < 25:
            stat = float(min(b, c))
            p = stats.binomtest(min(b, c), b + c, 0.5).pvalue if b + c > 0 else 1.0
        else:
            stat = (abs(b - c) - 1) ** 2 / (b + c)
            p = stats.chi2.sf(stat, 1)
        delta = (c - b) / n
        se = math.sqrt(b + c - (c - b) ** 2 / n) / n
        zc = stats.norm.ppf((1 + confidence) / 2)
        cases.append(dict(name=name, both_right=both_right, champion_only=b, challenger_only=c,
                          both_wrong=both_wrong, confidence=confidence, expected=dict(
                              champion=(both_right + b) / n, challenger=(both_right + c) / n,
                              delta=delta, ci_low=delta - zc * se, ci_high=delta + zc * se,
                              p_value=float(p), statistic=stat)))

    add("exact, few discordant pairs", 80, 3, 9, 8)
    add("exact, 24 discordant pairs", 150, 5, 19, 26, 0.99)
    add("exact, balanced", 40, 6, 6, 10)
    add("exact, no discordant pairs", 30, 0, 0, 5)
    add("chi-squared, 25 discordant pairs", 300, 8, 17, 40)
    add("chi-squared, large", 5000, 300, 420, 700, 0.9)
    add("chi-squared, b == c", 500, 40, 40, 20)
    return cases


# --- paired bootstrap --------------------------------------------------------


def fbeta(beta):
    return lambda y, p: skm.fbeta_score(y, p, beta=beta, zero_division=0)


def rate(kind):
    def f(y, p):
        tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
        num, den = {"tnr": (tn, tn + fp), "fpr": (fp, fp + tn), "fnr": (fn, fn + tp)}[kind]
        return num / den if den else 0.0
    return f


BINARY = {
    "precision": lambda y, p: skm.precision_score(y, p, zero_division=0),
    "recall": lambda y, p: skm.recall_score(y, p, zero_division=0),
    "true_positive_rate": lambda y, p: skm.recall_score(y, p, zero_division=0),
    "f0_5": fbeta(0.5), "f1": fbeta(1.0), "f2": fbeta(2.0),
    "true_negative_rate": rate("tnr"), "false_positive_rate": rate("fpr"),
    "false_negative_rate": rate("fnr"),
    "log_loss": lambda y, s: skm.log_loss(y, s, labels=[0, 1]),
    "brier_score": lambda y, s: skm.brier_score_loss(y, s, pos_label=1),
    "average_precision": lambda y, s: average_precision(y, s),
}
SCORED = ("log_loss", "brier_score", "average_precision")


def average_precision(y, s):
    # scikit-learn warns when a resample holds no positive; its answer (0) is
    # what Keel gives too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return skm.average_precision_score(y, s)


def multiclass_metric(name):
    average, which = name.split("_", 1)
    f = {"recall": skm.recall_score, "precision": skm.precision_score}.get(which)
    if f is not None:
        return lambda y, p: f(y, p, average=average, zero_division=0)
    beta = {"f0_5": 0.5, "f1": 1.0, "f2": 2.0}[which]
    return lambda y, p: skm.fbeta_score(y, p, beta=beta, average=average, zero_division=0)


REGRESSION = {
    "mae": skm.mean_absolute_error, "mse": skm.mean_squared_error,
    "rmse": skm.root_mean_squared_error, "r2": skm.r2_score,
    "mape": skm.mean_absolute_percentage_error, "max_error": skm.max_error,
}


def bootstrap_expected(f, y, m1, m2, resamples, seed, confidence):
    n = len(y)
    deltas = []
    for r in range(resamples):
        idx = resample_indices(seed, r, n)
        deltas.append(f(y[idx], m2[idx]) - f(y[idx], m1[idx]))
    deltas = np.array(deltas)
    lo, hi = np.percentile(deltas, [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2])
    p = min(1.0, 2 * min(np.mean(deltas <= 0), np.mean(deltas >= 0)))
    c1, c2 = f(y, m1), f(y, m2)
    return dict(champion=c1, challenger=c2, delta=c2 - c1, ci_low=lo, ci_high=hi, p_value=p)


def bootstrap_cases(rng):
    out = {}
    # Binary: labels, 0/1 predictions and probabilities of both models.
    n, R, seed, conf = 300, 200, 12345, 0.95
    y = (rng.random(n) < 0.4).astype(int)
    s1 = np.round(np.clip(0.4 * y + 0.6 * rng.random(n), 0, 1), 4)
    s2 = np.round(np.clip(0.5 * y + 0.5 * rng.random(n), 0, 1), 4)
    s2[:3] = [0.0, 1.0, 1.0]  # exercise log_loss' clipping
    p1, p2 = (s1 >= 0.5).astype(int), (s2 >= 0.5).astype(int)
    expected = {}
    for name, f in BINARY.items():
        a, b = (s1, s2) if name in SCORED else (p1, p2)
        expected[name] = bootstrap_expected(f, y, a, b, R, seed, conf)
    out["binary"] = dict(actual=y, champion_predicted=p1, challenger_predicted=p2,
                         champion_score=s1, challenger_score=s2, resamples=R, seed=seed,
                         confidence=conf, expected=expected)

    # Multiclass: 4 classes, class 3 rare so resamples can miss it.
    n, R, seed, conf = 240, 120, 99, 0.9
    y = rng.choice(4, n, p=[0.4, 0.3, 0.27, 0.03])
    m1 = np.where(rng.random(n) < 0.6, y, rng.choice(4, n))
    m2 = np.where(rng.random(n) < 0.7, y, rng.choice(3, n))
    expected = {}
    for name in ["weighted_recall", "weighted_precision", "weighted_f0_5", "weighted_f1",
                 "weighted_f2", "macro_recall", "macro_precision", "macro_f0_5", "macro_f1",
                 "macro_f2"]:
        expected[name] = bootstrap_expected(multiclass_metric(name), y, m1, m2, R, seed, conf)
    out["multiclass"] = dict(actual=y, champion=m1, challenger=m2, classes=4, resamples=R,
                             seed=seed, confidence=conf, expected=expected)

    # Regression.
    n, R, seed, conf = 300, 200, 7, 0.95
    y = np.round(rng.normal(10, 3, n), 3)
    y[:2] = 0.0  # exercise mape's epsilon
    r1 = np.round(y + rng.normal(0, 1.0, n), 3)
    r2 = np.round(y + rng.normal(0.1, 0.9, n), 3)
    expected = {name: bootstrap_expected(f, y, r1, r2, R, seed, conf)
                for name, f in REGRESSION.items()}
    out["regression"] = dict(actual=y, champion=r1, challenger=r2, resamples=R, seed=seed,
                             confidence=conf, expected=expected)

    # Average precision with 4 positives in 60 rows, so that some resamples
    # hold none, and scores on a coarse grid, so that thresholds tie.
    n, R, seed, conf = 60, 300, 5, 0.9
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, 4, replace=False)] = 1
    s1 = np.round(np.clip(0.3 * y + rng.random(n), 0, 1), 1)
    s2 = np.round(np.clip(0.5 * y + rng.random(n), 0, 1), 1)
    ap = BINARY["average_precision"]
    missing = sum(not y[resample_indices(seed, r, n)].any() for r in range(R))
    assert missing > 0, "no resample lacks positives; pick another seed"
    out["binary_rare"] = dict(actual=y, champion_predicted=(s1 >= 0.5).astype(int),
                              challenger_predicted=(s2 >= 0.5).astype(int),
                              champion_score=s1, challenger_score=s2, resamples=R,
                              seed=seed, confidence=conf,
                              expected={"average_precision":
                                        bootstrap_expected(ap, y, s1, s2, R, seed, conf)})

    # The index hash itself, for a direct check.
    out["indices"] = dict(seed=2024, resample=3, n=17, expected=resample_indices(2024, 3, 17))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240607)
    write("fairness", {"cases": fairness_cases(rng)})
    write("drift_numeric", {"cases": numeric_cases(rng)})
    write("drift_categorical", {"cases": categorical_cases()})
    write("delong", {"cases": delong_cases(rng)})
    write("mcnemar", {"cases": mcnemar_cases()})
    write("bootstrap", bootstrap_cases(rng))


if __name__ == "__main__":
    main()
