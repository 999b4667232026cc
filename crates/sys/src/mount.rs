//! The new mount API calls that have no safe wrapper in nix.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A file descriptor that refers to a detached mount (created by `open_tree`).
#[derive(Debug)]
pub struct MountFd(OwnedFd);

impl AsFd for MountFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Creates a private, read-only bind mount of `path` that is attached to no mount namespace, and
/// returns a descriptor for it. Whatever is reached through the descriptor cannot be written, and
/// since the mount is in no namespace, nobody can find it by path or remount it read-write.
pub fn clone_detached_readonly_bind(path: &Path) -> io::Result<MountFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call; open_tree returns a
    // new descriptor or -1 and touches no other memory.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_path.as_ptr(), flags) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_tree succeeded, so `fd` is a fresh descriptor owned by nobody else.
    let mount = MountFd(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: the descriptor is valid for the duration of the call, `empty` is a valid empty C
    // string (AT_EMPTY_PATH makes the call act on the descriptor itself), and `attr` is a fully
    // initialised mount_attr whose exact size we pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(&mount.0),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(mount)
}
