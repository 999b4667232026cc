//! Process descriptors (`pidfd_open(2)`): a handle on one process that a recycled pid can never
//! be mistaken for.

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

/// Opens a descriptor referring to process `pid` (close-on-exec).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and a flags word and returns a new descriptor or -1; it
    // touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this descriptor and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// Whether the process behind `pidfd` is still running: a pidfd polls readable once the process
/// has exited.
pub fn pidfd_alive(pidfd: impl AsFd) -> io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, PollTimeout::ZERO).map_err(io::Error::from)?;
    Ok(ready == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pidfd_tells_a_running_process_from_an_exited_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let fd = pidfd_open(child.id() as i32).unwrap();
        assert!(pidfd_alive(&fd).unwrap());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!pidfd_alive(&fd).unwrap());
    }
}
