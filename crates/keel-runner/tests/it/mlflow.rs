//! `keel_mlflow.py` in real workers over MLflow models saved by a real MLflow
//! (keel-modeldef's `tests/mlflow/make_mlflow_models.py`), configured by
//! `keel_modeldef::detect_mlflow`'s `adapter_config`, exactly as a job runs it.
//!
//! `scores` compares every case's output with what the fixture script
//! computed with the model object itself; `failures` breaks a model or its
//! input and matches the failure against a pattern (`[..]` stands for any text).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
    StringViewArray,
};
use arrow_schema::{DataType, Field, Schema};
use keel_modeldef::{ADAPTER_CONFIG_ENV, ADAPTER_MODULE, detect_mlflow};
use keel_runner::{Control, Functions, WorkerSpec, run_scoring};
use serde_json::Value;

use crate::render::render_failure;
use crate::{Logs, python};

/// The test Python when it can save MLflow models; else a loud skip (a failure under CI).
fn mlflow_python() -> Option<PathBuf> {
    let py = python()?;
    let ok = std::process::Command::new(&py)
        .args(["-c", "import mlflow.pyfunc, skops.io, cloudpickle"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        keel_testkit::skip(&format!(
            "{} cannot import mlflow, skops and cloudpickle (pip install -r scripts/requirements-test.txt)",
            py.display()
        ));
        return None;
    }
    Some(py)
}

/// The saved models, their inputs and reference outputs, in a temp dir.
fn models(py: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = keel_testkit::workspace_root()
        .join("crates/keel-modeldef/tests/mlflow/make_mlflow_models.py");
    let out = std::process::Command::new(py)
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the MLflow fixture generator failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The input of a case as batches of `per` rows, without the columns in `drop`.
fn input(models: &Path, case: &str, per: usize, drop: &[&str]) -> Vec<RecordBatch> {
    let text = std::fs::read_to_string(models.join(format!("data/{case}.json"))).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for col in doc["columns"].as_array().unwrap() {
        let name = col["name"].as_str().unwrap();
        if drop.contains(&name) {
            continue;
        }
        let values = col["values"].as_array().unwrap();
        if col["type"] == "long" {
            fields.push(Field::new(name, DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(
                values.iter().map(|v| v.as_i64().unwrap()),
            )));
        } else {
            fields.push(Field::new(name, DataType::Float64, false));
            columns.push(Arc::new(Float64Array::from_iter_values(
                values.iter().map(|v| v.as_f64().unwrap()),
            )));
        }
    }
    let all = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    (0..all.num_rows())
        .step_by(per)
        .map(|start| all.slice(start, per.min(all.num_rows() - start)))
        .collect()
}

/// Runs the adapter over `dir` (a copy of an MLflow model directory).
fn run(
    py: &Path,
    dir: &Path,
    config: Option<String>,
    workers: usize,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, keel_runner::Failure> {
    let spec = WorkerSpec {
        python: py.to_path_buf(),
        workdir: dir.to_path_buf(),
        module: ADAPTER_MODULE.into(),
        functions: Functions {
            init: Some("init".into()),
            score: Some("score".into()),
            score_batch: true,
            ..Functions::default()
        },
        env: config
            .map(|c| vec![(ADAPTER_CONFIG_ENV.to_string(), c)])
            .unwrap_or_default(),
        job: serde_json::json!({}),
        output_column: None,
        isolation: keel_runner::Isolation::default(),
        warm: None,
    };
    let outputs = Mutex::new(Vec::new());
    let logs = Logs::default();
    run_scoring(
        &spec,
        workers,
        &mut batches.into_iter(),
        &mut |seq, out| {
            outputs.lock().unwrap().push((seq, out));
            Ok(())
        },
        &logs,
        &Control::new(),
    )?;
    let mut outputs = outputs.into_inner().unwrap();
    outputs.sort_by_key(|(seq, _)| *seq);
    Ok(outputs.into_iter().flat_map(|(_, b)| b).collect())
}

/// A column's values as JSON, whatever Arrow type pyarrow chose for it.
fn values(a: &dyn Array) -> Vec<Value> {
    let any = a.as_any();
    let strings = |it: &mut dyn Iterator<Item = Option<&str>>| -> Vec<Value> {
        it.map(|v| Value::from(v.unwrap())).collect()
    };
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return a.values().iter().map(|v| Value::from(*v)).collect();
    }
    if let Some(a) = any.downcast_ref::<Float64Array>() {
        return a.values().iter().map(|v| Value::from(*v)).collect();
    }
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return strings(&mut a.iter());
    }
    if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        return strings(&mut a.iter());
    }
    if let Some(a) = any.downcast_ref::<StringViewArray>() {
        return strings(&mut a.iter());
    }
    panic!("no comparison for a {:?} column", a.data_type());
}

/// Each case: the model, how many workers, and how many rows a batch holds.
const SCORES: &[(&str, usize, usize)] = &[
    ("binary_skops", 2, 7),
    ("binary_cloudpickle", 1, 40),
    ("binary_pickle", 1, 16),
    ("regressor", 1, 11),
    ("multiclass_nosig", 1, 13),
    ("pyfunc_custom", 1, 9),
];

#[test]
fn scores() {
    let Some(py) = mlflow_python() else { return };
    let models = models(&py);
    for &(case, workers, per) in SCORES {
        let src = models.path().join(case);
        let model = detect_mlflow(&src).unwrap().unwrap();
        let work = tempfile::tempdir().unwrap();
        copy_dir(&src, work.path());
        let batches = input(models.path(), case, per, &[]);
        let ids: Vec<Value> = batches
            .iter()
            .flat_map(|b| values(b.column_by_name("id").unwrap().as_ref()))
            .collect();
        let config = model.adapter_config().to_string();
        let out = run(&py, work.path(), Some(config), workers, batches)
            .unwrap_or_else(|f| panic!("{case}: {}", render_failure(f)));
        let text =
            std::fs::read_to_string(models.path().join(format!("reference/{case}.json"))).unwrap();
        let reference: Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&str> = reference["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for batch in &out {
            let schema = batch.schema();
            let got: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(got, names, "{case}: output columns");
        }
        for name in names {
            let got: Vec<Value> = out
                .iter()
                .flat_map(|b| values(b.column_by_name(name).unwrap().as_ref()))
                .collect();
            let want = if name == "id" {
                ids.clone()
            } else {
                reference[name].as_array().unwrap().clone()
            };
            assert_eq!(got.len(), want.len(), "{case}: rows of {name}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let same = match (g.as_f64(), w.as_f64()) {
                    (Some(g), Some(w)) if g.fract() != 0.0 || w.fract() != 0.0 => {
                        (g - w).abs() <= 1e-12 * w.abs().max(1.0)
                    }
                    _ => g == w,
                };
                assert!(
                    same,
                    "{case}: {name} of row {i} is {g}, the model gives {w}"
                );
            }
        }
    }
}

/// A pickle whose only object is a class of a package nobody installed.
const PICKLE_OF_A_MISSING_PACKAGE: &[u8] = b"cno_such_package_for_keel\nThing\n)\x81.";

/// Each case: its name, the model, a file to overwrite with bytes, input
/// columns to drop, whether KEEL_MLFLOW is set, and the failure's pattern.
type FailureCase = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static [u8])>,
    &'static [&'static str],
    bool,
    &'static str,
);

const FAILURES: &[FailureCase] = &[
    (
        "required_column_missing",
        "binary_skops",
        None,
        &["mean_area"],
        true,
        "User in score, no row: MlflowModelError: the input has no column 'mean_area', which the MLflow signature requires; add it to the input data (the signature's columns are mean_radius, [..]",
    ),
    (
        "fitted_column_missing_without_signature",
        "multiclass_nosig",
        None,
        &["petal_width"],
        true,
        "User in score, no row: MlflowModelError: the input has no column 'petal_width', which the model was fitted with; add it to the input data[..]",
    ),
    (
        "damaged_pickle",
        "binary_pickle",
        Some(("model.pkl", b"not a pickle at all")),
        &[],
        true,
        "User in init, no row: MlflowModelError: model.pkl cannot be loaded as a pickle file (UnpicklingError: [..]); it may be damaged, or saved by another scikit-learn version than the platform's. Save the model again with mlflow.sklearn.save_model[..]",
    ),
    (
        "pickle_needing_a_missing_package",
        "binary_pickle",
        Some(("model.pkl", PICKLE_OF_A_MISSING_PACKAGE)),
        &[],
        true,
        "User in init, no row: MlflowModelError: loading model.pkl (pickle format) needs the Python package 'no_such_package_for_keel', which the model's platform does not have: add it to the MLflow model's requirements.txt (or python_env.yaml) and register it again[..]",
    ),
    (
        "damaged_skops_file",
        "binary_skops",
        Some(("model.skops", b"PK but not a zip")),
        &[],
        true,
        "User in init, no row: MlflowModelError: model.skops cannot be loaded as a skops file ([..]",
    ),
    (
        "no_configuration",
        "binary_skops",
        None,
        &[],
        false,
        "User in init, no row: MlflowModelError: the environment variable KEEL_MLFLOW is not set; [..]",
    ),
];

#[test]
fn failures() {
    let Some(py) = mlflow_python() else { return };
    let models = models(&py);
    let mut wrong = Vec::new();
    for &(name, case, overwrite, drop, configured, expect) in FAILURES {
        let src = models.path().join(case);
        let config = detect_mlflow(&src).unwrap().unwrap().adapter_config();
        let work = tempfile::tempdir().unwrap();
        copy_dir(&src, work.path());
        if let Some((file, bytes)) = overwrite {
            std::fs::write(work.path().join(file), bytes).unwrap();
        }
        let batches = input(models.path(), case, 100, drop);
        let got = match run(
            &py,
            work.path(),
            configured.then(|| config.to_string()),
            1,
            batches,
        ) {
            Ok(out) => format!("no failure, {} output batches", out.len()),
            Err(f) => render_failure(f),
        };
        if !keel_testkit::matches(expect, &got) {
            wrong.push(format!("--- {name}\nexpected:\n{expect}\ngot:\n{got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
