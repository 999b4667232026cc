//! Starting a shim for a new container and reading its first report.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};
use crate::options::Options;

/// A shim that has created its container.
#[derive(Debug)]
pub struct Spawned {
    /// The container's init, as seen from the caller's pid namespace.
    pub pid: u32,
    /// The shim process: the caller reaps it (`wait`) after the container exited, or it stays a
    /// zombie until the caller exits (after a daemon restart, init reaps it).
    pub shim: Child,
}

/// Starts the shim binary `shim`, which creates the container (not yet started) and reports its
/// pid.
pub fn spawn(shim: &Path, opts: &Options) -> Result<Spawned> {
    let fail = |message: String| Error::Spawn {
        shim: shim.to_path_buf(),
        id: opts.id.clone(),
        message,
    };
    let mut command = Command::new(shim);
    command.args(opts.args());
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot execute it: {e}")))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // One line: the container's init keeps a copy of the pipe until it execs at `start`.
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        match stdout.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(format!("reading its report: {e}"))),
        }
    }
    drop(stdout);
    let reply: serde_json::Value = match serde_json::from_slice(&line) {
        Ok(v) => v,
        Err(_) => {
            let status = child.wait();
            return Err(fail(format!(
                "no report (got {:?}; shim {status:?})",
                String::from_utf8_lossy(&line)
            )));
        }
    };
    if let Some(pid) = reply.get("pid").and_then(|p| p.as_u64()) {
        return Ok(Spawned {
            pid: pid as u32,
            shim: child,
        });
    }
    let _ = child.wait();
    let message = reply
        .get("error")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("unexpected report {reply}"));
    Err(fail(message))
}
