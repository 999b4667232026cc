//! Protection against a container overwriting the runtime's binary through /proc/PID/exe
//! (CVE-2019-5736).
//!
//! A container process can reach the runtime's executable while the runtime works inside the
//! container's namespaces, or by exec'ing `/proc/self/exe` in the window before the init execs
//! the user's program. Before doing either, the runtime re-executes itself from a private,
//! read-only bind mount of its binary that is attached to no mount namespace: every path to the
//! file that the container can obtain is then read-only, and the mount cannot be remounted
//! because nobody can name it. This costs one execve and no copy of the binary.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use nix::sys::statvfs::{statvfs, FsFlags};

use crate::error::{Context, Error, Result};

/// Whether this process already runs from a read-only mount of its binary.
pub fn is_sealed() -> bool {
    statvfs("/proc/self/exe").is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
}

/// Re-executes the current binary, with the same arguments and environment, from a detached
/// read-only bind mount. Returns only on failure.
pub fn reexec_sealed() -> Error {
    let mount =
        match berth_sys::clone_detached_readonly_bind(std::path::Path::new("/proc/self/exe"))
            .context(|| "make a read-only mount of the runtime binary")
        {
            Ok(m) => m,
            Err(e) => return e,
        };
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    match nix::unistd::fexecve(&mount, &args, &env) {
        Err(e) => Error::Io {
            context: "re-execute the runtime from its sealed mount".into(),
            source: e.into(),
        },
        Ok(never) => match never {},
    }
}

/// Makes sure the process runs sealed before it touches a container.
pub fn ensure_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    Err(reexec_sealed())
}
