//! An external OCI runtime (runc, crun, or any with runc's command line) driving the container:
//! `create` with the shim's descriptors 0–2 as the container's stdio (or the pty master passed
//! back over a console socket), `start`, and `delete --force` after the exit. The shim is a
//! child subreaper, so the container's init becomes its child once `create` returns.

use std::fs::File;
use std::io::BufRead;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_runtime::cgroups::CgroupPath;

/// The longest unix socket path the kernel accepts (`sun_path` less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// One container's runtime binary, its state root and where it logs.
pub(crate) struct External {
    binary: PathBuf,
    root: PathBuf,
    id: String,
    /// The runtime's own log (JSON lines), where its errors are read from.
    log: PathBuf,
}

/// A container the external runtime created.
pub(crate) struct Made {
    pub(crate) pid: i32,
    pub(crate) cgroup: CgroupPath,
    pub(crate) pty_master: Option<OwnedFd>,
}

impl External {
    pub(crate) fn new(binary: &Path, root: &Path, id: &str, bundle: &Path) -> External {
        External {
            binary: binary.to_path_buf(),
            root: root.to_path_buf(),
            id: id.to_string(),
            log: bundle.join("runtime.log"),
        }
    }

    /// `BINARY --root R --log L --log-format json`, stdio from /dev/null unless the caller says.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        command
    }

    /// Runs `command` to its end; an error names the runtime and says what it logged.
    fn run(&self, what: &str, mut command: Command) -> Result<(), String> {
        let status = command.status().map_err(|e| {
            format!(
                "runtime {}: cannot execute it to {what} container {}: {e}",
                self.binary.display(),
                self.id
            )
        })?;
        if status.success() {
            return Ok(());
        }
        let reason = last_error(&self.log).unwrap_or_else(|| status.to_string());
        Err(format!(
            "runtime {} {what} container {}: {reason}",
            self.binary.display(),
            self.id
        ))
    }

    /// Creates the container (its init waiting for `start`) with the shim's descriptors 0–2 as
    /// its stdio, or with a terminal whose master comes back over `console_socket`.
    pub(crate) fn create(
        &self,
        bundle: &Path,
        console_socket: Option<&Path>,
    ) -> Result<Made, String> {
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| format!("become a child subreaper: {e}"))?;
        std::fs::create_dir_all(&self.root)
            .map_err(|e| format!("create {}: {e}", self.root.display()))?;
        let _ = std::fs::remove_file(&self.log);
        let pid_file = bundle.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let listener = console_socket.map(bind_console_socket).transpose()?;
        let mut command = self.command();
        command
            .arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(path) = console_socket {
            command.arg("--console-socket").arg(path);
        }
        command.arg(&self.id);
        let created = self.run("create", command);
        if let Some(path) = console_socket {
            let _ = std::fs::remove_file(path);
        }
        created?;
        let made = self.read_created(bundle, &pid_file, listener);
        if made.is_err() {
            self.delete();
        }
        made
    }

    fn read_created(
        &self,
        bundle: &Path,
        pid_file: &Path,
        listener: Option<UnixListener>,
    ) -> Result<Made, String> {
        let pid = std::fs::read_to_string(pid_file)
            .map_err(|e| format!("read {}: {e}", pid_file.display()))?;
        let pid: i32 = pid
            .trim()
            .parse()
            .map_err(|_| format!("{} holds no pid: {pid:?}", pid_file.display()))?;
        let pty_master = listener.map(|l| receive_master(&l)).transpose()?;
        Ok(Made {
            pid,
            cgroup: cgroup_of(bundle, &self.id)?,
            pty_master,
        })
    }

    /// `BINARY start ID`: the init execs the container's process.
    pub(crate) fn start(&self) -> Result<(), String> {
        let mut command = self.command();
        command.arg("start").arg(&self.id).stdin(Stdio::null());
        self.run("start", command)
    }

    /// `BINARY delete --force ID`: the container's state and cgroup go.
    pub(crate) fn delete(&self) {
        let mut command = self.command();
        command
            .args(["delete", "--force"])
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Err(e) = self.run("delete", command) {
            eprintln!("berth-shim: {e}");
        }
    }
}

fn bind_console_socket(path: &Path) -> Result<UnixListener, String> {
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(format!(
            "console socket {} is longer than {MAX_SOCKET_PATH} bytes",
            path.display()
        ));
    }
    let _ = std::fs::remove_file(path);
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(umask);
    listener.map_err(|e| format!("bind console socket {}: {e}", path.display()))
}

/// Takes the pty master the runtime sent while `create` ran (its connection waits, queued, on
/// the listener).
fn receive_master(listener: &UnixListener) -> Result<OwnedFd, String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("console socket: {e}"))?;
    let (conn, _) = listener
        .accept()
        .map_err(|e| format!("the runtime sent no terminal over the console socket: {e}"))?;
    conn.set_nonblocking(false)
        .map_err(|e| format!("console socket: {e}"))?;
    let mut buf = [0u8; 4096];
    match berth_sys::recv_with_fd(conn.as_fd(), &mut buf) {
        Ok((_, Some(fd))) => Ok(fd),
        Ok((_, None)) => Err("the runtime's console socket message carried no terminal".into()),
        Err(e) => Err(format!("receive the terminal from the runtime: {e}")),
    }
}

/// The container's cgroup as the bundle names it (`linux.cgroupsPath`).
fn cgroup_of(bundle: &Path, id: &str) -> Result<CgroupPath, String> {
    let config = bundle.join("config.json");
    let data = std::fs::read(&config).map_err(|e| format!("read {}: {e}", config.display()))?;
    let spec: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| format!("parse {}: {e}", config.display()))?;
    let path = spec
        .pointer("/linux/cgroupsPath")
        .and_then(|p| p.as_str())
        .map(PathBuf::from);
    CgroupPath::resolve(path.as_deref(), id, false).map_err(|e| e.to_string())
}

/// The last error the runtime logged (`{"level":"error","msg":…}` lines).
fn last_error(log: &Path) -> Option<String> {
    let file = File::open(log).ok()?;
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter(|entry| entry["level"] == "error")
        .filter_map(|entry| entry["msg"].as_str().map(str::to_string))
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_logged_error_is_the_reason() {
        let dir = berth_testkit::TempDir::new("shim-runtime-log");
        let log = dir.join("runtime.log");
        assert_eq!(last_error(&log), None);
        std::fs::write(
            &log,
            "{\"level\":\"warning\",\"msg\":\"cgroup v1 is old\"}\nnot json\n{\"level\":\"error\",\"msg\":\"first\"}\n{\"level\":\"error\",\"msg\":\"exec: \\\"nope\\\": executable file not found in $PATH\"}\n",
        )
        .unwrap();
        assert_eq!(
            last_error(&log).as_deref(),
            Some("exec: \"nope\": executable file not found in $PATH")
        );
    }
}
