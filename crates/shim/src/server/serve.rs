//! Answering requests on the shim's socket.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::backend::{Backend, Target};
use super::output::{StdinSink, Subscribers};
use crate::exit::ExitStatus;
use crate::protocol::{error_line, Request, State, Status, OK};

/// The longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the container is in its life.
#[derive(Default)]
pub(crate) struct Life {
    pub(crate) started: bool,
    /// The exit code, once the shim reaped the init (its pid may be reused from then on).
    pub(crate) reaped: Option<i32>,
    /// The exit record, once output is drained and the exit file written.
    pub(crate) exit: Option<ExitStatus>,
    /// Connections whose request is being handled (a `wait` until it is answered).
    pub(crate) busy: usize,
}

/// What the request handlers share with the shim's main thread.
pub(crate) struct Shared {
    pub(crate) target: Target,
    pub(crate) backend: Backend,
    pub(crate) stdin_once: bool,
    /// The pty master, for resizing.
    pub(crate) terminal: Option<File>,
    pub(crate) life: Mutex<Life>,
    /// Signalled whenever `life` changes.
    pub(crate) changed: Condvar,
    pub(crate) subscribers: Arc<Subscribers>,
    pub(crate) stdin: Arc<StdinSink>,
}

impl Shared {
    pub(crate) fn life(&self) -> MutexGuard<'_, Life> {
        self.life.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Accepts connections forever, one thread each.
pub(crate) fn serve(listener: UnixListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => {
                shared.life().busy += 1;
                let shared = shared.clone();
                std::thread::spawn(move || {
                    handle(conn, &shared);
                    shared.life().busy -= 1;
                    shared.changed.notify_all();
                });
            }
            // Out of descriptors, most likely: let some connections finish.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads the request line byte by byte, so that what follows (attach input) stays unread.
fn read_request(conn: &mut UnixStream) -> Option<Vec<u8>> {
    let _ = conn.set_read_timeout(Some(REQUEST_TIMEOUT));
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        match conn.read(&mut byte) {
            Ok(0) if line.is_empty() => return None,
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if line.len() > MAX_REQUEST {
            break;
        }
    }
    let _ = conn.set_read_timeout(None);
    Some(line)
}

fn reply(conn: &mut UnixStream, line: &str) {
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    // A client that went away is not the shim's problem (SIGPIPE is ignored).
    let _ = conn.write_all(&bytes);
}

fn handle(mut conn: UnixStream, shared: &Arc<Shared>) {
    let Some(line) = read_request(&mut conn) else {
        return;
    };
    let request: Request = match serde_json::from_slice(&line) {
        Ok(r) => r,
        Err(e) => {
            let text = String::from_utf8_lossy(&line);
            let shown: String = text.chars().take(200).collect();
            reply(
                &mut conn,
                &error_line(&format!("bad request {shown:?}: {e}")),
            );
            return;
        }
    };
    let answer = match request {
        Request::Attach {
            stdin,
            stdout,
            stderr,
        } => {
            // Subscribed before the client hears OK (the first thing its connection carries):
            // a start it asks for next cannot make output it misses.
            let input = stdin.then(|| conn.try_clone().ok()).flatten();
            shared
                .subscribers
                .add(conn, stdout, stderr, format!("{OK}\n").into_bytes());
            if let Some(input) = input {
                shared.stdin.feed_from(input, shared.stdin_once);
            }
            return;
        }
        Request::Wait => Ok(wait(shared)),
        Request::Start => start(shared).map(|()| OK.to_string()),
        Request::Kill { signal, all } => signal_container(shared, signal, all).map(|()| OK.into()),
        Request::Resize { height, width } => resize(shared, height, width).map(|()| OK.into()),
        Request::State => Ok(state(shared)),
    };
    match answer {
        Ok(text) => reply(&mut conn, &text),
        Err(message) => reply(&mut conn, &error_line(&message)),
    }
}

/// Blocks until the exit record exists.
fn wait(shared: &Shared) -> String {
    let mut life = shared.life();
    while life.exit.is_none() {
        life = shared.changed.wait(life).unwrap_or_else(|e| e.into_inner());
    }
    serde_json::to_string(&life.exit).unwrap_or_default()
}

fn start(shared: &Shared) -> Result<(), String> {
    let id = &shared.target.id;
    shared
        .backend
        .start(id, || shared.life().reaped.is_some())?;
    shared.life().started = true;
    shared.changed.notify_all();
    Ok(())
}

fn signal_container(shared: &Shared, number: i32, all: bool) -> Result<(), String> {
    let id = &shared.target.id;
    let signal = Signal::try_from(number).map_err(|_| format!("invalid signal {number}"))?;
    // Held while signalling: the main thread reaps under this lock, so the pid is still ours.
    let life = shared.life();
    if life.reaped.is_some() {
        return Err(format!("container {id} is not running"));
    }
    if all {
        shared
            .target
            .cgroup
            .signal_all(signal)
            .map_err(|e| format!("signal {signal} to container {id}: {e}"))
    } else {
        kill(Pid::from_raw(shared.target.pid), signal)
            .map_err(|e| format!("signal {signal} to container {id}: {e}"))
    }
}

fn resize(shared: &Shared, height: u16, width: u16) -> Result<(), String> {
    let id = &shared.target.id;
    let terminal = shared
        .terminal
        .as_ref()
        .ok_or_else(|| format!("container {id} has no terminal to resize"))?;
    berth_sys::set_window_size(terminal, height, width)
        .map_err(|e| format!("resize the terminal of container {id}: {e}"))
}

fn state(shared: &Shared) -> String {
    let life = shared.life();
    let status = match (life.reaped, life.started) {
        (Some(_), _) => Status::Exited,
        (None, true) => Status::Running,
        (None, false) => Status::Created,
    };
    let state = State {
        pid: shared.target.pid,
        status,
        exit_code: life.reaped,
    };
    serde_json::to_string(&state).unwrap_or_default()
}
