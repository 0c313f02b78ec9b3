//! Writing a scoring run's output batches as they arrive, so memory stays
//! flat in the number of records, although a worker's batches need not share
//! one schema.
//!
//! Batches are written straight to the output while they fit the schema the
//! output was started with (after [`Unified::conform`]: a null column takes
//! the column's type, an integer meets a float column). Every batch is also
//! appended, as it came, to a spool of Arrow IPC streams beside the output.
//! When a batch changes the schema (a column that was all nulls gets a type,
//! a float arrives in an integer column, a new column appears), the direct
//! output is dropped and, at the end, the whole output is written again from
//! the spool in the final schema: the same file [`super::unify`] over all
//! batches at once would give, without holding them in memory.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use keel_types::DataFormat;

use super::{OutputFile, Unified};
use crate::error::{Error, Result};

/// An output being written batch by batch; [`StreamingOutput::finish`]
/// gives the finished, not yet committed [`OutputFile`].
#[derive(Debug)]
pub struct StreamingOutput {
    target: PathBuf,
    format: DataFormat,
    /// What the direct output was started with; `None` before the first batch.
    started: Option<Layout>,
    /// What all batches so far need.
    now: Layout,
    /// The output written batch by batch, while the layout holds.
    direct: Option<OutputFile>,
    spool: Spool,
}

/// How the output is written: its schema and the two switches of
/// [`OutputFile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Layout {
    unified: Unified,
    bare: bool,
    json: Vec<String>,
}

impl Layout {
    fn open(&self, target: &Path, format: DataFormat) -> Result<OutputFile> {
        Ok(OutputFile::create(target, format)?
            .bare_values(self.bare)
            .json_text(self.json.clone()))
    }
}

impl StreamingOutput {
    /// Starts an output at `target` in `format`. `spool` is a path for the
    /// spool file (in the job's own working directory); it is removed when
    /// the output is finished or dropped.
    pub fn create(target: &Path, format: DataFormat, spool: &Path) -> Result<StreamingOutput> {
        // Opening the output now makes an unwritable target fail the run
        // before any record is scored.
        let direct = OutputFile::create(target, format)?;
        Ok(StreamingOutput {
            target: target.to_path_buf(),
            format,
            started: None,
            now: Layout::default(),
            direct: Some(direct),
            spool: Spool::create(spool)?,
        })
    }

    /// Appends a batch. `bare` says that the batch holds bare values (see
    /// [`OutputFile::bare_values`]); `json` names its JSON-text columns
    /// (see [`OutputFile::json_text`]).
    pub fn write(&mut self, batch: &RecordBatch, bare: bool, json: &[String]) -> Result<()> {
        self.spool.append(batch)?;
        self.now.unified.absorb(&batch.schema());
        self.now.bare |= bare;
        for c in json {
            if !self.now.json.contains(c) {
                self.now.json.push(c.clone());
            }
        }
        if self.started.is_none() {
            // The output was opened before the first batch told its layout.
            let json = self.now.json.clone();
            self.direct = self
                .direct
                .take()
                .map(|o| o.bare_values(self.now.bare).json_text(json));
            self.started = Some(self.now.clone());
        }
        if self.started.as_ref() != Some(&self.now) {
            // The schema changed: the rows written so far are in the wrong
            // one, so the output is written again from the spool at the end.
            self.direct = None;
        }
        if let Some(out) = self.direct.as_mut() {
            out.write(&self.now.unified.conform(batch)?)?;
        }
        Ok(())
    }

    /// The output with every batch in it, not yet committed. `empty` is the
    /// batch an output without rows is started with (it fixes the columns a
    /// CSV header or a Parquet file shows); `bare` and `json` are as for
    /// [`StreamingOutput::write`].
    pub fn finish(
        mut self,
        empty: &RecordBatch,
        bare: bool,
        json: &[String],
    ) -> Result<OutputFile> {
        if self.started.is_none()
            && let Some(out) = self.direct.take()
        {
            let mut out = out.bare_values(bare).json_text(json.to_vec());
            out.write(empty)?;
            return Ok(out);
        }
        if let Some(out) = self.direct.take() {
            return Ok(out);
        }
        let mut out = self.now.open(&self.target, self.format)?;
        for batch in self.spool.replay()? {
            out.write(&self.now.unified.conform(&batch?)?)?;
        }
        Ok(out)
    }
}

/// Batches appended to a file as Arrow IPC streams, one stream per batch
/// (a stream has one schema, and consecutive batches may differ).
#[derive(Debug)]
struct Spool {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    count: u64,
}

impl Spool {
    fn create(path: &Path) -> Result<Spool> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("create the output spool", path, e))?;
        Ok(Spool {
            path: path.to_path_buf(),
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            count: 0,
        })
    }

    fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::Internal("the output spool was already read".into()))?;
        let spool_err = |e: arrow_schema::ArrowError| {
            Error::Internal(format!("cannot write the output spool: {e}"))
        };
        let mut w = StreamWriter::try_new(file, &batch.schema()).map_err(spool_err)?;
        w.write(batch).map_err(spool_err)?;
        w.finish().map_err(spool_err)?;
        self.count += 1;
        Ok(())
    }

    /// Every batch, in the order appended.
    fn replay(&mut self) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
        let writer = self
            .file
            .take()
            .ok_or_else(|| Error::Internal("the output spool was already read".into()))?;
        let mut file = writer
            .into_inner()
            .map_err(|e| Error::io("write the output spool", &self.path, e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("read the output spool", &self.path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let count = self.count;
        Ok((0..count).flat_map(move |_| {
            let read = |reader: &mut BufReader<File>| -> Result<Vec<RecordBatch>> {
                StreamReader::try_new(reader, None)
                    .and_then(|r| r.collect::<std::result::Result<Vec<_>, _>>())
                    .map_err(|e| Error::Internal(format!("cannot read the output spool: {e}")))
            };
            match read(&mut reader) {
                Ok(batches) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        }))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.file = None;
        // Nobody to report a failed removal to in a drop; the job's working
        // directory is removed after the job anyway.
        let _ = std::fs::remove_file(&self.path);
    }
}
