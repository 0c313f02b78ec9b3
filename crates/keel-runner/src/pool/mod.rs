//! A set of worker processes and the threads that feed and drain their pipes.
//!
//! Each worker has a writer thread (owning its stdin), a stdout thread
//! (decoding frames) and a stderr thread (splitting log lines). The pipe
//! threads report to the calling thread through one channel, so the caller
//! never blocks on a pipe and pipes can never deadlock. Every worker runs in
//! its own process group, which is killed with SIGKILL and reaped before the
//! pool is gone, whatever happened, unless the run succeeded and its spec
//! names a warm pool: then the workers go to that pool for the next run of
//! the same model, after everything else they started has been killed.

mod pipes;

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use crate::contain::{self, RunMark};
use crate::failure::Failure;
use crate::protocol::{
    self, Done, Frame, Hello, HelloFunctions, PROTOCOL_VERSION, Ready, WorkerError,
};
use crate::spec::{Control, LogSink, WorkerSpec};
use crate::sys;

/// How many stderr lines per worker are kept for crash messages.
const TAIL_LINES: usize = 20;
/// How long a worker may take to exit after its stdin closes on success.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for a dead worker's last frames and log lines.
const DRAIN: Duration = Duration::from_millis(500);
/// The longest the caller's thread waits before checking cancel and deadline.
const TICK: Duration = Duration::from_millis(100);

/// What a worker run does: the model function it calls for the records,
/// spelled as the shared vocabulary spells it.
pub(crate) use keel_types::FunctionKind as Mode;

/// What a run of `mode` is doing, for messages.
fn activity(mode: Mode) -> &'static str {
    match mode {
        Mode::Init => "starting",
        Mode::Score => "scoring",
        Mode::Metrics => "computing metrics",
        Mode::Train => "training",
    }
}

/// A message from a pipe thread.
pub(crate) enum Event {
    /// A frame other than `O`.
    Frame(usize, Frame),
    /// An `O` frame, decoded on the pipe thread so decoding runs in parallel.
    Output(usize, u64, crate::error::Result<Vec<RecordBatch>>),
    /// The worker's stdout ended; `Some` when it ended badly.
    StdoutClosed(usize, Option<String>),
    /// One stderr line.
    Log(usize, String),
    /// The worker's stderr ended.
    StderrClosed(usize),
    /// The worker's stderr reached the end of its run: every line of the
    /// run has been delivered.
    EndOfRun(usize),
    /// The writer thread could not encode a batch.
    WriteFailed(usize, String),
}

/// What the writer thread sends to a worker.
pub(crate) enum Outgoing {
    /// A ready-made frame.
    Frame(u8, u64, Vec<u8>),
    /// An input batch, encoded on the writer thread.
    Batch(u64, RecordBatch),
}

/// One worker process and what the pool knows about it.
pub(crate) struct Worker {
    child: Child,
    pub pid: u32,
    /// The token it was started with (see [`RunMark`]).
    pub token: String,
    /// Where its pipe threads deliver: the run that holds it.
    route: pipes::Route,
    input: Option<SyncSender<Outgoing>>,
    exit: Option<(ExitStatus, Instant)>,
    reaped: bool,
    stdout_closed: bool,
    stderr_closed: bool,
    pub ready: Option<Ready>,
    pub done: bool,
    /// True once its stderr delivered the end-of-run line.
    log_ended: bool,
    /// Input batches sent and not yet answered, oldest first.
    pub in_flight: VecDeque<u64>,
    tail: VecDeque<String>,
}

/// The worker processes of one run.
pub(crate) struct Pool<'a> {
    pub workers: Vec<Worker>,
    events: Receiver<Event>,
    sink: &'a dyn LogSink,
    ctl: &'a Control,
    mode: Mode,
    /// The worker whose `X` message or crash stopped the run.
    pub failed_worker: Option<usize>,
    /// The CPU time the finished workers reported, summed.
    pub cpu: Done,
    /// What finds this run's processes after its workers are gone.
    mark: RunMark,
    /// Where the workers go after a successful run, if anywhere.
    warm: Option<crate::warm::Warm>,
    /// How many workers came from the warm pool.
    pub reused: usize,
    /// True once the workers went to the warm pool (and the run was swept).
    kept: bool,
}

impl Worker {
    /// True while the process has not exited.
    pub fn alive(&mut self) -> bool {
        !self.reaped && matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILLs the worker's process group and reaps it.
    pub fn kill(&mut self) {
        self.input = None;
        sys::kill_group(self.pid);
        if !self.reaped {
            if let Ok(status) = self.child.wait() {
                self.exit.get_or_insert((status, Instant::now()));
            }
            self.reaped = true;
        }
    }

    /// Makes a kept worker number `index` of a new run, delivering to `events`.
    fn join(&mut self, index: usize, events: mpsc::Sender<Event>) {
        self.route.set(index, events);
        self.ready = None;
        self.done = false;
        self.log_ended = false;
        self.in_flight.clear();
        self.tail.clear();
    }

    /// The processes that make up this worker (the one Keel started, the
    /// Python program and, in a PID namespace, the init between them), which
    /// the sweep after a run spares when the worker is kept.
    fn own_pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid];
        if let Some(program) = self.ready.as_ref().map(|r| r.pid).filter(|p| *p != 0) {
            pids.push(program);
            let mut at = program;
            // The init and the relay sit between the program and Keel.
            for _ in 0..2 {
                match sys::parent_pid(at) {
                    Some(parent) if parent != self.pid && parent != std::process::id() => {
                        pids.push(parent);
                        at = parent;
                    }
                    _ => break,
                }
            }
        }
        pids
    }
}

impl<'a> Pool<'a> {
    /// Writes the worker script, starts `n` workers and sends each its hello.
    pub fn start(
        spec: &WorkerSpec,
        n: usize,
        mode: Mode,
        sink: &'a dyn LogSink,
        ctl: &'a Control,
    ) -> Result<Self, Failure> {
        Self::start_script(spec, n, (mode, 1), sink, ctl, protocol::WORKER_SCRIPT)
    }

    /// Like [`Pool::start`] for a run that sends `inputs` data sets (a
    /// metrics run comparing a baseline with a sample sends two).
    pub fn start_with_inputs(
        spec: &WorkerSpec,
        mode: Mode,
        inputs: u32,
        sink: &'a dyn LogSink,
        ctl: &'a Control,
    ) -> Result<Self, Failure> {
        Self::start_script(spec, 1, (mode, inputs), sink, ctl, protocol::WORKER_SCRIPT)
    }

    /// Like [`Pool::start`] with a given worker script (tests use altered ones).
    fn start_script(
        spec: &WorkerSpec,
        n: usize,
        (mode, inputs): (Mode, u32),
        sink: &'a dyn LogSink,
        ctl: &'a Control,
        script_text: &str,
    ) -> Result<Self, Failure> {
        let script = write_script(&spec.workdir, "keel_worker.py", script_text)?;
        write_script(&spec.workdir, "keel_mlflow.py", protocol::MLFLOW_ADAPTER)?;
        let token = contain::new_token();
        // Every worker takes the run's variables from the hello before it
        // imports the model; a kept one also moves to the run's directory.
        let workdir = std::path::absolute(&spec.workdir).unwrap_or_else(|_| spec.workdir.clone());
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            mode: mode.as_str().into(),
            module: spec.module.clone(),
            functions: HelloFunctions {
                init: spec.functions.init.clone(),
                score: spec.functions.score.clone(),
                metrics: spec.functions.metrics.clone(),
                train: spec.functions.train.clone(),
            },
            score_batch: spec.functions.score_batch,
            job: spec.job.clone(),
            output_column: spec.output_column.clone(),
            inputs,
            workdir: Some(workdir.to_string_lossy().into_owned()),
            env: contain::run_env(&spec.workdir, &token, &spec.env)
                .into_iter()
                .collect(),
        };
        let hello = serde_json::to_vec(&hello).map_err(|e| Failure::Internal {
            message: format!("The hello message for the worker could not be encoded: {e}."),
        })?;
        let (tx, events) = mpsc::channel();
        let tmp = contain::tmp_dir(&spec.workdir);
        std::fs::create_dir_all(&tmp).map_err(|e| Failure::Internal {
            message: format!(
                "The workers' temporary directory {} could not be made: {e}.",
                tmp.display()
            ),
        })?;
        let mut kept = match &spec.warm {
            Some(warm) => warm.pool.take(&warm.key, n),
            None => Vec::new(),
        };
        let mut pool = Pool {
            workers: Vec::with_capacity(n),
            events,
            sink,
            ctl,
            mode,
            failed_worker: None,
            cpu: Done::default(),
            mark: RunMark::new(token),
            warm: spec.warm.clone(),
            reused: kept.len(),
            kept: false,
        };
        for index in 0..n {
            let worker = match kept.pop() {
                Some(mut worker) => {
                    worker.join(index, tx.clone());
                    worker
                }
                None => {
                    let launch = |mut cmd: std::process::Command| match &spec.warm {
                        Some(warm) => warm.pool.launch(cmd),
                        None => cmd.spawn(),
                    };
                    // Each worker has its own token beside the run's (which
                    // it takes from the hello), so that a later run it
                    // serves finds what it forks, and the sweep of another
                    // run of its first never mistakes it for a leftover.
                    let own = format!("{}.w{index}", pool.mark.token());
                    pipes::spawn(spec, &script, index, &own, tx.clone(), &launch)?
                }
            };
            pool.mark.add_worker(worker.pid, &worker.token);
            pool.workers.push(worker);
            pool.send(index, Outgoing::Frame(protocol::HELLO, 0, hello.clone()))?;
        }
        Ok(pool)
    }

    /// Waits until every worker has sent `R`.
    pub fn wait_ready(&mut self) -> Result<(), Failure> {
        while self.workers.iter().any(|w| w.ready.is_none()) {
            if let Some(ev) = self.poll()? {
                self.unexpected(ev)?;
            }
        }
        Ok(())
    }

    /// Queues a message for worker `w`, waiting (while still watching the
    /// workers) when its queue is full.
    pub fn send(&mut self, w: usize, msg: Outgoing) -> Result<(), Failure> {
        let mut msg = msg;
        loop {
            let Some(tx) = self.workers[w].input.as_ref() else {
                return Ok(());
            };
            match tx.try_send(msg) {
                Ok(()) => return Ok(()),
                // The writer thread stopped because the worker's stdin broke;
                // the worker's exit explains why, so wait for it.
                Err(TrySendError::Disconnected(_)) => {
                    self.workers[w].input = None;
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    msg = back;
                    if let Some(ev) = self.poll_for(Duration::from_millis(10))? {
                        self.unexpected(ev)?;
                    }
                }
            }
        }
    }

    /// Sends `E` to every worker and waits until each has sent `D`, passing
    /// other events to `on_event`.
    pub fn finish(
        &mut self,
        mut on_event: impl FnMut(&mut Self, Event) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        for w in 0..self.workers.len() {
            self.send(w, Outgoing::Frame(protocol::END, 0, Vec::new()))?;
        }
        while self.workers.iter().any(|w| !w.done) {
            if let Some(ev) = self.poll()? {
                on_event(self, ev)?;
            }
        }
        if self.warm.is_some() {
            self.keep();
        } else {
            self.shutdown();
        }
        Ok(())
    }

    /// After a successful run: kills whatever the run started besides its
    /// workers, then hands the live workers to the warm pool.
    fn keep(&mut self) {
        let Some(warm) = self.warm.clone() else {
            return;
        };
        // A worker's last log lines may still be on their way through its
        // stderr thread when its `D` arrives; wait (briefly) for them.
        let until = Instant::now() + DRAIN;
        while self
            .workers
            .iter()
            .any(|w| !w.log_ended && !w.stderr_closed)
        {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    let _ = self.handle(ev);
                }
                Err(_) => break,
            }
        }
        let mut spare = HashSet::new();
        for worker in &mut self.workers {
            if worker.alive() {
                spare.extend(worker.own_pids());
            }
        }
        self.report_left(self.mark.sweep_except(&spare));
        self.kept = true;
        for mut worker in std::mem::take(&mut self.workers) {
            worker.route.clear();
            if worker.alive() {
                let mut mark = RunMark::new(self.mark.token().to_string());
                mark.add_worker(worker.pid, &worker.token);
                warm.pool.put(&warm.key, worker, mark);
            } else {
                worker.kill();
            }
        }
    }

    /// Notes in the log that `left` processes the model started outlived its run.
    fn report_left(&self, left: usize) {
        if left > 0 {
            self.sink.note(&format!(
                "{left} process{} that the model started {} still running after its workers \
                 ended; Keel killed {}.",
                if left == 1 { "" } else { "es" },
                if left == 1 { "was" } else { "were" },
                if left == 1 { "it" } else { "them" },
            ));
        }
    }

    /// Waits up to one tick for the next event that the caller must handle.
    pub fn poll(&mut self) -> Result<Option<Event>, Failure> {
        self.poll_for(TICK)
    }

    /// Waits up to `limit` (never past the deadline) for the next event the
    /// caller must handle; checks cancel, deadline and worker exits first,
    /// and handles logs, `R`, `X` and `D` itself.
    pub fn poll_for(&mut self, limit: Duration) -> Result<Option<Event>, Failure> {
        self.check()?;
        let mut wait = limit;
        if let Some(deadline) = self.ctl.deadline {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        let ev = match self.events.recv_timeout(wait) {
            Ok(ev) => ev,
            Err(RecvTimeoutError::Timeout) => return Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::Internal {
                    message: "All worker pipes closed unexpectedly.".into(),
                });
            }
        };
        self.handle(ev)
    }

    /// Handles what the pool handles itself; returns the rest.
    fn handle(&mut self, ev: Event) -> Result<Option<Event>, Failure> {
        match ev {
            Event::Log(w, line) => {
                self.sink.line(w, &line);
                let tail = &mut self.workers[w].tail;
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
                Ok(None)
            }
            Event::EndOfRun(w) => {
                self.workers[w].log_ended = true;
                Ok(None)
            }
            Event::StderrClosed(w) => {
                self.workers[w].stderr_closed = true;
                Ok(None)
            }
            Event::StdoutClosed(w, err) => {
                self.workers[w].stdout_closed = true;
                match err {
                    Some(e) if !self.workers[w].done => Err(self.abort(Failure::Internal {
                        message: format!("Worker {w} sent data Keel cannot read: {e}."),
                    })),
                    _ => Ok(None),
                }
            }
            Event::WriteFailed(w, e) => Err(self.abort(Failure::Internal {
                message: format!("An input batch for worker {w} could not be encoded: {e}."),
            })),
            Event::Frame(w, frame) => match frame.kind {
                protocol::READY => {
                    let ready: Ready = serde_json::from_slice(&frame.payload).map_err(|e| {
                        self.abort(Failure::RuntimeUnavailable {
                            message: format!(
                                "Worker {w} sent a ready message Keel cannot read ({e}); the \
                                 worker script does not match this version of Keel."
                            ),
                        })
                    })?;
                    if ready.protocol != PROTOCOL_VERSION {
                        return Err(self.abort(Failure::RuntimeUnavailable {
                            message: format!(
                                "Worker {w} speaks worker protocol version {} but Keel speaks \
                                 version {PROTOCOL_VERSION}; the worker script does not match \
                                 this version of Keel.",
                                ready.protocol
                            ),
                        }));
                    }
                    self.workers[w].ready = Some(ready);
                    Ok(None)
                }
                protocol::DONE => {
                    self.workers[w].done = true;
                    // The CPU report is for the job's log; one that cannot be
                    // read costs nothing but the report.
                    if let Ok(done) = serde_json::from_slice::<Done>(&frame.payload) {
                        self.cpu.cpu += done.cpu;
                        self.cpu.function_cpu += done.function_cpu;
                    }
                    Ok(None)
                }
                protocol::ERROR => {
                    self.failed_worker = Some(w);
                    let failure = match serde_json::from_slice::<WorkerError>(&frame.payload) {
                        Ok(err) => self.worker_error(w, err),
                        Err(e) => Failure::Internal {
                            message: format!("Worker {w} sent an error Keel cannot read: {e}."),
                        },
                    };
                    Err(self.abort(failure))
                }
                _ => Ok(Some(Event::Frame(w, frame))),
            },
            other => Ok(Some(other)),
        }
    }

    /// Turns a worker's `X` message into a failure.
    fn worker_error(&self, w: usize, err: WorkerError) -> Failure {
        let message = if err.type_.is_empty() {
            err.message.clone()
        } else if err.message.is_empty() {
            err.type_.clone()
        } else {
            format!("{}: {}", err.type_, err.message)
        };
        if err.phase == "setup" {
            let python = self.workers[w].ready.as_ref().map(|r| r.python.as_str());
            let fix = if err.type_ == "ProtocolMismatch" {
                "the worker script does not match this version of Keel".to_string()
            } else {
                format!(
                    "install pyarrow and pandas into the model's Python environment{}",
                    python.map(|p| format!(" (Python {p})")).unwrap_or_default()
                )
            };
            return Failure::RuntimeUnavailable {
                message: format!(
                    "The Python environment cannot run Keel's worker: {message}. To fix it, {fix}."
                ),
            };
        }
        Failure::User {
            phase: err.phase,
            message,
            traceback: err.traceback,
            row: err.row,
        }
    }

    /// Reports a protocol violation for an event the caller did not expect.
    pub fn unexpected(&mut self, ev: Event) -> Result<(), Failure> {
        let what = match ev {
            Event::Frame(w, f) => {
                format!("worker {w} sent an unexpected '{}' frame", f.kind as char)
            }
            Event::Output(w, seq, _) => {
                format!("worker {w} sent output for batch {seq}, which it was not given")
            }
            _ => "a worker pipe sent an unexpected event".into(),
        };
        Err(self.abort(Failure::Internal {
            message: format!("The worker broke the protocol: {what}."),
        }))
    }

    /// Fails on cancel, deadline or a worker that exited before it finished.
    fn check(&mut self) -> Result<(), Failure> {
        if let Some(stop) = self.ctl.stop() {
            return Err(self.abort(stop));
        }
        for w in 0..self.workers.len() {
            let worker = &mut self.workers[w];
            if worker.exit.is_none()
                && let Ok(Some(status)) = worker.child.try_wait()
            {
                worker.exit = Some((status, Instant::now()));
                worker.reaped = true;
                // Whatever the worker forked must not outlive it.
                sys::kill_group(worker.pid);
            }
            if let Some((status, at)) = worker.exit
                && !worker.done
                && (worker.stdout_closed || at.elapsed() >= DRAIN)
            {
                // A worker that stopped before `D` without an `X` crashed.
                let failure = self.crash(w, status);
                return Err(failure);
            }
        }
        Ok(())
    }

    /// Builds the failure for worker `w`, which exited with `status` before it finished.
    fn crash(&mut self, w: usize, status: ExitStatus) -> Failure {
        use std::os::unix::process::ExitStatusExt;
        self.failed_worker = Some(w);
        self.kill_all();
        self.drain_logs();
        let worker = &self.workers[w];
        let when = if worker.ready.is_some() {
            format!("while {}", activity(self.mode))
        } else {
            "while starting (importing the model or running init)".into()
        };
        let how = match (status.signal(), status.code()) {
            (Some(sig), _) => format!("was killed by signal {}", sys::signal_name(sig)),
            (None, Some(code)) => format!("exited with code {code} before it finished"),
            (None, None) => "stopped for an unknown reason".into(),
        };
        let mut message = format!("Worker {w} (pid {}) {how} {when}.", worker.pid);
        if status.signal() == Some(libc::SIGKILL) {
            message.push_str(" SIGKILL often means the machine ran out of memory.");
        }
        if worker.tail.is_empty() {
            message.push_str(" It wrote nothing to stderr.");
        } else {
            message.push_str(" Its last stderr lines were:\n");
            message.push_str(&worker.tail.iter().cloned().collect::<Vec<_>>().join("\n"));
        }
        if worker.ready.is_none() && status.signal().is_none() {
            // Exiting with a code before `R` and without `X` means the worker
            // script itself could not run (for example an old Python).
            return Failure::RuntimeUnavailable {
                message: format!(
                    "{message}\nThe Python interpreter could not run Keel's worker; check that it \
                     is Python 3.8 or newer with pyarrow installed."
                ),
            };
        }
        Failure::Crashed { message }
    }

    /// Kills every worker, gathers their last log lines, and returns `failure`.
    fn abort(&mut self, failure: Failure) -> Failure {
        self.kill_all();
        self.drain_logs();
        failure
    }

    /// SIGKILLs every worker's process group and reaps the workers.
    fn kill_all(&mut self) {
        self.workers.iter_mut().for_each(Worker::kill);
    }

    /// Passes on log lines until every stderr pipe closed or a short time passed.
    fn drain_logs(&mut self) {
        let until = Instant::now() + DRAIN;
        while self.workers.iter().any(|w| !w.stderr_closed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.events.recv_timeout(left) {
                Ok(Event::Log(w, line)) => {
                    self.sink.line(w, &line);
                    let tail = &mut self.workers[w].tail;
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
                Ok(Event::StderrClosed(w)) => self.workers[w].stderr_closed = true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// The clean end: close stdin, give each worker a short grace to exit,
    /// then kill its group anyway (which also ends anything it forked) and reap.
    fn shutdown(&mut self) {
        for worker in &mut self.workers {
            worker.input = None;
        }
        let until = Instant::now() + EXIT_GRACE;
        for worker in &mut self.workers {
            while !worker.reaped && Instant::now() < until {
                match worker.child.try_wait() {
                    Ok(Some(status)) => {
                        worker.exit = Some((status, Instant::now()));
                        worker.reaped = true;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => break,
                }
            }
        }
        self.kill_all();
        self.drain_logs();
    }

    /// The worker with the fewest batches in flight, if it has fewer than `max`.
    pub fn least_loaded(&self, max: usize) -> Option<usize> {
        self.workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.in_flight.len() < max)
            .min_by_key(|(_, w)| w.in_flight.len())
            .map(|(i, _)| i)
    }
}

impl Drop for Pool<'_> {
    fn drop(&mut self) {
        // Whatever path left the run (success, failure, a panic in a
        // callback), no worker process may be left behind, nor anything a
        // worker started.
        self.kill_all();
        if !self.kept {
            self.report_left(self.mark.sweep());
        }
    }
}

/// Writes an embedded Python file (the worker script or the MLflow adapter)
/// into the working directory, by rename so a reader never sees half of it.
fn write_script(workdir: &Path, name: &str, text: &str) -> Result<std::path::PathBuf, Failure> {
    let path = workdir.join(name);
    let tmp = workdir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Failure::Internal {
            message: format!(
                "Keel's Python file could not be written to {}: {e}. Check that the job's \
                 working directory exists and is writable.",
                path.display()
            ),
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Functions;

    fn spec(py: &Path, dir: &Path) -> WorkerSpec {
        std::fs::write(dir.join("model.py"), "def score(r):\n    return r\n").unwrap();
        WorkerSpec {
            python: py.to_path_buf(),
            workdir: dir.to_path_buf(),
            module: "model".into(),
            functions: Functions {
                score: Some("score".into()),
                ..Functions::default()
            },
            env: Vec::new(),
            job: serde_json::Value::Null,
            output_column: None,
            isolation: crate::contain::Isolation::default(),
            warm: None,
        }
    }

    fn start_with(py: &Path, script: &str) -> Result<(), Failure> {
        let dir = tempfile::tempdir().unwrap();
        let sink = |_: usize, _: &str| {};
        let ctl = Control::new();
        let mut pool = Pool::start_script(
            &spec(py, dir.path()),
            1,
            (Mode::Score, 1),
            &sink,
            &ctl,
            script,
        )?;
        pool.wait_ready()
    }

    #[test]
    fn only_a_worker_with_our_protocol_is_accepted() {
        let Some(py) = keel_testkit::python() else {
            return;
        };
        assert_eq!(start_with(&py, protocol::WORKER_SCRIPT), Ok(()));
        // The worker checks the version in the hello message...
        let old = protocol::WORKER_SCRIPT.replace("PROTOCOL = 1", "PROTOCOL = 2");
        assert_ne!(old, protocol::WORKER_SCRIPT);
        let Err(Failure::RuntimeUnavailable { message }) = start_with(&py, &old) else {
            panic!("a worker speaking protocol 2 was accepted");
        };
        assert!(message.contains("protocol 2"), "{message}");
        // ...and Keel checks the version in the ready message.
        let lying = protocol::WORKER_SCRIPT.replace(
            r#"{"protocol": PROTOCOL, "python""#,
            r#"{"protocol": 9, "python""#,
        );
        assert_ne!(lying, protocol::WORKER_SCRIPT);
        let Err(Failure::RuntimeUnavailable { message }) = start_with(&py, &lying) else {
            panic!("a worker announcing protocol 9 was accepted");
        };
        assert!(message.contains("version 9"), "{message}");
    }
}
