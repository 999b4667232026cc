//! A directory under the system temp dir; what is mounted under it is detached and it is
//! removed on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory named after the test; on drop, every mount under it is detached
/// (so removal cannot reach through one) and it is removed with its content.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/berth-<name>-<pid>-<n>`, empty.
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "berth-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let left = crate::mounts::unmount_all_under(&self.0);
        if left.is_empty() {
            let _ = fs::remove_dir_all(&self.0);
        } else {
            eprintln!(
                "left {} in place: still mounted: {left:?}",
                self.0.display()
            );
        }
    }
}
