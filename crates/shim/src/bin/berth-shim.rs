//! `berth-shim`: the per-container monitor started by berthd (see the berth_shim crate).

use std::path::PathBuf;

use clap::Parser;

/// Creates one container and watches over it until it exits.
#[derive(Parser)]
#[command(name = "berth-shim", version)]
struct Args {
    #[arg(long)]
    id: String,
    #[arg(long)]
    bundle: PathBuf,
    #[arg(long)]
    runtime_root: PathBuf,
    /// An external OCI runtime (runc, crun) to create the container with, instead of
    /// berth-runtime in this process.
    #[arg(long)]
    runtime: Option<PathBuf>,
    #[arg(long)]
    socket: PathBuf,
    #[arg(long)]
    exit_file: PathBuf,
    #[arg(long)]
    log: PathBuf,
    /// Rotate the log when it would grow past this many bytes (0: never).
    #[arg(long, default_value_t = 0)]
    log_max_size: u64,
    /// Log files to keep, the live one included.
    #[arg(long, default_value_t = 1)]
    log_max_files: u32,
    #[arg(long)]
    tty: bool,
    #[arg(long)]
    stdin: bool,
    #[arg(long)]
    stdin_once: bool,
    #[arg(long, requires = "width")]
    height: Option<u16>,
    #[arg(long, requires = "height")]
    width: Option<u16>,
}

fn main() {
    let args = Args::parse();
    let opts = berth_shim::Options {
        id: args.id,
        bundle: args.bundle,
        runtime_root: args.runtime_root,
        runtime: args.runtime,
        socket: args.socket,
        exit_file: args.exit_file,
        log: args.log,
        log_max_size: args.log_max_size,
        log_max_files: args.log_max_files,
        tty: args.tty,
        stdin: args.stdin,
        stdin_once: args.stdin_once,
        size: args.height.zip(args.width),
    };
    std::process::exit(berth_shim::server::run(&opts));
}
