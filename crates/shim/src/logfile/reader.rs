//! Reading the json-file log and its rotated files, once or following new entries.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{rotated, LogEntry, ReadOptions, Stream};
use crate::error::{IoContext, Result};

/// How often `follow` looks for new entries.
const POLL: Duration = Duration::from_millis(25);

#[derive(Deserialize)]
struct Line {
    log: String,
    stream: Stream,
    time: String,
}

/// Parses one line of a log file; lines that are not entries (a torn write after a crash) are
/// skipped rather than making the whole log unreadable.
fn parse(line: &[u8]) -> Option<LogEntry> {
    let line: Line = serde_json::from_slice(line).ok()?;
    Some(LogEntry {
        stream: line.stream,
        time: crate::time::parse(&line.time)?,
        partial: !line.log.ends_with('\n'),
        line: line.log.into_bytes(),
    })
}

/// An open log file and the bytes of a line not yet complete in it.
struct Tail {
    file: File,
    ino: u64,
    pending: Vec<u8>,
}

impl Tail {
    fn open(path: &Path) -> Result<Option<Tail>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at("open log file", path),
        };
        let ino = file.metadata().at("stat log file", path)?.ino();
        Ok(Some(Tail {
            file,
            ino,
            pending: Vec::new(),
        }))
    }

    /// Reads what was appended and returns the complete entries in it.
    fn entries(&mut self, path: &Path) -> Result<Vec<LogEntry>> {
        self.file
            .read_to_end(&mut self.pending)
            .at("read log file", path)?;
        let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let entries = self.pending[..end]
            .split(|&b| b == b'\n')
            .filter_map(parse)
            .collect();
        self.pending.drain(..=end);
        Ok(entries)
    }
}

/// Opens the live file and its rotated files, newest first. A rotation while opening moves the
/// files one further along; the one already opened shows up again and is skipped by its inode.
fn open_all(path: &Path, max_files: u32) -> Result<Vec<Tail>> {
    let mut tails: Vec<Tail> = Vec::new();
    for n in 0..max_files.max(1) {
        if let Some(tail) = Tail::open(&rotated(path, n))? {
            if tails.iter().all(|t| t.ino != tail.ino) {
                tails.push(tail);
            }
        }
    }
    Ok(tails)
}

/// Keeps the entries `opts` asks for, oldest first.
fn select(entries: Vec<LogEntry>, opts: &ReadOptions) -> Vec<LogEntry> {
    let mut kept: Vec<LogEntry> = entries.into_iter().filter(|e| opts.admits(e)).collect();
    if let Some(tail) = opts.tail {
        let skip = kept.len().saturating_sub(tail);
        kept.drain(..skip);
    }
    kept
}

/// Reads every entry of the log at `path` and its rotated files (`max_files` counting the live
/// one), oldest first, filtered by `opts`. A missing log is an empty one.
pub fn read(path: &Path, max_files: u32, opts: &ReadOptions) -> Result<Vec<LogEntry>> {
    let mut entries = Vec::new();
    for mut tail in open_all(path, max_files)?.into_iter().rev() {
        entries.extend(tail.entries(path)?);
    }
    Ok(select(entries, opts))
}

/// Emits the entries `opts` selects, then each new one as it is appended, also across rotations.
/// Returns once `keep_going()` answered false and everything written before was emitted, or as
/// soon as `emit` returns false.
pub fn follow(
    path: &Path,
    max_files: u32,
    opts: &ReadOptions,
    keep_going: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(LogEntry) -> bool,
) -> Result<()> {
    let mut tails = open_all(path, max_files)?;
    let mut entries = Vec::new();
    for tail in tails.iter_mut().rev() {
        entries.extend(tail.entries(path)?);
    }
    for entry in select(entries, opts) {
        if !emit(entry) {
            return Ok(());
        }
    }
    let live_opts = ReadOptions {
        tail: None,
        ..opts.clone()
    };
    let mut send = |entries: Vec<LogEntry>| {
        entries
            .into_iter()
            .filter(|e| live_opts.admits(e))
            .all(&mut *emit)
    };
    let mut current = tails.into_iter().next();
    loop {
        let last_round = !keep_going();
        let mut progressed;
        match current.as_mut() {
            Some(tail) => {
                let entries = tail.entries(path)?;
                progressed = !entries.is_empty();
                if !send(entries) {
                    return Ok(());
                }
                let live = inode(path);
                if live.is_some() && live != Some(tail.ino) {
                    // Rotated: what is left of this file was read above; go on with the next
                    // newer one, file by file, so that several rotations between polls lose
                    // nothing.
                    match next_after(path, max_files, tail.ino)? {
                        Some(next) => {
                            current = Some(next);
                            progressed = true;
                        }
                        // In the middle of a rotation: look again shortly.
                        None => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            }
            None => {
                current = Tail::open(path)?;
                progressed = current.is_some();
            }
        }
        if last_round && !progressed {
            return Ok(());
        }
        if !progressed {
            std::thread::sleep(POLL);
        }
    }
}

fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).map(|m| m.ino()).ok()
}

/// Opens the file written after the one with inode `old`: the one just below it in the rotated
/// names (the live file after `log.1`). `None` when a rotation moved files meanwhile (the caller
/// asks again). When `old` was deleted (a single-file log, or a reader that fell `max_files`
/// behind) the oldest file there is comes next.
fn next_after(path: &Path, max_files: u32, old: u64) -> Result<Option<Tail>> {
    let Some(k) = (1..max_files).find(|&n| inode(&rotated(path, n)) == Some(old)) else {
        for n in (0..max_files).rev() {
            if let Some(tail) = Tail::open(&rotated(path, n))? {
                return Ok(Some(tail));
            }
        }
        return Ok(None);
    };
    let next = Tail::open(&rotated(path, k - 1))?;
    // Files only move from a name to the next higher one, the older first: if `old` is still
    // at `k`, the file opened at `k - 1` is the one written after it.
    if inode(&rotated(path, k)) == Some(old) {
        Ok(next)
    } else {
        Ok(None)
    }
}
