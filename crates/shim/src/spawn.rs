//! Starting a shim for a new container and reading its first report.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

/// Everything the shim needs to create one container.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The `berth-shim` binary.
    pub shim: PathBuf,
    /// The container id, also the runtime's.
    pub id: String,
    /// The OCI bundle (config.json and rootfs).
    pub bundle: PathBuf,
    /// The OCI runtime's state root.
    pub runtime_root: PathBuf,
    /// Where the shim listens (created 0600).
    pub socket: PathBuf,
    /// Where the shim records the exit.
    pub exit_file: PathBuf,
    /// The json-file log.
    pub log: PathBuf,
    /// Rotate the log past this many bytes; 0 never rotates.
    pub log_max_size: u64,
    /// How many log files to keep, the live one included.
    pub log_max_files: u32,
    /// Give the container a terminal instead of pipes.
    pub tty: bool,
    /// Keep the container's stdin open for attach clients.
    pub stdin: bool,
    /// Close the container's stdin when the first attached client closes its input.
    pub stdin_once: bool,
    /// The terminal's initial (height, width).
    pub size: Option<(u16, u16)>,
}

/// A shim that has created its container.
#[derive(Debug)]
pub struct Spawned {
    /// The container's init, as seen from the caller's pid namespace.
    pub pid: u32,
    /// The shim process: the caller reaps it (`wait`) after the container exited, or it stays a
    /// zombie until the caller exits (after a daemon restart, init reaps it).
    pub shim: Child,
}

/// Starts a shim, which creates the container (not yet started) and reports its pid.
pub fn spawn(opts: &SpawnOptions) -> Result<Spawned> {
    let fail = |message: String| Error::Spawn {
        shim: opts.shim.clone(),
        id: opts.id.clone(),
        message,
    };
    let mut command = Command::new(&opts.shim);
    command
        .arg("--id")
        .arg(&opts.id)
        .arg("--bundle")
        .arg(&opts.bundle)
        .arg("--runtime-root")
        .arg(&opts.runtime_root)
        .arg("--socket")
        .arg(&opts.socket)
        .arg("--exit-file")
        .arg(&opts.exit_file)
        .arg("--log")
        .arg(&opts.log)
        .arg("--log-max-size")
        .arg(opts.log_max_size.to_string())
        .arg("--log-max-files")
        .arg(opts.log_max_files.to_string());
    for (flag, on) in [
        ("--tty", opts.tty),
        ("--stdin", opts.stdin),
        ("--stdin-once", opts.stdin_once),
    ] {
        if on {
            command.arg(flag);
        }
    }
    if let Some((height, width)) = opts.size {
        command
            .arg("--height")
            .arg(height.to_string())
            .arg("--width")
            .arg(width.to_string());
    }
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
