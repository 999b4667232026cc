//! Executing a container's program without ever executing the runtime's own binary
//! (CVE-2019-5736). The init is a fork of the runtime, so a container whose program resolves to
//! `/proc/self/exe` (directly, through a symlink, or as a script's interpreter) would otherwise
//! run the runtime's binary inside the container, where a malicious library could then rewrite
//! it on the host.
//!
//! The program is opened first, checked not to be the runtime's binary, and executed through
//! that same descriptor (`execveat(AT_EMPTY_PATH)`), so nothing can be swapped in between.
//! Scripts are handled the way the kernel would, but with the interpreter also opened, checked
//! and executed by descriptor, so the script's content never decides what binary runs.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, AtFlags, OFlag};
use nix::sys::stat::{fstat, stat, Mode};

use crate::error::{Context, Error, Result};
use crate::process::c_strings;

/// How many interpreters deep a script may go, as the kernel allows.
const MAX_INTERPRETER_DEPTH: usize = 4;

/// The identity (device and inode) of the runtime's own binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeBinary {
    dev: u64,
    ino: u64,
}

impl RuntimeBinary {
    /// Reads the identity through `/proc/self/exe`; call it before leaving the host's /proc.
    pub fn identify() -> Result<Self> {
        let st = stat("/proc/self/exe").context(|| "stat /proc/self/exe")?;
        Ok(RuntimeBinary {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    fn is(&self, fd: &OwnedFd) -> Result<bool> {
        let st = fstat(fd.as_fd()).context(|| "stat the program to execute")?;
        Ok(st.st_dev == self.dev && st.st_ino == self.ino)
    }
}

/// Opens `path` for execution, refusing the runtime's own binary.
pub fn open_checked(runtime: &RuntimeBinary, path: &Path) -> Result<OwnedFd> {
    let fd = match open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
        // Execute-only files can still be run: they cannot be scripts, which must be readable.
        Err(nix::errno::Errno::EACCES) => {
            open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        }
        other => other,
    }
    .context(|| format!("exec {}", path.display()))?;
    if runtime.is(&fd)? {
        return Err(Error::Init(format!(
            "refusing to execute {}: it is the runtime's own binary",
            path.display()
        )));
    }
    Ok(fd)
}

/// The interpreter line of a script, split as the kernel does: the interpreter and at most one
/// argument (everything after the first blank, trimmed).
fn parse_shebang(head: &[u8]) -> Option<(PathBuf, Option<Vec<u8>>)> {
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|b| *b == b'\n').unwrap_or(line.len())];
    let trim = |s: &[u8]| -> Vec<u8> {
        let start = s
            .iter()
            .position(|b| *b != b' ' && *b != b'\t')
            .unwrap_or(s.len());
        let end = s
            .iter()
            .rposition(|b| *b != b' ' && *b != b'\t')
            .map_or(start, |e| e + 1);
        s[start..end.max(start)].to_vec()
    };
    let line = trim(line);
    if line.is_empty() {
        return None;
    }
    let split = line.iter().position(|b| *b == b' ' || *b == b'\t');
    let (interpreter, argument) = match split {
        Some(i) => (line[..i].to_vec(), Some(trim(&line[i..]))),
        None => (line, None),
    };
    Some((
        PathBuf::from(OsStr::from_bytes(&interpreter)),
        argument.filter(|a| !a.is_empty()),
    ))
}

/// A program opened, checked and ready to execute.
pub struct Prepared {
    fd: OwnedFd,
    argv: Vec<CString>,
    path: PathBuf,
}

/// Resolves `program` (following script interpreters) to a checked descriptor and the argument
/// vector the kernel would build. Done before seccomp and the uid change, which may forbid it.
pub fn prepare(runtime: &RuntimeBinary, program: &Path, args: &[String]) -> Result<Prepared> {
    let mut argv = c_strings(args)?;
    let mut path = program.to_path_buf();
    for _ in 0..=MAX_INTERPRETER_DEPTH {
        let fd = open_checked(runtime, &path)?;
        let mut head = [0u8; 256];
        let len = nix::sys::uio::pread(&fd, &mut head, 0).unwrap_or(0);
        let Some((interpreter, argument)) = parse_shebang(&head[..len]) else {
            return Ok(Prepared { fd, argv, path });
        };
        // What the kernel would run: interpreter [argument] script-path args[1..].
        let nul =
            |what: &str| Error::Init(format!("{what} of {} contains a NUL byte", path.display()));
        let mut next =
            vec![CString::new(interpreter.as_os_str().as_bytes()).map_err(|_| nul("interpreter"))?];
        if let Some(argument) = argument {
            next.push(CString::new(argument).map_err(|_| nul("interpreter argument"))?);
        }
        next.push(CString::new(path.as_os_str().as_bytes()).map_err(|_| nul("path"))?);
        next.extend(argv.into_iter().skip(1));
        argv = next;
        path = interpreter;
    }
    Err(Error::Init(format!(
        "exec {}: more than {MAX_INTERPRETER_DEPTH} levels of script interpreters",
        program.display()
    )))
}

impl Prepared {
    /// Replaces the process with the checked program; returns only on failure.
    pub fn exec(self, env: &[String]) -> Error {
        let env = match c_strings(env) {
            Ok(e) => e,
            Err(e) => return e,
        };
        let errno = match nix::unistd::execveat(
            self.fd.as_fd(),
            c"",
            &self.argv,
            &env,
            AtFlags::AT_EMPTY_PATH,
        ) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        // A seccomp profile may allow only execve: the descriptor's /proc path names the same
        // open file, so nothing can be swapped in this way either.
        let errno = if matches!(errno, nix::errno::Errno::EPERM | nix::errno::Errno::ENOSYS) {
            let by_path = CString::new(berth_safepath::proc_path(&self.fd).as_os_str().as_bytes())
                .unwrap_or_default();
            match nix::unistd::execve(&by_path, &self.argv, &env) {
                Err(e) => e,
                Ok(never) => match never {},
            }
        } else {
            errno
        };
        Error::Init(format!("exec {}: {}", self.path.display(), errno.desc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines_split_like_the_kernel() {
        assert_eq!(
            parse_shebang(b"#!/bin/sh\necho"),
            Some(("/bin/sh".into(), None))
        );
        assert_eq!(
            parse_shebang(b"#! /usr/bin/env  python3 -u \nx"),
            Some(("/usr/bin/env".into(), Some(b"python3 -u".to_vec())))
        );
        assert_eq!(parse_shebang(b"#!\n"), None);
        assert_eq!(parse_shebang(b"\x7fELF"), None);
    }

    #[test]
    fn the_runtime_binary_is_recognised_through_proc_self_exe() {
        let me = RuntimeBinary::identify().unwrap();
        assert!(open_checked(&me, Path::new("/proc/self/exe")).is_err());
        assert!(open_checked(&me, Path::new("/bin/sh")).is_ok());
    }
}
