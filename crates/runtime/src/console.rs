//! Terminals: creating the container's pty inside its own devpts, handing the master to whoever
//! asked (a `--console-socket` listener or the foreground `run`), and making the slave the
//! process's controlling terminal.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, setsid};

use crate::error::{Context, Error, Result};

/// Connects to the `--console-socket` before the container's mount namespace hides the path.
pub fn connect_socket(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).context(|| format!("connect to console socket {}", path.display()))
}

/// Sends the pty master over the console socket, as runc does: the payload names the pty (a
/// message needs at least one byte of data for its descriptor to be delivered).
pub fn send_master(socket: &impl AsFd, master: &OwnedFd) -> Result<()> {
    let name = std::fs::read_link(format!("/proc/self/fd/{}", master.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/dev/ptmx".into());
    let fds = [master.as_raw_fd()];
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        socket.as_fd().as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context(|| "send the pty master over the console socket")?;
    Ok(())
}

/// Opens a new pty in the container's /dev/pts (after pivot_root) and returns the master;
/// the slave becomes stdin, stdout, stderr and the controlling terminal of this new session.
pub fn create_pty(size: Option<(u16, u16)>) -> Result<OwnedFd> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context(|| "open /dev/ptmx")?;
    grantpt(&master).context(|| "grantpt")?;
    unlockpt(&master).context(|| "unlockpt")?;
    let name = ptsname_r(&master).context(|| "ptsname")?;
    let slave = open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open {name}"))?;
    if let Some((rows, cols)) = size {
        berth_sys::set_window_size(&slave, rows, cols).context(|| "set console size")?;
    }
    setsid().context(|| "setsid")?;
    berth_sys::set_controlling_terminal(&slave).context(|| "set controlling terminal")?;
    dup2_stdin(&slave).context(|| "dup pty to stdin")?;
    dup2_stdout(&slave).context(|| "dup pty to stdout")?;
    dup2_stderr(&slave).context(|| "dup pty to stderr")?;
    let raw = master.as_raw_fd();
    let owned = berth_sys::duplicate_raw_fd(raw).map_err(|e| Error::Io {
        context: "duplicate pty master".into(),
        source: e,
    })?;
    drop(master);
    Ok(owned)
}
