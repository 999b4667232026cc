//! The filters of `GET /containers/json` (`ps --filter`), as dockerd applies them: every
//! `label` must match; for every other key, any one of its values. Keys: `id`, `name`,
//! `status`, `label`, `ancestor`, `exited`, `volume`, `health`, `network`, `before`,
//! `since`, `publish` and `expose`.

use std::collections::{BTreeMap, HashMap};

use berth_api::containers::ContainerSummary;

use super::error::ApiError;

/// The keys dockerd knows that berth filters by.
const KEYS: [&str; 13] = [
    "id", "name", "status", "label", "ancestor", "exited", "volume", "health", "network", "before",
    "since", "publish", "expose",
];

/// Keeps the `rows` that `filters` select. With `before` or `since`, `rows` must hold every
/// container, newest first (dockerd lists stopped ones for them): what they name is looked up
/// there, before any row goes.
pub fn retain(
    rows: &mut Vec<ContainerSummary>,
    filters: &BTreeMap<String, Vec<String>>,
) -> Result<(), ApiError> {
    let mut checks = Vec::with_capacity(filters.len());
    for (key, values) in filters {
        if !KEYS.contains(&key.as_str()) {
            return Err(ApiError::invalid(format!("invalid filter '{key}'")));
        }
        let tests = values
            .iter()
            .map(|value| Test::parse(key, value, rows))
            .collect::<Result<Vec<_>, _>>()?;
        checks.push((key == "label", tests));
    }
    // Each container's place in the list: before and since compare them.
    let order: HashMap<String, usize> = rows
        .iter()
        .enumerate()
        .map(|(at, row)| (row.id.clone(), at))
        .collect();
    for (every_one, tests) in checks {
        if every_one {
            rows.retain(|row| tests.iter().all(|test| test.matches(row, &order)));
        } else {
            rows.retain(|row| tests.iter().any(|test| test.matches(row, &order)));
        }
    }
    Ok(())
}

/// One `key=value` filter, checked before any row is.
enum Test {
    /// Matched on the row alone.
    Row { key: String, value: String },
    /// Containers made before (or, `newer`, after) the one at this place of the list.
    Created { position: usize, newer: bool },
    /// A port (range) and protocol a container publishes or (`exposed`) has at all.
    Port {
        from: u16,
        to: u16,
        proto: String,
        published: bool,
    },
}

impl Test {
    fn parse(key: &str, value: &str, all: &[ContainerSummary]) -> Result<Test, ApiError> {
        Ok(match key {
            "before" | "since" => {
                let position = find(all, value)?;
                Test::Created {
                    position,
                    newer: key == "since",
                }
            }
            "publish" | "expose" => {
                let (ports, proto) = value.split_once('/').unwrap_or((value, "tcp"));
                let bad = || ApiError::invalid(format!("invalid filter '{key}={value}'"));
                let (from, to) = match ports.split_once('-') {
                    Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
                    None => {
                        let port = ports.parse().map_err(|_| bad())?;
                        (port, port)
                    }
                };
                if from > to || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad());
                }
                Test::Port {
                    from,
                    to,
                    proto: proto.to_string(),
                    published: key == "publish",
                }
            }
            "health" if !matches!(value, "starting" | "healthy" | "unhealthy" | "none") => {
                return Err(ApiError::invalid(format!(
                    "Unrecognised filter value for health: {value}"
                )))
            }
            _ => Test::Row {
                key: key.to_string(),
                value: value.to_string(),
            },
        })
    }

    /// Whether `row` passes; `order` gives each container's place in the whole list.
    fn matches(&self, row: &ContainerSummary, order: &HashMap<String, usize>) -> bool {
        match self {
            Test::Row { key, value } => matches(row, key, value),
            Test::Created { position, newer } => {
                order.get(&row.id).is_some_and(|&at| match newer {
                    true => at < *position,
                    false => at > *position,
                })
            }
            Test::Port {
                from,
                to,
                proto,
                published,
            } => row.ports.iter().any(|port| {
                (!published || port.public_port != 0)
                    && port.r#type == *proto
                    && (*from..=*to).contains(&port.private_port)
            }),
        }
    }
}

/// Where the container `key` is in `all`, as dockerd looks it up: its full id, its name, or
/// a prefix of one id only.
fn find(all: &[ContainerSummary], key: &str) -> Result<usize, ApiError> {
    let missing = || ApiError::not_found(format!("No such container: {key}"));
    if key.is_empty() {
        return Err(missing());
    }
    if let Some(at) = all.iter().position(|row| row.id == key) {
        return Ok(at);
    }
    let name = key.trim_start_matches('/');
    if let Some(at) = all
        .iter()
        .position(|row| row.names.iter().any(|n| n.trim_start_matches('/') == name))
    {
        return Ok(at);
    }
    let mut prefixed = all
        .iter()
        .enumerate()
        .filter(|(_, row)| row.id.starts_with(key));
    match (prefixed.next(), prefixed.next()) {
        (Some((at, _)), None) => Ok(at),
        (Some(_), Some(_)) => Err(ApiError::invalid(format!(
            "multiple IDs found with provided prefix: {key}"
        ))),
        (None, _) => Err(missing()),
    }
}

fn matches(row: &ContainerSummary, key: &str, value: &str) -> bool {
    match key {
        "id" => row.id.starts_with(value),
        "name" => row.names.iter().any(|n| {
            n.trim_start_matches('/')
                .contains(value.trim_start_matches('/'))
        }),
        "status" => row.state == value,
        "ancestor" => {
            row.image == value
                || row.image_id == value
                || row
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(value)
        }
        "exited" => row.state == "exited" && row.status.starts_with(&format!("Exited ({value})")),
        // A volume's name or a mount's destination, as dockerd matches them.
        "volume" => row
            .mounts
            .iter()
            .any(|m| m.name == value || m.destination == value),
        "label" => match value.split_once('=') {
            Some((k, v)) => row.labels.get(k).is_some_and(|have| have == v),
            None => row.labels.contains_key(value),
        },
        // The status line carries the health as `docker ps` shows it.
        "health" => health(&row.status) == value,
        // A network's name or id.
        "network" => row
            .network_settings
            .networks
            .iter()
            .any(|(name, endpoint)| name == value || endpoint.network_id.starts_with(value)),
        _ => true,
    }
}

/// The health a `ps` status line shows: `Up 3 seconds (healthy)` is `healthy`.
fn health(status: &str) -> &str {
    if status.ends_with("(health: starting)") {
        "starting"
    } else if status.ends_with("(unhealthy)") {
        "unhealthy"
    } else if status.ends_with("(healthy)") {
        "healthy"
    } else {
        "none"
    }
}
