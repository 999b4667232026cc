//! runc's command line, parsed with clap, and the dispatch to the library.

use std::path::PathBuf;
use std::time::Duration;

use berth_runtime::{
    ops, seal, spec, CreateOptions, Error, ExecOptions, Result, StartMode, StateRoot, Status,
};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth-runtime", version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"),
          about = "berth's OCI runtime, a drop-in for runc")]
pub struct Cli {
    /// Directory for container state
    #[arg(long, global = true, default_value = berth_runtime::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// File to log errors to
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Map cgroupsPath slice:prefix:name to systemd's directory layout
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for compatibility
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for compatibility
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct CreateArgs {
    pub id: String,
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket to send the pty master to
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the init's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for compatibility: no session keyring is created
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many fds (from 3) through to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Args)]
pub struct UpdateArgs {
    pub id: String,
    /// Resources document (LinuxResources JSON), or - for stdin
    #[arg(short, long)]
    pub resources: Option<String>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a container (its process waits for `start`)
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container's process
        #[arg(short, long)]
        detach: bool,
        /// Accepted for compatibility
        #[arg(long)]
        keep: bool,
    },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal to a container's init (default SIGTERM)
    Kill {
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process in the container
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container
    Delete {
        id: String,
        /// Kill a running container first
        #[arg(short, long)]
        force: bool,
    },
    /// Run a process in a running container
    Exec {
        id: String,
        /// Command and arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
        /// Process document (JSON) to run instead of the command
        #[arg(short, long)]
        process: Option<PathBuf>,
        #[arg(short, long)]
        tty: bool,
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Environment variable KEY=value (repeatable)
        #[arg(short, long)]
        env: Vec<String>,
        /// UID[:GID]
        #[arg(short, long)]
        user: Option<String>,
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        /// Add a capability (repeatable)
        #[arg(short, long)]
        cap: Vec<String>,
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        #[arg(long)]
        apparmor: Option<String>,
        #[arg(long = "process-label")]
        process_label: Option<String>,
        /// Accepted for compatibility
        #[arg(long = "ignore-paused")]
        ignore_paused: bool,
        /// Accepted for compatibility
        #[arg(long)]
        cgroup: Vec<String>,
    },
    /// List the processes of a container
    Ps {
        id: String,
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Arguments for ps(1) (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers
    List {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Print only ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Print resource usage
    Events {
        id: String,
        /// Print one stats document and exit
        #[arg(long)]
        stats: bool,
        /// Interval between stats documents
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Change resource limits of a running container
    Update(UpdateArgs),
    /// Write a default config.json
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Print a config for a rootless container
        #[arg(long)]
        rootless: bool,
    },
    /// Print what this runtime supports (JSON)
    Features,
}

fn create_options(args: &CreateArgs, systemd_cgroup: bool) -> CreateOptions {
    CreateOptions {
        id: args.id.clone(),
        bundle: args.bundle.clone(),
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
        systemd_cgroup,
    }
}

fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || Error::InvalidArgument(format!("invalid interval {text:?}"));
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let value: f64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Runs one command; returns the exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let systemd = cli.systemd_cgroup;
    let state_root = || StateRoot::open(&cli.root);
    match &cli.command {
        Command::Create(args) => {
            berth_runtime::create(
                &state_root()?,
                &create_options(args, systemd),
                StartMode::Create,
            )?;
            Ok(0)
        }
        Command::Run { create, detach, .. } => {
            berth_runtime::run(&state_root()?, &create_options(create, systemd), *detach)
        }
        Command::Start { id } => ops::start(&state_root()?, id).map(|_| 0),
        Command::State { id } => {
            println!("{}", ops::state(&state_root()?, id)?);
            Ok(0)
        }
        Command::Kill { id, signal, all } => {
            ops::kill_container(&state_root()?, id, ops::parse_signal(signal)?, *all).map(|_| 0)
        }
        Command::Delete { id, force } => ops::delete(&state_root()?, id, *force).map(|_| 0),
        Command::Pause { id } => ops::set_paused(&state_root()?, id, true).map(|_| 0),
        Command::Resume { id } => ops::set_paused(&state_root()?, id, false).map(|_| 0),
        Command::Exec {
            id,
            command,
            process,
            tty,
            cwd,
            env,
            user,
            additional_gids,
            cap,
            no_new_privs,
            detach,
            pid_file,
            console_socket,
            preserve_fds,
            apparmor,
            process_label,
            ..
        } => {
            seal::ensure_sealed()?;
            let user = user.as_deref().map(parse_user).transpose()?;
            let opts = ExecOptions {
                process_file: process.clone(),
                args: command.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
                user,
                additional_gids: additional_gids.clone(),
                caps: cap.clone(),
                no_new_privs: *no_new_privs,
                tty: *tty,
                detach: *detach,
                pid_file: pid_file.clone(),
                console_socket: console_socket.clone(),
                preserve_fds: *preserve_fds,
                apparmor: apparmor.clone(),
                process_label: process_label.clone(),
            };
            berth_runtime::exec(&state_root()?, id, &opts)
        }
        Command::Ps {
            id,
            format,
            ps_args,
        } => ps(&state_root()?, id, format, ps_args),
        Command::List { format, quiet } => list(&state_root()?, format, *quiet),
        Command::Events {
            id,
            stats,
            interval,
        } => {
            let root = state_root()?;
            let interval = parse_duration(interval)?;
            loop {
                match ops::stats_json(&root, id) {
                    Ok(doc) => println!("{doc}"),
                    Err(e) if !*stats => {
                        // The container went away: the stream ends.
                        if matches!(e, Error::WrongState { .. } | Error::NotFound(_)) {
                            return Ok(0);
                        }
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
                if *stats {
                    return Ok(0);
                }
                std::thread::sleep(interval);
            }
        }
        Command::Update(args) => {
            let resources = crate::update::resources(args)?;
            ops::update(&state_root()?, &args.id, &resources).map(|_| 0)
        }
        Command::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::InvalidArgument(format!(
                    "{} already exists",
                    path.display()
                )));
            }
            let document = if *rootless {
                spec::rootless_spec(
                    nix::unistd::getuid().as_raw(),
                    nix::unistd::getgid().as_raw(),
                )
            } else {
                spec::default_spec()
            };
            let text = spec::to_pretty_json(&document);
            std::fs::write(&path, text).map_err(|e| Error::Io {
                context: format!("write {}", path.display()),
                source: e,
            })?;
            Ok(0)
        }
        Command::Features => {
            print_json(&berth_runtime::features::document())?;
            Ok(0)
        }
    }
}

fn parse_user(text: &str) -> Result<(u32, Option<u32>)> {
    let bad = || Error::InvalidArgument(format!("invalid --user {text:?}: expected UID[:GID]"));
    let (uid, gid) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn ps(root: &StateRoot, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let pids = ops::pids(root, id)?;
    match format {
        "json" => {
            println!(
                "{}",
                serde_json::to_string(&pids).unwrap_or_else(|_| "[]".into())
            );
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let output = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error::Io {
                    context: "run ps".into(),
                    source: e,
                })?;
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_column = header
                .split_whitespace()
                .position(|c| c == "PID")
                .ok_or_else(|| Error::InvalidArgument("ps output has no PID column".into()))?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(pid_column)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
            Ok(0)
        }
        other => Err(Error::InvalidArgument(format!(
            "invalid format {other:?}: use table or json"
        ))),
    }
}

fn list(root: &StateRoot, format: &str, quiet: bool) -> Result<i32> {
    let mut rows = Vec::new();
    for id in root.ids()? {
        let Ok(record) = root.load(&id) else { continue };
        let status = root.status(&record);
        rows.push((record, status));
    }
    if quiet {
        for (record, _) in &rows {
            println!("{}", record.id);
        }
        return Ok(0);
    }
    match format {
        "json" => {
            let docs: Vec<_> = rows.iter().map(|(r, s)| r.document(*s)).collect();
            print_json(&docs)?;
        }
        "table" => {
            let mut table = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for (r, s) in &rows {
                let pid = if *s == Status::Stopped { 0 } else { r.pid };
                table.push(vec![
                    r.id.clone(),
                    pid.to_string(),
                    s.as_str().to_string(),
                    r.bundle.display().to_string(),
                    r.created.clone(),
                    if r.owner.is_empty() {
                        "root".into()
                    } else {
                        r.owner.clone()
                    },
                ]);
            }
            let widths: Vec<usize> = (0..6)
                .map(|i| table.iter().map(|row| row[i].len()).max().unwrap_or(0))
                .collect();
            for row in table {
                let line: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "invalid format {other:?}: use table or json"
            )))
        }
    }
    Ok(0)
}
