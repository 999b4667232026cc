//! Small file-system helpers: crash-safe writes and reading single values.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{Context, Result};

/// Replaces `path` with `data` so that readers see either the old or the new content, even if
/// the writer is killed midway: a temporary file in the same directory is written and renamed
/// over `path`. There is no fsync: everything written here lives in a runtime directory
/// (`/run/...`) that a reboot makes meaningless anyway, and on a disk the fsyncs cost most of a
/// millisecond per container.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        File::create(&tmp)?.write_all(data)?;
        fs::rename(&tmp, path)
    };
    let result = write().context(|| format!("write {}", path.display()));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content() {
        let dir = std::env::temp_dir().join(format!("berth-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
