//! Golden tests of the binary, multiclass and regression kernels against
//! scikit-learn: `golden/classification.py` writes the cases and sklearn's
//! values into `test_data/classification_*.json`; each case is run through
//! the kernel here and its serialised result compared, key by key, with the
//! expected document.

use keel_metrics::Uncertainty;
use keel_metrics::binary::{BinaryInput, binary};
use keel_metrics::multiclass::{MulticlassInput, multiclass};
use keel_metrics::regression::regression;
use serde_json::Value;

/// Relative tolerance of every float comparison.
const REL: f64 = 1e-9;
/// Values this close to zero are compared absolutely at `REL * FLOOR`, so a
/// standard deviation of exactly 0 matches one of 1e-17 (rounding in a mean).
const FLOOR: f64 = 1e-3;

fn load(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/test_data/classification_{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc["cases"].as_array().expect("cases").clone()
}

fn uncertainty(v: &Value) -> Uncertainty {
    Uncertainty {
        enabled: v["enabled"].as_bool().expect("enabled"),
        seed: v["seed"].as_u64().expect("seed"),
        subsamples: v["subsamples"].as_u64().expect("subsamples") as usize,
        fraction: v["fraction"].as_f64().expect("fraction"),
        min_samples: v["min_samples"].as_u64().expect("min_samples") as usize,
    }
}

/// A float as the crate serialises it: a number, or "NaN" / "Infinity" /
/// "-Infinity".
fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "NaN" => Some(f64::NAN),
        Value::String(s) if s == "Infinity" => Some(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn close(got: f64, want: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= REL * want.abs().max(FLOOR)
}

/// Compares `got` with `want` recursively; every key of `want` must be in
/// `got` and every key of `got` in `want`, so a renamed or extra field fails.
fn compare(got: &Value, want: &Value, path: &str, errors: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => compare(gv, wv, &format!("{path}.{k}"), errors),
                    None => errors.push(format!("{path}.{k}: missing")),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                errors.push(format!("{path}.{k}: not expected"));
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                errors.push(format!("{path}: length {} != {}", g.len(), w.len()));
                return;
            }
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                compare(gv, wv, &format!("{path}[{i}]"), errors);
            }
        }
        _ => match (float(got), float(want)) {
            (Some(g), Some(w)) => {
                if !close(g, w) {
                    errors.push(format!("{path}: got {g:e}, want {w:e}"));
                }
            }
            _ => {
                if got != want {
                    errors.push(format!("{path}: got {got}, want {want}"));
                }
            }
        },
    }
}

/// Runs every case and reports all mismatches at once.
fn check(file: &str, run: impl Fn(&Value) -> Value) {
    let cases = load(file);
    assert!(!cases.is_empty(), "{file}: no cases");
    let mut errors = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let got = run(case);
        compare(&got, &case["expected"], name, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "{file}: {} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn binary_matches_sklearn() {
    check("binary", |case| {
        // A null in any column the kernel needs is a row the column adapter
        // drops; drop it here the same way before calling the kernel.
        let (a, p, s) = binary_rows(case);
        let input = BinaryInput {
            actual: &a,
            predicted: &p,
            score: s.as_deref(),
            curve_points: 0,
        };
        let m = binary(&input, &uncertainty(&case["uncertainty"])).expect("binary");
        serde_json::to_value(&m).expect("serialise")
    });
}

/// The rows of a binary case the column adapter keeps: its labels,
/// predictions and scores where none is null.
fn binary_rows(case: &Value) -> (Vec<bool>, Vec<bool>, Option<Vec<f64>>) {
    let actual = case["actual"].as_array().expect("actual");
    let predicted = case["predicted"].as_array().expect("predicted");
    let score = case["score"].as_array();
    let keep: Vec<usize> = (0..actual.len())
        .filter(|&i| {
            !actual[i].is_null() && !predicted[i].is_null() && score.is_none_or(|s| !s[i].is_null())
        })
        .collect();
    let label = |v: &Value| v.as_u64().expect("0 or 1") == 1;
    let a = keep.iter().map(|&i| label(&actual[i])).collect();
    let p = keep.iter().map(|&i| label(&predicted[i])).collect();
    let s = score.map(|s| {
        keep.iter()
            .map(|&i| s[i].as_f64().expect("score"))
            .collect()
    });
    (a, p, s)
}

/// With more thresholds than `curve_points`, both curves are sklearn's
/// undropped curves at evenly spaced indices (`thinned` in the golden file).
#[test]
fn thinned_curves_are_points_of_sklearns() {
    let cases = load("binary");
    let mut errors = Vec::new();
    let mut checked = 0;
    for case in &cases {
        let want = &case["thinned"];
        if want.is_null() {
            continue;
        }
        let name = case["name"].as_str().expect("name");
        let (a, p, s) = binary_rows(case);
        let input = BinaryInput {
            actual: &a,
            predicted: &p,
            score: s.as_deref(),
            curve_points: want["curve_points"].as_u64().expect("curve_points") as usize,
        };
        let m = binary(&input, &uncertainty(&case["uncertainty"])).expect("binary");
        let got = serde_json::json!({"roc": m.roc, "pr": m.pr});
        let want = serde_json::json!({"roc": want["roc"], "pr": want["pr"]});
        compare(&got, &want, name, &mut errors);
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} cases have thinned curves");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn multiclass_matches_sklearn() {
    check("multiclass", |case| {
        let codes = |k: &str| -> Vec<u32> {
            case[k]
                .as_array()
                .expect(k)
                .iter()
                .map(|v| v.as_u64().expect("code") as u32)
                .collect()
        };
        let (a, p) = (codes("actual"), codes("predicted"));
        let input = MulticlassInput {
            actual: &a,
            predicted: &p,
            classes: case["classes"].as_u64().expect("classes") as usize,
        };
        let m = multiclass(&input, &uncertainty(&case["uncertainty"])).expect("multiclass");
        serde_json::to_value(&m).expect("serialise")
    });
}

#[test]
fn regression_matches_sklearn() {
    check("regression", |case| {
        let floats = |k: &str| -> Vec<f64> {
            case[k]
                .as_array()
                .expect(k)
                .iter()
                .map(|v| v.as_f64().expect("float"))
                .collect()
        };
        let m = regression(
            &floats("actual"),
            &floats("predicted"),
            &uncertainty(&case["uncertainty"]),
        )
        .expect("regression");
        serde_json::to_value(&m).expect("serialise")
    });
}

/// A constant target whose mean does not round-trip (0.1 summed three times
/// is not 0.3) gives numpy a tiny nonzero total sum of squares, so sklearn
/// reports a huge negative R² for a near-perfect prediction. The kernel
/// recognises the constant exactly and applies sklearn's `force_finite` rule
/// instead: a deliberate difference, so it is checked here rather than
/// against sklearn.
#[test]
fn a_constant_target_is_recognised_exactly() {
    let y = [0.1, 0.1, 0.1];
    let off = Uncertainty {
        enabled: false,
        ..Uncertainty::default()
    };
    assert_eq!(
        regression(&y, &[0.1, 0.1, 0.2], &off).unwrap().r2.value,
        0.0
    );
    assert_eq!(regression(&y, &y, &off).unwrap().r2.value, 1.0);
}

/// The comparison itself must catch a wrong value, a NaN where a number is
/// due, and a missing key.
#[test]
fn the_comparison_catches_differences() {
    let want: Value =
        serde_json::json!({"a": {"value": 0.5, "standard_deviation": "NaN"}, "b": [1.0, 2.0]});
    let mut errors = Vec::new();
    compare(&want, &want, "x", &mut errors);
    assert!(errors.is_empty());
    for bad in [
        serde_json::json!({"a": {"value": 0.5000001, "standard_deviation": "NaN"}, "b": [1.0, 2.0]}),
        serde_json::json!({"a": {"value": 0.5, "standard_deviation": 0.0}, "b": [1.0, 2.0]}),
        serde_json::json!({"a": {"value": 0.5}, "b": [1.0, 2.0]}),
        serde_json::json!({"a": {"value": 0.5, "standard_deviation": "NaN"}, "b": [1.0]}),
    ] {
        let mut errors = Vec::new();
        compare(&bad, &want, "x", &mut errors);
        assert!(!errors.is_empty(), "{bad}");
    }
}
