//! Container logs in Docker's json-file format: one JSON object per line with the text, its
//! stream and an RFC 3339 time; rotated by size into `log.1` … `log.N`. The shim writes them; the
//! daemon reads and follows them with the same code.

mod lines;
mod reader;
mod writer;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use crate::protocol::Stream;
pub(crate) use lines::Lines;
pub use reader::{follow, read};
pub use writer::LogWriter;

/// The longest piece of a line one entry holds; longer lines become several partial entries.
pub const MAX_LINE: usize = 16 * 1024;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The stream the text came from (stdout for a tty).
    pub stream: Stream,
    /// When the shim read the text.
    pub time: SystemTime,
    /// The text exactly as logged: ends with `\n` unless `partial`.
    pub line: Vec<u8>,
    /// A piece of a longer line (or output that ended without a newline).
    pub partial: bool,
}

/// Which entries to return.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Only the last this many entries (of those in the time range).
    pub tail: Option<usize>,
    /// Only entries logged at or after this time.
    pub since: Option<SystemTime>,
    /// Only entries logged at or before this time.
    pub until: Option<SystemTime>,
}

impl ReadOptions {
    fn admits(&self, entry: &LogEntry) -> bool {
        self.since.is_none_or(|s| entry.time >= s) && self.until.is_none_or(|u| entry.time <= u)
    }
}

/// The name of the `n`th rotated file (`n` = 0 is the live file itself).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests;
