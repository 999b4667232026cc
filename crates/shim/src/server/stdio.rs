//! Giving the container its stdio: the shim's own descriptors 0, 1 and 2 are what the runtime's
//! init inherits, so they are swapped for the container's pipes around `create` and back after.

use std::fs::File;
use std::io::{PipeReader, PipeWriter};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The shim's side of a container's pipes.
pub(crate) struct Pipes {
    /// The container's stdin, when clients may write to it.
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: Option<PipeReader>,
    pub(crate) stderr: Option<PipeReader>,
}

/// The shim's own descriptors 0–2, put back by `restore`.
pub(crate) struct Saved {
    stderr: OwnedFd,
    null: File,
}

fn io_err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Makes descriptors 0–2 the container's: pipes (stdin only with `stdin`, else /dev/null), or
/// with `tty` /dev/null throughout (the init then opens its terminal itself).
pub(crate) fn install(tty: bool, stdin: bool) -> Result<(Pipes, Saved), String> {
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| io_err("open /dev/null", e))?;
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| io_err("duplicate the shim's stderr", e))?;
    let saved = Saved { stderr, null };
    if tty {
        dup_onto(saved.null.as_fd(), saved.null.as_fd(), None)?;
        return Ok((
            Pipes {
                stdin: None,
                stdout: None,
                stderr: None,
            },
            saved,
        ));
    }
    let pipe = || std::io::pipe().map_err(|e| io_err("create a pipe", e));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (in_r, in_w) = if stdin {
        let (r, w) = pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let input = in_r.as_ref().map_or(saved.null.as_fd(), |r| r.as_fd());
    dup_onto(input, out_w.as_fd(), Some(err_w.as_fd()))?;
    // The originals are close-on-exec; the copies on 0–2 are what the container keeps.
    Ok((
        Pipes {
            stdin: in_w,
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
        saved,
    ))
}

fn dup_onto(
    stdin: BorrowedFd<'_>,
    stdout: BorrowedFd<'_>,
    stderr: Option<BorrowedFd<'_>>,
) -> Result<(), String> {
    nix::unistd::dup2_stdin(stdin).map_err(|e| io_err("set up stdin", e))?;
    nix::unistd::dup2_stdout(stdout).map_err(|e| io_err("set up stdout", e))?;
    if let Some(stderr) = stderr {
        nix::unistd::dup2_stderr(stderr).map_err(|e| io_err("set up stderr", e))?;
    }
    Ok(())
}

/// Gives the shim back /dev/null on 0 and 1 and its own stderr, so that it holds no end of the
/// container's pipes (their end-of-file then means the container's output is over).
pub(crate) fn restore(saved: Saved) {
    let _ = nix::unistd::dup2_stdin(&saved.null);
    let _ = nix::unistd::dup2_stdout(&saved.null);
    let _ = nix::unistd::dup2_stderr(&saved.stderr);
}
