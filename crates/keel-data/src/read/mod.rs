//! Reading input files (CSV, JSON lines or arrays, Parquet) as a stream of
//! Arrow chunks, checking each record against an optional Avro schema.

mod csv_file;
mod json_file;
mod parquet_file;

use std::path::Path;

use arrow_array::RecordBatch;
use keel_types::DataFormat;

use crate::check::Rejection;
use crate::error::{Error, Result};
use crate::schema::AvroSchema;

/// How to read an input file.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The format; `None` means "from the file's extension".
    pub format: Option<DataFormat>,
    /// The schema every record must conform to; `None` reads records unchecked, inferring types.
    pub schema: Option<AvroSchema>,
    /// About how many input records each chunk covers (passed plus rejected).
    pub batch_size: usize,
    /// The name to call the file in messages; `None` uses the file's name.
    pub name: Option<String>,
    /// Only these columns (kept in the file's order); `None` reads every column. Parquet
    /// then decodes only these columns, which is most of the cost of reading.
    pub columns: Option<Vec<String>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            schema: None,
            batch_size: 10_000,
            name: None,
            columns: None,
        }
    }
}

/// A run of consecutive input records: those that passed as one batch, and those that did not.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// The records that passed, in input order.
    pub batch: RecordBatch,
    /// The record number (1-based) of the first record read into this chunk.
    pub first_record: u64,
    /// How many input records this chunk covers (passed plus rejected).
    pub records_read: u64,
    /// The records that failed, in input order.
    pub rejected: Vec<Rejection>,
}

/// The stream `open` returns.
pub type Chunks = Box<dyn Iterator<Item = Result<Chunk>> + Send>;

/// The format of `path`: `explicit` if given, else from its extension.
pub fn format_of(path: &Path, explicit: Option<DataFormat>) -> Result<DataFormat> {
    if let Some(f) = explicit {
        return Ok(f);
    }
    let name = display_name(path);
    DataFormat::from_name(&name).ok_or_else(|| {
        Error::InvalidData(format!(
            "cannot tell the format of {name} from its extension; name it .csv, .json, .jsonl or \
             .parquet, or use --format csv|json|parquet"
        ))
    })
}

/// Opens `path` and returns its records as chunks of about `opts.batch_size` records.
///
/// Problems that make the whole file unusable (unknown format, a required
/// column missing, a quote never closed, a broken Parquet footer) are returned
/// here as errors; records that fail a check become [`Rejection`]s in their chunk.
pub fn open(path: &Path, opts: &ReadOptions) -> Result<Chunks> {
    let name = opts.name.clone().unwrap_or_else(|| display_name(path));
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(Error::InvalidData(format!(
                "{name} is a directory, not a data file"
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(Error::io("read", path, e)),
    }
    let format = format_of(path, opts.format)?;
    let batch_size = opts.batch_size.max(1);
    let schema = opts.schema.as_ref();
    let columns = opts.columns.as_deref();
    let chunks = match format {
        DataFormat::Csv => csv_file::open(path, &name, schema, batch_size)?,
        DataFormat::Json => json_file::open(path, &name, schema, batch_size)?,
        DataFormat::Parquet => {
            return parquet_file::open(path, &name, schema, batch_size, columns);
        }
    };
    match columns {
        None => Ok(chunks),
        Some(cols) => Ok(project(chunks, cols.to_vec(), name)),
    }
}

/// Keeps only `columns` of every chunk's batch. A column missing from the
/// file fails the read with the columns the file does have.
fn project(chunks: Chunks, columns: Vec<String>, name: String) -> Chunks {
    Box::new(chunks.map(move |chunk| {
        let mut chunk = chunk?;
        let schema = chunk.batch.schema();
        let mut indices = Vec::with_capacity(columns.len());
        for c in &columns {
            indices.push(
                schema
                    .index_of(c)
                    .map_err(|_| missing_column(&name, c, &schema))?,
            );
        }
        chunk.batch = chunk
            .batch
            .project(&indices)
            .map_err(|e| Error::InvalidData(format!("{name}: {e}")))?;
        Ok(chunk)
    }))
}

/// The error for a column the caller asked for that the file does not have.
pub(crate) fn missing_column(name: &str, column: &str, schema: &arrow_schema::Schema) -> Error {
    let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    Error::InvalidData(format!(
        "{name} has no column '{column}'; its columns are: {}. Check the column name (names are \
         case-sensitive).",
        have.join(", ")
    ))
}

/// The file name of `path`, for messages.
fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests;
