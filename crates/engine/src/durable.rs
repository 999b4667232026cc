//! Crash-safe small files: written to a temporary name, flushed, renamed over the old one, and
//! the directory flushed, so a reader sees the old or the new contents, never a mix.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `data` atomically and durably.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
