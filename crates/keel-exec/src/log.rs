//! A job's log (every worker line, and Keel's own notes prefixed `keel:`) and
//! its rejected-records file (JSON lines, each with the stage that rejected it).

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

/// The log of one job.
pub(crate) struct JobLog {
    file: Mutex<BufWriter<File>>,
    /// Whether lines are prefixed with their worker's number.
    multi: bool,
}

impl JobLog {
    /// Opens (appending) the log at `path`.
    pub(crate) fn open(path: &Path, multi: bool) -> std::io::Result<JobLog> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(JobLog {
            file: Mutex::new(BufWriter::new(file)),
            multi,
        })
    }

    /// The sink for lines that come from no worker (building the platform's
    /// environment), written without a worker prefix.
    pub(crate) fn setup(&self) -> SetupLog<'_> {
        SetupLog(self)
    }

    /// Appends one line as it is.
    fn raw(&self, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
    }

    /// Appends one of Keel's own notes.
    pub(crate) fn note(&self, msg: &str) {
        self.raw(&format!("keel: {msg}"));
    }
}

impl LogSink for JobLog {
    fn line(&self, worker: usize, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = if self.multi {
                writeln!(f, "[worker {worker}] {line}")
            } else {
                writeln!(f, "{line}")
            };
            let _ = f.flush();
        }
    }
}

/// A job's log for lines from no worker: see [`JobLog::setup`].
pub(crate) struct SetupLog<'a>(&'a JobLog);

impl LogSink for SetupLog<'_> {
    fn line(&self, _worker: usize, line: &str) {
        self.0.raw(line);
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
