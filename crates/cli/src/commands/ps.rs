//! `ps` and `logs`: what containers there are, and what they wrote.

use berth_api::containers::{ContainerSummary, Port};
use clap::Args;
use serde_json::{json, Value};

use super::create_flags::parse_duration;
use super::lifecycle::inspect_container;
use super::{filters_json, print_rows, short_id, write_stdout};
use crate::client::escape;
use crate::error::{Error, Result};
use crate::format::{ago, created_at, human_size, now};
use crate::http::Body;
use crate::stream::show_output;
use crate::Context;

/// `berth ps` flags.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    last: Option<i64>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

pub(crate) fn header(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "CONTAINER ID",
        "Image" => "IMAGE",
        "Command" => "COMMAND",
        "RunningFor" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "Status" => "STATUS",
        "Ports" => "PORTS",
        "Names" => "NAMES",
        "Size" => "SIZE",
        "Labels" => "LABELS",
        "Mounts" => "MOUNTS",
        "Networks" => "NETWORKS",
        "State" => "STATE",
        "LocalVolumes" => "LOCAL VOLUMES",
        _ => return None,
    })
}

/// Go's `strconv.Quote` for the strings commands are.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// The PORTS cell of `ps`, built as docker builds it: the ports sorted by container port,
/// host address, host port and protocol; exposed ports, and ports published on their own
/// number, merged into runs of consecutive numbers per protocol and address
/// (`0.0.0.0:8000-8001->8000-8001/tcp`, `80-81/tcp`); ports published on another number after
/// them, one by one (`0.0.0.0:8080->80/tcp`).
fn ports_text(ports: &[Port]) -> String {
    let mut sorted: Vec<&Port> = ports.iter().collect();
    sorted.sort_by(|a, b| {
        (a.private_port, &a.ip, a.public_port, &a.r#type).cmp(&(
            b.private_port,
            &b.ip,
            b.public_port,
            &b.r#type,
        ))
    });
    let host = |ip: &str, port: u16| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    // A run: (address, protocol, first, last).
    let run_text = |(ip, proto, first, last): &(String, String, u16, u16)| {
        let numbers = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        if ip.is_empty() {
            format!("{numbers}/{proto}")
        } else {
            format!("{ip}:{numbers}->{numbers}/{proto}")
        }
    };
    let mut done = Vec::new();
    let mut open: Vec<(String, String, u16, u16)> = Vec::new();
    let mut elsewhere = Vec::new();
    for p in sorted {
        if !p.ip.is_empty() && p.public_port != p.private_port {
            elsewhere.push(format!(
                "{}->{}/{}",
                host(&p.ip, p.public_port),
                p.private_port,
                p.r#type
            ));
            continue;
        }
        match open
            .iter_mut()
            .find(|run| run.0 == p.ip && run.1 == p.r#type)
        {
            None => open.push((
                p.ip.clone(),
                p.r#type.clone(),
                p.private_port,
                p.private_port,
            )),
            Some(run) if p.private_port == run.3 + 1 => run.3 = p.private_port,
            Some(run) => {
                done.push(run_text(run));
                run.2 = p.private_port;
                run.3 = p.private_port;
            }
        }
    }
    done.extend(open.iter().map(run_text));
    done.extend(elsewhere);
    done.join(", ")
}

pub(crate) fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .map(|n| vec![n.clone()])
            .unwrap_or(names)
    } else {
        names
    };
    let image = if trunc && short_id(&c.image_id) == short_id(&c.image) {
        short_id(&c.image)
    } else if trunc {
        c.image.split('@').next().unwrap_or_default().to_string()
    } else {
        c.image.clone()
    };
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) if root > 0 => format!(
            "{} (virtual {})",
            human_size(rw.max(0) as u64),
            human_size(root as u64)
        ),
        // Docker shows 0B when the daemon did not compute sizes (no -s).
        (rw, _) => human_size(rw.unwrap_or(0).max(0) as u64),
    };
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                m.source.clone()
            } else {
                m.name.clone()
            }
        })
        .collect();
    json!({
        "ID": if trunc { short_id(&c.id) } else { c.id.clone() },
        "Image": image,
        "Command": go_quote(&if trunc { ellipsis(&c.command, 20) } else { c.command.clone() }),
        "CreatedAt": created_at(c.created),
        "RunningFor": ago(c.created, now),
        "Status": c.status,
        "State": c.state,
        "Ports": ports_text(&c.ports),
        "Names": names.join(","),
        "Size": size,
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        // Docker 28 prints the image's platform here; the API does not carry it yet.
        "Platform": Value::Null,
        "Networks": c.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
        "LocalVolumes": c.mounts.iter().filter(|m| m.driver == "local").count().to_string(),
    })
}

/// Lists containers.
pub fn ps(cx: &Context, args: &PsArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let last = if args.latest {
        Some(1)
    } else {
        args.last.filter(|n| *n != -1)
    };
    let mut query = Vec::new();
    if args.all || last.is_some() {
        query.push("all=1".to_string());
    }
    if let Some(n) = last {
        query.push(format!("limit={n}"));
    }
    if args.size {
        query.push("size=1".to_string());
    }
    if !args.filter.is_empty() {
        query.push(format!("filters={}", filters_json(&args.filter)?));
    }
    let path = if query.is_empty() {
        "/containers/json".to_string()
    } else {
        format!("/containers/json?{}", query.join("&"))
    };
    let containers: Vec<ContainerSummary> = daemon.get_json(&path)?;
    let trunc = !args.no_trunc;
    if args.quiet {
        let ids: String = containers
            .iter()
            .map(|c| format!("{}\n", if trunc { short_id(&c.id) } else { c.id.clone() }))
            .collect();
        return write_stdout(&ids);
    }
    let now = now();
    let rows: Vec<Value> = containers.iter().map(|c| row(c, trunc, now)).collect();
    let default = if args.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    print_rows(args.format.as_deref(), default, &rows, header)
}

/// `berth logs` flags.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    until: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// CONTAINER
    container: String,
}

/// `--since`/`--until` as the Unix seconds the API takes: a duration before now, an RFC 3339
/// time, or seconds already.
pub(super) fn timestamp(text: &str, now: i64) -> Result<String> {
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ok(text.to_string());
    }
    if let Ok(nanos) = parse_duration(text) {
        return Ok((now - nanos / 1_000_000_000).to_string());
    }
    berth_image::time::parse(text)
        .map(|secs| secs.to_string())
        .ok_or_else(|| Error::Usage(format!("invalid value for \"since\"/\"until\": {text:?}")))
}

/// Prints a container's log, stdout and stderr each to its own.
pub fn logs(cx: &Context, args: &LogsArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let container = inspect_container(&daemon, &args.container)?;
    let now = now();
    let mut path = format!(
        "/containers/{}/logs?stdout=1&stderr=1&tail={}",
        escape(&container.id),
        escape(&args.tail)
    );
    for (flag, on) in [
        ("follow", args.follow),
        ("timestamps", args.timestamps),
        ("details", args.details),
    ] {
        if on {
            path.push_str(&format!("&{flag}=1"));
        }
    }
    if let Some(since) = &args.since {
        path.push_str(&format!("&since={}", timestamp(since, now)?));
    }
    if let Some(until) = &args.until {
        path.push_str(&format!("&until={}", timestamp(until, now)?));
    }
    let response = daemon.request("GET", &path, &[], Body::Empty)?;
    let raw = response
        .header("Content-Type")
        .map(|t| t.contains("raw-stream"))
        .unwrap_or(container.config.tty);
    let mut body = response.body;
    show_output(&mut body, raw)
        .map_err(|e| daemon.protocol(format!("the log of {}: {e}", args.container)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_ports_show_as_in_docker_ps() {
        assert_eq!(
            go_quote(&ellipsis("sh -c 'echo hello; sleep 1000'", 20)),
            "\"sh -c 'echo hello; …\""
        );
        assert_eq!(go_quote("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        let ports = [
            Port {
                ip: "0.0.0.0".into(),
                private_port: 80,
                public_port: 8080,
                r#type: "tcp".into(),
            },
            Port {
                ip: String::new(),
                private_port: 53,
                public_port: 0,
                r#type: "udp".into(),
            },
            Port {
                ip: "::".into(),
                private_port: 80,
                public_port: 8080,
                r#type: "tcp".into(),
            },
        ];
        assert_eq!(
            ports_text(&ports),
            "53/udp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
    }

    #[test]
    fn log_times_become_unix_seconds() {
        assert_eq!(timestamp("10m", 1000).unwrap(), "400");
        assert_eq!(timestamp("1700000000", 0).unwrap(), "1700000000");
        assert_eq!(timestamp("2023-11-14T22:13:20Z", 0).unwrap(), "1700000000");
        assert!(timestamp("yesterday", 0).is_err());
    }
}
