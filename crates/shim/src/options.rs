//! The shim's options and the command line that carries them from the daemon to the shim.

use std::ffi::OsString;
use std::path::PathBuf;

/// Everything the shim needs to create and watch one container: what [`crate::spawn`] passes
/// on the shim's command line and [`crate::server::run`] runs with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The container id, also the runtime's.
    pub id: String,
    /// The OCI bundle.
    pub bundle: PathBuf,
    /// The OCI runtime's state root.
    pub runtime_root: PathBuf,
    /// An external OCI runtime binary with runc's command line (runc, crun); `None` runs
    /// berth-runtime in the shim as a library.
    pub runtime: Option<PathBuf>,
    /// The socket to serve (created 0600).
    pub socket: PathBuf,
    /// Where the exit record goes.
    pub exit_file: PathBuf,
    /// The json-file log.
    pub log: PathBuf,
    /// Rotate past this many bytes; 0 never rotates.
    pub log_max_size: u64,
    /// Log files kept, the live one included.
    pub log_max_files: u32,
    /// A pty instead of pipes.
    pub tty: bool,
    /// Keep stdin open for attach clients.
    pub stdin: bool,
    /// Close stdin when an attached client closes its input.
    pub stdin_once: bool,
    /// The terminal's initial (height, width).
    pub size: Option<(u16, u16)>,
}

impl Options {
    /// The `berth-shim` arguments for these options.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut pair = |flag: &str, value: OsString| {
            args.push(flag.into());
            args.push(value);
        };
        pair("--id", self.id.clone().into());
        pair("--bundle", self.bundle.clone().into());
        pair("--runtime-root", self.runtime_root.clone().into());
        if let Some(runtime) = &self.runtime {
            pair("--runtime", runtime.clone().into());
        }
        pair("--socket", self.socket.clone().into());
        pair("--exit-file", self.exit_file.clone().into());
        pair("--log", self.log.clone().into());
        pair("--log-max-size", self.log_max_size.to_string().into());
        pair("--log-max-files", self.log_max_files.to_string().into());
        if let Some((height, width)) = self.size {
            pair("--height", height.to_string().into());
            pair("--width", width.to_string().into());
        }
        for (flag, on) in [
            ("--tty", self.tty),
            ("--stdin", self.stdin),
            ("--stdin-once", self.stdin_once),
        ] {
            if on {
                args.push(flag.into());
            }
        }
        args
    }
}
