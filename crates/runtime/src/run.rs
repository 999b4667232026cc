//! `run`: create and start in one go, then (in the foreground) relay signals and the terminal
//! until the container exits, clean it up, and return its exit status.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::create::{self, CreateOptions, Created, StartMode};
use crate::error::{Context, Error, Result};
use crate::ops;
use crate::state::StateRoot;
use crate::sync::Message;

/// Runs a container. Detached, returns 0 once it started; otherwise waits and returns its exit
/// code (128 + signal number if it was killed by a signal).
pub fn run(root: &StateRoot, opts: &CreateOptions, detach: bool) -> Result<i32> {
    let foreground_tty = !detach && opts.console_socket.is_none();
    let created = create::create(root, opts, StartMode::Run { foreground_tty })?;
    let record = created.record;
    // Signals arriving from here on are queued for the loop below instead of killing us.
    let signals = if detach { None } else { Some(block_signals()?) };
    created.channel.send(&Message::Start, None)?;
    match created.channel.recv() {
        Ok(None) => {}
        Ok(Some((Message::Failed(text), _))) => {
            let _ = waitpid(Pid::from_raw(record.pid), None);
            let _ = ops::destroy(root, &record);
            return Err(Error::Init(text));
        }
        Ok(Some((other, _))) => return Err(Error::Init(format!("unexpected message {other:?}"))),
        Err(e) => return Err(e),
    }
    drop(created.channel);
    if let Err(e) = ops::run_poststart(&record) {
        eprintln!("berth-runtime: {e}");
    }
    let Some(signals) = signals else {
        return Ok(0);
    };
    let pid = Pid::from_raw(record.pid);
    let status = wait_foreground(pid, &signals, created.pty_master)?;
    ops::destroy(root, &record)?;
    Ok(status)
}

/// Tells the init of a container made by `create` with `StartMode::Run` to exec the user's
/// process, and waits until it has (its end of the channel closes on exec). Used by a monitor
/// (berth-shim) that holds the container's stdio and waits for it itself.
pub fn start_created(created: &Created) -> Result<()> {
    created.channel.send(&Message::Start, None)?;
    match created.channel.recv()? {
        None => Ok(()),
        Some((Message::Failed(text), _)) => Err(Error::Init(text)),
        Some((other, _)) => Err(Error::Init(format!("unexpected message {other:?}"))),
    }
}

pub(crate) fn block_signals() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .context(|| "block signals")?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context(|| "signalfd")
}

/// Puts the caller's terminal into raw mode for the duration of a proxied session.
struct RawTerminal(Option<Termios>);

impl RawTerminal {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawTerminal(None);
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawTerminal(Some(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// Copies what is readable from `from` to `to`; false at end of input.
fn pump(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) => false,
        Ok(n) => {
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                match nix::unistd::write(to, rest) {
                    Ok(w) => rest = &rest[w..],
                    Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => continue,
                    Err(_) => return false,
                }
            }
            true
        }
        Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

pub(crate) fn wait_foreground(
    pid: Pid,
    signals: &SignalFd,
    master: Option<OwnedFd>,
) -> Result<i32> {
    let _raw = master.as_ref().map(|_| RawTerminal::enter());
    if let Some(m) = &master {
        if let Ok((rows, cols)) = berth_sys::window_size(std::io::stdin()) {
            let _ = berth_sys::set_window_size(m, rows, cols);
        }
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = master.is_some();
    let mut exit = None;
    loop {
        if let Some(code) = exit {
            // Drain what the program wrote before it exited.
            if let Some(m) = &master {
                let _ = nix::fcntl::fcntl(
                    m,
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                while pump(m.as_fd(), stdout.as_fd()) {}
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context(|| "poll"),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, master_ready, stdin_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if let (true, Some(m)) = (master_ready, &master) {
            pump(m.as_fd(), stdout.as_fd());
        }
        if let (true, Some(m)) = (stdin_ready, &master) {
            stdin_open = pump(stdin.as_fd(), m.as_fd());
        }
        if sig_ready {
            while let Ok(Some(info)) = signals.read_signal() {
                let signal = Signal::try_from(info.ssi_signo as i32).ok();
                match signal {
                    Some(Signal::SIGCHLD) => {}
                    Some(Signal::SIGWINCH) => {
                        if let (Some(m), Ok((rows, cols))) =
                            (&master, berth_sys::window_size(std::io::stdin()))
                        {
                            let _ = berth_sys::set_window_size(m, rows, cols);
                        }
                    }
                    Some(other) => {
                        let _ = nix::sys::signal::kill(pid, other);
                    }
                    None => {}
                }
            }
            loop {
                match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => break,
                    Ok(status) => {
                        if let Some(code) = exit_code(status) {
                            exit = Some(code);
                            break;
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e).context(|| "wait for the container"),
                }
            }
        }
    }
}
