//! Running engine commands with timeouts, output in files.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long an engine command may take unless told otherwise.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// What a finished (or timed out) command did.
pub struct Outcome {
    /// The command line, as Debug prints it.
    pub command: String,
    /// `None` when the command could not start or timed out and was killed.
    pub status: Option<ExitStatus>,
    /// How long it was allowed to run.
    pub timeout: Duration,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr (and why it did not start, if so).
    pub stderr: String,
}

impl Outcome {
    /// The exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// It exited with 0.
    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }

    /// The command, its status and its output, for a failure message.
    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!(
                "did not finish: could not start, or timed out after {:?} and was killed",
                self.timeout
            ),
        };
        format!(
            "$ {}\n{status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` with a timeout; stdout and stderr go to files in `scratch` (a pipe could be held
/// open by a daemonised grandchild and block the reader forever).
pub fn run_command(cmd: &mut Command, scratch: &Path) -> Outcome {
    run_command_with_timeout(cmd, scratch, COMMAND_TIMEOUT)
}

/// `run_command` with another timeout. Never panics (it also runs during teardown).
pub fn run_command_with_timeout(cmd: &mut Command, scratch: &Path, timeout: Duration) -> Outcome {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let out_path = scratch.join(format!("cmd-{n}.out"));
    let err_path = scratch.join(format!("cmd-{n}.err"));
    let command = format!("{cmd:?}");
    let mut start_error = String::new();
    let status = match (File::create(&out_path), File::create(&err_path)) {
        (Ok(out_file), Ok(err_file)) => {
            cmd.stdin(Stdio::null()).stdout(out_file).stderr(err_file);
            match cmd.spawn() {
                Ok(mut child) => wait_with_timeout(&mut child, timeout),
                Err(e) => {
                    start_error = format!("cannot start the command: {e}");
                    None
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            start_error = format!("cannot create the command's output files: {e}");
            None
        }
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let outcome = Outcome {
        command,
        status,
        timeout,
        stdout: read(&out_path),
        stderr: read(&err_path) + &start_error,
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    outcome
}

/// Waits for `child`; kills it (SIGKILL) and returns `None` once `timeout` has passed.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// `tool` in `PATH` (or /usr/sbin, /sbin), if it is an executable file there.
pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The absolute path of `name` (as found by `find_in_path`), or `name` itself.
pub fn tool(name: &str) -> PathBuf {
    find_in_path(name).unwrap_or_else(|| PathBuf::from(name))
}

/// `p` as UTF-8 (test paths are).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// The names in `dir`; none if it cannot be read.
pub fn list_dir(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
