//! Starting a worker process and the three threads that own its pipes: a
//! writer (stdin), a frame reader (stdout) and a log reader (stderr).
//!
//! The threads deliver to a [`Route`]: the run that holds the worker, under
//! the index the worker has in it. A worker kept warm between runs has no
//! route; what it writes then is dropped, and its threads live on until its
//! pipes close, so the next run that takes it only sets a new route.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Event, Outgoing, Worker};
use crate::contain::{self, Containment};
use crate::failure::Failure;
use crate::protocol;
use crate::spec::WorkerSpec;
use crate::sys;

/// Where a worker's pipe threads deliver their events.
#[derive(Clone, Default)]
pub(crate) struct Route(Arc<Mutex<Option<Target>>>);

/// A run's channel, and the worker's index in that run.
type Target = (usize, Sender<Event>);

impl Route {
    /// Delivers to `events` as worker number `index` from now on.
    pub fn set(&self, index: usize, events: Sender<Event>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((index, events));
    }

    /// Delivers nowhere from now on (the worker is idle).
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Sends the event `make` builds for the worker's current index; dropped
    /// when the worker has no run or its run stopped listening.
    fn send(&self, make: impl FnOnce(usize) -> Event) {
        let route = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((index, events)) = route.as_ref() {
            let _ = events.send(make(*index));
        }
    }
}

/// Starts a worker as number `index` of a run, with its pipe threads
/// delivering to `events`. `launch` starts the process (a warm pool starts
/// it on its own long-lived thread, because the kernel kills a worker when
/// the thread that started it ends).
pub(crate) fn spawn(
    spec: &WorkerSpec,
    script: &Path,
    index: usize,
    token: &str,
    events: Sender<Event>,
    launch: &dyn Fn(Command) -> std::io::Result<std::process::Child>,
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
    let mut child = launch(cmd).map_err(|e| Failure::RuntimeUnavailable {
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
    let route = Route::default();
    route.set(index, events);
    let thread = |name: &str| std::thread::Builder::new().name(format!("keel-worker{pid}-{name}"));
    let spawned = (|| {
        let r = route.clone();
        thread("stdin").spawn(move || write_loop(stdin, input_rx, r))?;
        let r = route.clone();
        thread("stdout").spawn(move || read_loop(stdout, r))?;
        let r = route.clone();
        thread("stderr").spawn(move || log_loop(stderr, r))?;
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
        token: token.to_string(),
        route,
        input: Some(input_tx),
        exit: None,
        reaped: false,
        stdout_closed: false,
        stderr_closed: false,
        ready: None,
        done: false,
        log_ended: false,
        in_flight: VecDeque::new(),
        tail: VecDeque::new(),
    })
}

/// Writes queued frames to the worker's stdin until the queue closes or the pipe breaks.
fn write_loop(stdin: ChildStdin, rx: Receiver<Outgoing>, route: Route) {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdin);
    for msg in rx {
        let (kind, seq, payload) = match msg {
            Outgoing::Frame(kind, seq, payload) => (kind, seq, payload),
            Outgoing::Batch(seq, batch) => match protocol::encode_batch(&batch) {
                Ok(bytes) => (protocol::BATCH, seq, bytes),
                Err(e) => {
                    route.send(|i| Event::WriteFailed(i, e.to_string()));
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
fn read_loop(stdout: std::process::ChildStdout, route: Route) {
    let mut r = BufReader::with_capacity(1 << 16, stdout);
    loop {
        match protocol::read_frame(&mut r) {
            Ok(Some(frame)) if frame.kind == protocol::OUTPUT => {
                let batches = protocol::decode_batches(frame.payload);
                route.send(|i| Event::Output(i, frame.seq, batches));
            }
            Ok(Some(frame)) => route.send(|i| Event::Frame(i, frame)),
            Ok(None) => {
                route.send(|i| Event::StdoutClosed(i, None));
                return;
            }
            Err(e) => {
                route.send(|i| Event::StdoutClosed(i, Some(e.to_string())));
                return;
            }
        }
    }
}

/// The stderr line a worker writes at the end of each run, after
/// everything else it wrote (see `keel_worker.py`).
const END_OF_RUN: &[u8] = b"\x1ekeel-end-of-run";

/// The longest line of a worker's stderr Keel keeps: longer ones are cut
/// here, with a note, so a model printing without newlines cannot make Keel
/// hold its whole output in memory.
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// Splits the worker's stderr into lines.
fn log_loop(stderr: std::process::ChildStderr, route: Route) {
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
                if buf == END_OF_RUN {
                    route.send(Event::EndOfRun);
                    continue;
                }
                let mut line = String::from_utf8_lossy(&buf).into_owned();
                if cut {
                    line.push_str(&format!(" [cut: the line had {total} bytes]"));
                }
                route.send(|i| Event::Log(i, line));
            }
        }
    }
    route.send(Event::StderrClosed);
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
}
