//! `exec`: run a command in a running container, ending with its exit code.

use berth_api::exec::{ExecConfig, ExecCreateResponse, ExecInspect, ExecStartConfig};
use clap::Args;

use super::run::Session;
use crate::client::escape;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::{tty, Context};

/// `berth exec` flags.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// CONTAINER
    container: String,
    /// COMMAND [ARG...]
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs a command in a container; without `-d`, streams it and ends with its exit code.
pub fn exec(cx: &Context, args: &ExecArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let size = if args.tty { tty::size() } else { None };
    let config = ExecConfig {
        attach_stdin: args.interactive && !args.detach,
        attach_stdout: !args.detach,
        attach_stderr: !args.detach,
        console_size: size.map(|(h, w)| [u32::from(h), u32::from(w)]),
        detach_keys: args.detach_keys.clone().unwrap_or_default(),
        tty: args.tty,
        env: args.env.clone(),
        privileged: args.privileged,
        user: args.user.clone().unwrap_or_default(),
        working_dir: args.workdir.clone().unwrap_or_default(),
        cmd: args.command.clone(),
    };
    let created: ExecCreateResponse = daemon.post_json(
        &format!("/containers/{}/exec", escape(&args.container)),
        Some(&config),
    )?;
    let id = created.id;
    let start = ExecStartConfig {
        detach: args.detach,
        tty: args.tty,
        console_size: config.console_size,
    };
    let start_path = format!("/exec/{}/start", escape(&id));
    if args.detach {
        let body = serde_json::to_vec(&start).map_err(|e| daemon.protocol(e.to_string()))?;
        daemon
            .request("POST", &start_path, &[], Body::Json(body))?
            .bytes()
            .map_err(|e| daemon.protocol(format!("POST {start_path}: {e}")))?;
        return Ok(());
    }
    let body = serde_json::to_vec(&start).map_err(|e| daemon.protocol(e.to_string()))?;
    let upgraded = daemon.hijack("POST", &start_path, &body)?;
    let session = Session {
        daemon: &daemon,
        id: &id,
        tty: args.tty,
        stdin: args.interactive,
        detach_keys: args.detach_keys.as_deref(),
        resize: format!("/exec/{}/resize", escape(&id)),
    };
    let detach = session.detach_sequence()?;
    let raw = if args.tty {
        tty::RawMode::enter()
    } else {
        None
    };
    if args.tty {
        session.follow_size();
    }
    let detached = session.stream(upgraded, detach)?;
    drop(raw);
    if detached {
        return Ok(());
    }
    let inspect: ExecInspect = daemon.get_json(&format!("/exec/{}/json", escape(&id)))?;
    match inspect.exit_code.unwrap_or(0) {
        0 => Ok(()),
        code => Err(Error::Exit(code as i32)),
    }
}
