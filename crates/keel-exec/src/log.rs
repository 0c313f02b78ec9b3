//! A job's log (every worker line prefixed `model:`, Keel's own notes
//! prefixed `keel:`, bounded in size) and its rejected-records file (JSON
//! lines, each with the stage that rejected it).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use keel_data::Rejection;
use keel_runner::LogSink;
use keel_types::JobId;

/// Where a job's log is kept under the data directory.
pub fn log_path(home: &Path, id: JobId) -> PathBuf {
    home.join("logs").join(format!("{id}.log"))
}

/// The most bytes a job's log holds by default: 64 MiB.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 64 << 20;

/// The log of one job. Every line says where it came from: `keel:` for
/// Keel's notes, `model:` (or `model N:` when the job has several workers)
/// for what the model wrote, `setup:` for building its environment, so a
/// model cannot print a line that passes for one of Keel's.
pub(crate) struct JobLog {
    inner: Mutex<Inner>,
    /// Whether lines are prefixed with their worker's number.
    multi: bool,
    /// The most bytes the log may hold; Keel's notes are always written.
    max_bytes: u64,
}

/// The open file and what has been written to it.
struct Inner {
    file: BufWriter<File>,
    written: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl JobLog {
    /// Opens (appending) the log at `path`, holding at most `max_bytes`.
    pub(crate) fn open(path: &Path, multi: bool, max_bytes: u64) -> std::io::Result<JobLog> {
        let file = File::options().create(true).append(true).open(path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(JobLog {
            inner: Mutex::new(Inner {
                file: BufWriter::new(file),
                written,
                dropped_lines: 0,
                dropped_bytes: 0,
            }),
            multi,
            max_bytes,
        })
    }

    /// The sink for lines that come from no worker (building the platform's
    /// environment), written as `setup:` lines.
    pub(crate) fn setup(&self) -> SetupLog<'_> {
        SetupLog(self)
    }

    /// Appends one line from outside Keel under `source`, unless the log is full.
    fn foreign(&self, source: std::fmt::Arguments<'_>, line: &str) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let text = format!("{source}: {line}\n");
        let len = text.len() as u64;
        if inner.written.saturating_add(len) > self.max_bytes {
            if inner.dropped_lines == 0 {
                let note = format!(
                    "keel: the log reached its limit of {} bytes (max_log_bytes); later lines \
                     from the model are dropped and counted\n",
                    self.max_bytes
                );
                inner.write(&note);
            }
            inner.dropped_lines += 1;
            inner.dropped_bytes += len;
            return;
        }
        inner.write(&text);
    }

    /// Appends one of Keel's own notes (always, even to a full log).
    pub(crate) fn note(&self, msg: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.write(&format!("keel: {msg}\n"));
        }
    }

    /// Notes how much the limit dropped, if anything; call it once at the end.
    pub(crate) fn note_dropped(&self) {
        let (lines, bytes) = match self.inner.lock() {
            Ok(inner) => (inner.dropped_lines, inner.dropped_bytes),
            Err(_) => return,
        };
        if lines > 0 {
            self.note(&format!(
                "{lines} line{} ({bytes} bytes) from the model were dropped because the log \
                 was full",
                if lines == 1 { "" } else { "s" }
            ));
        }
    }
}

impl Inner {
    /// Writes and flushes `text`, so readers see every line at once.
    fn write(&mut self, text: &str) {
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.flush();
        self.written = self.written.saturating_add(text.len() as u64);
    }
}

impl LogSink for JobLog {
    fn line(&self, worker: usize, line: &str) {
        if self.multi {
            self.foreign(format_args!("model {worker}"), line);
        } else {
            self.foreign(format_args!("model"), line);
        }
    }

    fn note(&self, msg: &str) {
        JobLog::note(self, msg);
    }
}

/// A job's log for lines from no worker: see [`JobLog::setup`].
pub(crate) struct SetupLog<'a>(&'a JobLog);

impl LogSink for SetupLog<'_> {
    fn line(&self, _worker: usize, line: &str) {
        self.0.foreign(format_args!("setup"), line);
    }

    fn note(&self, msg: &str) {
        self.0.note(msg);
    }
}

/// Rejected records, appended as JSON lines with the stage that rejected them.
pub(crate) struct RejectedLog {
    /// Where to write; `None` discards (a second read of the input, whose
    /// rejects the first read already logged).
    path: Option<PathBuf>,
    out: Option<BufWriter<File>>,
}

impl RejectedLog {
    /// A log written to `path`, created with the first record.
    pub(crate) fn to(path: PathBuf) -> Self {
        RejectedLog {
            path: Some(path),
            out: None,
        }
    }

    /// A log that keeps nothing.
    pub(crate) fn discard() -> Self {
        RejectedLog {
            path: None,
            out: None,
        }
    }

    /// Appends one rejected record.
    pub(crate) fn push(&mut self, stage: &str, r: &Rejection) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.out.is_none() {
            self.out = Some(BufWriter::new(File::create(path)?));
        }
        if let Some(out) = self.out.as_mut() {
            let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("stage".into(), stage.into());
            }
            serde_json::to_writer(&mut *out, &v)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Flushes the file; `Some(path)` when any record was written.
    pub(crate) fn finish(mut self) -> std::io::Result<Option<PathBuf>> {
        match self.out.take() {
            Some(mut out) => {
                out.flush()?;
                Ok(self.path)
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_their_source_and_the_limit_drops_only_the_models() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.log");
        // (several workers?, the limit, what the log must say)
        let cases = [
            (
                false,
                1 << 20,
                "keel: start\nsetup: pip says hi\nmodel: keel: forged note\nmodel: 2\n\
                 keel: end\n",
            ),
            (
                true,
                1 << 20,
                "keel: start\nsetup: pip says hi\nmodel 0: keel: forged note\nmodel 1: 2\n\
                 keel: end\n",
            ),
            (
                false,
                40,
                "keel: start\nsetup: pip says hi\nkeel: the log reached its limit of 40 bytes \
                 (max_log_bytes); later lines from the model are dropped and counted\n\
                 keel: 2 lines (34 bytes) from the model were dropped because the log was full\n\
                 keel: end\n",
            ),
        ];
        for (multi, max, want) in cases {
            let _ = std::fs::remove_file(&path);
            let log = JobLog::open(&path, multi, max).unwrap();
            log.note("start");
            log.setup().line(0, "pip says hi");
            log.line(0, "keel: forged note");
            log.line(1, "2");
            log.note_dropped();
            log.note("end");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                want,
                "{multi} {max}"
            );
        }
    }
}
