//! berth-imagectl: images on a berth data root, without the daemon (as containerd's `ctr`).
//! The command names, arguments and output follow `docker`'s.

mod archives;
mod listing;
mod progress;
mod registry;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use berth_distribution::ClientConfig;
use berth_image::lock::DataLock;
use berth_image::snapshot::Snapshotter;
use berth_image::ImageStore;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth-imagectl", version, about)]
struct Cli {
    /// Where berth keeps its state.
    #[arg(long, global = true, default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Registries (host:port) to reach over plain HTTP.
    #[arg(long = "insecure-registry", global = true)]
    insecure_registries: Vec<String>,
    /// Where registry credentials are kept (config.json; default $DOCKER_CONFIG or ~/.docker).
    #[arg(long = "config", global = true)]
    config_dir: Option<PathBuf>,
    /// Per-registry CA certificates, in <dir>/<host:port>/*.crt (default /etc/docker/certs.d).
    #[arg(long, global = true)]
    certs_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download an image from a registry.
    Pull {
        name: String,
        /// os/arch[/variant] to pick from a multi-platform image.
        #[arg(long)]
        platform: Option<String>,
        /// Print nothing but the image's name.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Upload an image to a registry.
    Push {
        name: String,
        /// Layer compression: gzip (readable by every engine) or zstd (faster, smaller).
        #[arg(long, default_value = "gzip")]
        compression: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Store credentials for a registry (checked against it first).
    Login {
        server: String,
        #[arg(short, long)]
        username: String,
        #[arg(short, long)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove the stored credentials of a registry.
    Logout { server: String },
    /// Load images from a docker-save or OCI archive (standard input by default).
    Load {
        #[arg(short, long)]
        input: Option<PathBuf>,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write images to an archive (docker-save format; --format oci for an OCI layout).
    Save {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, default_value = "docker")]
        format: String,
    },
    /// Make an image from a root file system tar (a path, or - for standard input).
    Import {
        file: String,
        /// The name to give the image.
        reference: Option<String>,
        /// Dockerfile instructions for the config (CMD, ENTRYPOINT, ENV, …).
        #[arg(short, long)]
        change: Vec<String>,
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// List images.
    Images {
        /// Only image ids.
        #[arg(short, long)]
        quiet: bool,
        /// Full image ids.
        #[arg(long)]
        no_trunc: bool,
    },
    /// Name an image.
    Tag { source: String, target: String },
    /// Remove images (by name: the name; by id: the image).
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(short, long)]
        force: bool,
    },
    /// Remove images without a name (with --all: every image).
    Prune {
        #[arg(short, long)]
        all: bool,
        /// Accepted for docker compatibility: this tool never asks.
        #[arg(short, long)]
        force: bool,
    },
    /// Show images' details as JSON.
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show how an image was made, layer by layer.
    History {
        image: String,
        #[arg(long)]
        no_trunc: bool,
        /// Sizes and dates for people (`-H=false` for raw numbers).
        #[arg(short = 'H', long, default_value = "true", num_args = 0..=1,
              require_equals = true, default_missing_value = "true",
              action = clap::ArgAction::Set)]
        human: bool,
    },
    /// Re-hash every stored blob; report those that no longer match their digest.
    Verify,
    /// Remove blobs and snapshots no image or container uses, and what interrupted work left.
    Gc,
}

/// The parts of a data root this tool uses.
pub struct Root {
    pub images: ImageStore,
    pub snapshots: Snapshotter,
    /// Held while this process may add content nothing references yet.
    _lock: DataLock,
}

fn images_root(data_root: &Path) -> PathBuf {
    data_root.join("image")
}

fn snapshots_root(data_root: &Path) -> PathBuf {
    data_root.join("snapshots")
}

impl Root {
    fn open(data_root: &Path) -> Result<Root> {
        let lock = DataLock::writer(&images_root(data_root))?;
        Ok(Root {
            images: ImageStore::open(&images_root(data_root))
                .with_context(|| format!("open the image store in {}", data_root.display()))?,
            snapshots: Snapshotter::open(&snapshots_root(data_root))?,
            _lock: lock,
        })
    }
}

fn main() -> ExitCode {
    // Output piped into `head` ends the tool quietly rather than failing a write.
    let _ = berth_sys::default_sigpipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let config = ClientConfig {
        insecure_registries: cli.insecure_registries.clone(),
        config_dir: cli.config_dir.clone(),
        certs_dir: cli.certs_dir.clone(),
    };
    // Commands that do not touch the store, or that lock it their own way.
    match &cli.command {
        Command::Login {
            server,
            username,
            password,
            password_stdin,
        } => {
            return registry::login(
                server,
                username,
                password.as_deref(),
                *password_stdin,
                &config,
            )
        }
        Command::Logout { server } => return registry::logout(server, &config),
        Command::Gc => {
            return listing::gc(
                &images_root(&cli.data_root),
                &snapshots_root(&cli.data_root),
            )
        }
        _ => {}
    }
    let mut root = Root::open(&cli.data_root)?;
    match cli.command {
        Command::Pull {
            name,
            platform,
            quiet,
        } => registry::pull(&mut root, &name, platform.as_deref(), quiet, &config),
        Command::Push {
            name,
            compression,
            quiet,
        } => registry::push(&mut root, &name, &compression, quiet, &config),
        Command::Load { input, quiet } => archives::load(&mut root, input.as_deref(), quiet),
        Command::Save {
            images,
            output,
            format,
        } => archives::save(&root, &images, output.as_deref(), &format),
        Command::Import {
            file,
            reference,
            change,
            message,
        } => archives::import(&mut root, &file, reference.as_deref(), &change, &message),
        Command::Images { quiet, no_trunc } => listing::images(&root, quiet, no_trunc),
        Command::Tag { source, target } => listing::tag(&mut root, &source, &target),
        Command::Rmi { images, force } => listing::rmi(&mut root, &images, force),
        Command::Prune { all, force: _ } => {
            listing::prune(&mut root, all)?;
            // Collection needs the lock this process holds as a writer: let it go first.
            drop(root);
            listing::reclaim(
                &images_root(&cli.data_root),
                &snapshots_root(&cli.data_root),
            )
        }
        Command::Inspect { images } => listing::inspect(&root, &images),
        Command::History {
            image,
            no_trunc,
            human,
        } => listing::history(&root, &image, no_trunc, human),
        Command::Verify => listing::verify(&root),
        Command::Login { .. } | Command::Logout { .. } | Command::Gc => {
            unreachable!("handled before the store is opened")
        }
    }
}
