//! How a run's outcome becomes text to compare with a pattern: the output
//! batches by seq, a metrics document with sorted keys, the files a training
//! run wrote, or the failure.

use std::fmt::Write as _;
use std::path::Path;

use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
    StringViewArray,
};
use keel_runner::{Failure, ScoreStats};

/// The counts of a scoring run, then each output batch on one line: its seq,
/// then each column's name, type and values; `values:` marks a batch of bare
/// values (the worker's `keel.values` schema metadata).
pub(crate) fn render_scores(stats: ScoreStats, outputs: &[(u64, Vec<RecordBatch>)]) -> String {
    let mut text = format!(
        "batches: {}, in: {}, out: {}\n",
        stats.batches, stats.records_in, stats.records_out
    );
    for (seq, batches) in outputs {
        for batch in batches {
            let columns: Vec<String> = batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(field, column)| {
                    let (kind, values) = render_column(column.as_ref());
                    format!("{} {kind} = {}", field.name(), values.join(" "))
                })
                .collect();
            let schema = batch.schema();
            let values = schema.metadata().get("keel.values").map(String::as_str);
            let mark = if values == Some("1") { "values: " } else { "" };
            let _ = writeln!(text, "seq {seq}: {mark}{}", columns.join("; "));
        }
    }
    text
}

/// A column's type (any string type is `str`) and its values, strings quoted.
fn render_column(a: &dyn Array) -> (&'static str, Vec<String>) {
    fn all<T>(values: impl Iterator<Item = Option<T>>, show: impl Fn(T) -> String) -> Vec<String> {
        values
            .map(|v| v.map_or_else(|| "null".to_string(), &show))
            .collect()
    }
    let any = a.as_any();
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return ("i64", all(a.iter(), |v| v.to_string()));
    }
    if let Some(a) = any.downcast_ref::<Float64Array>() {
        return ("f64", all(a.iter(), |v| format!("{v:?}")));
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return ("bool", all(a.iter(), |v| v.to_string()));
    }
    let quote = |s: &str| format!("'{s}'");
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return ("str", all(a.iter(), quote));
    }
    if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        return ("str", all(a.iter(), quote));
    }
    if let Some(a) = any.downcast_ref::<StringViewArray>() {
        return ("str", all(a.iter(), quote));
    }
    panic!("no rendering for a {:?} column", a.data_type());
}

/// A JSON document with the keys of every object sorted, on one line.
pub(crate) fn canonical(v: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                serde_json::Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// Every file under `dir` (named from `dir`'s own name) with its contents, one a line.
pub(crate) fn render_files(dir: &Path) -> String {
    let base = dir.parent().unwrap();
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(base).unwrap().display().to_string();
                files.push(format!(
                    "{name}: {}\n",
                    std::fs::read_to_string(&path).unwrap()
                ));
            }
        }
    }
    files.sort();
    files.concat()
}

/// A failure's kind and fields; a model's own error also shows its traceback
/// and the message the job would carry.
pub(crate) fn render_failure(failure: Failure) -> String {
    match failure.clone() {
        Failure::User {
            phase,
            message,
            traceback,
            row,
        } => {
            let row = row.map_or_else(|| "no row".to_string(), |r| format!("row {r}"));
            let traceback = traceback.unwrap_or_else(|| "none".to_string());
            let job = failure.into_job_error().message;
            format!("User in {phase}, {row}: {message}\ntraceback: {traceback}\njob: {job}")
        }
        Failure::Crashed { message } => format!("Crashed: {message}"),
        Failure::Timeout { seconds } => format!("Timeout: {seconds}"),
        Failure::Cancelled => "Cancelled".to_string(),
        Failure::RuntimeUnavailable { message } => format!("RuntimeUnavailable: {message}"),
        Failure::Internal { message } => format!("Internal: {message}"),
    }
}
