//! The exit record: written atomically by the shim when the container exits, returned by `wait`,
//! and read by the daemon after a restart.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// How and when a container exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, or 128 + the signal number when a signal killed it.
    pub exit_code: i32,
    /// RFC 3339 in UTC with nanoseconds.
    pub finished_at: String,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
}

/// Reads an exit file; `None` when there is none (the container has not exited, or its shim
/// died before recording it).
pub fn read_exit_file(path: &Path) -> Result<Option<ExitStatus>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at("read exit file", path),
    };
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|e| Error::ExitFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Writes the exit file so that it survives a crash whole or not at all: a temporary file in the
/// same directory, fsync, rename, fsync of the directory.
pub(crate) fn write_exit_file(path: &Path, status: &ExitStatus) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut json = serde_json::to_vec(status).unwrap_or_default();
    json.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .at("create", &tmp)?;
    file.write_all(&json).at("write", &tmp)?;
    file.sync_all().at("fsync", &tmp)?;
    drop(file);
    std::fs::rename(&tmp, path).at("rename into place", path)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .at("fsync directory", dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_file_round_trips_and_absence_is_none() {
        let dir = berth_testkit::TempDir::new("shim-exit-file");
        let path = dir.join("exit.json");
        assert_eq!(read_exit_file(&path).unwrap(), None);
        let status = ExitStatus {
            exit_code: 137,
            finished_at: "2026-11-28T16:40:00.123456789Z".into(),
            oom_killed: false,
        };
        write_exit_file(&path, &status).unwrap();
        assert_eq!(read_exit_file(&path).unwrap(), Some(status));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"exit_code\":137,\"finished_at\":\"2026-11-28T16:40:00.123456789Z\",\"oom_killed\":false}\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_garbled_exit_file_is_an_error_naming_it() {
        let dir = berth_testkit::TempDir::new("shim-exit-garbled");
        let path = dir.join("exit.json");
        std::fs::write(&path, "{\"exit_co").unwrap();
        let err = read_exit_file(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
