//! `berth logs c | head -1`: once the reader of stdout goes away, the next write fails. The
//! docker CLI then dies of SIGPIPE without a word; berth ends as quietly, with the status a
//! shell shows for that, instead of reporting a broken pipe.

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The status a shell shows for a process SIGPIPE ended (128 + 13).
pub const SIGPIPE_STATUS: i32 = 141;

/// Whether stdout is a pipe (or socket) whose reading end is closed.
pub fn reader_gone() -> bool {
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
    let ready = poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0);
    ready
        && fds[0]
            .revents()
            .is_some_and(|events| events.contains(PollFlags::POLLERR))
}
