//! Setting up files for tests that check what a copy keeps.

use std::path::Path;

/// Sets the access and modification times of `path` itself (a symlink is not followed) to
/// `secs` since the epoch.
pub fn set_mtime(path: &Path, secs: i64) {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap_or_else(|e| panic!("set the times of {}: {e}", path.display()));
}
