//! The complete example of docs/model-authoring.md: it inspects as the
//! document describes, and its functions run in the test Python.

use std::fs;
use std::path::Path;

use keel_modeldef::inspect;

use crate::write;

/// The files of the complete example in docs/model-authoring.md, each marked
/// by a `<!-- file: PATH -->` line right above its code fence.
fn doc_example_files() -> Vec<(String, String)> {
    let doc = keel_testkit::workspace_root().join("docs/model-authoring.md");
    let text = fs::read_to_string(doc).unwrap();
    let mut files = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- file: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        assert!(
            lines.next().unwrap().starts_with("```"),
            "fence after {path}"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        files.push((path.to_string(), body.join("\n") + "\n"));
    }
    files
}

fn write_doc_example(root: &Path) {
    let files = doc_example_files();
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "fraud/fraud.py",
            "fraud/input_schema.avsc",
            "fraud/requirements.txt",
            "prepare.py"
        ]
    );
    for (path, body) in files {
        write(root, &path, body.as_bytes());
    }
}

#[test]
fn the_documented_example_inspects_as_described() {
    let tmp = tempfile::tempdir().unwrap();
    write_doc_example(tmp.path());
    write(tmp.path(), "fraud/model.pkl", b"placeholder");
    let def = inspect(&tmp.path().join("fraud"), &[]).unwrap();
    assert_eq!(def.name, "fraud");
    assert_eq!(def.module, "fraud");
    let f = &def.functions;
    assert_eq!(f.init.as_ref().unwrap().name, "begin");
    let score = f.score.as_ref().unwrap();
    assert_eq!((score.name.as_str(), score.batch), ("action", false));
    assert_eq!(f.metrics.as_ref().unwrap().name, "metrics");
    assert_eq!(f.train.as_ref().unwrap().name, "train");
    assert_eq!(def.input_schema.as_deref(), Some("input_schema.avsc"));
    assert_eq!(
        def.platform.requirements,
        vec!["pandas>=2.0", "pyarrow>=14", "scikit-learn>=1.3"]
    );
}

#[test]
fn the_documented_example_runs_in_python() {
    let Some(py) = keel_testkit::python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    write_doc_example(tmp.path());
    let run = |cwd: &Path, args: &[&str]| {
        let out = std::process::Command::new(&py)
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(tmp.path(), &["prepare.py"]);
    // Calls the functions as the worker would, from the model directory.
    let driver = r#"
import json, shutil
import pandas as pd
import fraud
labeled = pd.read_parquet("../labeled.parquet")
inputs = pd.read_csv("../input.csv")
fraud.train(pd.read_json("../labeled.jsonl", lines=True))
shutil.copy("outputDir/model.pkl", "model.pkl")
fraud.begin()
one = list(fraud.action(inputs.to_dict("records")[0]))
batch = fraud.action_batch(inputs)
m = fraud.metrics(labeled)
print(json.dumps({"one": one, "rows": len(batch), "cols": list(batch.columns), "metrics": m}))
"#;
    let out = run(&tmp.path().join("fraud"), &["-c", driver]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["one"].as_array().unwrap().len(), 1);
    assert_eq!(v["one"][0]["id"], 0);
    assert_eq!(v["rows"], 569);
    assert_eq!(
        v["cols"],
        serde_json::json!(["id", "probability", "prediction"])
    );
    assert!(v["metrics"]["auc"].as_f64().unwrap() > 0.9, "{v}");
    assert!(v["metrics"]["f1"].as_f64().unwrap() > 0.85, "{v}");
    let cm = v["metrics"]["confusion_matrix"].as_array().unwrap();
    let total: u64 = cm
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(total, 569);
}
