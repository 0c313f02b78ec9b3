//! The three kinds of run: scoring over several workers with outputs in input
//! order, metrics over all records, and training over all records.

use std::collections::{BTreeMap, HashMap};

use arrow_array::RecordBatch;

use crate::failure::Failure;
use crate::pool::{Event, Mode, Outgoing, Pool};
use crate::protocol;
use crate::spec::{Control, LogSink, ScoreStats, WorkerSpec};

/// Batches a worker may hold at once: one being scored, one waiting in its pipe.
const IN_FLIGHT_PER_WORKER: usize = 2;
/// How far ahead of the oldest undelivered batch input may be dispatched, per
/// worker; this bounds the outputs held back to restore input order.
const REORDER_WINDOW_PER_WORKER: u64 = 4;

/// Scores every input batch on `workers` worker processes (each runs init
/// once) and calls `on_output` with each batch's output rows strictly in input
/// order (seq 0, 1, 2, ...), even though workers finish out of order. An
/// `Err(message)` from `on_output` stops the run with [`Failure::Internal`].
pub fn run_scoring(
    spec: &WorkerSpec,
    workers: usize,
    input: &mut dyn Iterator<Item = RecordBatch>,
    on_output: &mut dyn FnMut(u64, Vec<RecordBatch>) -> Result<(), String>,
    sink: &dyn LogSink,
    ctl: &Control,
) -> Result<ScoreStats, Failure> {
    let workers = workers.max(1);
    let mut pool = Pool::start(spec, workers, Mode::Score, sink, ctl)?;
    pool.wait_ready()?;
    let mut state = Scoring {
        stats: ScoreStats::default(),
        next_out: 0,
        held: BTreeMap::new(),
        first_row: HashMap::new(),
        on_output,
    };
    state.stats.warm_workers = pool.reused;
    let result = score_all(&mut pool, &mut state, workers, input);
    state.stats.worker_cpu = seconds(pool.cpu.cpu);
    state.stats.function_cpu = seconds(pool.cpu.function_cpu);
    result.map_err(|failure| {
        // A per-record error names its row within the batch; users need its
        // place in the whole input. The failing worker's oldest batch is the one.
        let first = pool
            .failed_worker
            .and_then(|w| pool.workers[w].in_flight.front().copied())
            .and_then(|seq| state.first_row.get(&seq).copied());
        globalize_row(failure, first)
    })?;
    Ok(state.stats)
}

/// Dispatches input, delivers outputs in order, and ends the workers.
fn score_all(
    pool: &mut Pool<'_>,
    state: &mut Scoring<'_>,
    workers: usize,
    input: &mut dyn Iterator<Item = RecordBatch>,
) -> Result<(), Failure> {
    let window = REORDER_WINDOW_PER_WORKER * workers as u64;
    let mut next_seq = 0u64;
    let mut input_done = false;
    loop {
        while !input_done && next_seq < state.next_out + window {
            let Some(w) = pool.least_loaded(IN_FLIGHT_PER_WORKER) else {
                break;
            };
            // Reading input can take a while; do not start another batch
            // after a cancel or past the deadline.
            if let Some(ev) = pool.poll_for(std::time::Duration::ZERO)? {
                state.on_event(pool, ev)?;
            }
            let Some(batch) = input.next() else {
                input_done = true;
                break;
            };
            let rows = batch.num_rows() as u64;
            state.first_row.insert(next_seq, state.stats.records_in);
            state.stats.records_in += rows;
            state.stats.batches += 1;
            pool.workers[w].in_flight.push_back(next_seq);
            pool.send(w, Outgoing::Batch(next_seq, batch))?;
            next_seq += 1;
        }
        if input_done && state.next_out == next_seq {
            break;
        }
        if let Some(ev) = pool.poll()? {
            state.on_event(pool, ev)?;
        }
    }
    pool.finish(|pool, ev| state.on_event(pool, ev))
}

/// The bookkeeping of a scoring run.
struct Scoring<'o> {
    stats: ScoreStats,
    /// The next batch to hand to `on_output`.
    next_out: u64,
    /// Outputs that arrived before an earlier batch's.
    held: BTreeMap<u64, Vec<RecordBatch>>,
    /// The index of each undelivered batch's first record in the whole input.
    first_row: HashMap<u64, u64>,
    on_output: &'o mut dyn FnMut(u64, Vec<RecordBatch>) -> Result<(), String>,
}

impl Scoring<'_> {
    fn on_event(&mut self, pool: &mut Pool<'_>, ev: Event) -> Result<(), Failure> {
        let Event::Output(w, seq, batches) = ev else {
            return pool.unexpected(ev);
        };
        // A worker scores its batches in the order it got them.
        if pool.workers[w].in_flight.front() != Some(&seq) {
            return pool.unexpected(Event::Output(w, seq, batches));
        }
        pool.workers[w].in_flight.pop_front();
        let batches = batches.map_err(|e| Failure::Internal {
            message: format!("The output of worker {w} for batch {seq} cannot be read: {e}."),
        })?;
        self.held.insert(seq, batches);
        while let Some(batches) = self.held.remove(&self.next_out) {
            let seq = self.next_out;
            self.first_row.remove(&seq);
            self.stats.records_out += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            (self.on_output)(seq, batches).map_err(|message| Failure::Internal {
                message: format!("The output of batch {seq} could not be stored: {message}"),
            })?;
            self.next_out += 1;
        }
        Ok(())
    }
}

/// Seconds as reported by a worker (never negative or NaN) as a duration.
fn seconds(s: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(s).unwrap_or_default()
}

/// Maps a per-batch row in a score error to the record's index in the whole input.
pub(crate) fn globalize_row(failure: Failure, first_row: Option<u64>) -> Failure {
    match (failure, first_row) {
        (
            Failure::User {
                phase,
                message,
                traceback,
                row: Some(row),
            },
            Some(first),
        ) => Failure::User {
            phase,
            message,
            traceback,
            row: Some(first + row),
        },
        (failure, _) => failure,
    }
}

/// Runs the metrics function once over all input records and returns its
/// merged result as JSON (NaN and infinities become null). With a
/// `baseline`, the function gets two DataFrames: the baseline, then the input.
pub fn run_metrics(
    spec: &WorkerSpec,
    baseline: Option<&mut dyn Iterator<Item = RecordBatch>>,
    input: &mut dyn Iterator<Item = RecordBatch>,
    sink: &dyn LogSink,
    ctl: &Control,
) -> Result<serde_json::Value, Failure> {
    let inputs = if baseline.is_some() { 2 } else { 1 };
    let mut pool = Pool::start_with_inputs(spec, Mode::Metrics, inputs, sink, ctl)?;
    pool.wait_ready()?;
    if let Some(baseline) = baseline {
        feed_all(&mut pool, baseline)?;
        pool.send(0, Outgoing::Frame(protocol::END, 0, Vec::new()))?;
    }
    feed_all(&mut pool, input)?;
    let mut result = None;
    pool.finish(|pool, ev| match ev {
        Event::Frame(_, frame) if frame.kind == protocol::JSON => {
            let value = serde_json::from_slice(&frame.payload).map_err(|e| Failure::Internal {
                message: format!("The metrics result from the worker is not valid JSON: {e}."),
            })?;
            result = Some(value);
            Ok(())
        }
        other => pool.unexpected(other),
    })?;
    result.ok_or_else(|| Failure::Internal {
        message: "The worker finished the metrics run without sending a result.".into(),
    })
}

/// Runs the train function once over all input records; the files it writes
/// are in `spec.workdir/outputDir` afterwards.
pub fn run_training(
    spec: &WorkerSpec,
    input: &mut dyn Iterator<Item = RecordBatch>,
    sink: &dyn LogSink,
    ctl: &Control,
) -> Result<(), Failure> {
    let mut pool = Pool::start(spec, 1, Mode::Train, sink, ctl)?;
    pool.wait_ready()?;
    feed_all(&mut pool, input)?;
    pool.finish(|pool, ev| pool.unexpected(ev))
}

/// Sends every input batch to worker 0.
fn feed_all(
    pool: &mut Pool<'_>,
    input: &mut dyn Iterator<Item = RecordBatch>,
) -> Result<(), Failure> {
    for (seq, batch) in (0u64..).zip(input) {
        if let Some(ev) = pool.poll_for(std::time::Duration::ZERO)? {
            pool.unexpected(ev)?;
        }
        pool.send(0, Outgoing::Batch(seq, batch))?;
    }
    Ok(())
}
