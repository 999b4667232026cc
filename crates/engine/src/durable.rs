//! Crash-safe small files: written to a temporary name and renamed over the old one, so a
//! reader sees the old or the new contents, never a mix; [`write`] also flushes the file and
//! its directory to disk.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `data` atomically and durably.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    replace_with(path, data, true)
}

/// Replaces `path` with `data` atomically, without waiting for the disk: for files that only
/// matter while the machine is up (a container's run state, its bundle), where a reader must
/// never see half a file but a power loss makes them moot anyway.
pub fn replace(path: &Path, data: &[u8]) -> std::io::Result<()> {
    replace_with(path, data, false)
}

fn replace_with(path: &Path, data: &[u8], sync: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if sync {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
