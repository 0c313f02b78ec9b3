//! The JSON reader: JSON lines (one object per line), or, for a `.json` file
//! whose first non-blank character is `[`, one JSON array of objects. Key
//! types are inferred over the whole file in a first pass.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use arrow_schema::SchemaRef;
use serde_json::{Map, Value};

use super::{Chunk, Chunks};
use crate::cells::{self, Batcher, Cell, Col, Kind, mismatch_reason, null_cell, parse_json};
use crate::check::Rejection;
use crate::error::{Error, Result};
use crate::schema::AvroSchema;

/// Opens a JSON file: infers key types and checks the schema's required keys exist.
pub(super) fn open(
    path: &Path,
    name: &str,
    schema: Option<&AvroSchema>,
    batch_size: usize,
) -> Result<Chunks> {
    let array = is_array(path, name)?;
    let mut source = Source::open(path, name, array)?;

    // First pass: key names in first-seen order, with their inferred types.
    let mut keys: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut kinds: Vec<JKind> = Vec::new();
    while let Some((_, item)) = source.next_item()? {
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
    let kinds: Vec<Kind> = kinds.iter().map(JKind::kind).collect();
    let cols = cells::plan(&keys, &kinds, schema, name)?;
    let arrow = cells::arrow_schema(&cols);

    // Second pass from the start of the file. An array is parsed again rather
    // than kept from the first pass, so both forms are handled the same way.
    let source = Source::open(path, name, array)?;
    Ok(Box::new(JsonChunks {
        source,
        cols,
        arrow,
        batch_size,
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

/// One input record: an object, or a reason it is not one plus its raw text.
enum Item {
    Object(Map<String, Value>),
    Bad { reason: String, data: Value },
}

/// Where records come from.
enum Source {
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
    fn open(path: &Path, name: &str, array: bool) -> Result<Source> {
        let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
        if array {
            let items: Vec<Value> = serde_json::from_reader(BufReader::new(file)).map_err(|e| {
                Error::InvalidData(format!(
                    "{name} starts with '[' but is not a valid JSON array: {e}; fix the JSON, or \
                     write one object per line (JSON lines)"
                ))
            })?;
            Ok(Source::Array {
                items: items.into_iter(),
                position: 0,
            })
        } else {
            Ok(Source::Lines {
                rdr: BufReader::new(file),
                line: 0,
                buf: Vec::new(),
                path: path.to_path_buf(),
            })
        }
    }

    /// The next record with its line (for JSON lines), or `None` at the end.
    fn next_item(&mut self) -> Result<Option<(Option<u64>, Item)>> {
        match self {
            Source::Array { items, position } => {
                let Some(v) = items.next() else {
                    return Ok(None);
                };
                *position += 1;
                let item = match v {
                    Value::Object(obj) => Item::Object(obj),
                    other => Item::Bad {
                        reason: format!(
                            "item {} of the array is {}, not an object; each record must be a \
                             JSON object such as {{\"a\": 1}}",
                            position,
                            json_kind(&other)
                        ),
                        data: other,
                    },
                };
                Ok(Some((None, item)))
            }
            Source::Lines {
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
                let Ok(text) = std::str::from_utf8(bytes) else {
                    return Ok(Some((
                        Some(l),
                        Item::Bad {
                            reason: format!("line {l} is not valid UTF-8; save the file as UTF-8"),
                            data: Value::String(String::from_utf8_lossy(bytes).into_owned()),
                        },
                    )));
                };
                let item = match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(obj)) => Item::Object(obj),
                    Ok(other) => Item::Bad {
                        reason: format!(
                            "line {l} is {}, not a JSON object; each line must hold one object \
                             such as {{\"a\": 1}}",
                            json_kind(&other)
                        ),
                        data: Value::String(text.to_string()),
                    },
                    Err(e) => Item::Bad {
                        reason: format!("line {l} is not valid JSON: {e}"),
                        data: Value::String(text.to_string()),
                    },
                };
                return Ok(Some((Some(l), item)));
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
                Item::Object(obj) => {
                    row(&obj, &self.cols, &mut batcher).map_err(|(field, reason, value)| {
                        (Some(field), reason, value, Value::Object(obj.clone()))
                    })
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

/// Parses and checks one object, appending it to the batch or returning the
/// failing field, the reason and the offending value.
fn row(
    obj: &Map<String, Value>,
    cols: &[Col],
    batcher: &mut Batcher,
) -> Result<(), (String, String, Option<Value>)> {
    let mut out: Vec<Cell<'_>> = Vec::with_capacity(cols.len());
    for col in cols {
        let cell = match obj.get(&col.name) {
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
