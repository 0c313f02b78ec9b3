//! `keel run job.yaml`: seed 003's InferenceJob, in the YAML shape of the
//! MLOps package its stories come from. A reader names the input, a writer
//! the output, `alias_or_version` the model's version (an alias, matched
//! without regard to case, or a number; default `Champion`); Keel runs it as
//! a scoring job and, when it ends, says so with the output's shape.
//!
//! ```yaml
//! job:
//!   KIND: InferenceJob
//!   inputs: {KIND: ParquetReader, path: data/inputs_test.parquet}
//!   outputs: {KIND: ParquetWriter, path: outputs/predictions_test.parquet}
//!   alias_or_version: Champion
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use keel_api_model as api;
use keel_types::{DataFormat, JobKind};
use serde_json::{Value, json};

use crate::backend::Backend;
use crate::output::{self, Format};

/// What a reader or writer `KIND` reads or writes.
fn format_of(kind: &str, what: &str) -> anyhow::Result<DataFormat> {
    let k = kind.trim().to_ascii_lowercase();
    let k = k
        .strip_suffix("reader")
        .or_else(|| k.strip_suffix("writer"))
        .unwrap_or(&k);
    Ok(match k {
        "csv" => DataFormat::Csv,
        "parquet" => DataFormat::Parquet,
        "jsonlines" | "jsonl" | "json" => DataFormat::Json,
        _ => bail!(
            "{what} KIND '{kind}' is not one Keel has: CsvReader, ParquetReader or JsonLinesReader (and the same Writers)"
        ),
    })
}

/// A path or URI of the file, relative to the job file's directory.
fn place(v: &Value, what: &str, base: &Path) -> anyhow::Result<String> {
    let p = v["path"]
        .as_str()
        .or(v["uri"].as_str())
        .with_context(|| format!("the job's {what} names no `path`"))?;
    if p.contains("://") {
        return Ok(p.to_string());
    }
    let path = Path::new(p);
    let path: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    Ok(path.to_string_lossy().into_owned())
}

/// Runs the InferenceJob of `file`.
pub async fn run(
    b: &Backend,
    fmt: Format,
    file: &Path,
    model: Option<String>,
) -> anyhow::Result<i32> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let doc: Value =
        yaml_serde::from_str(&text).with_context(|| format!("{} is not YAML", file.display()))?;
    let job = if doc.get("job").is_some() {
        &doc["job"]
    } else {
        &doc
    };
    let kind = job["KIND"].as_str().unwrap_or("InferenceJob");
    if kind != "InferenceJob" {
        bail!(
            "{}: KIND is '{kind}'; `keel run` runs InferenceJob",
            file.display()
        );
    }
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::path::absolute(base)?;
    let inputs = &job["inputs"];
    let outputs = &job["outputs"];
    let in_format = format_of(inputs["KIND"].as_str().unwrap_or_default(), "inputs")?;
    let out_format = format_of(outputs["KIND"].as_str().unwrap_or_default(), "outputs")?;
    let input = place(inputs, "inputs", &base)?;
    let output = place(outputs, "outputs", &base)?;
    if DataFormat::from_name(&output) != Some(out_format) {
        bail!(
            "the outputs' path {output} does not end as a {} file; name it so (.csv, .parquet or .jsonl)",
            out_format.as_str()
        );
    }
    if let Some(parent) = Path::new(&output).parent()
        && !output.contains("://")
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let name = match model.or_else(|| job["model"].as_str().map(str::to_string)) {
        Some(n) => n,
        None => {
            let models = b.list_models(&api::PageQuery::default()).await?;
            match models.items.as_slice() {
                [only] => only.name.clone(),
                [] => bail!("no model is registered; register one, or name it with `model:`"),
                _ => bail!("several models are registered; name one with `model:` or --model"),
            }
        }
    };
    let version = match &job["alias_or_version"] {
        Value::Number(n) => n
            .as_u64()
            .with_context(|| format!("alias_or_version {n} is not a version number"))?
            .to_string(),
        v => {
            let alias = v.as_str().unwrap_or("Champion");
            let aliases = b.list_aliases(&name).await?;
            let found = aliases
                .iter()
                .find(|a| a.alias.eq_ignore_ascii_case(alias))
                .with_context(|| {
                    format!(
                        "model '{name}' has no alias '{alias}' (its aliases: {})",
                        aliases
                            .iter()
                            .map(|a| a.alias.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            found.version.to_string()
        }
    };
    let req = api::CreateJob {
        kind: JobKind::Scoring,
        model: format!("{name}:{version}"),
        input: crate::input_of(&input)?,
        output: Some(api::Output::External {
            uri: output.clone(),
        }),
        format: Some(in_format),
        workers: None,
        max_runtime_seconds: None,
        max_attempts: None,
        schema_check: None,
        metrics: None,
        baseline: None,
    };
    let done = crate::submit(b, req, true).await?;
    let columns = if output.contains("://") {
        None
    } else {
        columns_of(Path::new(&output))
    };
    let rows = done.counts.written;
    let shape = match columns {
        Some(c) => format!("{rows} rows × {c} columns"),
        None => format!("{rows} rows"),
    };
    // The notification: the log, the CLI, and (once they exist) the webhooks.
    tracing::info!(job = %done.id, status = %done.status, rows, columns = columns.unwrap_or(0), "InferenceJob finished");
    eprintln!(
        "InferenceJob {} finished {}: {shape} in {output}",
        done.id, done.status
    );
    if fmt == Format::Json {
        output::json(
            &json!({"job": done, "shape": {"rows": rows, "columns": columns}, "output": output}),
        )?;
    } else {
        output::job(fmt, &done)?;
    }
    Ok(crate::exit_for(&done))
}

/// How many columns the output file has, when it can be read here.
fn columns_of(path: &Path) -> Option<usize> {
    let mut chunks = keel_data::open(path, &keel_data::ReadOptions::default()).ok()?;
    let first = chunks.next()?.ok()?;
    Some(first.batch.num_columns())
}
