//! `berth`, the command people type: docker's commands, flags, output and exit codes, talking
//! only HTTP (the Engine API over a unix socket) to the daemon.

pub mod autostart;
mod broken_stdout;
mod chunked;
pub mod client;
mod commands;
pub mod error;
pub mod format;
pub mod http;
pub mod progress;
mod read_ahead;
pub mod stream;
pub mod template;
pub mod tty;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use client::Daemon;
use commands::images::{ImagesArgs, InspectArgs, RmiArgs};
use error::{Error, Result};

/// The `--version` line.
pub fn version_line() -> String {
    format!(
        "berth version {}, build {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown")
    )
}

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path); else $BERTH_HOST, $DOCKER_HOST, unix:///run/berth.sock
    #[arg(short = 'H', long)]
    host: Option<String>,
    /// Location of client config files (credentials)
    #[arg(long, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Show the berth version information
    Version(commands::system::VersionArgs),
    /// Display system-wide information
    Info(commands::system::InfoArgs),
    /// Download an image from a registry
    Pull(commands::transfer::PullArgs),
    /// Upload an image to a registry
    Push(commands::transfer::PushArgs),
    /// List images
    Images(ImagesArgs),
    /// Return low-level information on images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(commands::images::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::images::TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::transfer::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::transfer::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::commit::ImportArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::commit::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::commit::DiffArgs),
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Create a new container
    Create(commands::run::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::run::StartArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::run::AttachArgs),
    /// Stop one or more running containers
    Stop(commands::lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(commands::lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(commands::lifecycle::KillArgs),
    /// Remove one or more containers
    Rm(commands::lifecycle::RmArgs),
    /// List containers
    Ps(commands::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(commands::ps::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::lifecycle::ContainersArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Execute a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Display the running processes of a container
    Top(commands::lifecycle::TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::lifecycle::PortArgs),
    /// Pause all processes within one or more containers
    Pause(commands::lifecycle::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::lifecycle::ContainersArgs),
    /// Rename a container
    Rename(commands::lifecycle::RenameArgs),
    /// Update configuration of one or more containers
    Update(commands::lifecycle::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        command: ContainerCommand,
    },
    /// Log in to a registry
    Login(commands::auth::LoginArgs),
    /// Log out from a registry
    Logout(commands::auth::LogoutArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        command: commands::network::NetworkCommand,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: commands::volume::VolumeCommand,
    },
    /// Manage builds
    Builder {
        #[command(subcommand)]
        command: commands::builder::BuilderCommand,
    },
    /// Manage berth
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
    /// Generate the autocompletion script for a shell
    Completion {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// `berth image …`.
#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(commands::images::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::images::TagArgs),
    /// Remove one or more images
    #[command(alias = "remove", alias = "rmi")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(commands::images::PruneArgs),
    /// Download an image from a registry
    Pull(commands::transfer::PullArgs),
    /// Upload an image to a registry
    Push(commands::transfer::PushArgs),
    /// Save one or more images to a tar archive
    Save(commands::transfer::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::transfer::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::commit::ImportArgs),
    /// Build an image from a Dockerfile
    Build(Box<commands::build::BuildArgs>),
}

/// `berth system …`.
#[derive(Debug, Subcommand)]
enum SystemCommand {
    /// Show berth disk usage
    Df(commands::df::DfArgs),
    /// Remove unused data
    Prune(commands::system_prune::PruneArgs),
    /// Display system-wide information
    Info(commands::system::InfoArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
}

/// `berth container …`.
#[derive(Debug, Subcommand)]
enum ContainerCommand {
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Create a new container
    Create(commands::run::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::run::StartArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::run::AttachArgs),
    /// Stop one or more running containers
    Stop(commands::lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(commands::lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(commands::lifecycle::KillArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(commands::lifecycle::RmArgs),
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(commands::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(commands::ps::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::lifecycle::ContainersArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Execute a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Display the running processes of a container
    Top(commands::lifecycle::TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::lifecycle::PortArgs),
    /// Pause all processes within one or more containers
    Pause(commands::lifecycle::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(commands::lifecycle::ContainersArgs),
    /// Rename a container
    Rename(commands::lifecycle::RenameArgs),
    /// Update configuration of one or more containers
    Update(commands::lifecycle::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Remove all stopped containers
    Prune(commands::lifecycle::PruneArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::commit::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::commit::DiffArgs),
}

/// What every command gets: where the daemon and the credentials are.
pub struct Context {
    /// `-H` or the environment's; `None`: the default socket, with berthd started on demand.
    host: Option<String>,
    /// The credentials directory (`--config`, else docker's default).
    pub config_dir: PathBuf,
    /// `-D`: print more about failures.
    pub debug: bool,
}

impl Context {
    /// Connects to the daemon and negotiates the API version.
    pub fn daemon(&self) -> Result<Daemon> {
        let mut daemon = match &self.host {
            Some(host) => Daemon::connect(host)?,
            None => {
                let host = autostart::default_host();
                match Daemon::connect(&host) {
                    Err(Error::Connect { .. }) if nobody_listens(&host) => {
                        autostart::start_daemon(&host)?
                    }
                    other => other?,
                }
            }
        };
        daemon.debug = self.debug;
        Ok(daemon)
    }
}

/// Nothing listens on the unix socket of `host` (no socket file, or a stale one) — as opposed
/// to a daemon this user may not talk to.
fn nobody_listens(host: &str) -> bool {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
        ),
    }
}

/// Runs `berth` with `args` (the program name first) and returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 1,
                _ => 125,
            };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            let _ = std::io::stdout().flush();
            // Failures of writing the output: not the daemon's answer, a container's exit
            // code or the command line.
            let a_write_failed = matches!(
                e,
                Error::Protocol { .. } | Error::Io { .. } | Error::Stream(_)
            );
            if a_write_failed && broken_stdout::reader_gone() {
                return broken_stdout::SIGPIPE_STATUS;
            }
            if !matches!(e, Error::Exit(_)) {
                eprintln!("{e}");
            }
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if cli.version {
        println!("{}", version_line());
        return Ok(());
    }
    let context = Context {
        host: client::resolve_host(cli.host.as_deref()),
        config_dir: cli
            .config
            .unwrap_or_else(berth_distribution::credentials::default_config_dir),
        debug: cli.debug,
    };
    let Some(command) = cli.command else {
        Cli::command()
            .print_help()
            .map_err(|e| Error::io("stdout", e))?;
        return Ok(());
    };
    use commands::{auth, events, exec, images, lifecycle, ps, run, stats, system, transfer};
    let cx = &context;
    match command {
        Command::Version(args) => system::version(cx, &args),
        Command::Info(args) => system::info(cx, &args),
        Command::Pull(args)
        | Command::Image {
            command: ImageCommand::Pull(args),
        } => transfer::pull(cx, &args),
        Command::Push(args)
        | Command::Image {
            command: ImageCommand::Push(args),
        } => transfer::push(cx, &args),
        Command::Images(args)
        | Command::Image {
            command: ImageCommand::Ls(args),
        } => images::list(cx, &args),
        Command::Inspect(args) => images::inspect(cx, &args, None),
        Command::Image {
            command: ImageCommand::Inspect(args),
        } => images::inspect(cx, &args, Some("image")),
        Command::Container { command } => container(cx, command),
        Command::Run(args) => run::run(cx, &args).map_err(|e| e.with_help("run")),
        Command::Create(args) => run::create_command(cx, &args).map_err(|e| e.with_help("create")),
        Command::Start(args) => run::start(cx, &args),
        Command::Attach(args) => run::attach(cx, &args),
        Command::Stop(args) => lifecycle::stop(cx, &args),
        Command::Restart(args) => lifecycle::restart(cx, &args),
        Command::Kill(args) => lifecycle::kill(cx, &args),
        Command::Rm(args) => lifecycle::remove(cx, &args),
        Command::Ps(args) => ps::ps(cx, &args),
        Command::Logs(args) => ps::logs(cx, &args),
        Command::Wait(args) => lifecycle::wait(cx, &args),
        Command::Cp(args) => commands::cp::cp(cx, &args),
        Command::Exec(args) => exec::exec(cx, &args),
        Command::Top(args) => lifecycle::top(cx, &args),
        Command::Port(args) => lifecycle::port(cx, &args),
        Command::Pause(args) => lifecycle::pause(cx, &args),
        Command::Unpause(args) => lifecycle::unpause(cx, &args),
        Command::Rename(args) => lifecycle::rename(cx, &args),
        Command::Update(args) => lifecycle::update(cx, &args),
        Command::Stats(args) => stats::stats(cx, &args),
        Command::Events(args) => events::events(cx, &args),
        Command::History(args)
        | Command::Image {
            command: ImageCommand::History(args),
        } => images::history(cx, &args),
        Command::Tag(args)
        | Command::Image {
            command: ImageCommand::Tag(args),
        } => images::tag(cx, &args),
        Command::Rmi(args)
        | Command::Image {
            command: ImageCommand::Rm(args),
        } => images::remove(cx, &args),
        Command::Image {
            command: ImageCommand::Prune(args),
        } => images::prune(cx, &args),
        Command::Save(args)
        | Command::Image {
            command: ImageCommand::Save(args),
        } => transfer::save(cx, &args),
        Command::Load(args)
        | Command::Image {
            command: ImageCommand::Load(args),
        } => transfer::load(cx, &args),
        Command::Import(args)
        | Command::Image {
            command: ImageCommand::Import(args),
        } => commands::commit::import(cx, &args),
        Command::Commit(args) => commands::commit::commit(cx, &args),
        Command::Build(args) => commands::build::build(cx, &args),
        Command::Image {
            command: ImageCommand::Build(args),
        } => commands::build::build(cx, &args),
        Command::Export(args) => commands::commit::export(cx, &args),
        Command::Diff(args) => commands::commit::diff(cx, &args),
        Command::Network { command } => commands::network::network(cx, command),
        Command::Volume { command } => commands::volume::volume(cx, command),
        Command::Builder { command } => commands::builder::builder(cx, &command),
        Command::System { command } => match command {
            SystemCommand::Df(args) => commands::df::df(cx, &args),
            SystemCommand::Prune(args) => commands::system_prune::prune(cx, &args),
            SystemCommand::Info(args) => system::info(cx, &args),
            SystemCommand::Events(args) => events::events(cx, &args),
        },
        Command::Login(args) => auth::login(cx, &args),
        Command::Logout(args) => auth::logout(cx, &args),
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn container(cx: &Context, command: ContainerCommand) -> Result<()> {
    use commands::{exec, images, lifecycle, ps, run, stats};
    match command {
        ContainerCommand::Run(args) => run::run(cx, &args).map_err(|e| e.with_help("run")),
        ContainerCommand::Create(args) => {
            run::create_command(cx, &args).map_err(|e| e.with_help("create"))
        }
        ContainerCommand::Start(args) => run::start(cx, &args),
        ContainerCommand::Attach(args) => run::attach(cx, &args),
        ContainerCommand::Stop(args) => lifecycle::stop(cx, &args),
        ContainerCommand::Restart(args) => lifecycle::restart(cx, &args),
        ContainerCommand::Kill(args) => lifecycle::kill(cx, &args),
        ContainerCommand::Rm(args) => lifecycle::remove(cx, &args),
        ContainerCommand::Ls(args) => ps::ps(cx, &args),
        ContainerCommand::Logs(args) => ps::logs(cx, &args),
        ContainerCommand::Wait(args) => lifecycle::wait(cx, &args),
        ContainerCommand::Cp(args) => commands::cp::cp(cx, &args),
        ContainerCommand::Inspect(args) => images::inspect(cx, &args, Some("container")),
        ContainerCommand::Exec(args) => exec::exec(cx, &args),
        ContainerCommand::Top(args) => lifecycle::top(cx, &args),
        ContainerCommand::Port(args) => lifecycle::port(cx, &args),
        ContainerCommand::Pause(args) => lifecycle::pause(cx, &args),
        ContainerCommand::Unpause(args) => lifecycle::unpause(cx, &args),
        ContainerCommand::Rename(args) => lifecycle::rename(cx, &args),
        ContainerCommand::Update(args) => lifecycle::update(cx, &args),
        ContainerCommand::Stats(args) => stats::stats(cx, &args),
        ContainerCommand::Prune(args) => lifecycle::prune(cx, &args),
        ContainerCommand::Commit(args) => commands::commit::commit(cx, &args),
        ContainerCommand::Export(args) => commands::commit::export(cx, &args),
        ContainerCommand::Diff(args) => commands::commit::diff(cx, &args),
    }
}
