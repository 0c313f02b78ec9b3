//! Built-in metrics in a metrics job: the input is scored like a scoring job,
//! but each good record's number, label and protected attributes are carried
//! beside its batch and joined with the model's output rows (one per input
//! row). `keel-metrics` computes the document from the joined rows, which are
//! also written to a Parquet file so that a comparison can pair two jobs
//! record by record.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use keel_data::OutputFile;
use keel_metrics::Roles;
use keel_runner::Failure;
use keel_types::{DataFormat, JobError, JobErrorKind};

use super::{Feed, Run, failure, feed_ok, internal};

/// The record-number column of a scores file.
pub(crate) const RECORD: &str = "_record";

/// The message fragment by which a scoring run that broke the one output per
/// input rule is told apart from Keel's own failures.
const ONE_PER_INPUT: &str = "one output record per input record";

impl Run {
    /// Scores the input through the model and computes Keel's built-in
    /// metrics over the label and the model's output. Returns the metrics
    /// document and the scored rows, written to a Parquet file.
    pub(super) fn builtin_metrics(
        &self,
        roles: &Roles,
        feed: &mut Feed<'_>,
    ) -> Result<(serde_json::Value, PathBuf), JobError> {
        let carried_columns = roles.carried_columns();
        // Input batches' carried columns and record numbers, oldest first,
        // waiting for their outputs (which come back in input order).
        type Carried = (RecordBatch, Vec<u64>);
        let pending: Rc<RefCell<VecDeque<Carried>>> = Rc::default();
        {
            let pending = pending.clone();
            let columns = carried_columns.clone();
            feed.tap = Some(Box::new(move |chunk: &keel_data::Chunk| {
                let carried = carry(&chunk.batch, &columns)?;
                pending
                    .borrow_mut()
                    .push_back((carried, good_records(chunk)));
                Ok(())
            }));
        }
        let mut scored: Vec<RecordBatch> = Vec::new();
        let progress = self.progress.clone();
        let mut on_output = |_seq: u64, outs: Vec<RecordBatch>| -> Result<(), String> {
            let (carried, records) = pending
                .borrow_mut()
                .pop_front()
                .ok_or("an output arrived for no input")?;
            let joined = join_scored(&carried, &records, &outs)?;
            progress
                .written
                .fetch_add(joined.num_rows() as u64, Ordering::Relaxed);
            scored.push(joined);
            Ok(())
        };
        let run = if self.has_score_fn {
            self.session
                .score(
                    self.request.workers.max(1) as usize,
                    feed,
                    &mut on_output,
                    self.log.as_ref(),
                    &self.ctl,
                )
                .map(|stats| self.note_cpu(&stats))
        } else {
            // A model without a score function (a ModelOp monitor) measures
            // the records as they are: the input already holds its predictions.
            (|| {
                for batch in feed.by_ref() {
                    on_output(0, vec![batch]).map_err(|message| Failure::Internal { message })?;
                }
                Ok(())
            })()
        };
        feed_ok(feed)?;
        run.map_err(|f| {
            let mut e = f.into_job_error();
            // Returning the wrong number of rows is the model's mistake.
            if e.kind == JobErrorKind::Internal && e.message.contains(ONE_PER_INPUT) {
                e.kind = JobErrorKind::UserError;
            }
            e
        })?;
        let invalid = |e: keel_metrics::Error| failure(JobErrorKind::InvalidInput, e.to_string());
        if scored.is_empty() {
            return Err(failure(
                JobErrorKind::InvalidInput,
                "there are no scored rows to compute metrics over",
            ));
        }
        let spec = roles.spec(&scored).map_err(invalid)?;
        self.log.note(&format!(
            "built-in {} metrics over {} scored records (label '{}'{}{})",
            spec.problem_type,
            scored.iter().map(|b| b.num_rows()).sum::<usize>(),
            spec.label,
            spec.probability
                .as_ref()
                .map(|p| format!(", probability '{p}' > {}", spec.threshold))
                .unwrap_or_default(),
            spec.prediction
                .as_ref()
                .map(|p| format!(", prediction '{p}'"))
                .unwrap_or_default(),
        ));
        let doc = keel_metrics::report::evaluate(&scored, &spec).map_err(|e| {
            failure(
                JobErrorKind::InvalidInput,
                format!("cannot compute the built-in metrics: {e}"),
            )
        })?;
        let path = self.workdir.join(".keel-scores.parquet");
        let batches = keel_data::unify(scored).map_err(internal)?;
        let mut file = OutputFile::create(&path, DataFormat::Parquet).map_err(internal)?;
        for b in &batches {
            file.write(b).map_err(internal)?;
        }
        file.commit().map_err(internal)?;
        Ok((doc, path))
    }
}

/// The carried input columns of one batch, for joining with its output.
pub(crate) fn carry(batch: &RecordBatch, columns: &[String]) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut idx = Vec::with_capacity(columns.len());
    for c in columns {
        match schema.index_of(c) {
            Ok(i) => idx.push(i),
            Err(_) => {
                let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(format!(
                    "the input has no column '{c}', which the built-in metrics need; its \
                     columns are: {}",
                    have.join(", ")
                ));
            }
        }
    }
    batch.project(&idx).map_err(|e| e.to_string())
}

/// The record numbers of the rows a chunk passed on: its range, minus the
/// records it rejected.
pub(crate) fn good_records(chunk: &keel_data::Chunk) -> Vec<u64> {
    let rejected: HashSet<u64> = chunk.rejected.iter().map(|r| r.record).collect();
    (chunk.first_record..chunk.first_record + chunk.records_read)
        .filter(|r| !rejected.contains(r))
        .collect()
}

/// Joins one input batch's carried columns (label, protected attributes,
/// record numbers) with the model's output rows for it. The output must have
/// one row per input row; where both have a column, the input's wins for the
/// label and protected attributes, the output's for everything else.
pub(crate) fn join_scored(
    carried: &RecordBatch,
    records: &[u64],
    outputs: &[RecordBatch],
) -> Result<RecordBatch, String> {
    let out = match outputs {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(
            keel_data::unify(many.to_vec())
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .ok_or("no output rows")?,
        ),
    };
    let out_rows = out.as_ref().map_or(0, |b| b.num_rows());
    if out_rows != carried.num_rows() {
        return Err(format!(
            "Keel's built-in metrics need {ONE_PER_INPUT}, but the score \
             function returned {out_rows} record(s) for the {} input record(s) starting at \
             record {}. Return exactly one record for each input record.",
            carried.num_rows(),
            records.first().copied().unwrap_or(0)
        ));
    }
    let mut fields: Vec<Field> = vec![Field::new(RECORD, DataType::UInt64, false)];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(records.to_vec()))];
    let cs = carried.schema();
    for (f, c) in cs.fields().iter().zip(carried.columns()) {
        fields.push(f.as_ref().clone().with_nullable(true));
        cols.push(c.clone());
    }
    if let Some(out) = out {
        let os = out.schema();
        for (f, c) in os.fields().iter().zip(out.columns()) {
            if f.name() == RECORD || cs.index_of(f.name()).is_ok() {
                continue;
            }
            fields.push(f.as_ref().clone().with_nullable(true));
            cols.push(c.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())
}
