//! `create`, `run`, `start` and `attach`: making containers and streaming their stdio.

use std::io::{stdin, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_api::containers::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerInspect, WaitResponse,
};
use clap::Args;
use signal_hook::consts::signal::SIGWINCH;
use signal_hook::iterator::Signals;

use super::create_flags::CreateFlags;
use super::{domain_of, split_name, write_stdout};
use crate::client::{escape, Daemon};
use crate::commands::auth::registry_auth;
use crate::error::{Error, Result};
use crate::http::{Body, Response, Upgraded};
use crate::stream::{parse_detach_keys, pump_stdin, show_output};
use crate::{progress, tty, Context};

/// `berth create` flags.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    flags: CreateFlags,
}

/// `berth run` flags.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    #[command(flatten)]
    flags: CreateFlags,
}

/// `berth start` flags.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// CONTAINER...
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `berth attach` flags.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// CONTAINER
    container: String,
}

/// Pulls `image` for `run`/`create`: progress is not shown (stdout is for the id and the
/// container's output), the summary lines go to stderr.
fn pull_image(cx: &Context, daemon: &Daemon, image: &str, platform: Option<&str>) -> Result<()> {
    let parts = split_name(image)?;
    let reference = parts
        .digest
        .clone()
        .or(parts.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let mut path = format!(
        "/images/create?fromImage={}&tag={}",
        escape(&parts.repository),
        escape(&reference)
    );
    if let Some(platform) = platform {
        path.push_str(&format!("&platform={}", escape(platform)));
    }
    let auth = registry_auth(cx, domain_of(&parts.repository))?;
    let response = daemon.request("POST", &path, &[("X-Registry-Auth", auth)], Body::Empty)?;
    let mut body = response.body;
    for status in progress::render(&mut body, true)? {
        eprintln!("{status}");
    }
    Ok(())
}

/// With the tag docker shows in "Unable to find image".
fn with_tag(image: &str) -> String {
    match split_name(image) {
        Ok(parts) if parts.tag.is_none() && parts.digest.is_none() => format!("{image}:latest"),
        _ => image.to_string(),
    }
}

/// Creates the container, pulling its image first when `--pull` says so; returns its id.
fn create(
    cx: &Context,
    daemon: &Daemon,
    flags: &CreateFlags,
    request: &ContainerCreateRequest,
) -> Result<String> {
    let mut path = "/containers/create".to_string();
    let mut query = Vec::new();
    if let Some(name) = &flags.name {
        query.push(format!("name={}", escape(name)));
    }
    if let Some(platform) = &flags.platform {
        query.push(format!("platform={}", escape(platform)));
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    match flags.pull.as_str() {
        "always" => pull_image(cx, daemon, &flags.image, flags.platform.as_deref())?,
        "missing" | "never" => {}
        other => {
            return Err(Error::Usage(format!(
            "invalid pull option: {other:?}: must be one of \"always\", \"missing\" or \"never\""
        )))
        }
    }
    let created = match daemon.post_json::<ContainerCreateResponse>(&path, Some(request)) {
        Err(Error::Daemon {
            status: 404,
            message,
        }) if flags.pull == "missing" && message.starts_with("No such image") => {
            eprintln!("Unable to find image '{}' locally", with_tag(&flags.image));
            pull_image(cx, daemon, &flags.image, flags.platform.as_deref())?;
            daemon.post_json(&path, Some(request))?
        }
        other => other?,
    };
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    Ok(created.id)
}

/// A daemon error while creating or starting, with docker's exit code for it.
fn coded(e: Error) -> Error {
    match e {
        Error::Daemon { ref message, .. } => Error::Coded {
            code: berth_api::error::start_failure_code(message),
            message: e.to_string(),
        },
        Error::Exit(_) | Error::Coded { .. } => e,
        other => Error::Coded {
            code: 125,
            message: other.to_string(),
        },
    }
}

/// Creates a container and prints its id.
pub fn create_command(cx: &Context, args: &CreateArgs) -> Result<()> {
    let daemon = cx.daemon().map_err(coded)?;
    let request = args.flags.request(false).map_err(coded)?;
    let id = create(cx, &daemon, &args.flags, &request).map_err(coded)?;
    write_stdout(&format!("{id}\n"))
}

/// Creates and starts a container; unless `-d`, streams its stdio and ends with its exit code.
pub fn run(cx: &Context, args: &RunArgs) -> Result<()> {
    let flags = &args.flags;
    let daemon = cx.daemon().map_err(coded)?;
    let request = flags.request(!args.detach).map_err(coded)?;
    let id = create(cx, &daemon, flags, &request).map_err(coded)?;
    if args.detach {
        daemon
            .call("POST", &format!("/containers/{id}/start"))
            .map_err(coded)?;
        return write_stdout(&format!("{id}\n"));
    }
    let session = Session {
        daemon: &daemon,
        id: &id,
        tty: flags.tty,
        stdin: flags.interactive,
        detach_keys: args.detach_keys.as_deref(),
        resize: format!("/containers/{}/resize", escape(&id)),
    };
    session.run(true, if flags.rm { "removed" } else { "next-exit" })
}

/// One attached container (or exec): its stdio streamed until it ends or the user detaches.
pub(crate) struct Session<'a> {
    pub daemon: &'a Daemon,
    /// The container's (or exec's) id.
    pub id: &'a str,
    pub tty: bool,
    pub stdin: bool,
    pub detach_keys: Option<&'a str>,
    /// `/containers/{id}/resize` or `/exec/{id}/resize`.
    pub resize: String,
}

impl Session<'_> {
    /// Attaches, starts the container when `start`, streams, and returns the exit code seen
    /// by `wait?condition=`.
    fn run(&self, start: bool, condition: &str) -> Result<()> {
        let detach = self.detach_sequence()?;
        let id = escape(self.id);
        let attach_path = format!(
            "/containers/{id}/attach?stream=1&stdin={}&stdout=1&stderr=1",
            u8::from(self.stdin)
        );
        let upgraded = self
            .daemon
            .hijack("POST", &attach_path, b"")
            .map_err(coded)?;
        // The wait is registered before the start so a fast exit is not missed.
        let wait = self
            .daemon
            .request(
                "POST",
                &format!("/containers/{id}/wait?condition={condition}"),
                &[],
                Body::Empty,
            )
            .map_err(coded)?;
        let raw = if self.tty {
            tty::RawMode::enter()
        } else {
            None
        };
        if start {
            if let Err(e) = self.daemon.call("POST", &format!("/containers/{id}/start")) {
                drop(raw);
                return Err(coded(e));
            }
        }
        if self.tty {
            self.follow_size();
        }
        let detached = self.stream(upgraded, detach)?;
        drop(raw);
        if detached {
            return Ok(());
        }
        exit_of(self.daemon, wait)
    }

    /// The detach keys as bytes (ctrl-p, ctrl-q unless given).
    pub fn detach_sequence(&self) -> Result<Vec<u8>> {
        Ok(self
            .detach_keys
            .map(parse_detach_keys)
            .transpose()
            .map_err(Error::Usage)?
            .unwrap_or_else(|| vec![16, 17]))
    }

    /// Streams stdin in and the output out; true when the user detached.
    pub fn stream(&self, upgraded: Upgraded, detach: Vec<u8>) -> Result<bool> {
        let Upgraded {
            mut response,
            writer,
        } = upgraded;
        let detached = Arc::new(AtomicBool::new(false));
        if self.stdin {
            let flag = Arc::clone(&detached);
            let keys = self.tty.then_some(detach);
            let closer = writer
                .try_clone()
                .map_err(|e| Error::io("the attach stream", e))?;
            std::thread::spawn(move || {
                if pump_stdin(stdin(), writer, keys) {
                    flag.store(true, Ordering::SeqCst);
                    let _ = closer.shutdown(std::net::Shutdown::Both);
                }
            });
        }
        let result = show_output(&mut response.body, self.tty);
        if detached.load(Ordering::SeqCst) {
            return Ok(true);
        }
        result.map_err(|e| {
            self.daemon
                .protocol(format!("the output of container {}: {e}", self.id))
        })?;
        Ok(false)
    }

    /// Sends the terminal's size now and whenever it changes.
    pub fn follow_size(&self) {
        let Some(mut last) = tty::size() else {
            return;
        };
        let _ = self.daemon.call(
            "POST",
            &format!("{}?h={}&w={}", self.resize, last.0, last.1),
        );
        let daemon_host = self.daemon.host().to_string();
        let resize = self.resize.clone();
        // The terminal says when its size changed (SIGWINCH); signal-hook's iterator catches it
        // without a handler of our own.
        let Ok(mut changes) = Signals::new([SIGWINCH]) else {
            return;
        };
        std::thread::spawn(move || {
            for _ in changes.forever() {
                let Some(now) = tty::size() else { return };
                if now != last {
                    last = now;
                    let Ok(daemon) = Daemon::connect(&daemon_host) else {
                        return;
                    };
                    let _ = daemon.call("POST", &format!("{resize}?h={}&w={}", now.0, now.1));
                }
            }
        });
    }
}

/// Reads a wait answer: the container's code, as an [`Error::Exit`] when not 0.
fn exit_of(daemon: &Daemon, wait: Response) -> Result<()> {
    let mut bytes = Vec::new();
    let mut body = wait.body;
    body.read_to_end(&mut bytes)
        .map_err(|e| daemon.protocol(format!("waiting for the container: {e}")))?;
    let answer: WaitResponse = serde_json::from_slice(&bytes).map_err(|e| {
        daemon.protocol(format!("waiting for the container: unexpected answer: {e}"))
    })?;
    if let Some(error) = answer.error.filter(|e| !e.message.is_empty()) {
        return Err(Error::Coded {
            code: 125,
            message: format!("Error response from daemon: {}", error.message),
        });
    }
    match answer.status_code {
        0 => Ok(()),
        code => Err(Error::Exit(code as i32)),
    }
}

fn inspect(daemon: &Daemon, name: &str) -> Result<ContainerInspect> {
    daemon.get_json(&format!("/containers/{}/json", escape(name)))
}

/// Starts containers; with `-a`, one, attached, ending with its exit code.
pub fn start(cx: &Context, args: &StartArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            return Err(Error::Usage(
                "you cannot start and attach multiple containers at once".into(),
            ));
        }
        let container = inspect(&daemon, &args.containers[0])?;
        let session = Session {
            daemon: &daemon,
            id: &container.id,
            tty: container.config.tty,
            stdin: args.interactive && container.config.open_stdin,
            detach_keys: args.detach_keys.as_deref(),
            resize: format!("/containers/{}/resize", escape(&container.id)),
        };
        return session.run(true, "next-exit");
    }
    let mut failed = Vec::new();
    for name in &args.containers {
        match daemon.call("POST", &format!("/containers/{}/start", escape(name))) {
            Ok(()) => write_stdout(&format!("{name}\n"))?,
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        )))
    }
}

/// Attaches to a running container until it ends (its exit code) or the user detaches.
pub fn attach(cx: &Context, args: &AttachArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let container = inspect(&daemon, &args.container)?;
    if !container.state.running {
        return Err(Error::Refused(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    if container.state.paused {
        return Err(Error::Refused(
            "You cannot attach to a paused container, unpause it first".into(),
        ));
    }
    let session = Session {
        daemon: &daemon,
        id: &container.id,
        tty: container.config.tty,
        stdin: !args.no_stdin && container.config.open_stdin,
        detach_keys: args.detach_keys.as_deref(),
        resize: format!("/containers/{}/resize", escape(&container.id)),
    };
    session.run(false, "next-exit")
}
