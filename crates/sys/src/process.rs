//! Process creation (clone3) and per-process settings with no safe wrapper elsewhere.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Which side of a fork the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkResult {
    /// The original process; `pid` is the new child's pid as seen from the parent's namespace.
    Parent { pid: i32 },
    /// The new process.
    Child,
}

/// Counts the threads of this process from `/proc/self/stat` (field 20).
fn thread_count() -> io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may contain spaces and parentheses: skip past its last ')'.
    let after_comm = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other("malformed /proc/self/stat"))?;
    after_comm
        .split_whitespace()
        .nth(17)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::other("malformed /proc/self/stat"))
}

/// Forks this process with `clone3`, creating the namespaces named in `namespace_flags`
/// (`CLONE_NEW*` bits) and, when `cgroup` is given, starting the child directly inside that
/// cgroup v2 directory (`CLONE_INTO_CGROUP`). The child gets `SIGCHLD` as its exit signal, like
/// `fork(2)`.
///
/// Refuses to run in a multi-threaded process: after a fork only the calling thread exists in the
/// child, and locks held by other threads would never be released.
pub fn fork_into(namespace_flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<ForkResult> {
    if thread_count()? != 1 {
        return Err(io::Error::other(
            "refusing to fork a multi-threaded process",
        ));
    }
    let mut args = libc::clone_args {
        flags: namespace_flags,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    };
    if let Some(fd) = cgroup {
        // CLONE_INTO_CGROUP is bit 33: spelled out because libc's constant is a c_int.
        args.flags |= 1u64 << 33;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a fully initialised clone_args of the size we pass. Without CLONE_VM and
    // with a null stack, clone3 behaves like fork: the child runs on a copy-on-write copy of this
    // stack and returns here with 0. The process was checked above to be single-threaded, so no
    // lock can be held by a thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(ForkResult::Child),
        pid => Ok(ForkResult::Parent { pid: pid as i32 }),
    }
}

/// Marks every file descriptor numbered `first` or higher close-on-exec (`close_range(2)` with
/// CLOSE_RANGE_CLOEXEC), so nothing the runtime opened leaks into the container's program while
/// descriptors still needed until the exec (such as the sync socket) keep working.
pub fn close_fds_on_exec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors; it closes
    // nothing and touches no memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the NIS domain name of the current UTS namespace.
pub fn setdomainname(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is a valid NUL-terminated string and we pass its exact length without the NUL.
    let ret = unsafe { libc::setdomainname(name.as_ptr(), name.to_bytes().len()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Duplicates a descriptor known only by number (e.g. one a C library owns) into one we own.
/// An invalid number yields EBADF; nothing else can go wrong.
pub fn duplicate_raw_fd(fd: std::os::fd::RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor table; it creates a new descriptor or
    // fails, and never touches memory.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just created by fcntl and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(new) })
}
