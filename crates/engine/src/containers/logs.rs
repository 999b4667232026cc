//! `GET /containers/{id}/logs`: the container's json-file log, read (and followed) with the
//! shim's reader, so the format has one reader and one writer.

use std::time::SystemTime;

use berth_shim::logfile::{self, LogEntry, ReadOptions};
use tokio::sync::mpsc;

use super::ContainerService;
use crate::error::{Error, Result};

/// What the client asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl ContainerService {
    /// Whether the container runs with a terminal (its log is then one raw stream).
    pub fn has_tty(&self, key: &str) -> Result<bool> {
        Ok(self.find(key)?.record().config.tty)
    }

    /// Streams the log entries `options` selects; with `follow`, also those written later,
    /// until the container stops (or the receiver is dropped).
    pub fn logs(&self, key: &str, options: LogOptions) -> Result<mpsc::Receiver<LogEntry>> {
        let entry = self.find(key)?;
        let log = entry.record().log.clone();
        let changes = entry.changes.subscribe();
        let (tx, rx) = mpsc::channel(256);
        let read = ReadOptions {
            tail: options.tail,
            since: options.since,
            until: options.until,
        };
        let follow = options.follow && options.until.is_none_or(|u| u > SystemTime::now());
        tokio::task::spawn_blocking(move || {
            let closed = tx.clone();
            let mut emit = |entry: LogEntry| tx.blocking_send(entry).is_ok();
            let result = if follow {
                // Until the container stops or the client (or the daemon) goes away.
                let keep_going = || changes.borrow().live && !closed.is_closed();
                logfile::follow(&log.path, log.max_files, &read, &keep_going, &mut emit)
            } else {
                logfile::read(&log.path, log.max_files, &read).map(|entries| {
                    for entry in entries {
                        if !emit(entry) {
                            break;
                        }
                    }
                })
            };
            if let Err(e) = result {
                eprintln!("berthd: reading {}: {e}", log.path.display());
            }
        });
        Ok(rx)
    }
}

/// `--since`/`--until` as the docker CLI sends them: Unix seconds with an optional fraction.
pub fn parse_timestamp(text: &str) -> Result<Option<SystemTime>> {
    if text.is_empty() || text == "0" {
        return Ok(None);
    }
    let (seconds, nanos) = text.split_once('.').unwrap_or((text, "0"));
    let seconds: u64 = seconds.parse().map_err(|_| Error::InvalidParameter {
        what: "timestamp".into(),
        reason: format!("{text:?} is not Unix seconds"),
    })?;
    let digits = nanos.len().min(9);
    let nanos: u32 = nanos[..digits].parse::<u32>().unwrap_or(0) * 10u32.pow((9 - digits) as u32);
    Ok(Some(
        SystemTime::UNIX_EPOCH + std::time::Duration::new(seconds, nanos),
    ))
}
