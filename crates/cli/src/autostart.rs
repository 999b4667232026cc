//! Starting berthd on first use: when no host was asked for and nothing answers on the
//! default socket, `berth` spawns the daemon (next to its own binary, else from `PATH`),
//! detached, and waits for it to answer.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Daemon;
use crate::error::{Error, Result};

/// Overrides the default socket (`/run/berth.sock`), so tests and development never touch
/// the machine's daemon.
pub const SOCKET_ENV: &str = "BERTH_DEFAULT_SOCKET";
/// With [`SOCKET_ENV`]: the spawned daemon's data and exec roots go under this directory
/// (`data/`, `exec/`) and its log to `berthd.log` there, instead of the defaults.
pub const ROOT_ENV: &str = "BERTH_DEFAULT_ROOT";

/// How long a spawned daemon has to answer `_ping`.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket `berth` uses when nothing says otherwise.
pub fn default_host() -> String {
    match std::env::var(SOCKET_ENV) {
        Ok(path) if !path.is_empty() => format!("unix://{path}"),
        _ => crate::client::DEFAULT_HOST.to_string(),
    }
}

/// `berthd` beside the running `berth`, else the name for a `PATH` lookup.
fn daemon_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("berthd")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("berthd"))
}

/// Spawns berthd listening on `host` and waits until it answers; returns the connection.
pub fn start_daemon(host: &str) -> Result<Daemon> {
    let binary = daemon_binary();
    let mut command = Command::new(&binary);
    command.arg("--host").arg(host);
    let log = match std::env::var_os(ROOT_ENV) {
        Some(root) => {
            let root = Path::new(&root);
            command
                .arg("--data-root")
                .arg(root.join("data"))
                .arg("--exec-root")
                .arg(root.join("exec"));
            std::fs::create_dir_all(root).map_err(|e| Error::io(root.display().to_string(), e))?;
            root.join("berthd.log")
        }
        None => PathBuf::from("/var/log/berthd.log"),
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Error::io(log.display().to_string(), e))?;
    let file2 = file
        .try_clone()
        .map_err(|e| Error::io(log.display().to_string(), e))?;
    command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2)
        // Its own process group: a ctrl-c meant for this berth does not reach the daemon.
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| Error::io(format!("cannot start the daemon ({})", binary.display()), e))?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match Daemon::connect(host) {
            Ok(daemon) => return Ok(daemon),
            Err(Error::Connect { .. }) if Instant::now() < deadline => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(Error::Refused(format!(
                        "the daemon ({}) exited ({status}) before answering on {host}; see {}",
                        binary.display(),
                        log.display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(Error::Connect { .. }) => {
                return Err(Error::Refused(format!(
                    "started the daemon ({}), but nothing answers on {host} after {} s; see {}",
                    binary.display(),
                    START_TIMEOUT.as_secs(),
                    log.display()
                )))
            }
            Err(e) => return Err(e),
        }
    }
}
