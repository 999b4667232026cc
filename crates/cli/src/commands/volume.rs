//! `berth volume …`: create, list, inspect, remove and prune volumes.

use berth_api::volumes::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::images::confirm;
use super::{filters_json, inspect_each, key_value_flags, print_rows, prune_report, write_stdout};
use crate::client::escape;
use crate::error::{Error, Result};
use crate::Context;

/// `berth volume …`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `volume create` flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// VOLUME (a random name when not given)
    name: Option<String>,
}

/// `volume ls` flags.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
}

/// `volume inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// VOLUME...
    #[arg(required = true)]
    volumes: Vec<String>,
}

/// `volume rm` flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    /// VOLUME...
    #[arg(required = true)]
    volumes: Vec<String>,
}

/// `volume prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    filter: Vec<String>,
}

/// Runs one `berth volume` command.
pub fn volume(cx: &Context, command: VolumeCommand) -> Result<()> {
    match command {
        VolumeCommand::Create(args) => create(cx, &args),
        VolumeCommand::Ls(args) => list(cx, &args),
        VolumeCommand::Inspect(args) => inspect(cx, &args),
        VolumeCommand::Rm(args) => remove(cx, &args),
        VolumeCommand::Prune(args) => prune(cx, &args),
    }
}

fn create(cx: &Context, args: &CreateArgs) -> Result<()> {
    let request = VolumeCreateRequest {
        name: args.name.clone().unwrap_or_default(),
        driver: args.driver.clone(),
        driver_opts: key_value_flags(&args.opt, "option")?,
        labels: key_value_flags(&args.label, "label")?,
    };
    let created: Volume = cx.daemon()?.post_json("/volumes/create", Some(&request))?;
    write_stdout(&format!("{}\n", created.name))
}

fn header(field: &str) -> Option<&'static str> {
    Some(match field {
        "Driver" => "DRIVER",
        "Name" => "VOLUME NAME",
        "Mountpoint" => "MOUNTPOINT",
        "Scope" => "SCOPE",
        "Labels" => "LABELS",
        _ => return None,
    })
}

/// A volume's row for `volume ls` templates.
pub(crate) fn row(volume: &Volume) -> Value {
    let labels: Vec<String> = volume
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    json!({
        "Driver": volume.driver,
        "Name": volume.name,
        "Mountpoint": volume.mountpoint,
        "Scope": volume.scope,
        "Labels": labels.join(","),
        "Links": "N/A",
        "Size": "N/A",
    })
}

fn list(cx: &Context, args: &LsArgs) -> Result<()> {
    let mut path = "/volumes".to_string();
    if !args.filter.is_empty() {
        path.push_str(&format!("?filters={}", filters_json(&args.filter)?));
    }
    let mut listed: VolumeListResponse = cx.daemon()?.get_json(&path)?;
    listed.volumes.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Value> = listed.volumes.iter().map(row).collect();
    let format = if args.quiet {
        Some("{{.Name}}")
    } else {
        args.format.as_deref()
    };
    print_rows(format, "table {{.Driver}}\t{{.Name}}", &rows, header)
}

fn inspect(cx: &Context, args: &InspectArgs) -> Result<()> {
    inspect_each(cx, "volumes", &args.volumes, args.format.as_deref())
}

fn remove(cx: &Context, args: &RmArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let force = if args.force { "?force=1" } else { "" };
    let mut failed = None;
    for name in &args.volumes {
        match daemon.call("DELETE", &format!("/volumes/{}{force}", escape(name))) {
            Ok(()) => write_stdout(&format!("{name}\n"))?,
            Err(e) => {
                eprintln!("{e}");
                failed = Some(Error::Exit(1));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

fn prune(cx: &Context, args: &PruneArgs) -> Result<()> {
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !confirm(&format!("{warning}\nAre you sure you want to continue?"))? {
        return Ok(());
    }
    let mut filters = args.filter.clone();
    if args.all {
        filters.push("all=true".into());
    }
    let mut path = "/volumes/prune".to_string();
    if !filters.is_empty() {
        path.push_str(&format!("?filters={}", filters_json(&filters)?));
    }
    let pruned: VolumePruneResponse = cx.daemon()?.post_json(&path, None::<&()>)?;
    write_stdout(&prune_report(
        "Deleted Volumes:",
        &pruned.volumes_deleted.unwrap_or_default(),
        Some(pruned.space_reclaimed),
    ))
}
