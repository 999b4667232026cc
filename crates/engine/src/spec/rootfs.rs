//! Reading and creating files inside a container's root file system, which is hostile: every
//! path is resolved inside the root (no symlink or `..` escape) and reads are size-limited.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_safepath::Leaf;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use super::error::{Error, Result};

/// The most of a file like /etc/passwd that is read; bigger ones are refused.
const MAX_READ: u64 = 4 << 20;

fn open_root(rootfs: &Path) -> Result<OwnedFd> {
    open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open the container root", rootfs, e.into()))
}

/// The content of the regular file `path` inside `rootfs`; `None` if it does not exist.
/// Anything but a regular file (a FIFO, a device) and files over 4 MiB are errors.
pub fn read(rootfs: &Path, path: &str) -> Result<Option<String>> {
    let root = open_root(rootfs)?;
    let Some(fd) = berth_safepath::open(root.as_fd(), Path::new(path))? else {
        return Ok(None);
    };
    let shown = rootfs.join(path.trim_start_matches('/'));
    let stat = fstat(&fd).map_err(|e| Error::io("stat", &shown, e.into()))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(Error::invalid(
            path,
            format!("{} is not a regular file", shown.display()),
        ));
    }
    let file =
        File::open(berth_safepath::proc_path(&fd)).map_err(|e| Error::io("open", &shown, e))?;
    let mut data = Vec::new();
    file.take(MAX_READ + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io("read", &shown, e))?;
    if data.len() as u64 > MAX_READ {
        return Err(Error::invalid(
            path,
            format!("{} is larger than {MAX_READ} bytes", shown.display()),
        ));
    }
    Ok(Some(String::from_utf8_lossy(&data).into_owned()))
}

/// Makes sure the directory `path` exists inside `rootfs`, creating it and its parents (0755)
/// without following anything out of the root.
pub fn ensure_dir(rootfs: &Path, path: &str) -> Result<()> {
    let root = open_root(rootfs)?;
    let fd = berth_safepath::open_or_create(root.as_fd(), Path::new(path), Leaf::Directory)?;
    let stat = fstat(&fd).map_err(|e| Error::io("stat", rootfs.join(path), e.into()))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return Err(Error::invalid(
            "working directory",
            format!("{path} exists in the container and is not a directory"),
        ));
    }
    Ok(())
}
