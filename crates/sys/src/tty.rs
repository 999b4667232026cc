//! Terminal ioctls.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Makes `tty` the controlling terminal of the calling process, which must be a session leader.
pub fn set_controlling_terminal(tty: impl AsFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal from another session) and the
    // descriptor is borrowed, so it stays open for the duration of the call.
    let ret = unsafe { libc::ioctl(tty.as_fd().as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the window size of the terminal behind `tty`.
pub fn set_window_size(tty: impl AsFd, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct from the pointer, which points to an initialised
    // local that lives until the call returns.
    let ret = unsafe { libc::ioctl(tty.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the window size of the terminal behind `tty` as (rows, columns).
pub fn window_size(tty: impl AsFd) -> io::Result<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize struct to the pointer, which points to a local that
    // is large enough and lives until the call returns.
    let ret = unsafe { libc::ioctl(tty.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((size.ws_row, size.ws_col))
}
