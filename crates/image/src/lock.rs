//! The data root's lock: writers (pull, load, commit, unpacking) hold it shared while they add
//! blobs and snapshots that nothing references yet; garbage collection holds it exclusive, so
//! it never removes what a writer is about to reference. It is an `flock` on
//! `<root>/gc.lock`: the kernel releases it when its holder dies, even by SIGKILL.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Context, Error, Result};

/// A held lock on a data root; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DataLock {
    _lock: Flock<File>,
}

/// The lock file of the data root `root`.
pub fn lock_path(root: &Path) -> PathBuf {
    root.join("gc.lock")
}

fn open(root: &Path) -> Result<File> {
    std::fs::create_dir_all(root).context(|| format!("create {}", root.display()))?;
    let path = lock_path(root);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .context(|| format!("open {}", path.display()))
}

fn take(root: &Path, arg: FlockArg, what: &str) -> Result<Option<DataLock>> {
    let file = open(root)?;
    match Flock::lock(file, arg) {
        Ok(lock) => Ok(Some(DataLock { _lock: lock })),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(Error::Io {
            context: format!("lock {} {what}", lock_path(root).display()),
            source: errno.into(),
        }),
    }
}

impl DataLock {
    /// Takes the lock for adding content (shared with other writers), waiting while a
    /// garbage collection runs. Hold it until what was added is referenced (the image
    /// recorded, the container's snapshot created).
    pub fn writer(root: &Path) -> Result<Self> {
        take(root, FlockArg::LockShared, "shared").map(|l| l.expect("blocking lock"))
    }

    /// Takes the lock for garbage collection, waiting for every writer to finish.
    pub fn collector(root: &Path) -> Result<Self> {
        take(root, FlockArg::LockExclusive, "exclusive").map(|l| l.expect("blocking lock"))
    }

    /// Takes the lock for garbage collection if no writer holds it; `None` if one does.
    pub fn try_collector(root: &Path) -> Result<Option<Self>> {
        take(root, FlockArg::LockExclusiveNonblock, "exclusive")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_share_and_exclude_the_collector() {
        let root = std::env::temp_dir().join(format!("berth-lock-{}", std::process::id()));
        let a = DataLock::writer(&root).unwrap();
        let b = DataLock::writer(&root).unwrap();
        assert!(DataLock::try_collector(&root).unwrap().is_none());
        drop(a);
        assert!(DataLock::try_collector(&root).unwrap().is_none());
        drop(b);
        let gc = DataLock::try_collector(&root).unwrap();
        assert!(gc.is_some());
        drop(gc);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
