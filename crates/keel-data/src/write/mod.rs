//! Writing output files atomically (CSV, JSON lines, Parquet), and giving
//! batches from a Python worker one shared schema before they are written.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use keel_types::DataFormat;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use crate::check::cell_json;
use crate::error::{Error, Result};

mod nonfinite;
mod streaming;

pub use nonfinite::non_finite_text;

/// The name of a temporary file Keel writes beside `name` before renaming
/// it onto `name`: hidden, unique (the process id, a counter and the time)
/// and recognisable, so a sweep can tell Keel's leftovers from the user's
/// files (see [`temp_file_owner`]).
pub fn temp_name(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seq = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(".{name}.keel-tmp-{}-{seq}-{nanos}", std::process::id())
}

/// The process id in a name [`temp_name`] made for `name` (older Keels
/// wrote `-PID-NANOS` or `-PID`), or `None` when it is not such a name.
pub fn temp_file_owner(file: &str, name: &str) -> Option<u32> {
    let rest = file.strip_prefix(&format!(".{name}.keel-tmp-"))?;
    let mut parts = rest.split('-');
    let pid = parts.next()?.parse().ok()?;
    parts.all(|p| p.parse::<u128>().is_ok()).then_some(pid)
}
pub use streaming::StreamingOutput;

/// An output file being written. Data goes to a hidden temporary file beside
/// the target; `commit` renames it onto the target, and dropping the
/// `OutputFile` without committing deletes it, so a failed job never leaves a
/// partial output visible.
pub struct OutputFile {
    target: PathBuf,
    tmp: PathBuf,
    format: DataFormat,
    sink: Option<Sink>,
    schema: Option<SchemaRef>,
    rows: u64,
    batches: u64,
    committed: bool,
    /// Write a one-column table to JSON lines as bare values.
    bare: bool,
    /// Columns that hold JSON text, written to JSON lines as the JSON they hold.
    json_columns: Vec<String>,
}

impl std::fmt::Debug for OutputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputFile")
            .field("target", &self.target)
            .field("tmp", &self.tmp)
            .field("format", &self.format)
            .field("rows", &self.rows)
            .field("bare", &self.bare)
            .finish()
    }
}

enum Sink {
    /// Nothing written yet: the writer needs the first batch's schema.
    Empty(File),
    Csv(Box<arrow_csv::Writer<BufWriter<File>>>),
    Json(Box<arrow_json::Writer<BufWriter<File>, arrow_json::writer::LineDelimited>>),
    /// JSON lines written cell by cell: bare values, or objects with JSON-text columns.
    Lines(BufWriter<File>),
    Parquet(Box<ArrowWriter<File>>),
}

impl OutputFile {
    /// Starts writing `target` in `format`, through a hidden temporary file in
    /// the target's directory (so the final rename stays on one file system).
    pub fn create(target: &Path, format: DataFormat) -> Result<OutputFile> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::InvalidData(format!(
                    "the output path {} does not name a file",
                    target.display()
                ))
            })?;
        let tmp = target.with_file_name(temp_name(&name));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("create a temporary file beside", target, e))?;
        Ok(OutputFile {
            target: target.to_path_buf(),
            tmp,
            format,
            sink: Some(Sink::Empty(file)),
            schema: None,
            rows: 0,
            batches: 0,
            committed: false,
            bare: false,
            json_columns: Vec::new(),
        })
    }

    /// Under `yes`, a one-column table written to JSON lines has each row's
    /// bare value as its line (`0.73`, `"text"`, `[1,2]`), as ModelOp writes a
    /// score function's scalar output, rather than an object
    /// (`{"prediction": 0.73}`). Tables of several columns, and CSV and
    /// Parquet outputs, are written as always (the column keeps its name).
    pub fn bare_values(mut self, yes: bool) -> Self {
        self.bare = yes;
        self
    }

    /// Names the columns that hold JSON text (Avro arrays, maps, records and
    /// unions that Keel stores as text; [`crate::AvroSchema::json_columns`]
    /// lists a schema's), so JSON-lines outputs hold the JSON the text holds
    /// (`[1,2]`) rather than a string (`"[1,2]"`), bare or not, and read back
    /// with the same schema. A text that is not JSON is still written as a
    /// string. CSV and Parquet outputs keep the text.
    pub fn json_text(mut self, columns: Vec<String>) -> Self {
        self.json_columns = columns;
        self
    }

    /// The file this output becomes on commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends a batch. Every batch must have the first batch's columns and
    /// types (call [`unify`] first). An empty batch still fixes the schema,
    /// so a CSV output gets its header even when no rows follow.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.batches += 1;
        let batch = if self.format == DataFormat::Csv {
            csv_ready(batch)?
        } else {
            batch.clone()
        };
        let name = self.target_name();
        match &self.schema {
            Some(s) if s.fields() != batch.schema().fields() => {
                return Err(Error::Internal(format!(
                    "batch {} written to {name} has columns ({}) but the first batch had ({}); \
                     call keel_data::unify on the batches first",
                    self.batches,
                    describe(&batch.schema()),
                    describe(s)
                )));
            }
            Some(_) => {}
            None => self.schema = Some(batch.schema()),
        }
        let sink = match self.sink.take() {
            Some(Sink::Empty(file)) => self.open_writer(file, &batch.schema())?,
            Some(s) => s,
            None => {
                return Err(Error::Internal(format!(
                    "{name} was already committed or failed; it cannot take more rows"
                )));
            }
        };
        let sink = self.sink.insert(sink);
        let written = match sink {
            Sink::Empty(_) => Ok(()),
            Sink::Csv(w) => w.write(&batch).map_err(|e| e.to_string()),
            Sink::Json(w) => w.write(&batch).map_err(|e| e.to_string()),
            Sink::Lines(w) => write_lines(w, &batch, self.bare, &self.json_columns),
            Sink::Parquet(w) => w.write(&batch).map_err(|e| e.to_string()),
        };
        written.map_err(|e| Error::Internal(format!("cannot write rows to {name}: {e}")))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn open_writer(&self, file: File, schema: &SchemaRef) -> Result<Sink> {
        Ok(match self.format {
            DataFormat::Csv => Sink::Csv(Box::new(
                arrow_csv::WriterBuilder::new()
                    .with_header(true)
                    .build(BufWriter::new(file)),
            )),
            DataFormat::Json if self.by_cell(schema) => Sink::Lines(BufWriter::new(file)),
            DataFormat::Json => Sink::Json(Box::new(
                arrow_json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .with_encoder_factory(nonfinite::NonFiniteAsText::factory())
                    .build::<_, arrow_json::writer::LineDelimited>(BufWriter::new(file)),
            )),
            DataFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                Sink::Parquet(Box::new(
                    ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| {
                        Error::Internal(format!(
                            "cannot start the Parquet file {}: {e}",
                            self.target_name()
                        ))
                    })?,
                ))
            }
        })
    }

    /// Finishes the file: flushes it, syncs it to disk, renames it onto the
    /// target and syncs the directory. Returns the number of rows written.
    pub fn commit(mut self) -> Result<u64> {
        let name = self.target_name();
        let encode = |e: String| Error::Internal(format!("cannot finish {name}: {e}"));
        let file = match self.sink.take() {
            Some(Sink::Empty(file)) if self.format == DataFormat::Parquet => {
                // A Parquet file must hold a schema; with no batch, write one with no columns.
                let empty = Arc::new(Schema::empty());
                ArrowWriter::try_new(file, empty, None)
                    .and_then(ArrowWriter::into_inner)
                    .map_err(|e| encode(e.to_string()))?
            }
            Some(Sink::Empty(file)) => file,
            Some(Sink::Csv(w)) => (*w)
                .into_inner()
                .into_inner()
                .map_err(|e| encode(e.to_string()))?,
            Some(Sink::Json(mut w)) => {
                w.finish().map_err(|e| encode(e.to_string()))?;
                (*w).into_inner()
                    .into_inner()
                    .map_err(|e| encode(e.to_string()))?
            }
            Some(Sink::Lines(w)) => w.into_inner().map_err(|e| encode(e.to_string()))?,
            Some(Sink::Parquet(w)) => (*w).into_inner().map_err(|e| encode(e.to_string()))?,
            None => return Err(encode("an earlier write failed".to_string())),
        };
        file.sync_all()
            .map_err(|e| Error::io("sync", &self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.target)
            .map_err(|e| Error::io("rename the finished output onto", &self.target, e))?;
        self.committed = true;
        let dir = match self.target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("sync the directory", &dir, e))?;
        Ok(self.rows)
    }

    /// Whether JSON lines must be written cell by cell: bare values of a
    /// one-column table, or a JSON-text column to unwrap.
    fn by_cell(&self, schema: &Schema) -> bool {
        (self.bare && schema.fields().len() == 1)
            || schema
                .fields()
                .iter()
                .any(|f| self.json_columns.contains(f.name()))
    }

    fn target_name(&self) -> String {
        self.target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.target.display().to_string())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if !self.committed {
            // Close the writer first, then remove the partial file. Failure to
            // remove is ignored: there is no one to report it to in a drop.
            self.sink = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a batch as JSON lines, cell by cell: a one-column batch under
/// `bare` as each row's value, any other as objects. Cells are encoded as
/// arrow-json encodes them (dates and timestamps as text, decimals as exact
/// numbers), except that a column of `json` holds the JSON its text holds.
fn write_lines(
    w: &mut BufWriter<File>,
    batch: &RecordBatch,
    bare: bool,
    json: &[String],
) -> Result<(), String> {
    let schema = batch.schema();
    let bare = bare && schema.fields().len() == 1;
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        columns.push(encoded_cells(batch, i, json.contains(f.name()))?);
    }
    let keys: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| Value::String(f.name().clone()).to_string())
        .collect();
    for row in 0..batch.num_rows() {
        let mut line: Vec<u8> = Vec::new();
        if bare {
            line.extend_from_slice(columns.first().map_or(NULL, |c| cell(c, row)));
        } else {
            line.push(b'{');
            for (i, (key, col)) in keys.iter().zip(&columns).enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                line.extend_from_slice(key.as_bytes());
                line.push(b':');
                line.extend_from_slice(cell(col, row));
            }
            line.push(b'}');
        }
        line.push(b'\n');
        w.write_all(&line).map_err(|e| e.to_string())?;
    }
    Ok(())
}

const NULL: &[u8] = b"null";

/// One encoded cell. Every column has one per row; a missing one would be null.
fn cell(column: &[Vec<u8>], row: usize) -> &[u8] {
    column.get(row).map_or(NULL, Vec::as_slice)
}

/// Each cell of column `i` as JSON text: the JSON a JSON-text column holds
/// (a string when it is not JSON), else arrow-json's encoding, taken out of
/// the one-key objects arrow-json writes for the column alone.
fn encoded_cells(batch: &RecordBatch, i: usize, json_text: bool) -> Result<Vec<Vec<u8>>, String> {
    let col = batch.column(i);
    if json_text && col.data_type() == &DataType::Utf8 {
        let texts = col.as_string::<i32>();
        return Ok((0..texts.len())
            .map(|row| {
                if texts.is_null(row) {
                    return b"null".to_vec();
                }
                let t = texts.value(row);
                match serde_json::from_str::<Value>(t) {
                    Ok(v) => v.to_string().into_bytes(),
                    Err(_) => Value::String(t.to_string()).to_string().into_bytes(),
                }
            })
            .collect());
    }
    let one = batch.project(&[i]).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    {
        let mut enc = arrow_json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .with_encoder_factory(nonfinite::NonFiniteAsText::factory())
            .build::<_, arrow_json::writer::LineDelimited>(&mut buf);
        enc.write(&one).map_err(|e| e.to_string())?;
        enc.finish().map_err(|e| e.to_string())?;
    }
    let prefix = format!("{{{}:", Value::String(one.schema().field(0).name().clone()));
    buf.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            line.strip_prefix(prefix.as_bytes())
                .and_then(|l| l.strip_suffix(b"}"))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| {
                    format!(
                        "the JSON encoder wrote {} for one cell",
                        String::from_utf8_lossy(line)
                    )
                })
        })
        .collect()
}

/// Column names and types, for messages.
fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CSV cannot hold nested or binary values, so those columns become text (JSON for nested values).
fn csv_ready(batch: &RecordBatch) -> Result<RecordBatch> {
    let needs_text = |dt: &DataType| {
        dt.is_nested()
            || matches!(
                dt,
                DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_)
            )
    };
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| needs_text(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if needs_text(f.data_type()) {
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            columns.push(text_array(c));
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(|e| Error::Internal(format!("cannot convert a batch for CSV: {e}")))
}

/// A column as UTF-8 text: strings as they are, everything else as its JSON text.
fn text_array(c: &ArrayRef) -> ArrayRef {
    let plain = !c.data_type().is_nested()
        && !matches!(
            c.data_type(),
            DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        );
    if plain
        && arrow_cast::can_cast_types(c.data_type(), &DataType::Utf8)
        && let Ok(a) = arrow_cast::cast(c, &DataType::Utf8)
    {
        return a;
    }
    let mut b = StringBuilder::with_capacity(c.len(), c.len() * 8);
    for row in 0..c.len() {
        match cell_json(c, row) {
            Value::Null => b.append_null(),
            Value::String(s) => b.append_value(s),
            other => b.append_value(other.to_string()),
        }
    }
    Arc::new(b.finish())
}

/// The common type of two column types, as [`unify`] describes.
fn merge_types(a: &DataType, b: &DataType) -> DataType {
    let numeric = |t: &DataType| t.is_integer() || t.is_floating();
    if a == b {
        a.clone()
    } else if a == &DataType::Null {
        b.clone()
    } else if b == &DataType::Null {
        a.clone()
    } else if a.is_integer() && b.is_integer() {
        DataType::Int64
    } else if numeric(a) && numeric(b) {
        DataType::Float64
    } else {
        // Two kinds of string meet at Utf8; so does any other conflict, as text.
        DataType::Utf8
    }
}

/// Gives batches (typically from a Python worker) one schema: the union of
/// their columns in first-seen order, all nullable. A column a batch lacks is
/// null there; a Null-typed column takes the other batches' type; integers
/// and floats meet at Float64 (integers of different widths at Int64); any
/// other conflict becomes Utf8, with values rendered as text.
pub fn unify(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let mut unified = Unified::default();
    for b in &batches {
        unified.absorb(&b.schema());
    }
    batches.iter().map(|b| unified.conform(b)).collect()
}

/// The schema [`unify`] gives a set of batches, built up one batch's schema
/// at a time, so that batches can be written as they arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Unified {
    names: Vec<String>,
    types: Vec<DataType>,
    index: HashMap<String, usize>,
}

impl Unified {
    /// Takes in one batch's columns; answers whether the schema changed.
    pub(crate) fn absorb(&mut self, schema: &Schema) -> bool {
        let mut changed = false;
        for f in schema.fields() {
            match self.index.get(f.name()) {
                Some(&i) => {
                    let merged = merge_types(&self.types[i], f.data_type());
                    if merged != self.types[i] {
                        self.types[i] = merged;
                        changed = true;
                    }
                }
                None => {
                    self.index.insert(f.name().clone(), self.names.len());
                    self.names.push(f.name().clone());
                    self.types.push(f.data_type().clone());
                    changed = true;
                }
            }
        }
        changed
    }

    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.names
                .iter()
                .zip(&self.types)
                .map(|(n, t)| Field::new(n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// One batch in this schema; it must hold no column or type that
    /// [`Unified::absorb`] has not taken in.
    pub(crate) fn conform(&self, b: &RecordBatch) -> Result<RecordBatch> {
        let rows = b.num_rows();
        let columns = self
            .names
            .iter()
            .zip(&self.types)
            .map(|(name, ty)| match b.column_by_name(name) {
                None => Ok(new_null_array(ty, rows)),
                Some(c) if c.data_type() == ty => Ok(c.clone()),
                Some(c) if ty == &DataType::Utf8 => Ok(text_array(c)),
                Some(c) => arrow_cast::cast(c, ty).map_err(|e| {
                    Error::Internal(format!(
                        "cannot convert column '{name}' from {} to {ty}: {e}",
                        c.data_type()
                    ))
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new_with_options(
            self.schema(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| Error::Internal(format!("cannot assemble a unified batch: {e}")))
    }
}

#[cfg(test)]
mod tests;
