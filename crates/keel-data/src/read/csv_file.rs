//! The CSV reader: a header line, then one record per line (quoted fields may
//! span lines). Column types are inferred over the whole file in a first pass;
//! the second pass parses, checks and batches the records.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use arrow_schema::SchemaRef;
use csv::ByteRecord;
use serde_json::{Map, Value};

use super::{Chunk, Chunks};
use crate::cells::{
    self, Batcher, Cell, Col, Kind, mismatch_reason, null_cell, parse_bool, parse_text,
};
use crate::check::Rejection;
use crate::error::{Error, Result};
use crate::schema::AvroSchema;

/// Opens a CSV file: reads the header, infers types, and checks the file's structure.
pub(super) fn open(
    path: &Path,
    name: &str,
    schema: Option<&AvroSchema>,
    batch_size: usize,
) -> Result<Chunks> {
    let mut rdr = reader(path)?;
    let headers = header_names(&mut rdr, name)?;

    // First pass: infer the type of every column the schema does not type,
    // and remember where the last record starts, to detect an unclosed quote.
    let infer_col: Vec<bool> = headers
        .iter()
        .map(|h| schema.is_none_or(|s| s.field(h).is_none()))
        .collect();
    let mut infer = vec![Infer::default(); headers.len()];
    let mut rec = ByteRecord::new();
    let mut last_start = (0u64, 1u64);
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {
                if let Some(p) = rec.position() {
                    last_start = (p.byte(), p.line());
                }
                if rec.len() != headers.len() {
                    continue;
                }
                for (i, field) in rec.iter().enumerate() {
                    if infer_col[i]
                        && let Ok(s) = std::str::from_utf8(field)
                    {
                        infer[i].observe(s);
                    }
                }
            }
            Ok(false) => break,
            Err(e) => return Err(csv_error(name, &e)),
        }
    }
    if let Some(line) = unclosed_quote(path, last_start.0, last_start.1)? {
        return Err(Error::InvalidData(format!(
            "{name} line {line}: a quoted field starts here but its closing quote never comes, so \
             the rest of the file cannot be split into records; close the quote, and double any \
             quote inside a quoted field (\"\")"
        )));
    }

    let kinds: Vec<Kind> = infer.iter().map(Infer::kind).collect();
    let cols = cells::plan(&headers, &kinds, schema, name, true)?;
    let arrow = cells::arrow_schema(&cols);

    // Second pass: a fresh reader positioned after the header.
    let mut rdr = reader(path)?;
    rdr.byte_headers().map_err(|e| csv_error(name, &e))?;
    Ok(Box::new(CsvChunks {
        rdr,
        name: name.to_string(),
        headers,
        cols,
        arrow,
        batch_size,
        next_record: 1,
        rec: ByteRecord::new(),
        done: false,
    }))
}

fn reader(path: &Path) -> Result<csv::Reader<File>> {
    let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(file))
}

/// The column names from the header line. Blank names become `column_N`.
fn header_names(rdr: &mut csv::Reader<File>, name: &str) -> Result<Vec<String>> {
    let raw = rdr.byte_headers().map_err(|e| csv_error(name, &e))?;
    if raw.is_empty() {
        return Err(Error::InvalidData(format!(
            "{name} is empty; a CSV file needs a header line naming its columns"
        )));
    }
    let mut names = Vec::with_capacity(raw.len());
    let mut seen = HashSet::new();
    for (i, field) in raw.iter().enumerate() {
        let Ok(text) = std::str::from_utf8(field) else {
            return Err(Error::InvalidData(format!(
                "{name} line 1: column {} of the header is not valid UTF-8; save the file as UTF-8",
                i + 1
            )));
        };
        let text = text.trim();
        let col = if text.is_empty() {
            format!("column_{}", i + 1)
        } else {
            text.to_string()
        };
        if !seen.insert(col.clone()) {
            return Err(Error::InvalidData(format!(
                "{name} line 1: the header names column '{col}' twice; give every column a unique name"
            )));
        }
        names.push(col);
    }
    Ok(names)
}

fn csv_error(name: &str, e: &csv::Error) -> Error {
    match e.position() {
        Some(p) => Error::InvalidData(format!("{name} line {}: cannot read CSV: {e}", p.line())),
        None => Error::InvalidData(format!("{name}: cannot read CSV: {e}")),
    }
}

/// Scans from the start of the last record to the end of the file with the
/// same quoting rules as the CSV parser, and returns the line of a quote that
/// is never closed. The CSV parser itself silently takes everything after such
/// a quote as one value, so this is the only way to notice.
fn unclosed_quote(path: &Path, start: u64, start_line: u64) -> Result<Option<u64>> {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut file = File::open(path).map_err(|e| Error::io("read", path, e))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io("read", path, e))?;
    let mut rdr = BufReader::new(file);
    let mut state = State::FieldStart;
    let mut line = start_line;
    let mut open_line = start_line;
    loop {
        let buf = rdr.fill_buf().map_err(|e| Error::io("read", path, e))?;
        if buf.is_empty() {
            break;
        }
        for &b in buf {
            state = match (state, b) {
                (State::FieldStart, b'"') => {
                    open_line = line;
                    State::Quoted
                }
                (
                    State::FieldStart | State::Unquoted | State::QuoteInQuoted,
                    b',' | b'\n' | b'\r',
                ) => State::FieldStart,
                (State::FieldStart | State::Unquoted, _) => State::Unquoted,
                (State::Quoted, b'"') => State::QuoteInQuoted,
                (State::Quoted, _) => State::Quoted,
                (State::QuoteInQuoted, b'"') => State::Quoted,
                (State::QuoteInQuoted, _) => State::Unquoted,
            };
            if b == b'\n' {
                line += 1;
            }
        }
        let n = buf.len();
        rdr.consume(n);
    }
    Ok((state == State::Quoted).then_some(open_line))
}

/// What the first pass has learned about one column.
#[derive(Clone, Default)]
struct Infer {
    seen: bool,
    not_int: bool,
    not_float: bool,
    not_bool: bool,
}

impl Infer {
    fn observe(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.seen = true;
        let t = s.trim();
        if !self.not_int && t.parse::<i64>().is_err() {
            self.not_int = true;
        }
        if self.not_int && !self.not_float && t.parse::<f64>().is_err() {
            self.not_float = true;
        }
        if !self.not_bool && parse_bool(t).is_none() {
            self.not_bool = true;
        }
    }

    fn kind(&self) -> Kind {
        if !self.seen {
            Kind::Str
        } else if !self.not_int {
            Kind::Int64
        } else if !self.not_float {
            Kind::Float64
        } else if !self.not_bool {
            Kind::Bool
        } else {
            Kind::Str
        }
    }
}

/// The second pass, as an iterator of chunks.
struct CsvChunks {
    rdr: csv::Reader<File>,
    name: String,
    headers: Vec<String>,
    cols: Vec<Col>,
    arrow: SchemaRef,
    batch_size: usize,
    next_record: u64,
    rec: ByteRecord,
    done: bool,
}

impl Iterator for CsvChunks {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut batcher = Batcher::new(&self.cols, self.arrow.clone(), self.batch_size);
        let mut rejected = Vec::new();
        let first_record = self.next_record;
        let mut read = 0u64;
        while read < self.batch_size as u64 {
            match self.rdr.read_byte_record(&mut self.rec) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(csv_error(&self.name, &e)));
                }
            }
            let record = self.next_record;
            self.next_record += 1;
            read += 1;
            if let Err(r) = row(&self.rec, &self.headers, &self.cols, record, &mut batcher) {
                rejected.push(*r);
            }
        }
        if read == 0 {
            return None;
        }
        Some(batcher.finish().map(|batch| Chunk {
            batch,
            first_record,
            records_read: read,
            rejected,
        }))
    }
}

/// Parses and checks one record, appending it to the batch or returning why it is rejected.
fn row(
    rec: &ByteRecord,
    headers: &[String],
    cols: &[Col],
    record: u64,
    batcher: &mut Batcher,
) -> Result<(), Box<Rejection>> {
    let line = rec.position().map(|p| p.line());
    let reject = |field: Option<&str>, reason: String, value: Option<Value>, data: Value| {
        Box::new(Rejection {
            record,
            line,
            field: field.map(str::to_string),
            reason,
            value,
            data: Some(data),
        })
    };
    if rec.len() != headers.len() {
        let raw: Vec<String> = rec
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        return Err(reject(
            None,
            format!(
                "line {} has {} fields but the header has {}",
                line.unwrap_or(record + 1),
                rec.len(),
                headers.len()
            ),
            None,
            Value::String(raw.join(",")),
        ));
    }
    let mut out: Vec<Cell<'_>> = Vec::with_capacity(cols.len());
    for col in cols {
        let Some(i) = col.src else {
            match null_cell(col, true) {
                Ok(c) => out.push(c),
                Err(reason) => {
                    return Err(reject(
                        Some(&col.name),
                        reason,
                        None,
                        record_json(rec, headers),
                    ));
                }
            }
            continue;
        };
        let raw = &rec[i];
        let Ok(s) = std::str::from_utf8(raw) else {
            return Err(reject(
                Some(&col.name),
                format!(
                    "field '{}' is not valid UTF-8; save the file as UTF-8",
                    col.name
                ),
                Some(Value::String(String::from_utf8_lossy(raw).into_owned())),
                record_json(rec, headers),
            ));
        };
        let cell = if s.is_empty() {
            null_cell(col, false).map_err(|reason| (reason, None))
        } else {
            parse_text(&col.kind, s).map_err(|detail| {
                let found = Value::String(s.to_string());
                (mismatch_reason(col, &found, detail), Some(found))
            })
        };
        match cell {
            Ok(c) => out.push(c),
            Err((reason, value)) => {
                return Err(reject(
                    Some(&col.name),
                    reason,
                    value,
                    record_json(rec, headers),
                ));
            }
        }
    }
    batcher.push_row(&out);
    Ok(())
}

/// A rejected record as a JSON object of its cells as text (empty cells are null).
fn record_json(rec: &ByteRecord, headers: &[String]) -> Value {
    let mut obj = Map::new();
    for (h, f) in headers.iter().zip(rec.iter()) {
        let v = if f.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(f).into_owned())
        };
        obj.insert(h.clone(), v);
    }
    Value::Object(obj)
}
