//! Scoring: every good input record through the score function, the output
//! checked against the output schema (rejects set aside), and the output
//! written to a file that is not visible until it is published.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use keel_data::{OutputFile, StreamingOutput};
use keel_runner::Failure;
use keel_store::S3Uri;
use keel_store::formats::OutputRecord;
use keel_types::{DataFormat, JobError, JobErrorKind};

use super::{Feed, Run, failure, feed_ok, internal};
use crate::log::RejectedLog;
use crate::workspace::local_path;

/// The schema metadata key by which the worker marks a table of bare values.
const VALUES_KEY: &str = "keel.values";

impl Run {
    /// Scores the input and writes the output, unpublished. Output batches
    /// are written as they arrive (see [`StreamingOutput`]), so memory stays
    /// flat in the number of records.
    pub(super) fn scoring(
        &self,
        feed: &mut Feed<'_>,
        rejected: &Mutex<RejectedLog>,
    ) -> Result<OutputFile, JobError> {
        let (target, format) = self.output_target()?;
        let mut out = StreamingOutput::create(
            &target,
            format,
            &self.workdir.join(".keel-output-spool.arrows"),
        )
        .map_err(|e| {
            failure(
                JobErrorKind::InvalidInput,
                format!("cannot create the output: {e}"),
            )
        })?;
        let mut next_out_record = 1u64;
        let progress = self.progress.clone();
        let output_schema = self.output_schema.clone();
        let declared = self.declared_output.as_ref();
        let declared_bare = declared.is_some_and(|s| s.shape().is_value());
        // JSON-text columns: the schema's, and mixed fields it does not type.
        let declared_json = declared.map(|s| s.json_columns()).unwrap_or_default();
        let mut on_output = |_seq: u64, batches: Vec<RecordBatch>| -> Result<(), String> {
            for b in batches {
                let schema = b.schema();
                // The worker marks a table of bare values, which JSON-lines
                // output writes as the lines themselves.
                let bare = declared_bare
                    || schema.metadata().get(VALUES_KEY).map(String::as_str) == Some("1");
                let mut json = declared_json.clone();
                for f in schema.fields() {
                    let mixed = f
                        .metadata()
                        .get(keel_data::JSON_TEXT_KEY)
                        .map(String::as_str)
                        == Some("1");
                    if mixed
                        && declared.is_none_or(|s| s.field(f.name()).is_none())
                        && !json.contains(f.name())
                    {
                        json.push(f.name().clone());
                    }
                }
                let rows = b.num_rows() as u64;
                let (good, bad) = match &output_schema {
                    Some(s) => keel_data::check_batch(&b, s, next_out_record),
                    None => (b, Vec::new()),
                };
                next_out_record += rows;
                progress
                    .written
                    .fetch_add(good.num_rows() as u64, Ordering::Relaxed);
                progress
                    .rejected
                    .fetch_add(bad.len() as u64, Ordering::Relaxed);
                if !bad.is_empty() {
                    let mut rj = rejected
                        .lock()
                        .map_err(|_| "the rejected-records log is poisoned".to_string())?;
                    for r in &bad {
                        rj.push("output", r).map_err(|e| e.to_string())?;
                    }
                }
                if good.num_rows() > 0 {
                    out.write(&good, bare, &json).map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        };
        let stats = self
            .session
            .score(
                self.request.workers as usize,
                feed,
                &mut on_output,
                self.log.as_ref(),
                &self.ctl,
            )
            .map_err(Failure::into_job_error)?;
        feed_ok(feed)?;
        self.note_cpu(&stats);
        let schema = self
            .output_schema
            .as_ref()
            .map(|s| Arc::new(s.to_arrow()))
            .unwrap_or_else(|| Arc::new(arrow_schema::Schema::empty()));
        out.finish(
            &RecordBatch::new_empty(schema),
            declared_bare,
            &declared_json,
        )
        .map_err(internal)
    }

    /// Where the output goes, and in which format.
    fn output_target(&self) -> Result<(PathBuf, DataFormat), JobError> {
        let target = match &self.request.output {
            Some(OutputRecord::Embedded { name }) => {
                let dir = self.workdir.join(".keel-out");
                std::fs::create_dir_all(&dir).map_err(internal)?;
                dir.join(name)
            }
            // An object is written beside the working directory's files first,
            // and published to its bucket once the job succeeded.
            Some(OutputRecord::External { uri }) if S3Uri::is_s3(uri) => {
                let object = S3Uri::parse(uri)
                    .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
                let dir = self.workdir.join(".keel-out");
                std::fs::create_dir_all(&dir).map_err(internal)?;
                dir.join(object.file_name())
            }
            Some(OutputRecord::External { uri }) => {
                local_path(uri).map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?
            }
            None => return Err(internal("a scoring job without an output")),
        };
        let name = self
            .request
            .output
            .as_ref()
            .map(OutputRecord::target)
            .unwrap_or_default();
        let format = DataFormat::from_name(name)
            .ok_or_else(|| failure(JobErrorKind::InvalidInput, format!("no format for {name}")))?;
        Ok((target, format))
    }
}
