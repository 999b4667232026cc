//! berth-imagectl: images on a berth data root, without the daemon (as containerd's `ctr`).
//! The command names, arguments and output follow `docker`'s.

mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use berth_distribution::{ClientConfig, Platform};
use berth_image::lock::DataLock;
use berth_image::snapshot::Snapshotter;
use berth_image::{ImageStore, Reference};
use clap::{Parser, Subcommand};

use crate::progress::Display;

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
    /// Load images from a docker-save or OCI archive (standard input by default).
    Load {
        #[arg(short, long)]
        input: Option<PathBuf>,
        #[arg(short, long)]
        quiet: bool,
    },
    /// List images.
    Images {
        /// Only image ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Re-hash every stored blob; report those that no longer match their digest.
    Verify,
    /// Remove blobs and snapshots no image or container uses, and what interrupted work left.
    Gc,
}

/// The parts of a data root this tool uses.
struct Root {
    images: ImageStore,
    snapshots: Snapshotter,
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
    if let Command::Gc = cli.command {
        return gc(&cli.data_root);
    }
    let mut root = Root::open(&cli.data_root)?;
    match cli.command {
        Command::Pull {
            name,
            platform,
            quiet,
        } => pull(&mut root, &name, platform.as_deref(), quiet, &config),
        Command::Load { input, quiet } => load(&mut root, input.as_deref(), quiet),
        Command::Images { quiet } => {
            images(&root, quiet);
            Ok(())
        }
        Command::Verify => verify(&root),
        Command::Gc => unreachable!("handled before the store is opened"),
    }
}

fn pull(
    root: &mut Root,
    name: &str,
    platform: Option<&str>,
    quiet: bool,
    config: &ClientConfig,
) -> Result<()> {
    let reference: Reference = name.parse()?;
    let platform: Platform = match platform {
        Some(p) => p.parse()?,
        None => Platform::default(),
    };
    let before = root
        .images
        .get(&reference.to_string())
        .map(|r| r.id.clone());
    let display = Display::new();
    if !quiet {
        if reference.tag().is_none() && reference.digest().is_none() {
            display.println("Using default tag: latest");
        }
        let tag = reference
            .digest()
            .map(ToString::to_string)
            .or_else(|| reference.tag().map(str::to_string))
            .unwrap_or_else(|| "latest".into());
        display.println(&format!(
            "{tag}: Pulling from {}",
            reference.path().trim_start_matches("library/")
        ));
    }
    let silent = berth_image::progress::Silent;
    let observer: &dyn berth_image::progress::Observer = if quiet { &silent } else { &display };
    let record = berth_distribution::pull(
        &mut root.images,
        &root.snapshots,
        &reference,
        &platform,
        config,
        observer,
    )?;
    if !quiet {
        if let Some(digest) = record.repo_digests.first().and_then(|d| d.split_once('@')) {
            display.println(&format!("Digest: {}", digest.1));
        }
        let status = if before.as_ref() == Some(&record.id) {
            format!("Status: Image is up to date for {}", reference.familiar())
        } else {
            format!(
                "Status: Downloaded newer image for {}",
                reference.familiar()
            )
        };
        display.println(&status);
    }
    println!("{reference}");
    Ok(())
}

fn load(root: &mut Root, input: Option<&Path>, quiet: bool) -> Result<()> {
    let loaded = match input {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
            berth_image::archive::load_docker_archive(
                &mut root.images,
                std::io::BufReader::new(file),
            )?
        }
        None => {
            berth_image::archive::load_docker_archive(&mut root.images, std::io::stdin().lock())?
        }
    };
    for (id, names) in loaded {
        if names.is_empty() && !quiet {
            println!("Loaded image ID: {id}");
        }
        for name in names {
            if !quiet {
                println!("Loaded image: {}", name.familiar());
            }
        }
    }
    Ok(())
}

fn images(root: &Root, quiet: bool) {
    if !quiet {
        println!("{:<40} {:<20} {:<12}", "REPOSITORY", "TAG", "IMAGE ID");
    }
    for (record, names) in root.images.list() {
        if quiet {
            println!("{}", record.id.short());
            continue;
        }
        let mut rows: Vec<(String, String)> = names
            .iter()
            .filter_map(|n| n.parse::<Reference>().ok())
            .filter(|r| r.tag().is_some())
            .map(|r| {
                let familiar = r.familiar();
                let tag = r.tag().unwrap_or_default().to_string();
                let repo = familiar
                    .strip_suffix(&format!(":{tag}"))
                    .unwrap_or(&familiar)
                    .to_string();
                (repo, tag)
            })
            .collect();
        if rows.is_empty() {
            rows.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in rows {
            println!("{repo:<40} {tag:<20} {:<12}", record.id.short());
        }
    }
}

fn gc(data_root: &Path) -> Result<()> {
    let report =
        berth_image::gc::collect(&images_root(data_root), &snapshots_root(data_root), &[])?;
    println!(
        "Deleted {} blobs, {} snapshots, {} leftovers",
        report.blobs_removed.len(),
        report.snapshots_removed.len(),
        report.leftovers_removed
    );
    println!("Total reclaimed space: {}", human_size(report.bytes_freed));
    Ok(())
}

/// Sizes as Docker prints them (decimal units, 3 significant digits).
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.3}{}", units[unit])
            .replace(".000", "")
            .to_string()
    }
}

fn verify(root: &Root) -> Result<()> {
    let blobs = root.images.blobs();
    let mut bad = 0;
    for digest in blobs.digests()? {
        if let Err(e) = blobs.verify(&digest) {
            eprintln!("{e}");
            bad += 1;
        }
    }
    anyhow::ensure!(bad == 0, "{bad} blob(s) do not match their digest");
    Ok(())
}
