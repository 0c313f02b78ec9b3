//! Golden tests of fairness, drift and the paired champion/challenger tests
//! against pandas, numpy, scipy and scikit-learn, from the cases that
//! `golden/stats.py` writes to `test_data/stats_*.json`.
//!
//! Every number is compared to 1e-9 relative; NaN must meet NaN. p-values
//! below 1e-300 are compared with an absolute tolerance of 1e-300 instead,
//! because there scipy itself underflows to 0 or to a subnormal.
//!
//! Where Keel's definition differs from the reference, the difference is
//! stated next to the check. Two apply here:
//! - The KS p-value's one-sided Smirnov sum is evaluated in logarithms with
//!   compensated sums instead of scipy's double-double arithmetic; they agree
//!   to about 1e-11, well inside the tolerance.
//! - The DeLong variance is computed from the per-row differences of the
//!   structural components instead of scipy-style `l S lᵀ`; the two are equal
//!   in exact arithmetic and agree to about 1e-13 here.

use std::path::PathBuf;

use keel_metrics::Metric;
use keel_metrics::compare::{self, PairedData, Policy};
use keel_metrics::drift::{self, DriftOptions};
use keel_metrics::fairness::{self, FairnessInput};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON number, or NaN / ±inf spelled as strings.
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => panic!("not a number: {other}"),
    }
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() != 0)
        .collect()
}

fn codes(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

const RTOL: f64 = 1e-9;
/// Below this, p-values are compared absolutely (see the module comment).
const TINY_P: f64 = 1e-300;

fn check(case: &str, what: &str, got: f64, want: f64) {
    let ok = if want.is_nan() {
        got.is_nan()
    } else if want.is_infinite() {
        got == want
    } else if want.abs() < TINY_P {
        (got - want).abs() <= TINY_P
    } else {
        ((got - want) / want).abs() <= RTOL || (got - want).abs() <= 1e-15
    };
    assert!(ok, "{case}: {what} = {got:e}, expected {want:e}");
}

fn check_all(case: &str, what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{case}: {what} length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        check(case, &format!("{what}[{i}]"), g, w);
    }
}

#[test]
fn fairness_matches_pandas() {
    let doc = load("stats_fairness.json");
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let actual = bools(&case["actual"]);
        let predicted = bools(&case["predicted"]);
        let groups = codes(&case["groups"]);
        let names: Vec<String> = case["group_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let input = FairnessInput {
            actual: &actual,
            predicted: &predicted,
            groups: &groups,
            group_names: &names,
        };
        let f = fairness::fairness(&input, case["reference"].as_str()).unwrap();
        let want = &case["expected"];
        assert_eq!(
            f.reference_group,
            want["reference_group"].as_str().unwrap(),
            "{name}"
        );
        let got = serde_json::to_value(&f).unwrap();
        let wg = want["groups"].as_array().unwrap();
        assert_eq!(f.groups.len(), wg.len(), "{name}");
        for (g, w) in got["groups"].as_array().unwrap().iter().zip(wg) {
            assert_eq!(g["group"], w["group"], "{name}");
            for key in ["count", "positives", "predicted_positives"] {
                assert_eq!(g[key], w[key], "{name}: {key}");
            }
            for key in [
                "positive_rate",
                "true_positive_rate",
                "false_positive_rate",
                "precision",
                "statistical_parity_difference",
                "disparate_impact",
                "equal_opportunity_difference",
                "average_odds_difference",
            ] {
                check(
                    name,
                    &format!("{} {key}", w["group"]),
                    num(&g[key]),
                    num(&w[key]),
                );
            }
        }
    }
}

/// Evaluates a sample spec exactly as `hashed` in `golden/stats.py` does.
fn hashed(spec: &Value) -> Vec<f64> {
    let seed = spec["seed"].as_u64().unwrap();
    let n = spec["n"].as_u64().unwrap();
    let offset = num(&spec["offset"]);
    let scale = num(&spec["scale"]);
    let uniforms = |seed: u64| -> Vec<f64> {
        (0..n)
            .map(|i| {
                (keel_metrics::sample::mix(seed.wrapping_add(i)) >> 11) as f64 * 2f64.powi(-53)
            })
            .collect()
    };
    match spec["kind"].as_str().unwrap() {
        "uniform" => uniforms(seed)
            .into_iter()
            .map(|u| offset + scale * u)
            .collect(),
        "triangular" => {
            let v = uniforms(seed ^ 0x5555_5555_5555_5555);
            uniforms(seed)
                .into_iter()
                .zip(v)
                .map(|(u, v)| offset + scale * (u + v))
                .collect()
        }
        "discrete" => {
            let levels = num(&spec["levels"]);
            uniforms(seed)
                .into_iter()
                .map(|u| offset + (u * levels).floor())
                .collect()
        }
        "grid" => (0..n)
            .map(|i| offset + scale * (i as f64 / n as f64))
            .collect(),
        k => panic!("unknown spec kind {k}"),
    }
}

#[test]
fn numeric_drift_matches_numpy_and_scipy() {
    let doc = load("stats_drift_numeric.json");
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (b, c) = if case.get("baseline").is_some() {
            (nums(&case["baseline"]), nums(&case["current"]))
        } else {
            (
                hashed(&case["baseline_spec"]),
                hashed(&case["current_spec"]),
            )
        };
        let opts = DriftOptions {
            bins: case["bins"].as_u64().unwrap() as usize,
            psi_epsilon: num(&case["psi_epsilon"]),
        };
        let d = drift::numeric_drift(&b, &c, &opts).unwrap();
        let w = &case["expected"];
        assert_eq!(
            d.baseline_count,
            w["baseline_count"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            d.current_count,
            w["current_count"].as_u64().unwrap(),
            "{name}"
        );
        check(name, "psi", d.psi, num(&w["psi"]));
        check(
            name,
            "ks_statistic",
            d.ks_statistic,
            num(&w["ks_statistic"]),
        );
        check(name, "ks_p_value", d.ks_p_value, num(&w["ks_p_value"]));
        check(
            name,
            "jensen_shannon",
            d.jensen_shannon_distance,
            num(&w["jensen_shannon_distance"]),
        );
        check(
            name,
            "wasserstein",
            d.wasserstein_distance,
            num(&w["wasserstein_distance"]),
        );
        check_all(name, "bin_edges", &d.bin_edges, &nums(&w["bin_edges"]));
        check_all(
            name,
            "baseline_fractions",
            &d.baseline_fractions,
            &nums(&w["baseline_fractions"]),
        );
        check_all(
            name,
            "current_fractions",
            &d.current_fractions,
            &nums(&w["current_fractions"]),
        );
    }
}

#[test]
fn categorical_drift_matches_scipy() {
    let doc = load("stats_drift_categorical.json");
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        // The samples are stored as counts per category; the order of the
        // codes does not matter to the test.
        let expand = |v: &Value| -> Vec<u32> {
            v.as_array()
                .unwrap()
                .iter()
                .enumerate()
                .flat_map(|(k, n)| std::iter::repeat_n(k as u32, n.as_u64().unwrap() as usize))
                .collect()
        };
        let b = expand(&case["baseline_counts"]);
        let c = expand(&case["current_counts"]);
        let k = case["baseline_counts"].as_array().unwrap().len();
        let d = drift::categorical_drift(&b, &c, k).unwrap();
        let w = &case["expected"];
        assert_eq!(
            d.degrees_of_freedom,
            w["degrees_of_freedom"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            d.baseline_count,
            w["baseline_count"].as_u64().unwrap(),
            "{name}"
        );
        check(name, "chi_squared", d.chi_squared, num(&w["chi_squared"]));
        check(
            name,
            "p_value",
            d.chi_squared_p_value,
            num(&w["chi_squared_p_value"]),
        );
        check(name, "l_infinity", d.l_infinity, num(&w["l_infinity"]));
        check_all(
            name,
            "baseline_fractions",
            &d.baseline_fractions,
            &nums(&w["baseline_fractions"]),
        );
        check_all(
            name,
            "current_fractions",
            &d.current_fractions,
            &nums(&w["current_fractions"]),
        );
    }
}

fn check_test(name: &str, t: &compare::PairedTest, w: &Value) {
    for (key, got) in [
        ("champion", t.champion),
        ("challenger", t.challenger),
        ("delta", t.delta),
        ("ci_low", t.ci_low),
        ("ci_high", t.ci_high),
        ("p_value", t.p_value),
    ] {
        check(name, key, got, num(&w[key]));
    }
    if let Some(s) = w.get("statistic").filter(|s| !s.is_null()) {
        check(name, "statistic", t.statistic.unwrap_or(f64::NAN), num(s));
    }
}

#[test]
fn delong_matches_a_numpy_reference() {
    let doc = load("stats_delong.json");
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let actual = bools(&case["actual"]);
        let s1 = nums(&case["champion"]);
        let s2 = nums(&case["challenger"]);
        let conf = num(&case["confidence"]);
        let t = compare::delong(&actual, &s1, &s2, conf).unwrap();
        check_test(name, &t, &case["expected"]);
        if !case["scores"].as_bool().unwrap() {
            // Without scores, compare() runs DeLong on the 0/1 predictions.
            let p1: Vec<bool> = s1.iter().map(|&x| x == 1.0).collect();
            let p2: Vec<bool> = s2.iter().map(|&x| x == 1.0).collect();
            let data = PairedData::Binary {
                actual: &actual,
                champion_predicted: &p1,
                challenger_predicted: &p2,
                champion_score: None,
                challenger_score: None,
            };
            let policy = Policy {
                confidence: conf,
                ..Policy::default()
            };
            let d = compare::compare(&data, Metric::Auc, &policy).unwrap();
            check_test(name, &d.test, &case["expected"]);
        }
    }
}

#[test]
fn mcnemar_matches_scipy() {
    let doc = load("stats_mcnemar.json");
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let count = |k: &str| case[k].as_u64().unwrap() as usize;
        let mut c1 = Vec::new();
        let mut c2 = Vec::new();
        for (k, x, y) in [
            ("both_right", true, true),
            ("champion_only", true, false),
            ("challenger_only", false, true),
            ("both_wrong", false, false),
        ] {
            c1.extend(std::iter::repeat_n(x, count(k)));
            c2.extend(std::iter::repeat_n(y, count(k)));
        }
        let t = compare::mcnemar(&c1, &c2, num(&case["confidence"])).unwrap();
        check_test(name, &t, &case["expected"]);
    }
}

#[test]
fn resample_indices_match_python() {
    let doc = load("stats_bootstrap.json");
    let c = &doc["indices"];
    let (seed, r, n) = (
        c["seed"].as_u64().unwrap(),
        c["resample"].as_u64().unwrap() as u32,
        c["n"].as_u64().unwrap(),
    );
    let got: Vec<u64> = (0..n)
        .map(|j| compare::resample_index(seed, r, j, n))
        .collect();
    let want: Vec<u64> = c["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(got, want);
}

fn policy_of(case: &Value) -> Policy {
    Policy {
        min_delta: 0.0,
        confidence: num(&case["confidence"]),
        resamples: case["resamples"].as_u64().unwrap() as u32,
        seed: case["seed"].as_u64().unwrap(),
    }
}

#[test]
fn paired_bootstrap_matches_sklearn_per_resample() {
    let doc = load("stats_bootstrap.json");

    // `binary_rare` checks average precision with so few positives that some
    // resamples hold none (where scikit-learn, like Keel, gives 0), and with
    // tied scores.
    for case in ["binary", "binary_rare"] {
        let b = &doc[case];
        let actual = bools(&b["actual"]);
        let p1 = bools(&b["champion_predicted"]);
        let p2 = bools(&b["challenger_predicted"]);
        let s1 = nums(&b["champion_score"]);
        let s2 = nums(&b["challenger_score"]);
        let data = PairedData::Binary {
            actual: &actual,
            champion_predicted: &p1,
            challenger_predicted: &p2,
            champion_score: Some(&s1),
            challenger_score: Some(&s2),
        };
        for (metric, want) in b["expected"].as_object().unwrap() {
            let d =
                compare::compare(&data, metric.parse::<Metric>().unwrap(), &policy_of(b)).unwrap();
            check_test(&format!("{case} {metric}"), &d.test, want);
        }
    }

    let m = &doc["multiclass"];
    let (actual, c1, c2) = (
        codes(&m["actual"]),
        codes(&m["champion"]),
        codes(&m["challenger"]),
    );
    let data = PairedData::Multiclass {
        actual: &actual,
        champion: &c1,
        challenger: &c2,
        classes: m["classes"].as_u64().unwrap() as usize,
    };
    for (metric, want) in m["expected"].as_object().unwrap() {
        let d = compare::compare(&data, metric.parse::<Metric>().unwrap(), &policy_of(m)).unwrap();
        check_test(&format!("multiclass {metric}"), &d.test, want);
    }

    let r = &doc["regression"];
    let (actual, r1, r2) = (
        nums(&r["actual"]),
        nums(&r["champion"]),
        nums(&r["challenger"]),
    );
    let data = PairedData::Regression {
        actual: &actual,
        champion: &r1,
        challenger: &r2,
    };
    for (metric, want) in r["expected"].as_object().unwrap() {
        let d = compare::compare(&data, metric.parse::<Metric>().unwrap(), &policy_of(r)).unwrap();
        check_test(&format!("regression {metric}"), &d.test, want);
    }
}
