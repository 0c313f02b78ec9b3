//! The stored document formats: every column text the previous Keel wrote
//! (format 0, in `test_data/format0`) is read through `formats::decode` and
//! written back with its format number, and newer or malformed documents
//! are refused as corrupt.

use std::fmt::Debug;
use std::path::Path;

use keel_types::{Code, DataFormat, JobError, JobErrorKind, JobKind, Verdict, VersionId};
use serde_json::{Map, Value, json};

use crate::formats::{
    ComparePolicy, InputRecord, JobErrorRecord, JobRequest, JobResult, MetricsRolesRecord,
    ModelDefinition, OutputRecord, Persisted, VersionOrigin, decode, encode,
};
use crate::{Error, VersionFile};

pub(super) type Row = Map<String, Value>;

/// The rows of `test_data/format0/{table}.json`.
pub(super) fn fixture(table: &str) -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/format0")
        .join(format!("{table}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of a column, or `None` when it was NULL.
pub(super) fn column<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    match row.get(name) {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) => None,
        other => panic!("column {name} holds {other:?}"),
    }
}

/// Decodes the format-0 `stored` text, checks that encoding it again writes
/// the same JSON plus the current `record_format` (the upgrades since format
/// 0 only added optional fields) and that that reads back equal.
fn read_format0<T: Persisted + PartialEq + Debug>(stored: &str, col: &str) -> T {
    let doc: T = decode(stored, col).unwrap_or_else(|e| panic!("{col}: {e}"));
    let written = encode(&doc).unwrap();
    let mut want: Value = serde_json::from_str(stored).unwrap();
    want.as_object_mut()
        .unwrap()
        .insert("record_format".into(), json!(T::FORMAT));
    let got: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(got, want, "{col} is written back with every field kept");
    assert_eq!(decode::<T>(&written, col).unwrap(), doc, "{col}");
    doc
}

#[test]
fn format0_job_requests_decode() {
    let jobs = fixture("jobs");
    assert_eq!(jobs.len(), 12);
    let spec = |i: usize| column(&jobs[i], "spec").unwrap();
    let read: Vec<JobRequest> = (0..jobs.len())
        .map(|i| decode(spec(i), "jobs.spec").unwrap_or_else(|e| panic!("job {i}: {e}")))
        .collect();
    let path = |uri: &str| InputRecord::Path { uri: uri.into() };
    let embedded = |name: &str| Some(OutputRecord::Embedded { name: name.into() });
    let external = |uri: &str| Some(OutputRecord::External { uri: uri.into() });

    let scoring = &read[0];
    assert_eq!(scoring.input, path("data/input.csv"));
    assert_eq!(scoring.output, embedded("scores.parquet"));
    assert_eq!((scoring.format, scoring.workers), (None, 2));
    assert_eq!(
        (scoring.max_runtime_seconds, scoring.schema_check),
        (Some(600), true)
    );
    assert_eq!(scoring.builtin, None);
    let roles = read[1].builtin.as_ref().unwrap();
    assert_eq!(
        (roles.label.as_str(), roles.probability.as_deref()),
        ("flagged", Some("probability"))
    );
    assert_eq!(
        (roles.threshold, roles.curve_points, roles.subsamples),
        (0.5, 1000, 5)
    );
    assert!(roles.protected.is_empty() && roles.problem_type.is_none());
    assert_eq!((read[2].output.clone(), read[2].workers), (None, 1));
    assert_eq!(read[5].output, external("out/ext_out.csv"));
    assert_eq!(read[5].max_runtime_seconds, None);
    assert_eq!(read[6].output, external("out/ext_out2.parquet"));
    assert_eq!(
        (read[6].max_runtime_seconds, read[6].schema_check),
        (Some(100), false)
    );
    let upload_id = "01a2275c-bbe7-7656-bf68-1ef010b2f2eb".parse().unwrap();
    let upload = InputRecord::Upload {
        upload_id,
        name: "input.csv".into(),
    };
    assert_eq!(read[7].input, upload);
    assert_eq!(
        (read[7].format, read[7].output.clone()),
        (Some(DataFormat::Csv), embedded("up_out.jsonl"))
    );
    assert_eq!(read[8].builtin.as_ref().unwrap().protected, ["gender"]);
    for (i, request) in read.iter().enumerate() {
        let written = encode(request).unwrap();
        assert_eq!(
            &decode::<JobRequest>(&written, "jobs.spec").unwrap(),
            request,
            "job {i}"
        );
    }

    // A metrics job stored before `subsamples` existed used 5; an upload
    // stored before its name was kept has an empty one.
    let mut old: Value = serde_json::from_str(spec(1)).unwrap();
    old["builtin"].as_object_mut().unwrap().remove("subsamples");
    let old: JobRequest = decode(&old.to_string(), "jobs.spec").unwrap();
    assert_eq!(old.builtin.unwrap().subsamples, 5);
    let mut old: Value = serde_json::from_str(spec(7)).unwrap();
    old["input"].as_object_mut().unwrap().remove("name");
    let old: JobRequest = decode(&old.to_string(), "jobs.spec").unwrap();
    assert_eq!(
        old.input,
        InputRecord::Upload {
            upload_id,
            name: String::new()
        }
    );
}

#[test]
fn metrics_roles_default_subsamples_to_five() {
    let jobs = fixture("jobs");
    let spec: Value = serde_json::from_str(column(&jobs[1], "spec").unwrap()).unwrap();
    let mut builtin = spec["builtin"].clone();
    builtin.as_object_mut().unwrap().remove("subsamples");
    let roles: MetricsRolesRecord = serde_json::from_value(builtin).unwrap();
    assert_eq!((roles.label.as_str(), roles.subsamples), ("flagged", 5));
}

#[test]
fn format0_job_results_decode() {
    let jobs = fixture("jobs");
    let mut results = Vec::new();
    for (i, row) in jobs.iter().enumerate() {
        let completed = column(row, "status") == Some("COMPLETED");
        assert_eq!(column(row, "result").is_some(), completed, "job {i}");
        if let Some(text) = column(row, "result") {
            results.push((i, read_format0::<JobResult>(text, "jobs.result")));
        }
    }
    let got: Vec<usize> = results.iter().map(|(i, _)| *i).collect();
    assert_eq!(got, [0, 1, 2, 3, 4, 6, 7]);
    let result = |i: usize| &results.iter().find(|(j, _)| *j == i).unwrap().1;
    let scored = result(0);
    let embedded = |name: &str| Some(OutputRecord::Embedded { name: name.into() });
    assert_eq!(scored.output, embedded("scores.parquet"));
    assert_eq!(scored.output_format, Some(DataFormat::Parquet));
    assert!(!scored.has_rejected && scored.metrics.is_none());
    let metrics = result(1).metrics.as_ref().unwrap();
    let auc = &metrics["binary_classification_metrics"]["auc"]["value"];
    // serde_json is built without `float_roundtrip`, so the stored text may
    // come back one unit in the last place off.
    let auc = auc.as_f64().unwrap();
    assert!((auc - 0.9974367105332699).abs() < 1e-15, "{auc}");
    assert_eq!(metrics["dataset"]["evaluated_count"], json!(569));
    assert_eq!(result(1).output_format, Some(DataFormat::Json));
    let trained = result(2);
    assert_eq!(
        (trained.output.clone(), trained.produced_version),
        (None, Some(2))
    );
    let produced: VersionId = "01a2275c-2fed-766e-b3da-9290a9a8bc68".parse().unwrap();
    assert_eq!(trained.produced_version_id, Some(produced));
    let external = Some(OutputRecord::External {
        uri: "out/ext_out2.parquet".into(),
    });
    assert_eq!(result(6).output, external);
    assert_eq!(result(7).output, embedded("up_out.jsonl"));
}

#[test]
fn format0_job_errors_decode() {
    let jobs = fixture("jobs");
    let mut errors = Vec::new();
    for (i, row) in jobs.iter().enumerate() {
        let failed = column(row, "status") == Some("FAILED");
        assert_eq!(column(row, "error").is_some(), failed, "job {i}");
        let Some(text) = column(row, "error") else {
            continue;
        };
        let record: JobErrorRecord = read_format0(text, "jobs.error");
        let error = JobError::from(record.clone());
        // The API type's JSON is the stored JSON: nothing is lost on the way.
        let stored: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_value(&error).unwrap(), stored, "job {i}");
        assert_eq!(JobErrorRecord::from(&error), record);
        errors.push((i, error));
    }
    let got: Vec<usize> = errors.iter().map(|(i, _)| *i).collect();
    assert_eq!(got, [5, 8, 9, 10, 11]);
    let raised = &errors[0].1;
    assert_eq!(raised.kind, JobErrorKind::UserError);
    assert!(
        raised.message.contains("ValueError: record 3 is cursed"),
        "{}",
        raised.message
    );
    let traceback = raised.traceback.as_deref().unwrap();
    assert!(
        traceback.starts_with("Traceback (most recent call last):\n"),
        "{traceback}"
    );
    assert!(
        traceback.contains("raises.py\", line 5, in score"),
        "{traceback}"
    );
    assert!(
        traceback.ends_with("ValueError: record 3 is cursed\n"),
        "{traceback}"
    );
    for (i, e) in &errors[1..] {
        assert_eq!(
            (e.kind, e.traceback.as_deref()),
            (JobErrorKind::InvalidInput, None),
            "job {i}"
        );
        assert!(
            e.message.starts_with("the input has no column 'label'"),
            "{}",
            e.message
        );
    }
}

#[test]
fn format0_policies_decode() {
    let rows = fixture("comparisons");
    let policies: Vec<ComparePolicy> = rows
        .iter()
        .map(|r| read_format0(column(r, "policy").unwrap(), "comparisons.policy"))
        .collect();
    let metrics: Vec<&str> = policies.iter().map(|p| p.metric.as_str()).collect();
    assert_eq!(metrics, ["auc", "f1", "rmse"]);
    for p in &policies {
        assert_eq!(
            (p.min_delta, p.confidence, p.resamples, p.seed),
            (0.0, 0.95, 1000, 0)
        );
    }
    // Every setting but the metric has a default.
    let bare: ComparePolicy = decode(r#"{"metric":"auc"}"#, "comparisons.policy").unwrap();
    assert_eq!(bare, policies[0]);
    // The result document a completed comparison kept repeats its verdict.
    let result: Value = serde_json::from_str(column(&rows[0], "result").unwrap()).unwrap();
    assert_eq!(
        result["verdict"].as_str().map(str::parse),
        Some(Ok(Verdict::Inconclusive))
    );
}

#[test]
fn format0_definitions_and_files_decode() {
    let rows = fixture("versions");
    let defs: Vec<ModelDefinition> = rows
        .iter()
        .map(|r| read_format0(column(r, "definition").unwrap(), "versions.definition"))
        .collect();
    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fraud",
            "01a2275c-2308-7630-949f-5bbdf7e801b7.trained",
            "raises"
        ]
    );
    let fraud = &defs[0];
    assert_eq!(
        (fraud.source.as_str(), fraud.module.as_str()),
        ("fraud.py", "fraud")
    );
    let score = fraud.functions.score.as_ref().unwrap();
    assert_eq!(
        (score.name.as_str(), score.file.as_str(), score.line),
        ("action", "fraud.py", 20)
    );
    assert_eq!(
        (score.batch, score.params.clone()),
        (false, vec!["record".to_string()])
    );
    let init = fraud.functions.init.as_ref().unwrap();
    assert_eq!(
        (init.name.as_str(), init.line, init.params.len()),
        ("begin", 11, 0)
    );
    assert_eq!(fraud.functions.train.as_ref().map(|f| f.line), Some(46));
    assert_eq!(fraud.input_schema.as_deref(), Some("input_schema.avsc"));
    assert_eq!(fraud.platform.requirements, ["scikit-learn", "pandas"]);
    assert_eq!(
        fraud.platform.requirements_file.as_deref(),
        Some("requirements.txt")
    );
    assert_eq!(fraud.platform.python_version, None);
    assert!(
        fraud.content_hash.starts_with("2d6b04e1"),
        "{}",
        fraud.content_hash
    );
    let raises = &defs[2];
    assert_eq!(
        raises
            .functions
            .score
            .as_ref()
            .map(|f| (f.name.as_str(), f.line)),
        Some(("score", 3))
    );
    let f = &raises.functions;
    assert!(f.init.is_none() && f.metrics.is_none() && f.train.is_none());
    assert_eq!(
        (raises.input_schema.clone(), raises.output_schema.clone()),
        (None, None)
    );

    // `versions.files` is a bare JSON list, kept beside the definition's own.
    for (row, def) in rows.iter().zip(&defs) {
        let files: Vec<VersionFile> = serde_json::from_str(column(row, "files").unwrap()).unwrap();
        let listed: Vec<_> = def
            .files
            .iter()
            .map(|f| (&f.path, &f.sha256, f.size, &f.role))
            .collect();
        let kept: Vec<_> = files
            .iter()
            .map(|f| (&f.path, &f.sha256, f.size, &f.role))
            .collect();
        assert_eq!(kept, listed, "{}", def.name);
    }
    let files: Vec<VersionFile> = serde_json::from_str(column(&rows[0], "files").unwrap()).unwrap();
    let roles: Vec<&str> = files.iter().map(|f| f.role.as_str()).collect();
    assert_eq!(
        roles,
        ["source", "schema", "attachment", "schema", "requirements"]
    );
    assert_eq!((files[0].path.as_str(), files[0].size), ("fraud.py", 1744));
    let retrained: Vec<VersionFile> =
        serde_json::from_str(column(&rows[1], "files").unwrap()).unwrap();
    assert_ne!(
        files[2].sha256, retrained[2].sha256,
        "training changed model.pkl"
    );
}

/// The JSON `encode` writes for `doc`, checked to carry its format number.
fn written<T: Persisted>(doc: &T) -> Value {
    let text = encode(doc).unwrap();
    assert!(
        text.contains(&format!(r#""record_format":{}"#, T::FORMAT)),
        "{text}"
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn documents_are_written_with_their_current_format() {
    let policy: ComparePolicy = decode(r#"{"metric":"f1"}"#, "p").unwrap();
    let error = JobErrorRecord::from(&JobError::new(JobErrorKind::Crashed, "Gone."));
    let docs = [
        written(&policy),
        written(&error),
        written(&JobResult::default()),
        written(&super::definition("m")),
        written(&super::request(JobKind::Metrics, "in.csv")),
    ];
    let formats = [1, 1, 1, 2, 2];
    for (doc, format) in docs.iter().zip(formats) {
        assert_eq!(doc["record_format"], json!(format), "{doc}");
    }
}

/// Asserts that decoding `text` as `T` is `Corrupt` with all of `words`.
fn refused<T: Persisted + Debug>(text: &str, words: &[&str]) {
    let err = decode::<T>(text, "t.c").expect_err(text);
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(err.code(), Code::Internal);
    for w in words {
        assert!(err.to_string().contains(w), "{err} lacks {w:?}");
    }
}

#[test]
fn newer_formats_are_refused() {
    fn newer<T: Persisted + Debug>(what: &str) {
        let doc = r#"{"record_format":99,"metric":"auc"}"#;
        let words = [
            "t.c",
            what,
            "in format 99",
            "written by a newer Keel",
            &format!("reads up to {}", T::FORMAT),
        ];
        refused::<T>(doc, &words);
        refused::<T>(doc, &["upgrade Keel"]);
    }
    newer::<ComparePolicy>("comparison policy");
    newer::<JobRequest>("job request");
    newer::<JobResult>("job result");
    newer::<JobErrorRecord>("job error");
    newer::<ModelDefinition>("model definition");
}

#[test]
fn non_objects_and_bad_numbers_are_corrupt() {
    for text in ["[]", "[1]", "\"auc\"", "42", "null", "true"] {
        refused::<ComparePolicy>(text, &["t.c", "comparison policy", "is not a JSON object"]);
        refused::<JobResult>(text, &["is not a JSON object"]);
    }
    refused::<ComparePolicy>("{", &["is not JSON"]);
    refused::<ComparePolicy>(
        r#"{"record_format":"one","metric":"auc"}"#,
        &["not a whole number"],
    );
    refused::<ComparePolicy>(
        r#"{"record_format":-1,"metric":"auc"}"#,
        &["not a whole number"],
    );
    refused::<ComparePolicy>(r#"{"record_format":1}"#, &["does not parse", "metric"]);
    refused::<ComparePolicy>(r#"{"min_delta":0.1}"#, &["does not parse", "metric"]);
}

#[test]
fn version_origins_are_written_in_format_one_and_have_no_format_zero() {
    let origin = VersionOrigin::Git {
        repository: "https://example.com/org/models.git".into(),
        reference: "main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        subdir: Some("models/fraud".into()),
    };
    assert_eq!(
        written(&origin),
        json!({
            "kind": "git",
            "repository": "https://example.com/org/models.git",
            "reference": "main",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "subdir": "models/fraud",
            "record_format": 1
        })
    );
    let text = encode(&origin).unwrap();
    assert_eq!(decode::<VersionOrigin>(&text, "v.o").unwrap(), origin);
    let root = VersionOrigin::Git {
        repository: "file:///srv/r.git".into(),
        reference: "v1".into(),
        commit: "f".repeat(64),
        subdir: None,
    };
    assert!(!encode(&root).unwrap().contains("subdir"));
    assert_eq!(
        decode::<VersionOrigin>(&encode(&root).unwrap(), "v.o").unwrap(),
        root
    );
    refused::<VersionOrigin>(
        r#"{"kind":"git","repository":"r","reference":"m","commit":"c"}"#,
        &[
            "t.c",
            "version origin",
            "format 0 is unknown",
            "first stored in format 1",
        ],
    );
    refused::<VersionOrigin>(
        r#"{"record_format":2,"kind":"git"}"#,
        &["written by a newer Keel"],
    );
    refused::<VersionOrigin>(
        r#"{"record_format":1,"kind":"svn","repository":"r"}"#,
        &["does not parse"],
    );
}
