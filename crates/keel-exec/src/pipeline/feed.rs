//! Adapts the reader's chunks to the plain batch iterator a runtime takes:
//! counts records, sends rejected ones to the rejected log, lets a tap see
//! each chunk, and keeps a read error so that the job fails after the
//! workers stop.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use arrow_array::RecordBatch;

use super::Progress;
use crate::log::RejectedLog;

/// A look at each chunk before its batch is handed out; an error ends the
/// input like a read error.
pub(crate) type Tap<'a> = Box<dyn FnMut(&keel_data::Chunk) -> Result<(), String> + 'a>;

/// The input of a run, as batches.
pub(crate) struct Feed<'a> {
    pub(crate) chunks: keel_data::Chunks,
    pub(crate) progress: &'a Progress,
    pub(crate) rejected: &'a Mutex<RejectedLog>,
    /// The first read error, which ends the input.
    pub(crate) error: Option<String>,
    pub(crate) tap: Option<Tap<'a>>,
    /// The stage its rejected records are logged under (`input`, `baseline`).
    pub(crate) stage: &'static str,
}

impl<'a> Feed<'a> {
    /// A feed over `chunks`.
    pub(crate) fn new(
        chunks: keel_data::Chunks,
        progress: &'a Progress,
        rejected: &'a Mutex<RejectedLog>,
    ) -> Self {
        Feed {
            chunks,
            progress,
            rejected,
            error: None,
            tap: None,
            stage: "input",
        }
    }
}

impl Iterator for Feed<'_> {
    type Item = RecordBatch;
    fn next(&mut self) -> Option<RecordBatch> {
        if self.error.is_some() {
            return None;
        }
        loop {
            match self.chunks.next()? {
                Ok(chunk) => {
                    self.progress
                        .read
                        .fetch_add(chunk.records_read, Ordering::Relaxed);
                    if !chunk.rejected.is_empty() {
                        self.progress
                            .rejected
                            .fetch_add(chunk.rejected.len() as u64, Ordering::Relaxed);
                        let Ok(mut log) = self.rejected.lock() else {
                            self.error = Some("the rejected-records log is poisoned".into());
                            return None;
                        };
                        for r in &chunk.rejected {
                            if let Err(e) = log.push(self.stage, r) {
                                self.error = Some(format!("cannot write rejected records: {e}"));
                                return None;
                            }
                        }
                    }
                    if chunk.batch.num_rows() > 0 {
                        if let Some(tap) = self.tap.as_mut()
                            && let Err(e) = tap(&chunk)
                        {
                            self.error = Some(e);
                            return None;
                        }
                        return Some(chunk.batch);
                    }
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return None;
                }
            }
        }
    }
}
