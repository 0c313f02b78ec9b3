//! Worker protocol version 1: frame layout, the JSON messages, and Arrow IPC
//! stream encoding. docs/worker-protocol.md is the specification.

use std::io::{Cursor, Read, Write};

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The protocol version this runner speaks; a worker speaking any other is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The worker script, embedded so a Keel binary needs no files beside it.
pub const WORKER_SCRIPT: &str = include_str!("../python/keel_worker.py");

/// The adapter that loads and scores MLflow models (docs/mlflow-models.md),
/// written beside the worker so an MLflow model's version can name it as its module.
pub const MLFLOW_ADAPTER: &str = include_str!("../python/keel_mlflow.py");

/// Size of a frame header: kind (u8), seq (u64 LE), len (u32 LE).
pub const HEADER_LEN: usize = 13;

/// Parent to worker: the hello message (JSON).
pub const HELLO: u8 = b'H';
/// Parent to worker: one input batch (Arrow IPC stream).
pub const BATCH: u8 = b'B';
/// Parent to worker: end of input.
pub const END: u8 = b'E';
/// Worker to parent: ready after import and init (JSON).
pub const READY: u8 = b'R';
/// Worker to parent: the output of input batch `seq` (Arrow IPC stream, or empty).
pub const OUTPUT: u8 = b'O';
/// Worker to parent: a JSON result (metrics).
pub const JSON: u8 = b'J';
/// Worker to parent: an error (JSON).
pub const ERROR: u8 = b'X';
/// Worker to parent: done.
pub const DONE: u8 = b'D';

/// One protocol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame kind, one of the constants above.
    pub kind: u8,
    /// The batch number for `B` and `O`; 0 otherwise.
    pub seq: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Writes one frame.
pub fn write_frame(w: &mut dyn Write, kind: u8, seq: u64, payload: &[u8]) -> Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| {
        Error::Protocol(format!(
            "a frame payload of {} bytes is larger than the 4 GiB limit; use smaller batches",
            payload.len()
        ))
    })?;
    let mut head = [0u8; HEADER_LEN];
    head[0] = kind;
    head[1..9].copy_from_slice(&seq.to_le_bytes());
    head[9..13].copy_from_slice(&len.to_le_bytes());
    w.write_all(&head)
        .and_then(|()| w.write_all(payload))
        .and_then(|()| w.flush())
        .map_err(|e| Error::io("writing a frame to the worker", e))
}

/// The largest frame payload Keel reads from a worker: 1 GiB. A worker's
/// output for one input batch must fit, and a forged header cannot make Keel
/// allocate more than a worker actually sends.
pub const MAX_FRAME_BYTES: usize = 1 << 30;

/// Reads one frame; `Ok(None)` at a clean end of stream (before a header).
/// A frame declaring a payload over [`MAX_FRAME_BYTES`] is a protocol error.
pub fn read_frame(r: &mut dyn Read) -> Result<Option<Frame>> {
    read_frame_limited(r, MAX_FRAME_BYTES)
}

/// [`read_frame`] with another limit on the payload's size.
pub fn read_frame_limited(r: &mut dyn Read, max: usize) -> Result<Option<Frame>> {
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(Error::Protocol(format!(
                    "the stream ended inside a frame header after {got} of {HEADER_LEN} bytes"
                )));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading a frame from the worker", e)),
        }
    }
    let kind = head[0];
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&head[1..9]);
    let mut len = [0u8; 4];
    len.copy_from_slice(&head[9..13]);
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(Error::Protocol(format!(
            "a '{}' frame declares {len} bytes, over the limit of {max} bytes a frame may \
             carry; a score function's output for one input batch must be smaller (fewer \
             or smaller output records per input record)",
            kind as char
        )));
    }
    // The buffer grows with the bytes that arrive, not with the declared
    // length, so a header that lies costs nothing.
    let mut payload = Vec::with_capacity(len.min(1 << 20));
    let got = r
        .take(len as u64)
        .read_to_end(&mut payload)
        .map_err(|e| Error::io("reading a frame from the worker", e))?;
    if got < len {
        return Err(Error::Protocol(format!(
            "the stream ended inside a '{}' frame after {got} of its {len} bytes",
            kind as char
        )));
    }
    Ok(Some(Frame {
        kind,
        seq: u64::from_le_bytes(seq),
        payload,
    }))
}

/// The names of the model's functions, as the hello message carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloFunctions {
    /// `init`, run once per worker.
    pub init: Option<String>,
    /// The score function.
    pub score: Option<String>,
    /// The metrics function.
    pub metrics: Option<String>,
    /// The train function.
    pub train: Option<String>,
}

/// The `H` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// "score", "metrics" or "train".
    pub mode: String,
    /// The model's module name, imported from the working directory.
    pub module: String,
    /// The function names.
    pub functions: HelloFunctions,
    /// Whether score takes a DataFrame per batch instead of one record at a time.
    pub score_batch: bool,
    /// The job description, passed to `init(job)`.
    pub job: serde_json::Value,
    /// The column a score function's bare values go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_column: Option<String>,
    /// How many data sets a metrics run sends, each ended by its own `E`
    /// frame: 2 when a monitor's metrics function compares a baseline with
    /// a sample.
    #[serde(default = "one")]
    pub inputs: u32,
    /// The run's working directory (absolute). A worker kept from an earlier
    /// run moves there and imports the model's modules afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// The run's own variables (`TMPDIR`, its token, the job's id), which a
    /// kept worker sets before importing the model.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

/// The `R` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The worker's protocol version.
    pub protocol: u32,
    /// The Python version, such as "3.11.7".
    #[serde(default)]
    pub python: String,
    /// The worker's process id.
    #[serde(default)]
    pub pid: u32,
}

/// The optional payload of the `D` message: the CPU time the worker spent,
/// and how much of it went to calls of the model's function. A worker of an
/// older Keel sends `D` empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Done {
    /// The worker process's CPU seconds (user and system) when it finished.
    #[serde(default)]
    pub cpu: f64,
    /// CPU seconds spent inside the model's score, metrics or train function
    /// (for a per-record score function: in the loop that calls it).
    #[serde(default)]
    pub function_cpu: f64,
}

/// The `X` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerError {
    /// "setup", "import", "init", "score", "metrics" or "train".
    pub phase: String,
    /// The exception's class name.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// The exception's message.
    #[serde(default)]
    pub message: String,
    /// The formatted traceback.
    #[serde(default)]
    pub traceback: Option<String>,
    /// For per-record score, the 0-based row within the batch that raised.
    #[serde(default)]
    pub row: Option<u64>,
}

/// Encodes one batch as a complete Arrow IPC stream (schema + batch).
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    let arrow = |source| Error::Arrow {
        what: "encoded",
        source,
    };
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    let mut w = StreamWriter::try_new(&mut buf, &batch.schema()).map_err(arrow)?;
    w.write(batch).map_err(arrow)?;
    w.finish().map_err(arrow)?;
    drop(w);
    Ok(buf)
}

/// Decodes an Arrow IPC stream into its batches; an empty payload is no batches.
pub fn decode_batches(payload: Vec<u8>) -> Result<Vec<RecordBatch>> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let arrow = |source| Error::Arrow {
        what: "decoded",
        source,
    };
    check_buffer_bounds(&payload)?;
    let reader = StreamReader::try_new(Cursor::new(payload), None).map_err(arrow)?;
    reader.map(|b| b.map_err(arrow)).collect()
}

/// Checks that every buffer of every batch message in an Arrow IPC stream lies
/// within its message's body. Arrow's reader slices buffers without checking
/// and panics on one that does not fit, so a worker's forged output must be
/// turned away here. Anything else wrong with the stream is left to the
/// reader, which reports it as an error.
fn check_buffer_bounds(payload: &[u8]) -> Result<()> {
    let word = |at: usize| -> Option<i32> {
        let bytes = payload.get(at..at.checked_add(4)?)?;
        Some(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let bad =
        |what: String| Error::Protocol(format!("the worker sent a broken Arrow stream: {what}"));
    let mut at = 0usize;
    loop {
        // A message is an optional continuation marker (-1), the metadata's
        // length, the metadata (a flatbuffer) and the body.
        let Some(mut len) = word(at) else {
            return Ok(());
        };
        at += 4;
        if len == -1 {
            let Some(next) = word(at) else {
                return Ok(());
            };
            len = next;
            at += 4;
        }
        let Ok(len) = usize::try_from(len) else {
            return Ok(());
        };
        let Some(meta) = at.checked_add(len).and_then(|end| payload.get(at..end)) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        at += len;
        let Ok(message) = arrow_ipc::root_as_message(meta) else {
            return Ok(());
        };
        let body = message.bodyLength();
        let batch = message
            .header_as_record_batch()
            .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
        for buffer in batch.and_then(|b| b.buffers()).iter().flatten() {
            let (offset, length) = (buffer.offset(), buffer.length());
            let fits = offset >= 0
                && length >= 0
                && offset.checked_add(length).is_some_and(|end| end <= body);
            if !fits {
                return Err(bad(format!(
                    "a buffer at offset {offset} of {length} bytes lies outside its message's \
                     body of {body} bytes"
                )));
            }
        }
        let Some(next) = usize::try_from(body).ok().and_then(|b| at.checked_add(b)) else {
            return Ok(());
        };
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, OUTPUT, 42, b"hello").unwrap();
        write_frame(&mut buf, DONE, 0, b"").unwrap();
        assert_eq!(buf.len(), 2 * HEADER_LEN + 5);
        assert_eq!(&buf[1..9], &42u64.to_le_bytes());
        assert_eq!(&buf[9..13], &5u32.to_le_bytes());
        let mut r = Cursor::new(buf);
        let f = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(
            (f.kind, f.seq, f.payload.as_slice()),
            (OUTPUT, 42, &b"hello"[..])
        );
        let f = read_frame(&mut r).unwrap().unwrap();
        assert_eq!((f.kind, f.payload.len()), (DONE, 0));
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn truncated_frames_are_protocol_errors() {
        let mut buf = Vec::new();
        write_frame(&mut buf, OUTPUT, 1, b"abcdef").unwrap();
        let e = read_frame(&mut Cursor::new(buf[..5].to_vec())).unwrap_err();
        assert!(e.to_string().contains("frame header"), "{e}");
        let e = read_frame(&mut Cursor::new(buf[..15].to_vec())).unwrap_err();
        assert!(
            e.to_string().contains("'O' frame after 2 of its 6 bytes"),
            "{e}"
        );
    }

    #[test]
    fn frames_over_the_limit_are_refused_before_reading_them() {
        // A forged header declaring nearly 4 GiB, with no payload behind it.
        let mut head = vec![OUTPUT];
        head.extend_from_slice(&1u64.to_le_bytes());
        head.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = read_frame(&mut Cursor::new(head)).unwrap_err();
        assert!(
            e.to_string().contains("over the limit of 1073741824 bytes"),
            "{e}"
        );
        let mut buf = Vec::new();
        write_frame(&mut buf, OUTPUT, 2, &[7u8; 200]).unwrap();
        let e = read_frame_limited(&mut Cursor::new(buf.clone()), 100).unwrap_err();
        assert!(
            e.to_string().contains("'O' frame declares 200 bytes"),
            "{e}"
        );
        let f = read_frame_limited(&mut Cursor::new(buf), 200)
            .unwrap()
            .unwrap();
        assert_eq!(f.payload.len(), 200);
    }

    #[test]
    fn batches_round_trip_through_ipc() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(vec![1.5, 2.5])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap();
        let bytes = encode_batch(&batch).unwrap();
        let back = decode_batches(bytes).unwrap();
        assert_eq!(back, vec![batch]);
        assert!(decode_batches(Vec::new()).unwrap().is_empty());
        assert!(decode_batches(b"not arrow".to_vec()).is_err());
    }

    #[test]
    fn hello_and_error_json_shapes() {
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            mode: "score".into(),
            module: "model".into(),
            functions: HelloFunctions {
                score: Some("score".into()),
                ..Default::default()
            },
            score_batch: false,
            job: serde_json::json!({"id": "j"}),
            output_column: None,
            inputs: 1,
            workdir: Some("/srv/keel/work/j".into()),
            env: [(
                "TMPDIR".to_string(),
                "/srv/keel/work/j/.keel-tmp".to_string(),
            )]
            .into(),
        };
        let v = serde_json::to_value(&hello).unwrap();
        assert_eq!(v["workdir"], "/srv/keel/work/j");
        assert_eq!(v["env"]["TMPDIR"], "/srv/keel/work/j/.keel-tmp");
        assert_eq!(v["functions"]["init"], serde_json::Value::Null);
        assert_eq!(v["functions"]["score"], "score");
        assert_eq!(v["protocol"], 1);
        let e: WorkerError = serde_json::from_str(
            r#"{"phase":"score","type":"ValueError","message":"m","traceback":"t","row":3}"#,
        )
        .unwrap();
        assert_eq!((e.type_.as_str(), e.row), ("ValueError", Some(3)));
    }
}
