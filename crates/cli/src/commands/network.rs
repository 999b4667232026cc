//! `berth network …`: create, list, inspect, remove, prune, connect and disconnect networks.

use berth_api::container_inspect::{EndpointIpamConfig, EndpointSettings};
use berth_api::networks::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse, NetworkResource,
};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::images::confirm;
use super::{
    filters_json, inspect_each, key_value_flags, print_rows, prune_report, short_id, write_stdout,
};
use crate::client::escape;
use crate::error::{Error, Result};
use crate::Context;

/// `berth network …`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

/// `network create` flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    /// NETWORK
    name: String,
}

/// `network ls` flags.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
}

/// `network inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// NETWORK...
    #[arg(required = true)]
    networks: Vec<String>,
}

/// `network rm` flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    /// NETWORK...
    #[arg(required = true)]
    networks: Vec<String>,
}

/// `network prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
}

/// `network connect` flags.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    ip6: Option<String>,
    /// NETWORK
    network: String,
    /// CONTAINER
    container: String,
}

/// `network disconnect` flags.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    /// NETWORK
    network: String,
    /// CONTAINER
    container: String,
}

/// Runs one `berth network` command.
pub fn network(cx: &Context, command: NetworkCommand) -> Result<()> {
    match command {
        NetworkCommand::Create(args) => create(cx, &args),
        NetworkCommand::Ls(args) => list(cx, &args),
        NetworkCommand::Inspect(args) => inspect(cx, &args),
        NetworkCommand::Rm(args) => remove(cx, &args),
        NetworkCommand::Prune(args) => prune(cx, &args),
        NetworkCommand::Connect(args) => connect(cx, &args),
        NetworkCommand::Disconnect(args) => disconnect(cx, &args),
    }
}

/// The IPAM subnets the flags describe; `--gateway` and `--ip-range` go with the subnet that
/// contains them, in order, as docker pairs them.
fn ipam_configs(args: &CreateArgs) -> Result<Vec<IpamConfig>> {
    if args.subnet.is_empty() && !(args.gateway.is_empty() && args.ip_range.is_empty()) {
        return Err(Error::Usage(
            "--gateway and --ip-range need a --subnet".into(),
        ));
    }
    if args.gateway.len() > args.subnet.len() || args.ip_range.len() > args.subnet.len() {
        return Err(Error::Usage(
            "cannot have more --gateway or --ip-range values than --subnet values".into(),
        ));
    }
    Ok(args
        .subnet
        .iter()
        .enumerate()
        .map(|(i, subnet)| IpamConfig {
            subnet: subnet.clone(),
            gateway: args.gateway.get(i).cloned().unwrap_or_default(),
            ip_range: args.ip_range.get(i).cloned().unwrap_or_default(),
            ..IpamConfig::default()
        })
        .collect())
}

fn create(cx: &Context, args: &CreateArgs) -> Result<()> {
    let config = ipam_configs(args)?;
    let request = NetworkCreateRequest {
        name: args.name.clone(),
        driver: args.driver.clone(),
        internal: args.internal,
        attachable: args.attachable,
        ipam: Some(Ipam {
            config,
            ..Ipam::default()
        }),
        enable_ipv6: args.ipv6.then_some(true),
        options: key_value_flags(&args.opt, "option")?,
        labels: key_value_flags(&args.label, "label")?,
        ..NetworkCreateRequest::default()
    };
    let daemon = cx.daemon()?;
    let created: NetworkCreateResponse = daemon.post_json("/networks/create", Some(&request))?;
    write_stdout(&format!("{}\n", created.id))
}

fn header(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "NETWORK ID",
        "Name" => "NAME",
        "Driver" => "DRIVER",
        "Scope" => "SCOPE",
        "IPv6" => "IPV6",
        "Internal" => "INTERNAL",
        "Labels" => "LABELS",
        "CreatedAt" => "CREATED AT",
        _ => return None,
    })
}

/// A network's row for `network ls` templates.
fn row(network: &NetworkResource, no_trunc: bool) -> Value {
    let labels: Vec<String> = network
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let created = network.created.replacen('T', " ", 1);
    json!({
        "ID": if no_trunc { network.id.clone() } else { short_id(&network.id) },
        "Name": network.name,
        "Driver": network.driver,
        "Scope": network.scope,
        "IPv6": network.enable_ipv6.to_string(),
        "Internal": network.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": format!("{} +0000 UTC", created.trim_end_matches('Z')),
    })
}

fn list(cx: &Context, args: &LsArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let mut path = "/networks".to_string();
    if !args.filter.is_empty() {
        path.push_str(&format!("?filters={}", filters_json(&args.filter)?));
    }
    let mut networks: Vec<NetworkResource> = daemon.get_json(&path)?;
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Value> = networks.iter().map(|n| row(n, args.no_trunc)).collect();
    let format = if args.quiet {
        Some("{{.ID}}")
    } else {
        args.format.as_deref()
    };
    print_rows(
        format,
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        &rows,
        header,
    )
}

fn inspect(cx: &Context, args: &InspectArgs) -> Result<()> {
    inspect_each(cx, "networks", &args.networks, args.format.as_deref())
}

fn remove(cx: &Context, args: &RmArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let mut failed = None;
    for name in &args.networks {
        match daemon.call("DELETE", &format!("/networks/{}", escape(name))) {
            Ok(()) => write_stdout(&format!("{name}\n"))?,
            Err(Error::Daemon { status: 404, .. }) if args.force => {}
            Err(e) => {
                eprintln!("{e}");
                failed = Some(Error::Exit(1));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

fn prune(cx: &Context, args: &PruneArgs) -> Result<()> {
    if !args.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?",
        )?
    {
        return Ok(());
    }
    let daemon = cx.daemon()?;
    let mut path = "/networks/prune".to_string();
    if !args.filter.is_empty() {
        path.push_str(&format!("?filters={}", filters_json(&args.filter)?));
    }
    let pruned: NetworkPruneResponse = daemon.post_json(&path, None::<&()>)?;
    // docker counts no space for networks.
    write_stdout(&prune_report(
        "Deleted Networks:",
        &pruned.networks_deleted,
        None,
    ))
}

fn connect(cx: &Context, args: &ConnectArgs) -> Result<()> {
    let ipam = (args.ip.is_some() || args.ip6.is_some()).then(|| EndpointIpamConfig {
        ipv4_address: args.ip.clone().unwrap_or_default(),
        ipv6_address: args.ip6.clone().unwrap_or_default(),
        ..EndpointIpamConfig::default()
    });
    let request = NetworkConnectRequest {
        container: args.container.clone(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: ipam,
            aliases: args.alias.clone(),
            ..EndpointSettings::default()
        }),
    };
    cx.daemon()?.post(
        &format!("/networks/{}/connect", escape(&args.network)),
        &request,
    )
}

fn disconnect(cx: &Context, args: &DisconnectArgs) -> Result<()> {
    let request = NetworkDisconnectRequest {
        container: args.container.clone(),
        force: args.force,
    };
    cx.daemon()?.post(
        &format!("/networks/{}/disconnect", escape(&args.network)),
        &request,
    )
}
