//! The data of a monitoring execution: captured inferences in a window,
//! ground truth, and the join of the two by inference id.
//!
//! Captured inferences are table files (CSV, JSON lines or Parquet, as the
//! definition's `DatasetFormat` or the extension says) with an
//! `inference_id` and an `inference_time` column (ISO-8601) beside the
//! prediction and probability columns, or SageMaker's data-capture JSON
//! lines (`captureData`, `eventMetadata.inferenceId` or `eventId`,
//! `eventMetadata.inferenceTime`). Ground truth is SageMaker's JSON lines
//! (`groundTruthData.data`, `eventMetadata.eventId`), or a table with an id
//! column (`inference_id`, `event_id`, `eventId` or `id`) and a label column
//! (`label`, `ground_truth` or `groundTruth`).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDateTime, Utc};
use keel_types::DataFormat;
use serde_json::Value;

/// One captured inference.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Inference {
    pub id: String,
    pub time: DateTime<Utc>,
    pub prediction: Option<String>,
    pub probability: Option<f64>,
}

/// Which columns of a capture hold what.
#[derive(Clone, Debug, Default)]
pub(crate) struct Attributes {
    /// The predicted label or value (SageMaker's `InferenceAttribute`).
    pub inference: Option<String>,
    /// The probability of the positive class (`ProbabilityAttribute`).
    pub probability: Option<String>,
}

/// What a join found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Joined {
    /// The rows: label, and prediction and probability as captured.
    pub batch: RecordBatch,
    /// Inferences captured in the window.
    pub captured: usize,
    /// Of those, how many had ground truth.
    pub labeled: usize,
}

/// The local files a location names: itself, or the files under a
/// directory (sorted, hidden ones skipped).
pub(crate) fn files(location: &Path) -> Result<Vec<PathBuf>, String> {
    if location.is_file() {
        return Ok(vec![location.to_path_buf()]);
    }
    if !location.is_dir() {
        return Err(format!("{} does not exist", location.display()));
    }
    let mut out = Vec::new();
    let mut stack = vec![location.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the inferences of `files` whose time lies in `[from, to]`.
pub(crate) fn captured(
    files: &[PathBuf],
    format: Option<DataFormat>,
    attrs: &Attributes,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Inference>, String> {
    let mut out = Vec::new();
    for f in files {
        let read = if is_sagemaker_lines(f, "captureData")? {
            sagemaker_capture(f, attrs)?
        } else {
            table_capture(f, format, attrs)?
        };
        out.extend(read.into_iter().filter(|i| i.time >= from && i.time <= to));
    }
    Ok(out)
}

/// Reads the labels of `files`, by inference id (a later label wins).
pub(crate) fn ground_truth(files: &[PathBuf]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for f in files {
        if is_sagemaker_lines(f, "groundTruthData")? {
            for (n, line) in lines(f)?.into_iter().enumerate() {
                let v: Value = serde_json::from_str(&line)
                    .map_err(|e| format!("{} line {}: not JSON ({e})", f.display(), n + 1))?;
                let id = v["eventMetadata"]["eventId"]
                    .as_str()
                    .or(v["eventMetadata"]["inferenceId"].as_str())
                    .ok_or_else(|| {
                        format!("{} line {}: no eventMetadata.eventId", f.display(), n + 1)
                    })?;
                let label = scalar_text(&v["groundTruthData"]["data"]).ok_or_else(|| {
                    format!("{} line {}: no groundTruthData.data", f.display(), n + 1)
                })?;
                out.insert(id.to_string(), label);
            }
            continue;
        }
        let batches = read_table(f, None)?;
        for b in &batches {
            let id =
                column(b, &["inference_id", "event_id", "eventId", "id"]).ok_or_else(|| {
                    format!(
                        "{}: no id column (inference_id, event_id, eventId or id)",
                        f.display()
                    )
                })?;
            let label = column(b, &["label", "ground_truth", "groundTruth"]).ok_or_else(|| {
                format!(
                    "{}: no label column (label, ground_truth or groundTruth)",
                    f.display()
                )
            })?;
            let (ids, labels) = (texts(&id)?, texts(&label)?);
            for (i, l) in ids.into_iter().zip(labels) {
                if let (Some(i), Some(l)) = (i, l) {
                    out.insert(i, l);
                }
            }
        }
    }
    Ok(out)
}

/// Joins the inferences with their labels into one batch: `label`, and
/// `prediction` and `probability` as the capture has them. Labels and
/// predictions that are all whole numbers become integers, all numbers
/// floats, and stay text otherwise.
pub(crate) fn join(
    inferences: &[Inference],
    labels: &HashMap<String, String>,
) -> Result<Joined, String> {
    let rows: Vec<(&Inference, &String)> = inferences
        .iter()
        .filter_map(|i| labels.get(&i.id).map(|l| (i, l)))
        .collect();
    let mut fields = vec![];
    let mut columns: Vec<ArrayRef> = vec![];
    let label: Vec<Option<String>> = rows.iter().map(|(_, l)| Some((*l).clone())).collect();
    let (f, a) = typed("label", &label);
    fields.push(f);
    columns.push(a);
    if rows.iter().any(|(i, _)| i.prediction.is_some()) {
        let p: Vec<Option<String>> = rows.iter().map(|(i, _)| i.prediction.clone()).collect();
        let (f, a) = typed("prediction", &p);
        fields.push(f);
        columns.push(a);
    }
    if rows.iter().any(|(i, _)| i.probability.is_some()) {
        let p: Float64Array = rows.iter().map(|(i, _)| i.probability).collect();
        fields.push(Field::new("probability", DataType::Float64, true));
        columns.push(Arc::new(p));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| format!("cannot assemble the joined rows: {e}"))?;
    Ok(Joined {
        batch,
        captured: inferences.len(),
        labeled: rows.len(),
    })
}

/// A column of text values as the narrowest type that holds them all.
fn typed(name: &str, values: &[Option<String>]) -> (Field, ArrayRef) {
    let present = || values.iter().flatten();
    if present().all(|v| v.trim().parse::<i64>().is_ok()) {
        let a: Int64Array = values
            .iter()
            .map(|v| v.as_ref().and_then(|s| s.trim().parse().ok()))
            .collect();
        return (Field::new(name, DataType::Int64, true), Arc::new(a));
    }
    if present().all(|v| v.trim().parse::<f64>().is_ok()) {
        let a: Float64Array = values
            .iter()
            .map(|v| v.as_ref().and_then(|s| s.trim().parse().ok()))
            .collect();
        return (Field::new(name, DataType::Float64, true), Arc::new(a));
    }
    let a: StringArray = values.iter().map(|v| v.as_deref()).collect();
    (Field::new(name, DataType::Utf8, true), Arc::new(a))
}

/// Whether `f` is JSON lines whose first record has the key `key`.
fn is_sagemaker_lines(f: &Path, key: &str) -> Result<bool, String> {
    let ext = f
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(ext.as_str(), "jsonl" | "json" | "ndjson" | "out" | "") {
        return Ok(false);
    }
    let file = std::fs::File::open(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
    let mut first = String::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        if !line.trim().is_empty() {
            first = line;
            break;
        }
    }
    Ok(serde_json::from_str::<Value>(&first).is_ok_and(|v| v.get(key).is_some()))
}

fn lines(f: &Path) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        if !line.trim().is_empty() {
            out.push(line);
        }
    }
    Ok(out)
}

/// SageMaker's data capture: the output is CSV (`"0.93"`, `"1,0.93"`) or
/// JSON; an attribute is a 0-based index into the CSV, or a JSON key.
fn sagemaker_capture(f: &Path, attrs: &Attributes) -> Result<Vec<Inference>, String> {
    let mut out = Vec::new();
    for (n, line) in lines(f)?.into_iter().enumerate() {
        let at = || format!("{} line {}", f.display(), n + 1);
        let v: Value =
            serde_json::from_str(&line).map_err(|e| format!("{}: not JSON ({e})", at()))?;
        let meta = &v["eventMetadata"];
        let id = meta["inferenceId"]
            .as_str()
            .or(meta["eventId"].as_str())
            .ok_or_else(|| format!("{}: no eventMetadata.inferenceId or eventId", at()))?;
        let time = meta["inferenceTime"]
            .as_str()
            .and_then(parse_time)
            .ok_or_else(|| {
                format!(
                    "{}: no eventMetadata.inferenceTime as an ISO-8601 time",
                    at()
                )
            })?;
        let output = &v["captureData"]["endpointOutput"];
        let data = output["data"].as_str().unwrap_or_default();
        let json = output["observedContentType"]
            .as_str()
            .is_some_and(|c| c.contains("json"))
            || output["encoding"].as_str() == Some("JSON");
        let pick = |attr: &Option<String>, default: Option<usize>| -> Option<String> {
            if json {
                let doc: Value = serde_json::from_str(data).ok()?;
                return match attr {
                    Some(key) => scalar_text(&doc[key.as_str()]),
                    None => scalar_text(&doc),
                };
            }
            let cells: Vec<&str> = data.trim().split(',').map(str::trim).collect();
            let index = match attr {
                Some(a) => a.parse::<usize>().ok()?,
                None => default?,
            };
            cells.get(index).map(|c| c.to_string())
        };
        // With one value in the output, it is the probability when one is
        // expected, else the prediction.
        let probability = match &attrs.probability {
            Some(_) => pick(&attrs.probability, Some(0)).and_then(|s| s.parse().ok()),
            None => None,
        };
        let prediction = if attrs.probability.is_some() && attrs.inference.is_none() {
            None
        } else {
            pick(&attrs.inference, Some(0))
        };
        out.push(Inference {
            id: id.to_string(),
            time,
            prediction,
            probability,
        });
    }
    Ok(out)
}

fn table_capture(
    f: &Path,
    format: Option<DataFormat>,
    attrs: &Attributes,
) -> Result<Vec<Inference>, String> {
    let mut out = Vec::new();
    for b in &read_table(f, format)? {
        let need = |names: &[&str], what: &str| {
            column(b, names).ok_or_else(|| {
                format!("{}: no {what} column ({})", f.display(), names.join(" or "))
            })
        };
        let ids = texts(&need(
            &["inference_id", "inferenceId", "event_id", "eventId"],
            "inference id",
        )?)?;
        let times = texts(&need(
            &["inference_time", "inferenceTime"],
            "inference time",
        )?)?;
        let prediction = match &attrs.inference {
            Some(c) => Some(texts(&need(&[c.as_str()], "prediction")?)?),
            None if attrs.probability.is_none() => column(b, &["prediction", "predicted_label"])
                .map(|a| texts(&a))
                .transpose()?,
            None => None,
        };
        let probability = match &attrs.probability {
            Some(c) => Some(floats(&need(&[c.as_str()], "probability")?)?),
            None => None,
        };
        for row in 0..b.num_rows() {
            let (Some(id), Some(t)) = (&ids[row], &times[row]) else {
                continue;
            };
            let time = parse_time(t).ok_or_else(|| {
                format!(
                    "{} record {}: inference_time '{t}' is not an ISO-8601 time",
                    f.display(),
                    row + 1
                )
            })?;
            out.push(Inference {
                id: id.clone(),
                time,
                prediction: prediction.as_ref().and_then(|p| p[row].clone()),
                probability: probability.as_ref().and_then(|p| p[row]),
            });
        }
    }
    Ok(out)
}

fn read_table(f: &Path, format: Option<DataFormat>) -> Result<Vec<RecordBatch>, String> {
    let chunks = keel_data::open(
        f,
        &keel_data::ReadOptions {
            format,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for c in chunks {
        let c = c.map_err(|e| e.to_string())?;
        if let Some(r) = c.rejected.first() {
            return Err(format!("{} record {}: {}", f.display(), r.record, r.reason));
        }
        out.push(c.batch);
    }
    Ok(out)
}

fn column(b: &RecordBatch, names: &[&str]) -> Option<ArrayRef> {
    names.iter().find_map(|n| b.column_by_name(n).cloned())
}

fn texts(a: &ArrayRef) -> Result<Vec<Option<String>>, String> {
    let s = arrow_cast::cast(a, &DataType::Utf8).map_err(|e| e.to_string())?;
    let s = s
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("a column did not become text")?;
    Ok(s.iter().map(|v| v.map(str::to_string)).collect())
}

fn floats(a: &ArrayRef) -> Result<Vec<Option<f64>>, String> {
    let s = arrow_cast::cast(a, &DataType::Float64).map_err(|e| e.to_string())?;
    let s = s
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or("a column did not become numbers")?;
    Ok(s.iter().collect())
}

/// A label or prediction as text: strings as they are, numbers and
/// booleans as JSON writes them.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An ISO-8601 time: with an offset, or without one (read as UTC).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_with_or_without_an_offset() {
        let want = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for s in [
            "2026-11-29T10:00:00Z",
            "2026-11-29T11:00:00+01:00",
            "2026-11-29T10:00:00",
            "2026-11-29 10:00:00.000",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn joined_columns_take_the_narrowest_type() {
        let t = parse_time("2026-11-29T10:00:00Z").unwrap();
        let inf = |id: &str, pred: &str| Inference {
            id: id.into(),
            time: t,
            prediction: Some(pred.into()),
            probability: None,
        };
        let labels: HashMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "0".to_string()),
        ]
        .into();
        let j = join(&[inf("a", "1"), inf("b", "1"), inf("c", "0")], &labels).unwrap();
        assert_eq!((j.captured, j.labeled), (3, 2));
        assert_eq!(j.batch.schema().field(0).data_type(), &DataType::Int64);
        assert_eq!(j.batch.schema().field(1).data_type(), &DataType::Int64);
        let labels: HashMap<String, String> = [("a".to_string(), "cat".to_string())].into();
        let j = join(&[inf("a", "dog")], &labels).unwrap();
        assert_eq!(j.batch.schema().field(0).data_type(), &DataType::Utf8);
    }
}
