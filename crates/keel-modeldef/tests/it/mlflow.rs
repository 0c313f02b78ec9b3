//! `detect_mlflow` over models saved by a real MLflow: `tests/mlflow/make_mlflow_models.py`
//! writes them into a temp dir, and each directory's rendered outcome must
//! match its pattern, where `[..]` stands for any text (versions, mostly).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use keel_modeldef::{Flavor, MlflowModel, detect_mlflow};

/// The test Python, when it can save MLflow models; else a loud skip (a failure under CI).
pub(crate) fn mlflow_python() -> Option<PathBuf> {
    let py = keel_testkit::python()?;
    let ok = std::process::Command::new(&py)
        .args([
            "-c",
            "import mlflow.pyfunc, mlflow.sklearn, skops.io, cloudpickle",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        keel_testkit::skip(&format!(
            "{} cannot import mlflow, skops and cloudpickle (pip install -r scripts/requirements-test.txt)",
            py.display()
        ));
        return None;
    }
    Some(py)
}

/// Runs the fixture generator into `dir`.
pub(crate) fn make_mlflow_models(py: &Path, dir: &Path) {
    let script = keel_testkit::workspace_root()
        .join("crates/keel-modeldef/tests/mlflow/make_mlflow_models.py");
    let out = std::process::Command::new(py)
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "the MLflow fixture generator failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn render(m: &MlflowModel) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "summary: {}", m.summary());
    match &m.flavor {
        Flavor::Sklearn {
            pickled_model,
            serialization_format,
            sklearn_version,
            ..
        } => {
            let _ = writeln!(
                out,
                "sklearn: {pickled_model} {} {}",
                serialization_format.as_str(),
                sklearn_version.as_deref().unwrap_or("?")
            );
        }
        Flavor::PythonFunction {
            loader_module,
            code,
            python_model,
            ..
        } => {
            let _ = writeln!(
                out,
                "python_function: {loader_module} code {} python_model {}",
                code.as_deref().unwrap_or("none"),
                python_model.as_deref().unwrap_or("none")
            );
        }
    }
    let _ = writeln!(
        out,
        "platform: python {}, [{}] from {}",
        m.python_version.as_deref().unwrap_or("any"),
        m.requirements.join(", "),
        m.platform_files.join(", ")
    );
    for (side, text) in [
        ("input", m.input_schema_avsc()),
        ("output", m.output_schema_avsc()),
    ] {
        let shown = match text {
            None => "none".to_string(),
            Some(text) => {
                // What Keel checks records with must accept what detect generates.
                let schema = keel_data::AvroSchema::parse(&text, side)
                    .unwrap_or_else(|e| panic!("keel-data refuses the {side} schema: {e}\n{text}"));
                let fields: Vec<String> = schema
                    .fields
                    .iter()
                    .map(|f| format!("{} {}", f.name, f.ty.describe()))
                    .collect();
                format!("{} [{}]", schema.name, fields.join(", "))
            }
        };
        let _ = writeln!(out, "{side}: {shown}");
    }
    for note in m.notes() {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

const BINARY_INPUT: &str = "input: input [mean_radius double, mean_texture double, mean_perimeter double, mean_area double, mean_smoothness double, mean_compactness double, mean_concavity double, mean_concave_points double]";

#[test]
fn models_saved_by_mlflow() {
    let Some(py) = mlflow_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    make_mlflow_models(&py, tmp.path());
    let binary = |format: &str, reqs: &str| {
        format!(
            "summary: MLflow model, sklearn flavor ({format}), signature with 8 inputs and 1 output
sklearn: model.[..] {format} [..]
platform: python 3.[..], [scikit-learn==[..]{reqs}] from python_env.yaml, requirements.txt, conda.yaml
{BINARY_INPUT}
output: output [prediction long]
note: Keel loads the sklearn flavor without MLflow, so the platform leaves out mlflow==[..].
"
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("binary_skops", binary("skops", ", skops")),
        ("binary_cloudpickle", binary("cloudpickle", ", cloudpickle")),
        ("binary_pickle", binary("pickle", "")),
        (
            "regressor",
            "summary: MLflow model, sklearn flavor (skops), signature with 4 inputs and 1 output
sklearn: model.skops skops [..]
platform: [..]
input: input [age double, bmi double, bp double, s5 double]
output: output [progression double]
note: [..]"
                .into(),
        ),
        (
            "multiclass_nosig",
            "summary: MLflow model, sklearn flavor (cloudpickle), no signature
sklearn: model.pkl cloudpickle [..]
platform: python 3.[..], [scikit-learn==[..], cloudpickle] from [..]
input: none
output: none
note: [..]"
                .into(),
        ),
        (
            "pyfunc_custom",
            "summary: MLflow model, python_function flavor (custom PythonModel), signature with 3 inputs and 1 output
python_function: mlflow.pyfunc.model code code python_model python_model.pkl
platform: python 3.[..], [mlflow-skinny==[..], numpy, pandas] from python_env.yaml, requirements.txt, conda.yaml
input: input [x1 double, x2 double, x3 double]
output: output [score double]
note: The platform installs mlflow==[..] as mlflow-skinny==[..]: mlflow-skinny loads models as MLflow does, without MLflow's server and UI.
"
                .into(),
        ),
    ];
    let mut failures = Vec::new();
    for (case, expect) in &cases {
        let got = match detect_mlflow(&tmp.path().join(case)) {
            Ok(Some(m)) => render(&m),
            other => format!("{other:?}"),
        };
        if !keel_testkit::matches(expect, &got) {
            failures.push(format!("--- {case}\nexpected:\n{expect}\ngot:\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
