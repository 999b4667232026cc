//! `berth builder prune`: empties the build cache through `POST /build/prune`, with the docker
//! CLI's question and report.

use berth_api::disk_usage::BuildCachePruneResponse;
use clap::{Args, Subcommand};

use super::images::confirm;
use super::{filters_json, prune_report, write_stdout};
use crate::error::Result;
use crate::Context;

/// `berth builder …`.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

/// `builder prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long)]
    filter: Vec<String>,
}

/// Runs a `builder` subcommand.
pub fn builder(cx: &Context, command: &BuilderCommand) -> Result<()> {
    match command {
        BuilderCommand::Prune(args) => prune(cx, args),
    }
}

fn prune(cx: &Context, args: &PruneArgs) -> Result<()> {
    let warning = if args.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !args.force && !confirm(&format!("{warning} Are you sure you want to continue?"))? {
        return Ok(());
    }
    let mut query = Vec::new();
    if !args.filter.is_empty() {
        query.push(format!("filters={}", filters_json(&args.filter)?));
    }
    if args.all {
        query.push("all=1".to_string());
    }
    let mut path = "/build/prune".to_string();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let pruned: BuildCachePruneResponse = cx.daemon()?.post_json(&path, None::<&()>)?;
    write_stdout(&prune_report(
        "Deleted build cache objects:",
        &pruned.caches_deleted.unwrap_or_default(),
        Some(pruned.space_reclaimed),
    ))
}
