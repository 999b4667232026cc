//! Opening a file of a tree someone else controls (a running container's root file system) for
//! reading, only if it is still the regular file that was examined: the name is first opened
//! with `O_PATH | O_NOFOLLOW` (which opens nothing: no device driver, no FIFO wait), checked with
//! `fstat`, and only then reopened for reading through `/proc/self/fd`.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};

/// Where the file is: a name in an open directory, or a path.
pub(crate) enum Location<'a> {
    At(BorrowedFd<'a>, &'a Path),
    Path(&'a Path),
}

/// Opens the regular file at `location` for reading if it is the inode `(dev, ino)`; returns
/// it with its current status. Anything else there now (a FIFO, a device, a symlink, another
/// file swapped in) is refused with `InvalidData`.
pub(crate) fn open_regular(
    location: Location<'_>,
    dev: u64,
    ino: u64,
) -> std::io::Result<(File, FileStat)> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let handle = match location {
        Location::At(dir, name) => openat(dir, name, flags, Mode::empty())?,
        Location::Path(path) => open(path, flags, Mode::empty())?,
    };
    let stat = fstat(handle.as_fd())?;
    let regular = stat.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits();
    if !regular || stat.st_dev != dev || stat.st_ino != ino {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "changed from the regular file examined before",
        ));
    }
    let reopened = open(
        format!("/proc/self/fd/{}", handle.as_raw_fd()).as_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok((File::from(reopened), stat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_fifo_or_another_file_swapped_in_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("berth-regular-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"data").unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let (mut file, _) = open_regular(Location::Path(&path), meta.dev(), meta.ino()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).unwrap();
        assert_eq!(text, "data");

        // Swapped for a FIFO: opening it for reading would wait for a writer forever.
        std::fs::remove_file(&path).unwrap();
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let err = open_regular(Location::Path(&path), meta.dev(), meta.ino()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

        // Swapped for another regular file: a different inode.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(dir.join("other"), b"x").unwrap();
        std::fs::rename(dir.join("other"), &path).unwrap();
        assert!(open_regular(Location::Path(&path), meta.dev(), meta.ino()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
