//! `stats`: containers' CPU, memory, network, block I/O and pids, in docker's columns.

use std::time::Duration;

use berth_api::containers::{ContainerSummary, StatsResponse};
use clap::Args;
use serde_json::{json, Value};

use super::{print_rows, short_id, write_stdout};
use crate::client::escape;
use crate::error::{Error, Result};
use crate::format::human_size;
use crate::Context;

/// `berth stats` flags.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// CONTAINER...
    containers: Vec<String>,
}

fn header(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        _ => return None,
    })
}

/// Go's `%.4g`: four significant digits, no trailing zeros.
fn four_significant(value: f64) -> String {
    let decimals = if value >= 1000.0 {
        0
    } else if value >= 100.0 {
        1
    } else if value >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// docker's `BytesSize`: binary units (`1.984MiB`, `7.629GiB`).
fn binary_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{}{}", four_significant(value), units[unit])
}

/// CPU use since the previous sample, in percent of one CPU times the CPUs online.
fn cpu_percent(s: &StatsResponse) -> f64 {
    let cpu_delta =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let system_delta = s.cpu_stats.system_cpu_usage.unwrap_or(0) as f64
        - s.precpu_stats.system_cpu_usage.unwrap_or(0) as f64;
    let cpus = s.cpu_stats.online_cpus.map(f64::from).unwrap_or_else(|| {
        s.cpu_stats
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(0.0, |p| p.len() as f64)
    });
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the page cache that could be dropped (as docker counts it).
fn memory_used(s: &StatsResponse) -> u64 {
    let usage = s.memory_stats.usage.unwrap_or(0);
    let stats = &s.memory_stats.stats;
    let cache = stats
        .get("total_inactive_file")
        .or_else(|| stats.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    if cache < usage {
        usage - cache
    } else {
        usage
    }
}

fn row(s: &StatsResponse, no_trunc: bool) -> Value {
    let used = memory_used(s);
    let limit = s.memory_stats.limit.unwrap_or(0);
    let mem_percent = if limit > 0 {
        used as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (rx, tx) = s
        .networks
        .iter()
        .flatten()
        .fold((0, 0), |(rx, tx), (_, n)| {
            (rx + n.rx_bytes, tx + n.tx_bytes)
        });
    let (read, write) = s
        .blkio_stats
        .io_service_bytes_recursive
        .iter()
        .flatten()
        .fold((0, 0), |(r, w), e| {
            match e.op.to_ascii_lowercase().as_str() {
                "read" => (r + e.value, w),
                "write" => (r, w + e.value),
                _ => (r, w),
            }
        });
    let name = s.name.trim_start_matches('/');
    json!({
        "ID": if no_trunc { s.id.clone() } else { short_id(&s.id) },
        "Container": name,
        "Name": name,
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", binary_size(used), binary_size(limit)),
        "MemPerc": format!("{mem_percent:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(read), human_size(write)),
        "PIDs": s.pids_stats.current.unwrap_or(0).to_string(),
    })
}

/// The row docker shows for a container whose statistics could not be read.
fn invalid_row(id: &str, no_trunc: bool) -> Value {
    json!({
        "ID": if no_trunc { id.to_string() } else { short_id(id) },
        "Container": id,
        "Name": "--",
        "CPUPerc": "--",
        "MemUsage": "-- / --",
        "MemPerc": "--",
        "NetIO": "--",
        "BlockIO": "--",
        "PIDs": "--",
    })
}

/// Shows containers' resource use once (`--no-stream`) or refreshed every second.
pub fn stats(cx: &Context, args: &StatsArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let default = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
    loop {
        let listed = args.containers.is_empty();
        let names: Vec<String> = if listed {
            let path = if args.all {
                "/containers/json?all=1"
            } else {
                "/containers/json"
            };
            let list: Vec<ContainerSummary> = daemon.get_json(path)?;
            list.into_iter().map(|c| c.id).collect()
        } else {
            args.containers.clone()
        };
        let mut rows = Vec::new();
        for name in &names {
            let path = format!("/containers/{}/stats?stream=false", escape(name));
            match daemon.get_json::<StatsResponse>(&path) {
                Ok(sample) => rows.push(row(&sample, args.no_trunc)),
                // A listed container that stopped or went away meanwhile: docker shows it
                // as a row of dashes rather than failing the whole table.
                Err(Error::Daemon { .. }) if listed => {
                    rows.push(invalid_row(name, args.no_trunc));
                }
                Err(e) => return Err(e),
            }
        }
        if args.no_stream {
            return print_rows(args.format.as_deref(), default, &rows, header);
        }
        write_stdout("\x1b[2J\x1b[H")?;
        print_rows(args.format.as_deref(), default, &rows, header)?;
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_containers_show_as_dashes() {
        let row = invalid_row("0123456789abcdef", false);
        assert_eq!(
            (
                row["ID"].as_str(),
                row["Name"].as_str(),
                row["MemUsage"].as_str()
            ),
            (Some("0123456789ab"), Some("--"), Some("-- / --"))
        );
    }

    #[test]
    fn sizes_and_percentages_read_like_docker_stats() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(2_080_768), "1.984MiB");
        assert_eq!(binary_size(8_191_999_999), "7.629GiB");
        assert_eq!(binary_size(1536), "1.5KiB");
        let mut s = StatsResponse::default();
        s.cpu_stats.cpu_usage.total_usage = 2_000;
        s.cpu_stats.system_cpu_usage = Some(20_000);
        s.cpu_stats.online_cpus = Some(2);
        s.precpu_stats.system_cpu_usage = Some(10_000);
        assert_eq!(format!("{:.2}%", cpu_percent(&s)), "40.00%");
        s.memory_stats.usage = Some(10 << 20);
        s.memory_stats.stats.insert("inactive_file".into(), 2 << 20);
        assert_eq!(memory_used(&s), 8 << 20);
    }
}
