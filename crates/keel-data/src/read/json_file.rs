//! The JSON reader: JSON lines, or, for a `.json` file whose first non-blank
//! character is `[`, one JSON array. Each line (or array item) is a record
//! object, or, when the schema says so, a bare value (`0.73`) or a list of
//! records or values (one row per item). Key types are inferred over the
//! whole file in a first pass.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use arrow_schema::SchemaRef;
use serde_json::{Map, Value};

use super::{Chunk, Chunks};
use crate::cells::{self, Batcher, Cell, Col, Kind, mismatch_reason, null_cell, parse_json};
use crate::check::Rejection;
use crate::error::{Error, Result};
use crate::schema::{AvroSchema, AvroType, Shape};

/// How a line (or array item) maps to records, from the schema's shape.
#[derive(Clone, Debug)]
struct Mode {
    /// A line holding an array is one record per item (list shapes).
    lists: bool,
    /// The value column of a value shape: lines that are not record
    /// objects are bare values stored in it.
    value: Option<String>,
    /// An object is a record (keys are columns) rather than a bare value:
    /// always without a value column, and with one when its type cannot be an object.
    objects_are_records: bool,
}

impl Mode {
    fn of(schema: Option<&AvroSchema>) -> Mode {
        let shape = schema.map_or(Shape::Record, AvroSchema::shape);
        let value = schema.and_then(|s| s.value_column().map(str::to_string));
        let objects_are_records = match schema.and_then(|s| s.fields.first()) {
            Some(f) if value.is_some() => !holds_objects(&f.ty),
            _ => true,
        };
        Mode {
            lists: shape.is_list(),
            value,
            objects_are_records,
        }
    }
}

/// True when a JSON object can be a value of this type.
fn holds_objects(ty: &AvroType) -> bool {
    match ty {
        AvroType::Map(_) | AvroType::Record(_) => true,
        AvroType::Union(branches) => branches.iter().any(holds_objects),
        _ => false,
    }
}

/// Opens a JSON file: infers key types and checks the schema's required keys exist.
pub(super) fn open(
    path: &Path,
    name: &str,
    schema: Option<&AvroSchema>,
    batch_size: usize,
) -> Result<Chunks> {
    let array = is_array(path, name)?;
    let mode = Mode::of(schema);
    let mut source = Source::open(path, name, array, mode.clone())?;

    // First pass: key names in first-seen order, with their inferred types.
    let mut keys: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut kinds: Vec<JKind> = Vec::new();
    let mut records = false;
    while let Some((_, item)) = source.next_item()? {
        records = true;
        let Item::Object(obj) = item else { continue };
        for (k, v) in &obj {
            let i = match index.get(k) {
                Some(&i) => i,
                None => {
                    index.insert(k.clone(), keys.len());
                    keys.push(k.clone());
                    kinds.push(JKind::Unseen);
                    keys.len() - 1
                }
            };
            kinds[i] = kinds[i].merge(v);
        }
    }
    // Bare values fill the value column, whether or not an object names it.
    if let Some(v) = &mode.value
        && !index.contains_key(v)
    {
        keys.push(v.clone());
        kinds.push(JKind::Unseen);
    }
    let kinds: Vec<Kind> = kinds.iter().map(JKind::kind).collect();
    let cols = cells::plan(&keys, &kinds, schema, name, records)?;
    let arrow = cells::arrow_schema(&cols);

    // Second pass from the start of the file. An array is parsed again rather
    // than kept from the first pass, so both forms are handled the same way.
    let source = Source::open(path, name, array, mode.clone())?;
    Ok(Box::new(JsonChunks {
        source,
        cols,
        arrow,
        batch_size,
        value: mode.value,
        next_record: 1,
        done: false,
    }))
}

/// True when the file's first non-blank character is `[` and its name does
/// not say it is JSON lines.
fn is_array(path: &Path, name: &str) -> Result<bool> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        return Ok(false);
    }
    let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
    for byte in BufReader::new(file).bytes() {
        let b = byte.map_err(|e| Error::io("read", path, e))?;
        if !b.is_ascii_whitespace() && b != 0xEF && b != 0xBB && b != 0xBF {
            return Ok(b == b'[');
        }
    }
    Ok(false)
}

/// One input record: an object, a bare value, or a reason it is neither plus its raw text.
enum Item {
    Object(Map<String, Value>),
    Bare(Value),
    Bad { reason: String, data: Value },
}

/// Where records come from: lines or array items, each split into records by the mode.
struct Source {
    raw: Raw,
    mode: Mode,
    /// Records of a line that holds several (a list), still to hand out.
    pending: VecDeque<(Option<u64>, Item)>,
}

/// Where JSON values come from.
enum Raw {
    Lines {
        rdr: BufReader<File>,
        line: u64,
        buf: Vec<u8>,
        path: std::path::PathBuf,
    },
    Array {
        items: std::vec::IntoIter<Value>,
        position: u64,
    },
}

impl Source {
    fn open(path: &Path, name: &str, array: bool, mode: Mode) -> Result<Source> {
        let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
        let raw = if array {
            let items: Vec<Value> = serde_json::from_reader(BufReader::new(file)).map_err(|e| {
                Error::InvalidData(format!(
                    "{name} starts with '[' but is not a valid JSON array: {e}; fix the JSON, or \
                     write one object per line (JSON lines)"
                ))
            })?;
            Raw::Array {
                items: items.into_iter(),
                position: 0,
            }
        } else {
            Raw::Lines {
                rdr: BufReader::new(file),
                line: 0,
                buf: Vec::new(),
                path: path.to_path_buf(),
            }
        };
        Ok(Source {
            raw,
            mode,
            pending: VecDeque::new(),
        })
    }

    /// The next record with its line (for JSON lines), or `None` at the end.
    fn next_item(&mut self) -> Result<Option<(Option<u64>, Item)>> {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return Ok(Some(next));
            }
            let Some(next) = self.raw.next_value()? else {
                return Ok(None);
            };
            match next.value {
                Ok(v) => self.split(next.line, next.origin, v, next.text.as_deref()),
                Err((reason, data)) => return Ok(Some((next.line, Item::Bad { reason, data }))),
            }
        }
    }

    /// Queues the records one JSON value holds, as the mode says.
    fn split(&mut self, line: Option<u64>, origin: Origin, v: Value, raw: Option<&str>) {
        let mode = &self.mode;
        match v {
            Value::Array(items) if mode.lists => {
                for (i, item) in items.into_iter().enumerate() {
                    let record = one(mode, origin, Some(i + 1), item, None);
                    self.pending.push_back((line, record));
                }
            }
            v => {
                let record = one(mode, origin, None, v, raw);
                self.pending.push_back((line, record));
            }
        }
    }
}

/// One JSON value as one record. `raw` is the line's text, kept as the
/// rejected data of a line that is not a record.
fn one(mode: &Mode, origin: Origin, item: Option<usize>, v: Value, raw: Option<&str>) -> Item {
    match v {
        Value::Object(obj) if mode.objects_are_records => Item::Object(obj),
        v if mode.value.is_some() => Item::Bare(v),
        other => {
            let kind = json_kind(&other);
            let origin = match item {
                Some(i) => format!("item {i} of {origin}"),
                None => origin.to_string(),
            };
            let reason = match (mode.lists, raw.is_some()) {
                (true, _) => format!(
                    "{origin} is {kind}, not a record; write records as objects, one per line \
                     or as an array of them such as [{{\"a\": 1}}, {{\"a\": 2}}]"
                ),
                (false, true) => format!(
                    "{origin} is {kind}, not a JSON object; each line must hold one object \
                     such as {{\"a\": 1}}"
                ),
                (false, false) => format!(
                    "{origin} is {kind}, not an object; each record must be a JSON object \
                     such as {{\"a\": 1}}"
                ),
            };
            let data = match raw {
                Some(text) => Value::String(text.to_string()),
                None => other,
            };
            Item::Bad { reason, data }
        }
    }
}

/// Where a JSON value is, for messages: "line 4", "item 3 of the array".
/// Kept as numbers, so no text is made for the values that are fine.
#[derive(Clone, Copy, Debug)]
enum Origin {
    Line(u64),
    ArrayItem(u64),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Line(l) => write!(f, "line {l}"),
            Origin::ArrayItem(i) => write!(f, "item {i} of the array"),
        }
    }
}

/// One JSON value read from the file.
struct RawValue {
    /// The line it is on (JSON lines only).
    line: Option<u64>,
    /// Where it is, for messages.
    origin: Origin,
    /// The line's text, for lines (empty for an object line, the usual
    /// case, whose text is never needed).
    text: Option<String>,
    /// The value, or why there is none and the raw text.
    value: std::result::Result<Value, (String, Value)>,
}

impl Raw {
    /// The next JSON value, or `None` at the end of the file.
    fn next_value(&mut self) -> Result<Option<RawValue>> {
        match self {
            Raw::Array { items, position } => {
                let Some(v) = items.next() else {
                    return Ok(None);
                };
                *position += 1;
                Ok(Some(RawValue {
                    line: None,
                    origin: Origin::ArrayItem(*position),
                    text: None,
                    value: Ok(v),
                }))
            }
            Raw::Lines {
                rdr,
                line,
                buf,
                path,
            } => loop {
                buf.clear();
                let n = rdr
                    .read_until(b'\n', buf)
                    .map_err(|e| Error::io("read", path, e))?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                let bytes = buf.trim_ascii();
                // A UTF-8 byte order mark may open the first line.
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                if bytes.is_empty() {
                    continue;
                }
                let l = *line;
                let origin = Origin::Line(l);
                let Ok(text) = std::str::from_utf8(bytes) else {
                    let lossy = String::from_utf8_lossy(bytes).into_owned();
                    return Ok(Some(RawValue {
                        line: Some(l),
                        origin,
                        text: None,
                        value: Err((
                            format!("line {l} is not valid UTF-8; save the file as UTF-8"),
                            Value::String(lossy),
                        )),
                    }));
                };
                let value = serde_json::from_str::<Value>(text).map_err(|e| {
                    (
                        format!("line {l} is not valid JSON: {e}"),
                        Value::String(text.to_string()),
                    )
                });
                let text = match &value {
                    Ok(Value::Object(_)) => String::new(),
                    _ => text.to_string(),
                };
                return Ok(Some(RawValue {
                    line: Some(l),
                    origin,
                    text: Some(text),
                    value,
                }));
            },
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The type inferred for one key so far.
#[derive(Clone, Copy, Debug, PartialEq)]
enum JKind {
    Unseen,
    Bool,
    Int,
    Float,
    Str,
    Text,
}

impl JKind {
    fn merge(self, v: &Value) -> JKind {
        let k = match v {
            Value::Null => return self,
            Value::Bool(_) => JKind::Bool,
            Value::Number(n) if n.is_i64() => JKind::Int,
            Value::Number(_) => JKind::Float,
            Value::String(_) => JKind::Str,
            Value::Array(_) | Value::Object(_) => JKind::Text,
        };
        match (self, k) {
            (JKind::Unseen, k) => k,
            (a, b) if a == b => a,
            (JKind::Int, JKind::Float) | (JKind::Float, JKind::Int) => JKind::Float,
            _ => JKind::Text,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            JKind::Unseen | JKind::Str => Kind::Str,
            JKind::Bool => Kind::Bool,
            JKind::Int => Kind::Int64,
            JKind::Float => Kind::Float64,
            JKind::Text => Kind::Text,
        }
    }
}

/// The second pass, as an iterator of chunks.
struct JsonChunks {
    source: Source,
    cols: Vec<Col>,
    arrow: SchemaRef,
    batch_size: usize,
    /// The column bare values go to.
    value: Option<String>,
    next_record: u64,
    done: bool,
}

impl Iterator for JsonChunks {
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
            let (line, item) = match self.source.next_item() {
                Ok(Some(x)) => x,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let record = self.next_record;
            self.next_record += 1;
            read += 1;
            let outcome = match item {
                Item::Object(obj) => row(|name| obj.get(name), &self.cols, &mut batcher).map_err(
                    |(field, reason, value)| {
                        (Some(field), reason, value, Value::Object(obj.clone()))
                    },
                ),
                Item::Bare(v) => {
                    let column = self.value.as_deref();
                    let get = |name: &str| (Some(name) == column).then_some(&v);
                    row(get, &self.cols, &mut batcher)
                        .map_err(|(field, reason, value)| (Some(field), reason, value, v.clone()))
                }
                Item::Bad { reason, data } => Err((None, reason, None, data)),
            };
            if let Err((field, reason, value, data)) = outcome {
                rejected.push(Rejection {
                    record,
                    line,
                    field,
                    reason,
                    value,
                    data: Some(data),
                });
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

/// Parses and checks one record (its values looked up by column name),
/// appending it to the batch or returning the failing field, the reason and
/// the offending value.
fn row<'v>(
    get: impl Fn(&str) -> Option<&'v Value>,
    cols: &[Col],
    batcher: &mut Batcher,
) -> Result<(), (String, String, Option<Value>)> {
    let mut out: Vec<Cell<'_>> = Vec::with_capacity(cols.len());
    for col in cols {
        let cell = match get(&col.name) {
            None => null_cell(col, true).map_err(|r| (r, None)),
            Some(Value::Null) => null_cell(col, false).map_err(|r| (r, None)),
            Some(v) => parse_json(&col.kind, v)
                .map_err(|detail| (mismatch_reason(col, v, detail), Some(v.clone()))),
        };
        match cell {
            Ok(c) => out.push(c),
            Err((reason, value)) => return Err((col.name.clone(), reason, value)),
        }
    }
    batcher.push_row(&out);
    Ok(())
}
