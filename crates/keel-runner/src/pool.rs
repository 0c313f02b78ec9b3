//! A set of worker processes and the threads that feed and drain their pipes.
//!
//! Each worker has a writer thread (owning its stdin), a stdout thread
//! (decoding frames) and a stderr thread (splitting log lines). The pipe
//! threads report to the calling thread through one channel, so the caller
//! never blocks on a pipe and pipes can never deadlock. Every worker runs in
//! its own process group, which is killed with SIGKILL and reaped before the
//! pool is gone, whatever happened.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use crate::contain::{self, Containment, RunMark};
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
    input: Option<SyncSender<Outgoing>>,
    exit: Option<(ExitStatus, Instant)>,
    reaped: bool,
    stdout_closed: bool,
    stderr_closed: bool,
    pub ready: Option<Ready>,
    pub done: bool,
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
        let mut pool = Pool {
            workers: Vec::with_capacity(n),
            events,
            sink,
            ctl,
            mode,
            failed_worker: None,
            cpu: Done::default(),
            mark: RunMark {
                token: contain::new_token(),
                namespaces: Vec::new(),
            },
        };
        for index in 0..n {
            let worker = spawn(spec, &script, index, &pool.mark.token, tx.clone())?;
            pool.mark.add_worker(worker.pid);
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
        self.shutdown();
        Ok(())
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
        for worker in &mut self.workers {
            worker.input = None;
            sys::kill_group(worker.pid);
            if !worker.reaped {
                if let Ok(status) = worker.child.wait() {
                    worker.exit.get_or_insert((status, Instant::now()));
                }
                worker.reaped = true;
            }
        }
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
        let left = self.mark.sweep();
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

/// Starts worker number `index` and its pipe threads.
fn spawn(
    spec: &WorkerSpec,
    script: &Path,
    index: usize,
    token: &str,
    events: Sender<Event>,
) -> Result<Worker, Failure> {
    let mut cmd = Command::new(&spec.python);
    cmd.arg("-u")
        .arg(script)
        .current_dir(&spec.workdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Workers see an allow-list of Keel's environment, never all of it.
    cmd.env_clear().envs(contain::worker_env(
        &spec.workdir,
        token,
        &spec.isolation.pass_env,
        &spec.env,
    ));
    sys::contain(
        &mut cmd,
        spec.isolation.containment() == Containment::PidNamespace,
    );
    let mut child = cmd.spawn().map_err(|e| Failure::RuntimeUnavailable {
        message: format!(
            "The Python interpreter {} could not be started: {e}. Check that it exists and is \
             executable, or set KEEL_PYTHON to one that is.",
            spec.python.display()
        ),
    })?;
    let pid = child.id();
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        sys::kill_group(pid);
        let _ = child.wait();
        return Err(Failure::Internal {
            message: "The worker's pipes were not created.".into(),
        });
    };
    // Two queued messages per worker are enough to keep it busy; more would
    // only hold input in memory.
    let (input_tx, input_rx) = mpsc::sync_channel::<Outgoing>(2);
    let thread =
        |name: &str| std::thread::Builder::new().name(format!("keel-worker{index}-{name}"));
    let spawned = (|| {
        let tx = events.clone();
        thread("stdin").spawn(move || write_loop(index, stdin, input_rx, tx))?;
        let tx = events.clone();
        thread("stdout").spawn(move || read_loop(index, stdout, tx))?;
        thread("stderr").spawn(move || log_loop(index, stderr, events))?;
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = spawned {
        sys::kill_group(pid);
        let _ = child.wait();
        return Err(Failure::Internal {
            message: format!("A thread for worker {index} could not be started: {e}."),
        });
    }
    Ok(Worker {
        child,
        pid,
        input: Some(input_tx),
        exit: None,
        reaped: false,
        stdout_closed: false,
        stderr_closed: false,
        ready: None,
        done: false,
        in_flight: VecDeque::new(),
        tail: VecDeque::new(),
    })
}

/// Writes queued frames to the worker's stdin until the queue closes or the pipe breaks.
fn write_loop(index: usize, stdin: ChildStdin, rx: Receiver<Outgoing>, events: Sender<Event>) {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdin);
    for msg in rx {
        let (kind, seq, payload) = match msg {
            Outgoing::Frame(kind, seq, payload) => (kind, seq, payload),
            Outgoing::Batch(seq, batch) => match protocol::encode_batch(&batch) {
                Ok(bytes) => (protocol::BATCH, seq, bytes),
                Err(e) => {
                    let _ = events.send(Event::WriteFailed(index, e.to_string()));
                    return;
                }
            },
        };
        // A broken pipe means the worker died; its exit status tells why.
        if protocol::write_frame(&mut out, kind, seq, &payload).is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Reads frames from the worker's stdout until it closes.
fn read_loop(index: usize, stdout: std::process::ChildStdout, events: Sender<Event>) {
    let mut r = BufReader::with_capacity(1 << 16, stdout);
    loop {
        let ev = match protocol::read_frame(&mut r) {
            Ok(Some(frame)) if frame.kind == protocol::OUTPUT => {
                Event::Output(index, frame.seq, protocol::decode_batches(frame.payload))
            }
            Ok(Some(frame)) => Event::Frame(index, frame),
            Ok(None) => {
                let _ = events.send(Event::StdoutClosed(index, None));
                return;
            }
            Err(e) => {
                let _ = events.send(Event::StdoutClosed(index, Some(e.to_string())));
                return;
            }
        };
        if events.send(ev).is_err() {
            return;
        }
    }
}

/// The longest line of a worker's stderr Keel keeps: longer ones are cut
/// here, with a note, so a model printing without newlines cannot make Keel
/// hold its whole output in memory.
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// Splits the worker's stderr into lines.
fn log_loop(index: usize, stderr: std::process::ChildStderr, events: Sender<Event>) {
    let mut r = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line_capped(&mut r, &mut buf, MAX_LOG_LINE) {
            Ok(None) | Err(_) => break,
            Ok(Some(total)) => {
                let cut = total > buf.len();
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                let mut line = String::from_utf8_lossy(&buf).into_owned();
                if cut {
                    line.push_str(&format!(" [cut: the line had {total} bytes]"));
                }
                if events.send(Event::Log(index, line)).is_err() {
                    return;
                }
            }
        }
    }
    let _ = events.send(Event::StderrClosed(index));
}

/// Reads one line into `buf`, keeping at most `cap` bytes of it and
/// skipping the rest; answers the line's full length (with its newline), or
/// `None` at the end of the stream.
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<usize>> {
    let mut total = 0usize;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((total > 0).then_some(total));
        }
        let (used, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..used.min(room)]);
        total += used;
        r.consume(used);
        if done {
            return Ok(Some(total));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_stderr_lines_are_cut_and_counted() {
        use std::io::Cursor;
        type Lines<'a> = &'a [(&'a [u8], usize)];
        let cases: &[(&[u8], usize, Lines)] = &[
            (
                b"short\nline two\r\n",
                10,
                &[(b"short\n", 6), (b"line two\r\n", 10)],
            ),
            (b"abcdefghij\nxy", 4, &[(b"abcd", 11), (b"xy", 2)]),
            (b"", 4, &[]),
        ];
        for (input, cap, want) in cases {
            let mut r = std::io::BufReader::with_capacity(3, Cursor::new(input.to_vec()));
            let mut got = Vec::new();
            let mut buf = Vec::new();
            while let Some(total) = super::read_line_capped(&mut r, &mut buf, *cap).unwrap() {
                got.push((buf.clone(), total));
                buf.clear();
            }
            let want: Vec<(Vec<u8>, usize)> = want.iter().map(|(b, n)| (b.to_vec(), *n)).collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        }
    }

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
