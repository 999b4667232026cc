//! Running OCI hooks: the state document on stdin, the hook's own args and env, and a timeout.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::verified_exec::{self, RuntimeBinary};

/// Runs each hook in order; the first failure stops the rest and is returned.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for hook in hooks {
        run(kind, hook, state_json)?;
    }
    Ok(())
}

/// Runs hooks from inside the container: each hook binary is opened and checked not to be the
/// runtime's own binary, then executed through that descriptor.
pub fn run_all_checked(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    runtime: &RuntimeBinary,
) -> Result<()> {
    for hook in hooks {
        let fd = verified_exec::open_checked(runtime, hook.path())?;
        let mut checked = hook.clone();
        checked.set_path(berth_safepath::proc_path(&fd));
        if checked.args().as_ref().is_none_or(|a| a.is_empty()) {
            checked.set_args(Some(vec![hook.path().to_string_lossy().into_owned()]));
        }
        run(kind, &checked, state_json)?;
    }
    Ok(())
}

fn run(kind: &'static str, hook: &Hook, state_json: &[u8]) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        kind,
        path: hook.path().clone(),
        reason,
    };
    let mut command = Command::new(hook.path());
    command.env_clear();
    if let Some(args) = hook.args() {
        if let Some(argv0) = args.first() {
            std::os::unix::process::CommandExt::arg0(&mut command, argv0);
        }
        command.args(args.iter().skip(1));
    }
    for entry in hook.env().iter().flatten() {
        if let Some((k, v)) = entry.split_once('=') {
            command.env(k, v);
        }
    }
    command.stdin(Stdio::piped());
    command.stdout(Stdio::null());
    command.stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore a broken pipe.
        let _ = stdin.write_all(state_json);
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(fail(format!("wait: {e}"))),
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        let stderr = stderr.trim();
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        };
        return Err(fail(format!("{status}{detail}")));
    }
    Ok(())
}
