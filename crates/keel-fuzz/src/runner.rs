//! The worker frame decoder (`keel-runner`'s protocol): frames read from a
//! worker's pipe, their JSON messages and their Arrow IPC batches.

use std::io::Cursor;

use keel_runner::protocol::{self, Done, Ready, WorkerError, decode_batches, read_frame_limited};

/// The payload limit the frame target reads with: 1 MiB.
pub const FRAME_LIMIT: usize = 1 << 20;

/// How many rows of each decoded batch are rendered.
const RENDERED_ROWS: usize = 1024;

/// Reads frames from the input as if it were a worker's stdout, until the end
/// or the first error, and decodes each payload as the parent does: Arrow
/// IPC batches for output frames, JSON for the others.
pub fn worker_frame(data: &[u8]) {
    let mut stream = Cursor::new(data);
    while let Ok(Some(frame)) = read_frame_limited(&mut stream, FRAME_LIMIT) {
        match frame.kind {
            protocol::OUTPUT | protocol::BATCH => {
                // The parent renders a worker's output rows as JSON when it
                // rejects them, which visits every cell.
                // A batch may declare far more rows than it holds (a batch of
                // no columns holds none), so only the first rows are rendered.
                for batch in decode_batches(frame.payload).iter().flatten() {
                    for row in 0..batch.num_rows().min(RENDERED_ROWS) {
                        let _ = keel_data::row_to_json(batch, row);
                    }
                }
            }
            protocol::READY => {
                let _ = serde_json::from_slice::<Ready>(&frame.payload);
            }
            protocol::DONE => {
                let _ = serde_json::from_slice::<Done>(&frame.payload);
            }
            protocol::ERROR => {
                let _ = serde_json::from_slice::<WorkerError>(&frame.payload);
            }
            _ => {
                let _ = serde_json::from_slice::<serde_json::Value>(&frame.payload);
            }
        }
    }
}
