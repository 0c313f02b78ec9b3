//! `detect` over hand-written MLflow directories, as one table: each case is
//! a fixture (files opened by `//- PATH` lines) and the rendered outcome, where
//! `[..]` stands for any text.

use std::fmt::Write as _;
use std::path::Path;

use super::*;

/// Renders what `detect` found, checking that `keel-data` accepts both schemas.
pub(crate) fn render(found: &Result<Option<MlflowModel>>) -> String {
    let m = match found {
        Err(e) => return format!("error: {e}\n"),
        Ok(None) => return "not an MLflow model\n".into(),
        Ok(Some(m)) => m,
    };
    let mut out = String::new();
    let _ = writeln!(out, "summary: {}", m.summary());
    let flavor = match &m.flavor {
        Flavor::Sklearn {
            pickled_model,
            serialization_format,
            sklearn_version,
            code,
        } => format!(
            "sklearn {pickled_model} {} sklearn {} code {}",
            serialization_format.as_str(),
            sklearn_version.as_deref().unwrap_or("?"),
            code.as_deref().unwrap_or("none")
        ),
        Flavor::PythonFunction {
            loader_module,
            model_path,
            code,
            python_model,
        } => format!(
            "python_function {loader_module} model {} code {} python_model {}",
            model_path.as_deref().unwrap_or("none"),
            code.as_deref().unwrap_or("none"),
            python_model.as_deref().unwrap_or("none")
        ),
    };
    let _ = writeln!(out, "flavor: {flavor}");
    let _ = writeln!(out, "flavors: {}", m.flavors.join(", "));
    let _ = writeln!(
        out,
        "platform: python {}, [{}] from {}",
        m.python_version.as_deref().unwrap_or("any"),
        m.requirements.join(", "),
        if m.platform_files.is_empty() {
            "nothing".to_string()
        } else {
            m.platform_files.join(", ")
        }
    );
    for (side, text) in [
        ("input", m.input_schema_avsc()),
        ("output", m.output_schema_avsc()),
    ] {
        let _ = writeln!(out, "{side}: {}", render_schema(side, text.as_deref()));
    }
    let _ = writeln!(out, "adapter: {}", m.adapter_config());
    for note in m.notes() {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// A schema as `name: fields`, after `keel_data::AvroSchema::parse` accepted it.
fn render_schema(side: &str, text: Option<&str>) -> String {
    let Some(text) = text else {
        return "none".into();
    };
    match keel_data::AvroSchema::parse(text, side) {
        Err(e) => format!("REFUSED by keel-data: {e}\n{text}"),
        Ok(schema) => {
            let fields: Vec<String> = schema
                .fields
                .iter()
                .map(|f| {
                    format!(
                        "{} {}{}",
                        f.name,
                        f.ty.describe(),
                        if f.nullable { "?" } else { "" }
                    )
                })
                .collect();
            format!("{} [{}]", schema.name, fields.join(", "))
        }
    }
}

/// Writes a fixture's files into `dir`.
fn write_fixture(dir: &Path, fixture: &str) {
    let mut current: Option<(String, String)> = None;
    let flush = |file: Option<(String, String)>| {
        if let Some((rel, body)) = file {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
    };
    for line in fixture.lines() {
        if let Some(rel) = line.strip_prefix("//- ") {
            flush(current.take());
            current = Some((rel.trim().to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(current);
}

/// The full MLmodel of an sklearn model as MLflow 3 writes it, with `{FORMAT}`
/// and `{SIGNATURE}` to fill in.
const MLFLOW3_SKLEARN: &str = "\
//- MLmodel
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.skops
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.5.2
    skops_trusted_types: null
mlflow_version: 2.19.0
model_size_bytes: 10691
model_uuid: 6e1882f3f32a4ba1b83976f03fdbb22e
signature:
  inputs: '[{\"type\": \"double\", \"name\": \"amount\", \"required\": true}, {\"type\": \"long\",
    \"name\": \"count\", \"required\": true}, {\"type\": \"string\", \"name\": \"country\", \"required\": false},
    {\"type\": \"boolean\", \"name\": \"online\"}]'
  outputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"int64\", \"shape\": [-1]}}]'
  params: null
utc_time_created: '2026-01-02 06:23:22.187745'
//- model.skops
not really a skops file: detect never opens it
//- python_env.yaml
python: 3.11.7
build_dependencies:
- pip==24.0
- setuptools==65.5.0
- wheel
dependencies:
- -r requirements.txt
//- conda.yaml
channels:
- conda-forge
dependencies:
- python=3.11.7
- pip<=24.0
- pip:
  - mlflow==2.19.0
  - scikit-learn==1.5.2
  - skops==0.10.0
name: mlflow-env
//- requirements.txt
mlflow==2.19.0
scikit-learn==1.5.2
skops==0.10.0
";

/// Each case: its name, its fixture, and the rendered outcome.
fn cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "mlflow3_sklearn_skops",
            MLFLOW3_SKLEARN.to_string(),
            r#"summary: MLflow model, sklearn flavor (skops), signature with 4 inputs and 1 output
flavor: sklearn model.skops skops sklearn 1.5.2 code none
flavors: python_function, sklearn
platform: python 3.11, [scikit-learn==1.5.2, skops==0.10.0] from python_env.yaml, requirements.txt, conda.yaml
input: input [amount double, count long, country string?, online boolean]
output: output [prediction long]
adapter: {"flavor":"sklearn","model_file":"model.skops","serialization_format":"skops","loader_module":null,"code":null,"inputs":[{"name":"amount","type":"double","required":true},{"name":"count","type":"long","required":true},{"name":"country","type":"string","required":false},{"name":"online","type":"boolean","required":true}],"outputs":["prediction"]}
note: Keel loads the sklearn flavor without MLflow, so the platform leaves out mlflow==2.19.0.
"#,
        ),
        (
            "mlflow1_cloudpickle_with_env_string_and_conda_only_packages",
            "\
//- MLmodel
artifact_path: model
flavors:
  python_function:
    data: model.pkl
    env: conda.yaml
    loader_module: mlflow.sklearn
    python_version: 3.8.10
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 0.24.2
mlflow_version: 1.20.2
//- model.pkl
//- conda.yaml
channels:
- defaults
- conda-forge
dependencies:
- python=3.8.10
- numpy=1.21.2
- libgomp
- pip
- pip:
  - mlflow
  - scikit-learn==0.24.2
  - cloudpickle==1.6.0
name: mlflow-env
"
            .to_string(),
            "summary: MLflow model, sklearn flavor (cloudpickle), no signature
flavor: sklearn model.pkl cloudpickle sklearn 0.24.2 code none
flavors: python_function, sklearn
platform: python 3.8, [scikit-learn==0.24.2, cloudpickle==1.6.0] from conda.yaml
input: none
output: none
adapter: {\"flavor\":\"sklearn\",\"model_file\":\"model.pkl\",\"serialization_format\":\"cloudpickle\",\"loader_module\":null,\"code\":null,\"inputs\":null,\"outputs\":null}
note: conda.yaml lists conda packages that pip cannot install (numpy=1.21.2, libgomp); Keel leaves them out. If the model needs them, add their pip names to requirements.txt.
note: Keel loads the sklearn flavor without MLflow, so the platform leaves out mlflow.
",
        ),
        (
            "sklearn_without_format_or_environment_files",
            "\
//- MLmodel
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.10.4
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.0.2
//- model.pkl
"
            .to_string(),
            "summary: MLflow model, sklearn flavor (pickle), no signature
flavor: sklearn model.pkl pickle sklearn 1.0.2 code none
flavors: python_function, sklearn
platform: python 3.10, [scikit-learn==1.0.2] from nothing
input: none
output: none
adapter: [..]
note: The requirements do not name scikit-learn; Keel adds scikit-learn==1.0.2.
",
        ),
        (
            "sklearn_code_directory_and_missing_format_package",
            "\
//- MLmodel
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.skops
    code: code
  sklearn:
    pickled_model: model.skops
    serialization_format: skops
//- model.skops
//- code/transformers.py
//- requirements.txt
scikit-learn>=1.4  # any recent one
"
            .to_string(),
            "summary: MLflow model, sklearn flavor (skops), no signature
flavor: sklearn model.skops skops sklearn ? code code
flavors: python_function, sklearn
platform: python any, [scikit-learn>=1.4, skops] from requirements.txt
input: none
output: none
adapter: {\"flavor\":\"sklearn\",\"model_file\":\"model.skops\",\"serialization_format\":\"skops\",\"loader_module\":null,\"code\":\"code\",\"inputs\":null,\"outputs\":null}
note: The requirements do not name skops, which loading the skops format needs; Keel adds it.
",
        ),
        (
            "other_flavor_through_pyfunc_with_tensor_signature",
            "\
//- MLmodel
flavors:
  python_function:
    data: model.xgb
    env:
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: 3.11.4
  xgboost:
    code: null
    data: model.xgb
    model_class: xgboost.sklearn.XGBClassifier
    xgb_version: 2.0.3
mlflow_version: 2.9.2
signature:
  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float64\", \"shape\": [-1, 4]}}]'
  outputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", \"shape\": [-1, 1]}}]'
//- model.xgb
//- python_env.yaml
python: 3.11.4
dependencies:
- mlflow[extras]==2.9.2 ; python_version >= \"3.8\"
- xgboost==2.0.3
"
            .to_string(),
            "summary: MLflow model, python_function flavor (mlflow.xgboost), signature with a tensor input and 1 output
flavor: python_function mlflow.xgboost model model.xgb code none python_model none
flavors: python_function, xgboost
platform: python 3.11, [mlflow-skinny==2.9.2 ; python_version >= \"3.8\", xgboost==2.0.3] from python_env.yaml
input: none
output: output [prediction float]
adapter: {\"flavor\":\"python_function\",\"model_file\":\"model.xgb\",\"serialization_format\":null,\"loader_module\":\"mlflow.xgboost\",\"code\":null,\"inputs\":null,\"outputs\":[\"prediction\"]}
note: The platform installs mlflow[extras]==2.9.2 ; python_version >= \"3.8\" as mlflow-skinny==2.9.2 ; python_version >= \"3.8\": mlflow-skinny loads models as MLflow does, without MLflow's server and UI.
note: The signature's inputs are tensors, which have no column names, so Keel writes no input schema: input records are not checked, and the model receives every input column in file order.
",
        ),
        (
            "custom_pyfunc_without_mlflow_requirement",
            "\
//- MLmodel
flavors:
  python_function:
    cloudpickle_version: 3.0.0
    code: null
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
    python_version: 3.12.1
mlflow_version: 2.12.1
signature:
  inputs: '[{\"type\": \"double\", \"name\": \"x\"}]'
  outputs: '[{\"type\": \"double\", \"required\": true}, {\"type\": \"string\", \"name\": \"label\", \"required\": false}]'
//- python_model.pkl
//- requirements.txt
cloudpickle==3.0.0
"
            .to_string(),
            "summary: MLflow model, python_function flavor (custom PythonModel), signature with 1 input and 2 outputs
flavor: python_function mlflow.pyfunc.model model none code none python_model python_model.pkl
flavors: python_function
platform: python 3.12, [cloudpickle==3.0.0, mlflow-skinny==2.12.1] from requirements.txt
input: input [x double]
output: output [prediction_0 double, label string?]
adapter: {[..]\"inputs\":[{\"name\":\"x\",\"type\":\"double\",\"required\":true}],\"outputs\":[\"prediction_0\",\"label\"]}
note: MLmodel's `flavors.python_function.env.virtualenv` names python_env.yaml, which is not in the model directory; Keel reads the platform from the other environment files.
note: MLmodel's `flavors.python_function.env.conda` names conda.yaml, which is not in the model directory; Keel reads the platform from the other environment files.
note: The requirements do not name MLflow, which loading this flavor needs; Keel adds mlflow-skinny==2.12.1.
",
        ),
        (
            "signature_with_nested_types_and_params",
            MLFLOW3_SKLEARN.replace(
                "  inputs: '[{\"type\": \"double\", \"name\": \"amount\", \"required\": true}, {\"type\": \"long\",\n    \"name\": \"count\", \"required\": true}, {\"type\": \"string\", \"name\": \"country\", \"required\": false},\n    {\"type\": \"boolean\", \"name\": \"online\"}]'",
                "  inputs: '[{\"type\": \"datetime\", \"name\": \"when\"}, {\"type\": \"binary\", \"name\": \"blob\", \"required\": false},
    {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"name\": \"tags\"},
    {\"type\": \"map\", \"values\": {\"type\": \"double\"}, \"name\": \"scores\"},
    {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"zip\": {\"type\": \"integer\", \"required\": false}}, \"name\": \"address\"},
    {\"type\": \"any\", \"name\": \"extra\"}, {\"type\": \"float\", \"name\": \"weight (kg)\"}]'",
            ).replace("  params: null", "  params: '[{\"name\": \"k\", \"type\": \"long\", \"default\": 3, \"shape\": null}]'"),
            "summary: MLflow model, sklearn flavor (skops), signature with 7 inputs and 1 output
flavor: [..]
input: input [when timestamp-micros, blob bytes?, tags array of string, scores map of double, address record, weight (kg) float]
output: output [prediction long]
adapter: {[..]\"inputs\":[{\"name\":\"when\",\"type\":\"datetime\",\"required\":true},{\"name\":\"blob\",\"type\":\"binary\",\"required\":false},{\"name\":\"tags\",\"type\":null,\"required\":true},[..]
note: Keel loads the sklearn flavor without MLflow, so the platform leaves out mlflow==2.19.0.
note: The input column 'extra' has MLflow's type any, which has no Avro equivalent, so the input schema leaves it out and Keel does not check it.
note: The signature declares inference parameters; Keel passes none, so the model uses their defaults.
",
        ),
        (
            "requirements_include_each_other_with_constraints",
            "\
//- MLmodel
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
  sklearn:
    pickled_model: model.pkl
    serialization_format: pickle
//- model.pkl
//- python_env.yaml
python: '3.9'
dependencies:
- -r requirements.txt
- numpy<2
//- requirements.txt
-r reqs/base.txt
-c constraints.txt
scikit-learn==1.3.2
//- reqs/base.txt
pandas>=1.5
numpy<2
"
            .to_string(),
            "summary: [..]
platform: python 3.9, [pandas>=1.5, numpy<2, scikit-learn==1.3.2] from python_env.yaml, requirements.txt, reqs/base.txt
[..]
note: requirements.txt: the constraints line '-c constraints.txt' is left out; Keel installs requirements without constraints files.
",
        ),
        ("no_mlmodel_file", "//- model.py\nprint('hi')\n".to_string(), "not an MLflow model\n"),
        (
            "mlmodel_is_not_yaml",
            "//- MLmodel\nflavors:\n  sklearn: {pickled_model: [\n".to_string(),
            "error: MLmodel: the file is not valid YAML: [..]line 3[..]",
        ),
        (
            "mlmodel_value_of_the_wrong_type",
            "//- MLmodel\nflavors:\n  sklearn:\n    pickled_model: [1, 2]\n".to_string(),
            "error: MLmodel: the file is not an MLmodel file as MLflow writes it: flavors.sklearn.pickled_model: invalid type: sequence, expected a string at line 3 column 20\n",
        ),
        (
            "mlmodel_without_flavors",
            "//- MLmodel\nartifact_path: model\nmlflow_version: 2.0.1\n".to_string(),
            "error: MLmodel: the file lists no `flavors`, so Keel cannot tell how to load the model; save it with an MLflow save_model function, which writes them\n",
        ),
        (
            "unknown_serialization_format",
            MLFLOW3_SKLEARN.replace("serialization_format: skops", "serialization_format: joblib"),
            "error: MLmodel: line 14: `flavors.sklearn.serialization_format` is 'joblib'; Keel loads pickle, cloudpickle and skops. Save the model again with one of them\n",
        ),
        (
            "pickled_model_missing",
            MLFLOW3_SKLEARN.replace("//- model.skops\n", "//- other.bin\n"),
            "error: MLmodel: line 13: `flavors.sklearn.pickled_model` names model.skops, which is not in the model directory; register the whole directory MLflow saved\n",
        ),
        (
            "pickled_model_outside_the_directory",
            MLFLOW3_SKLEARN.replace("pickled_model: model.skops", "pickled_model: ../model.skops"),
            "error: MLmodel: line 13: `flavors.sklearn.pickled_model` is '../model.skops', which is not a relative path inside the model directory\n",
        ),
        (
            "only_a_flavor_keel_cannot_serve",
            "//- MLmodel\nflavors:\n  keras:\n    data: data\n    keras_version: 2.4.0\n".to_string(),
            "error: MLmodel: line 1: the model's flavors (keras) include neither sklearn nor python_function; [..]\n",
        ),
        (
            "pyfunc_without_loader_module",
            "//- MLmodel\nflavors:\n  python_function:\n    python_model: python_model.pkl\n//- python_model.pkl\n".to_string(),
            "error: MLmodel: line 2: `flavors.python_function.loader_module` is missing, so mlflow.pyfunc cannot load the model; [..]\n",
        ),
        (
            "signature_that_is_not_json",
            MLFLOW3_SKLEARN.replace(
                "  outputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"int64\", \"shape\": [-1]}}]'",
                "  outputs: '[{\"type\": '",
            ),
            "error: MLmodel: line 24: `signature.outputs` is not valid JSON (EOF while parsing a value at line 1 column 10); MLflow writes it as a JSON list of column or tensor specs\n",
        ),
        (
            "signature_with_an_unknown_column_type",
            MLFLOW3_SKLEARN.replace("\"type\": \"long\",", "\"type\": \"int64\","),
            "error: MLmodel: line 21: `signature.inputs[1]` has the type \"int64\", which is not an MLflow column type (double, float, long, integer, string, boolean, binary, datetime, array, map, object or any)\n",
        ),
        (
            "signature_mixing_tensors_and_columns",
            MLFLOW3_SKLEARN.replace(
                "{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"int64\", \"shape\": [-1]}}]",
                "{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"int64\", \"shape\": [-1]}}, {\"type\": \"double\"}]",
            ),
            "error: MLmodel: line 24: `signature.outputs` mixes tensor specs and column specs; a signature side is one or the other\n",
        ),
        (
            "python_env_with_a_bad_version",
            MLFLOW3_SKLEARN.replace("python: 3.11.7", "python: three"),
            "error: python_env.yaml: line 1: `python` asks for Python 'three', which is not a Python version; write it like 3.11.7\n",
        ),
        (
            "python_env_that_is_not_yaml",
            MLFLOW3_SKLEARN.replace("- -r requirements.txt", "- -r requirements.txt\n  - : ["),
            "error: python_env.yaml: the file is not valid YAML: [..]",
        ),
        (
            "python_env_including_a_missing_file",
            MLFLOW3_SKLEARN.replace("- -r requirements.txt", "- -r requirements-prod.txt"),
            "error: python_env.yaml: line 6: `dependencies[0]` includes requirements-prod.txt, which is not in the model directory; copy the whole directory MLflow saved\n",
        ),
    ]
}

#[test]
fn detect_table() {
    let mut failures = Vec::new();
    for (name, fixture, expect) in cases() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), &fixture);
        let got = render(&detect(dir.path()));
        if !keel_testkit::matches(expect, &got) {
            failures.push(format!("--- {name}\nexpected:\n{expect}\ngot:\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn requirement_names_are_normalised() {
    for (line, want) in [
        ("scikit-learn==1.5", Some(("scikit-learn", 12))),
        ("Scikit_Learn>=1", Some(("scikit-learn", 12))),
        ("mlflow[extras]==2.0", Some(("mlflow", 6))),
        ("zope.interface", Some(("zope-interface", 14))),
        ("--extra-index-url x", None),
        ("", None),
    ] {
        let got = requirement_name(line);
        assert_eq!(got.as_ref().map(|(n, l)| (n.as_str(), *l)), want, "{line}");
    }
}
