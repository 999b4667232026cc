//! The shim process itself: creates the container, reports its pid, serves the socket, and on
//! the container's exit drains its output, records the exit and cleans up.

mod backend;
mod external;
mod oom;
mod output;
mod serve;
mod stdio;

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use berth_runtime::state::StateRoot;
use berth_runtime::{CreateOptions, StartMode};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::json;

pub use crate::options::Options;

use crate::exit::{write_exit_file, ExitStatus};
use crate::logfile::{LogWriter, Stream};
use backend::{Backend, Target};
use external::External;
use output::{spawn_pump, StdinSink, Subscribers};
use serve::{Life, Shared};

/// How long output may keep flowing after the init exited before the rest is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long the shim waits for clients to take the end of the output and the exit record.
const FAREWELL: Duration = Duration::from_secs(5);

/// A created container and what the shim holds for it.
struct Prepared {
    target: Target,
    backend: Backend,
    listener: UnixListener,
    log: LogWriter,
    /// The container's stdout and stderr (pipes), or the pty master as stdout.
    outputs: Vec<(File, Stream)>,
    stdin: Option<File>,
    terminal: Option<File>,
}

/// Runs the shim; returns its exit code. Must be called before any thread is started: the
/// runtime forks the container's init from this process.
pub fn run(opts: &Options) -> i32 {
    let report = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from);
    let Ok(mut report) = report else {
        return 1;
    };
    match absolute(opts).and_then(|opts| prepare(&opts).map(|p| (opts, p))) {
        Err(message) => {
            let _ = report.write_all(format!("{}\n", json!({ "error": message })).as_bytes());
            1
        }
        Ok((opts, prepared)) => {
            let pid = prepared.target.pid;
            // One write: whoever reads the report sees the line whole.
            let _ = report.write_all(format!("{}\n", json!({ "pid": pid })).as_bytes());
            drop(report);
            monitor(&opts, prepared)
        }
    }
}

/// The options with every path made absolute, so that the shim can leave the daemon's working
/// directory (and not keep a file system it is on busy).
fn absolute(opts: &Options) -> Result<Options, String> {
    let abs = |p: &PathBuf| {
        std::path::absolute(p).map_err(|e| format!("make {} absolute: {e}", p.display()))
    };
    let opts = Options {
        bundle: abs(&opts.bundle)?,
        runtime_root: abs(&opts.runtime_root)?,
        // A bare name is looked up on PATH; a path with a slash must survive the chdir.
        runtime: match &opts.runtime {
            Some(path) if path.components().count() > 1 => Some(abs(path)?),
            other => other.clone(),
        },
        socket: abs(&opts.socket)?,
        exit_file: abs(&opts.exit_file)?,
        log: abs(&opts.log)?,
        ..opts.clone()
    };
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    Ok(opts)
}

/// Steps 1–3: own session, socket, stdio, log, and the created container.
fn prepare(opts: &Options) -> Result<Prepared, String> {
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    // 0600 from the start: no window in which another user could connect.
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(&opts.socket);
    nix::sys::stat::umask(umask);
    let listener = listener.map_err(|e| format!("bind socket {}: {e}", opts.socket.display()))?;
    let remove_socket = || {
        let _ = std::fs::remove_file(&opts.socket);
    };
    let created = LogWriter::open(&opts.log, opts.log_max_size, opts.log_max_files)
        .map_err(|e| e.to_string())
        .and_then(|log| create(opts).map(|c| (log, c)));
    let (log, (target, backend, pipes, master)) = created.inspect_err(|_| remove_socket())?;
    let mut terminal = None;
    if opts.tty {
        let Some(master) = master else {
            backend.abandon(&target);
            remove_socket();
            return Err(format!(
                "container {}: --tty given but the bundle's process.terminal is not true",
                opts.id
            ));
        };
        terminal = Some(File::from(master));
    }
    if let (Some(master), Some((height, width))) = (&terminal, opts.size) {
        let _ = berth_sys::set_window_size(master, height, width);
    }
    let (outputs, stdin) = match streams(terminal.as_ref(), pipes, opts.stdin) {
        Ok(streams) => streams,
        Err(e) => {
            backend.abandon(&target);
            remove_socket();
            return Err(e);
        }
    };
    Ok(Prepared {
        target,
        backend,
        listener,
        log,
        outputs,
        stdin,
        terminal,
    })
}

/// The container's output streams and its stdin as the shim reads and writes them.
type Streams = (Vec<(File, Stream)>, Option<File>);

fn streams(terminal: Option<&File>, pipes: stdio::Pipes, stdin: bool) -> Result<Streams, String> {
    let Some(master) = terminal else {
        let file = |p: OwnedFd| File::from(p);
        let outputs = [
            (pipes.stdout.map(OwnedFd::from), Stream::Stdout),
            (pipes.stderr.map(OwnedFd::from), Stream::Stderr),
        ];
        let outputs = outputs
            .into_iter()
            .filter_map(|(p, s)| p.map(|p| (file(p), s)))
            .collect();
        return Ok((outputs, pipes.stdin.map(|w| file(OwnedFd::from(w)))));
    };
    let clone = || {
        master
            .try_clone()
            .map_err(|e| format!("duplicate the pty master: {e}"))
    };
    let input = if stdin { Some(clone()?) } else { None };
    Ok((vec![(clone()?, Stream::Stdout)], input))
}

/// The created container, the runtime behind it, and its pty master (with a terminal).
type Creation = (Target, Backend, Option<OwnedFd>);

/// Creates the container with the shim's descriptors 0–2 as its stdio.
fn create(opts: &Options) -> Result<(Target, Backend, stdio::Pipes, Option<OwnedFd>), String> {
    let (pipes, saved) = stdio::install(opts.tty, opts.stdin)?;
    let made = match &opts.runtime {
        None => create_in_process(opts),
        Some(binary) => create_external(opts, binary),
    };
    stdio::restore(saved);
    let (target, backend, master) = made?;
    Ok((target, backend, pipes, master))
}

fn create_in_process(opts: &Options) -> Result<Creation, String> {
    let root = StateRoot::open(&opts.runtime_root).map_err(|e| e.to_string())?;
    let mut created = berth_runtime::create(
        &root,
        &CreateOptions {
            id: opts.id.clone(),
            bundle: opts.bundle.clone(),
            ..CreateOptions::default()
        },
        StartMode::Run {
            foreground_tty: opts.tty,
        },
    )
    .map_err(|e| format!("create container {}: {e}", opts.id))?;
    let record = created.record.clone();
    let target = Target {
        id: opts.id.clone(),
        pid: record.pid,
        cgroup: record.cgroup.clone(),
    };
    let master = created.pty_master.take();
    let backend = Backend::Library {
        root,
        record: Box::new(record),
        created: Mutex::new(Some(Box::new(created))),
    };
    Ok((target, backend, master))
}

fn create_external(opts: &Options, binary: &std::path::Path) -> Result<Creation, String> {
    let runtime = External::new(binary, &opts.runtime_root, &opts.id, &opts.bundle);
    let console_socket = opts.tty.then(|| console_socket(&opts.socket));
    let made = runtime.create(&opts.bundle, console_socket.as_deref())?;
    let target = Target {
        id: opts.id.clone(),
        pid: made.pid,
        cgroup: made.cgroup,
    };
    let backend = Backend::External {
        runtime,
        started: Mutex::new(false),
    };
    Ok((target, backend, made.pty_master))
}

/// Where an external runtime sends a tty container's pty master: beside the shim's socket.
pub fn console_socket(socket: &std::path::Path) -> PathBuf {
    let mut path = socket.as_os_str().to_owned();
    path.push(".tty");
    PathBuf::from(path)
}

/// Step 4: serve the socket until the container exited, then record it and clean up.
fn monitor(opts: &Options, prepared: Prepared) -> i32 {
    let Prepared {
        target,
        backend,
        listener,
        log,
        outputs,
        stdin,
        terminal,
    } = prepared;
    let subscribers = Arc::new(Subscribers::new(opts.tty));
    let shared = Arc::new(Shared {
        target,
        backend,
        stdin_once: opts.stdin_once,
        terminal,
        life: Mutex::new(Life::default()),
        changed: Condvar::new(),
        subscribers: subscribers.clone(),
        stdin: Arc::new(StdinSink::new(stdin, opts.tty)),
    });
    let log = Arc::new(Mutex::new(log));
    let pumps: Vec<JoinHandle<()>> = outputs
        .into_iter()
        .map(|(file, stream)| spawn_pump(file, stream, log.clone(), subscribers.clone()))
        .collect();
    {
        let shared = shared.clone();
        std::thread::spawn(move || serve::serve(listener, shared));
    }

    let exit_code = reap(&shared);
    let finished_at = crate::time::format(SystemTime::now());
    drain(&pumps, &shared.target.cgroup);
    subscribers.close(Instant::now() + FAREWELL);
    let exit = ExitStatus {
        exit_code,
        finished_at,
        oom_killed: oom::oom_killed(&shared.target.cgroup),
    };
    if let Err(e) = write_exit_file(&opts.exit_file, &exit) {
        eprintln!("berth-shim: container {}: {e}", opts.id);
    }
    {
        let mut life = shared.life();
        life.exit = Some(exit);
        shared.changed.notify_all();
    }
    // No new connections; those already accepted (every `wait`) get their answer first.
    let _ = std::fs::remove_file(&opts.socket);
    {
        let deadline = Instant::now() + FAREWELL;
        let mut life = shared.life();
        while life.busy > 0 && Instant::now() < deadline {
            life = shared
                .changed
                .wait_timeout(life, Duration::from_millis(50))
                .map(|(l, _)| l)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
    shared.backend.destroy(&opts.id);
    0
}

/// Waits for the init to exit and reaps it under the lock `kill` takes, so that a signal never
/// reaches a process that reused its pid. Returns the exit code (128 + signal if killed).
fn reap(shared: &Shared) -> i32 {
    let pid = Pid::from_raw(shared.target.pid);
    while let Err(nix::errno::Errno::EINTR) =
        waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {}
    let mut life = shared.life();
    let code = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, signal, _)) => break 128 + signal as i32,
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            // Not our child any more (cannot happen: the shim is its parent): unknown status.
            Err(_) => break 255,
        }
    };
    life.reaped = Some(code);
    shared.changed.notify_all();
    code
}

/// Lets the output pumps reach end-of-file: the container's processes die with its init (own
/// pid namespace); any still holding the streams after a grace period are killed.
fn drain(pumps: &[JoinHandle<()>], cgroup: &berth_runtime::cgroups::CgroupPath) {
    let done = |deadline: Instant| {
        while Instant::now() < deadline {
            if pumps.iter().all(|p| p.is_finished()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    };
    if !done(Instant::now() + DRAIN_GRACE) {
        let _ = cgroup.signal_all(Signal::SIGKILL);
        done(Instant::now() + DRAIN_GRACE);
    }
}
