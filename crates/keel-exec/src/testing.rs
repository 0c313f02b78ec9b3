//! A runtime without Python, for tests of the executor and of the control
//! plane above it: it "scores" in Rust, so tests run in milliseconds and can
//! make a model raise, panic, hang, ignore a stop, or wait for a gate.
//!
//! Scoring adds two columns to each input batch: `probability`, the input
//! column named like the model's module (`a.py` reads column `a`) or else the
//! first float column, and `prediction`, whether that probability is above
//! 0.5. Metrics answer `{"rows": N}` (with a baseline, `{"baseline_rows": B, "rows": N}`). Training writes `outputDir/model.bin`
//! holding the number of rows it saw.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use keel_runner::{Control, Failure, LogSink, ScoreStats};

use crate::runtime::{ModelCall, OnOutput, Runtime, Session};

/// What the fake model does when it runs.
#[derive(Clone, Debug, Default)]
pub enum Behaviour {
    /// Scores, measures and trains as described in the module docs.
    #[default]
    Echo,
    /// Raises an exception with this message.
    Raise(String),
    /// Panics (a bug in Keel's own code would do the same).
    Panic,
    /// Runs until asked to stop, then stops.
    UntilStopped,
    /// Ignores stops: waits until the gate opens, then echoes.
    Gate(Gate),
}

/// A gate a test opens to let a waiting fake model go on.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    /// Opens the gate for every model waiting at it, now and later.
    pub fn open(&self) {
        let (open, cv) = &*self.0;
        if let Ok(mut o) = open.lock() {
            *o = true;
        }
        cv.notify_all();
    }

    fn wait(&self) {
        let (open, cv) = &*self.0;
        let Ok(mut o) = open.lock() else { return };
        while !*o {
            match cv.wait(o) {
                Ok(next) => o = next,
                Err(_) => return,
            }
        }
    }
}

/// A runtime whose behaviour a test sets before each job.
#[derive(Debug, Default)]
pub struct FakeRuntime {
    behaviour: Mutex<Behaviour>,
    /// How many sessions were prepared.
    pub prepared: AtomicUsize,
}

impl FakeRuntime {
    /// A runtime that echoes.
    pub fn new() -> Arc<FakeRuntime> {
        Arc::new(FakeRuntime::default())
    }

    /// What the next jobs' models do.
    pub fn set(&self, b: Behaviour) {
        if let Ok(mut cur) = self.behaviour.lock() {
            *cur = b;
        }
    }
}

impl Runtime for FakeRuntime {
    fn prepare(
        &self,
        call: &ModelCall,
        _log: &dyn LogSink,
        _ctl: &Control,
    ) -> Result<Box<dyn Session>, Failure> {
        self.prepared.fetch_add(1, Ordering::SeqCst);
        let behaviour = self.behaviour.lock().map(|b| b.clone()).unwrap_or_default();
        Ok(Box::new(FakeSession {
            behaviour,
            column: call.def.module.clone(),
            workdir: call.workdir.clone(),
        }))
    }
}

struct FakeSession {
    behaviour: Behaviour,
    column: String,
    workdir: std::path::PathBuf,
}

impl FakeSession {
    /// Does what the behaviour says before the work itself.
    fn act(&self, ctl: &Control) -> Result<(), Failure> {
        match &self.behaviour {
            Behaviour::Echo => Ok(()),
            Behaviour::Raise(m) => Err(Failure::User {
                phase: "score".into(),
                message: format!("ValueError: {m}"),
                traceback: Some("Traceback (most recent call last):\nValueError".into()),
                row: None,
            }),
            Behaviour::Panic => panic!("the fake model panicked"),
            Behaviour::UntilStopped => loop {
                if ctl.cancelled() {
                    return Err(Failure::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(5));
            },
            Behaviour::Gate(g) => {
                g.wait();
                Ok(())
            }
        }
    }

    fn score_batch(&self, b: &RecordBatch) -> Result<RecordBatch, String> {
        let schema = b.schema();
        let idx = schema.index_of(&self.column).ok().or_else(|| {
            schema
                .fields()
                .iter()
                .position(|f| matches!(f.data_type(), DataType::Float64))
        });
        let p: Float64Array = match idx {
            Some(i) => arrow_cast_f64(b.column(i))?,
            None => Float64Array::from(vec![0.0; b.num_rows()]),
        };
        let pred: BooleanArray = p.iter().map(|v| v.map(|v| v > 0.5)).collect();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        fields.push(Field::new("probability", DataType::Float64, true));
        cols.push(Arc::new(p));
        fields.push(Field::new("prediction", DataType::Boolean, true));
        cols.push(Arc::new(pred));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())
    }
}

/// A column as floats (integers are widened).
fn arrow_cast_f64(a: &ArrayRef) -> Result<Float64Array, String> {
    match a.data_type() {
        DataType::Float64 => Ok(a.as_primitive::<Float64Type>().clone()),
        DataType::Int64 => Ok(a
            .as_primitive::<arrow_array::types::Int64Type>()
            .iter()
            .map(|v| v.map(|v| v as f64))
            .collect()),
        other => Err(format!("the fake model cannot score a {other} column")),
    }
}

impl Session for FakeSession {
    fn describe(&self) -> String {
        "the fake runtime".into()
    }

    fn score(
        &self,
        _workers: usize,
        input: &mut dyn Iterator<Item = RecordBatch>,
        on_output: &mut OnOutput<'_>,
        _log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<ScoreStats, Failure> {
        self.act(ctl)?;
        let mut stats = ScoreStats::default();
        for (seq, b) in (0u64..).zip(input) {
            if ctl.cancelled() {
                return Err(Failure::Cancelled);
            }
            let out = self
                .score_batch(&b)
                .map_err(|message| Failure::Internal { message })?;
            stats.batches += 1;
            stats.records_in += b.num_rows() as u64;
            stats.records_out += out.num_rows() as u64;
            on_output(seq, vec![out]).map_err(|message| Failure::Internal { message })?;
        }
        Ok(stats)
    }

    fn metrics(
        &self,
        baseline: Option<&mut dyn Iterator<Item = RecordBatch>>,
        input: &mut dyn Iterator<Item = RecordBatch>,
        _log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<serde_json::Value, Failure> {
        self.act(ctl)?;
        let rows: usize = input.map(|b| b.num_rows()).sum();
        Ok(match baseline {
            Some(b) => {
                let baseline_rows: usize = b.map(|b| b.num_rows()).sum();
                serde_json::json!({ "baseline_rows": baseline_rows, "rows": rows })
            }
            None => serde_json::json!({ "rows": rows }),
        })
    }

    fn train(
        &self,
        input: &mut dyn Iterator<Item = RecordBatch>,
        _log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<(), Failure> {
        self.act(ctl)?;
        let rows: usize = input.map(|b| b.num_rows()).sum();
        let out = self.workdir.join("outputDir");
        std::fs::create_dir_all(&out)
            .and_then(|()| std::fs::write(out.join("model.bin"), rows.to_string()))
            .map_err(|e| Failure::Internal {
                message: e.to_string(),
            })
    }
}
