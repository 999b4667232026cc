//! The local terminal for `-t`: raw mode while attached, and its size for the container's tty.

use std::io::{stdin, stdout, IsTerminal};

use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, OptionalActions, Termios};

/// Raw mode on stdin until dropped (the previous settings come back even on an error path).
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin in raw mode when it is a terminal; `None` otherwise.
    pub fn enter() -> Option<RawMode> {
        let input = stdin();
        if !input.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&input).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&input, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The terminal's `(height, width)` when stdout is one.
pub fn size() -> Option<(u16, u16)> {
    let out = stdout();
    if !out.is_terminal() {
        return None;
    }
    let size = tcgetwinsize(&out).ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}
