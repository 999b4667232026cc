//! Commands that change or ask one container at a time: stop, restart, kill, rm, wait,
//! pause, unpause, rename, update, top, port, and `container prune`.

use berth_api::containers::{
    ContainerInspect, ContainerPruneResponse, ContainerUpdateRequest, ContainerUpdateResponse,
    RestartPolicy, TopResponse, WaitResponse,
};
use clap::Args;

use super::create_flags::parse_bytes;
use super::images::confirm;
use super::{prune_report, write_stdout};
use crate::client::{escape, Daemon};
use crate::error::{Error, Result};
use crate::Context;

/// `stop` and `restart` flags.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    time: Option<i64>,
    /// CONTAINER...
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `kill` flags.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// CONTAINER...
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `rm` flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// CONTAINER...
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Flags of the commands that only name containers (`wait`, `pause`, `unpause`).
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// CONTAINER...
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `rename` flags.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// CONTAINER
    container: String,
    /// NEW_NAME
    new_name: String,
}

/// `update` flags.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    /// CONTAINER...
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `top` flags.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// CONTAINER
    container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// `port` flags.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// CONTAINER
    container: String,
    /// PRIVATE_PORT[/PROTO]
    port: Option<String>,
}

/// `container prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
}

/// Does `act` for each container, printing its name as given; docker's way of reporting the
/// ones that failed.
fn each(names: &[String], mut act: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut failed = false;
    for name in names {
        match act(name) {
            Ok(()) => write_stdout(&format!("{name}\n"))?,
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Error::Exit(1))
    } else {
        Ok(())
    }
}

fn stop_query(args: &StopArgs) -> String {
    let mut query = Vec::new();
    if let Some(time) = args.time {
        query.push(format!("t={time}"));
    }
    if let Some(signal) = &args.signal {
        query.push(format!("signal={}", escape(signal)));
    }
    if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    }
}

/// Stops containers (the stop signal, then SIGKILL after the timeout).
pub fn stop(cx: &Context, args: &StopArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let query = stop_query(args);
    each(&args.containers, |name| {
        daemon.call("POST", &format!("/containers/{}/stop{query}", escape(name)))
    })
}

/// Restarts containers.
pub fn restart(cx: &Context, args: &StopArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let query = stop_query(args);
    each(&args.containers, |name| {
        daemon.call(
            "POST",
            &format!("/containers/{}/restart{query}", escape(name)),
        )
    })
}

/// Sends a signal (SIGKILL by default) to containers.
pub fn kill(cx: &Context, args: &KillArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let query = args
        .signal
        .as_ref()
        .map(|s| format!("?signal={}", escape(s)))
        .unwrap_or_default();
    each(&args.containers, |name| {
        daemon.call("POST", &format!("/containers/{}/kill{query}", escape(name)))
    })
}

/// Removes containers.
pub fn remove(cx: &Context, args: &RmArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let query = format!("?force={}&v={}", args.force, args.volumes);
    each(&args.containers, |name| {
        daemon.call("DELETE", &format!("/containers/{}{query}", escape(name)))
    })
}

/// Pauses containers.
pub fn pause(cx: &Context, args: &ContainersArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    each(&args.containers, |name| {
        daemon.call("POST", &format!("/containers/{}/pause", escape(name)))
    })
}

/// Unpauses containers.
pub fn unpause(cx: &Context, args: &ContainersArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    each(&args.containers, |name| {
        daemon.call("POST", &format!("/containers/{}/unpause", escape(name)))
    })
}

/// Waits for containers to stop and prints their exit codes.
pub fn wait(cx: &Context, args: &ContainersArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let mut failed = false;
    for name in &args.containers {
        let answer = daemon
            .post_json::<WaitResponse>(&format!("/containers/{}/wait", escape(name)), None::<&()>);
        match answer {
            Ok(answer) => write_stdout(&format!("{}\n", answer.status_code))?,
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Error::Exit(1))
    } else {
        Ok(())
    }
}

/// Renames a container.
pub fn rename(cx: &Context, args: &RenameArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    if args.new_name.trim().is_empty() {
        return Err(Error::Refused(
            "Error: Neither old nor new names may be empty".into(),
        ));
    }
    daemon
        .call(
            "POST",
            &format!(
                "/containers/{}/rename?name={}",
                escape(&args.container),
                escape(&args.new_name)
            ),
        )
        .map_err(|e| {
            // Docker prints the daemon's answer, then its own line.
            eprintln!("{e}");
            Error::Refused(format!(
                "Error: failed to rename container named {}",
                args.container
            ))
        })
}

/// Changes containers' limits and restart policy.
pub fn update(cx: &Context, args: &UpdateArgs) -> Result<()> {
    let mut request = ContainerUpdateRequest::default();
    if let Some(memory) = &args.memory {
        request.resources.memory = parse_bytes(memory)?;
    }
    if let Some(swap) = &args.memory_swap {
        request.resources.memory_swap = if swap == "-1" { -1 } else { parse_bytes(swap)? };
    }
    if let Some(cpus) = args.cpus {
        request.resources.nano_cpus = (cpus * 1e9).round() as i64;
    }
    request.resources.pids_limit = args.pids_limit;
    if let Some(restart) = &args.restart {
        let (name, count) = restart.split_once(':').unwrap_or((restart, "0"));
        request.restart_policy = Some(RestartPolicy {
            name: name.to_string(),
            maximum_retry_count: count
                .parse()
                .map_err(|_| Error::Usage(format!("invalid restart policy {restart:?}")))?,
        });
    }
    let daemon = cx.daemon()?;
    each(&args.containers, |name| {
        let answer: ContainerUpdateResponse = daemon.post_json(
            &format!("/containers/{}/update", escape(name)),
            Some(&request),
        )?;
        for warning in answer.warnings {
            eprintln!("WARNING: {warning}");
        }
        Ok(())
    })
}

/// Shows a container's processes, in docker's columns (min width 20, padding 3).
pub fn top(cx: &Context, args: &TopArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let mut path = format!("/containers/{}/top", escape(&args.container));
    if !args.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", escape(&args.ps_args.join(" "))));
    }
    let top: TopResponse = daemon.get_json(&path)?;
    let mut rows = vec![top.titles];
    rows.extend(top.processes);
    write_stdout(&columns(&rows, 20))
}

/// Aligns cells as Go's tabwriter with `min` width and padding 3 (the last cell unpadded).
fn columns(rows: &[Vec<String>], min: usize) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let width = (cell.chars().count() + 3).max(min);
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                out.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// Lists a container's published ports (`80/tcp -> 0.0.0.0:8080`).
pub fn port(cx: &Context, args: &PortArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let container = inspect_container(&daemon, &args.container)?;
    let wanted = args.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut lines = Vec::new();
    for (key, bindings) in &container.network_settings.ports {
        if wanted.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for binding in bindings.iter().flatten() {
            let ip = if binding.host_ip.contains(':') {
                format!("[{}]", binding.host_ip)
            } else {
                binding.host_ip.clone()
            };
            if wanted.is_some() {
                lines.push(format!("{ip}:{}\n", binding.host_port));
            } else {
                lines.push(format!("{key} -> {ip}:{}\n", binding.host_port));
            }
        }
    }
    // As docker: in natural order (80/tcp before 443/tcp before 8080/tcp).
    lines.sort_by(|a, b| natural_order(a, b));
    let out = lines.concat();
    if out.is_empty() {
        if let Some(port) = &args.port {
            return Err(Error::Refused(format!(
                "Error: No public port '{port}' published for {}",
                args.container
            )));
        }
    }
    write_stdout(&out)
}

/// Compares text with its runs of digits taken as numbers.
fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(text: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = text.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &text[start..i]));
                start = i;
            }
        }
        out
    }
    let key = |(digits, chunk): &(bool, &str)| {
        if *digits {
            (
                chunk.trim_start_matches('0').len(),
                chunk.trim_start_matches('0').to_string(),
            )
        } else {
            (0, chunk.to_string())
        }
    };
    let (a, b) = (chunks(a), chunks(b));
    for (x, y) in a.iter().zip(&b) {
        let order = match (x.0, y.0) {
            (true, true) => key(x).cmp(&key(y)),
            _ => x.1.cmp(y.1),
        };
        if order.is_ne() {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// `GET /containers/{name}/json`.
pub fn inspect_container(daemon: &Daemon, name: &str) -> Result<ContainerInspect> {
    daemon.get_json(&format!("/containers/{}/json", escape(name)))
}

/// Removes all stopped containers.
pub fn prune(cx: &Context, args: &PruneArgs) -> Result<()> {
    if !args.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )?
    {
        return Ok(());
    }
    let daemon = cx.daemon()?;
    let mut filters = serde_json::Map::new();
    for filter in &args.filter {
        let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
        let entry = filters
            .entry(key.to_string())
            .or_insert_with(|| serde_json::json!({}));
        entry[value] = serde_json::Value::Bool(true);
    }
    let path = format!(
        "/containers/prune?filters={}",
        escape(&serde_json::Value::Object(filters).to_string())
    );
    let pruned: ContainerPruneResponse = daemon.post_json(&path, None::<&()>)?;
    write_stdout(&prune_report(
        "Deleted Containers:",
        &pruned.containers_deleted,
        Some(pruned.space_reclaimed),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_columns_are_at_least_twenty_wide() {
        let rows = vec![
            vec!["UID".to_string(), "PID".to_string(), "CMD".to_string()],
            vec![
                "root".to_string(),
                "4242".to_string(),
                "sleep 100".to_string(),
            ],
        ];
        let out = columns(&rows, 20);
        assert_eq!(
            out,
            format!(
                "UID{}PID{}CMD\nroot{}4242{}sleep 100\n",
                " ".repeat(17),
                " ".repeat(17),
                " ".repeat(16),
                " ".repeat(16)
            )
        );
    }
}
