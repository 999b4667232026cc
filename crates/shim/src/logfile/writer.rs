//! Appending entries to the json-file log and rotating it by size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::{rotated, Stream};
use crate::error::{IoContext, Result};

/// The live log file and its rotation policy.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    file: File,
    size: u64,
}

#[derive(Serialize)]
struct Line<'a> {
    log: &'a str,
    stream: Stream,
    time: &'a str,
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .at("open log file", path)
}

impl LogWriter {
    /// Opens (creating) `path` for appending. `max_size` 0 means never rotate; `max_files` counts
    /// the live file, so 3 keeps `log`, `log.1` and `log.2`.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> Result<LogWriter> {
        let file = open_append(path)?;
        let size = file.metadata().at("stat log file", path)?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            max_size,
            max_files: max_files.max(1),
            file,
            size,
        })
    }

    /// Appends one entry as one whole line, rotating first if it would not fit.
    pub fn write(&mut self, stream: Stream, time: SystemTime, text: &[u8]) -> Result<()> {
        let text = String::from_utf8_lossy(text);
        let time = crate::time::format(time);
        let mut line = serde_json::to_vec(&Line {
            log: &text,
            stream,
            time: &time,
        })
        .unwrap_or_default();
        line.push(b'\n');
        if self.max_size > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        // One write(2) on an O_APPEND file: a reader sees the line whole or not yet.
        self.file
            .write_all(&line)
            .at("append to log file", &self.path)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Shifts `log.N-1` → `log.N` … `log` → `log.1` (dropping the oldest) and starts a new file.
    fn rotate(&mut self) -> Result<()> {
        let oldest = rotated(&self.path, self.max_files - 1);
        match std::fs::remove_file(&oldest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).at("remove rotated log file", &oldest)
            }
            _ => {}
        }
        for n in (1..self.max_files.saturating_sub(1)).rev() {
            let from = rotated(&self.path, n);
            match std::fs::rename(&from, rotated(&self.path, n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).at("rotate log file", &from)
                }
                _ => {}
            }
        }
        // With a single file the live one is the oldest, already removed above.
        if self.max_files > 1 {
            std::fs::rename(&self.path, rotated(&self.path, 1))
                .at("rotate log file", &self.path)?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}
