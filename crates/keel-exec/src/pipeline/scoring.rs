//! Scoring: every good input record through the score function, the output
//! checked against the output schema (rejects set aside), and the output
//! written to a file that is not visible until it is published.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use keel_data::{OutputFile, Rejection};
use keel_runner::Failure;
use keel_store::formats::OutputRecord;
use keel_types::{DataFormat, JobError, JobErrorKind};

use super::{Feed, Run, failure, feed_ok, internal};
use crate::log::RejectedLog;
use crate::workspace::local_path;

/// The schema metadata key by which the worker marks a table of bare values.
const VALUES_KEY: &str = "keel.values";

impl Run {
    /// Scores the input and writes the output, unpublished.
    pub(super) fn scoring(
        &self,
        feed: &mut Feed<'_>,
        rejected: &Mutex<RejectedLog>,
    ) -> Result<OutputFile, JobError> {
        let mut outputs: Vec<RecordBatch> = Vec::new();
        let mut out_rejects: Vec<Rejection> = Vec::new();
        let mut next_out_record = 1u64;
        let progress = self.progress.clone();
        let output_schema = self.output_schema.clone();
        // Whether the model returned bare values (the worker marks such
        // tables), which JSON-lines output writes as the lines themselves.
        let mut values = false;
        // Output fields of mixed types the worker kept as JSON text.
        let mut mixed: Vec<String> = Vec::new();
        let mut on_output = |_seq: u64, batches: Vec<RecordBatch>| -> Result<(), String> {
            for b in batches {
                let schema = b.schema();
                values |= schema.metadata().get(VALUES_KEY).map(String::as_str) == Some("1");
                for f in schema.fields() {
                    let json = f
                        .metadata()
                        .get(keel_data::JSON_TEXT_KEY)
                        .map(String::as_str);
                    if json == Some("1") && !mixed.contains(f.name()) {
                        mixed.push(f.name().clone());
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
                out_rejects.extend(bad);
                if good.num_rows() > 0 {
                    outputs.push(good);
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
        {
            let mut rj = rejected
                .lock()
                .map_err(|_| internal("the rejected-records log is poisoned"))?;
            for r in &out_rejects {
                rj.push("output", r).map_err(internal)?;
            }
        }
        self.write_table(outputs, values, mixed)
    }

    /// Writes the scored batches to a not-yet-visible output file.
    fn write_table(
        &self,
        outputs: Vec<RecordBatch>,
        values: bool,
        mixed: Vec<String>,
    ) -> Result<OutputFile, JobError> {
        let target = match &self.request.output {
            Some(OutputRecord::Embedded { name }) => {
                let dir = self.workdir.join(".keel-out");
                std::fs::create_dir_all(&dir).map_err(internal)?;
                dir.join(name)
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
        let batches = if outputs.is_empty() {
            let schema = self
                .output_schema
                .as_ref()
                .map(|s| Arc::new(s.to_arrow()))
                .unwrap_or_else(|| Arc::new(arrow_schema::Schema::empty()));
            vec![RecordBatch::new_empty(schema)]
        } else {
            keel_data::unify(outputs).map_err(internal)?
        };
        let declared = self.declared_output.as_ref();
        let bare = values || declared.is_some_and(|s| s.shape().is_value());
        // JSON-text columns: the schema's, and mixed fields it does not type.
        let mut json = declared.map(|s| s.json_columns()).unwrap_or_default();
        json.extend(
            mixed
                .into_iter()
                .filter(|m| declared.is_none_or(|s| s.field(m).is_none())),
        );
        let mut file = OutputFile::create(&target, format)
            .map_err(|e| {
                failure(
                    JobErrorKind::InvalidInput,
                    format!("cannot create the output: {e}"),
                )
            })?
            .bare_values(bare)
            .json_text(json);
        for b in &batches {
            file.write(b).map_err(internal)?;
        }
        Ok(file)
    }
}
