//! `berthd`: the berth daemon. Parses its flags and runs [`daemon::run`].

mod api;
mod daemon;

use std::path::PathBuf;

use clap::Parser;

/// The berth daemon: serves the Docker Engine API.
#[derive(Parser, Debug)]
#[command(name = "berthd", version)]
struct Args {
    /// Where to listen (only unix:///path is supported); repeatable.
    #[arg(short = 'H', long = "host", default_value = "unix:///run/berth.sock")]
    hosts: Vec<String>,
    /// Persistent state: images, snapshots.
    #[arg(long, default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Runtime state lost on reboot: the pid file, per-operation files.
    #[arg(long, default_value = "/run/berth")]
    exec_root: PathBuf,
    /// Another OCI runtime containers may ask for with `--runtime NAME` (runc and crun are
    /// known when on PATH); repeatable.
    #[arg(long = "add-runtime", value_name = "NAME=PATH", value_parser = berth_engine::containers::parse_added)]
    add_runtime: Vec<(String, PathBuf)>,
    /// How much to log on stderr.
    #[arg(short = 'l', long, default_value = "info", value_parser = ["debug", "info", "warn", "error", "fatal"])]
    log_level: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = daemon::Config {
        hosts: args.hosts,
        data_root: args.data_root,
        exec_root: args.exec_root,
        runtimes: args.add_runtime,
        verbose: matches!(args.log_level.as_str(), "debug" | "info"),
    };
    match daemon::run(config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
