//! Containers as the Engine API shows them: `ps` rows ([`ContainerSummary`]), inspect
//! ([`ContainerInspect`]) and their status text ("Up 3 seconds", "Exited (0) 2 minutes ago").

use std::time::{Duration, SystemTime};

use berth_api::containers::{
    ContainerInspect, ContainerState, ContainerSummary, DriverData, Health, HealthcheckResult,
    SummaryHostConfig, SummaryNetworkSettings,
};

use super::record::{ContainerRecord, Status};
use super::ContainerService;
use crate::error::Result;

impl ContainerService {
    /// `GET /containers/json`: running containers, or all with `all`, newest first.
    pub fn list(&self, all: bool) -> Vec<ContainerSummary> {
        let mut records: Vec<ContainerRecord> = self
            .table()
            .all()
            .iter()
            .map(|entry| entry.snapshot())
            .filter(|record| {
                all || record.state.status.is_live() || record.state.status == Status::Restarting
            })
            .collect();
        records.sort_by(|a, b| b.created.cmp(&a.created));
        records
            .iter()
            .map(|record| ContainerSummary {
                mounts: self.mount_views(record),
                ..summary(record)
            })
            .collect()
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, key: &str) -> Result<ContainerInspect> {
        let entry = self.find(key)?;
        let record = entry.snapshot();
        let exec_ids = self.exec_ids(&record.id);
        Ok(ContainerInspect {
            mounts: self.mount_views(&record),
            ..inspect(&record, exec_ids)
        })
    }
}

/// Unix seconds of an RFC 3339 time (0 if unreadable).
fn unix_seconds(time: &str) -> i64 {
    berth_shim::time::parse(time)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

fn command_line(record: &ContainerRecord) -> String {
    let mut words = vec![record.path.clone()];
    words.extend(record.args.iter().cloned());
    words.join(" ")
}

/// A `ps` row.
pub fn summary(record: &ContainerRecord) -> ContainerSummary {
    ContainerSummary {
        id: record.id.clone(),
        names: vec![format!("/{}", record.name)],
        image: record.image.clone(),
        image_id: record.image_id.clone(),
        command: command_line(record),
        created: unix_seconds(&record.created),
        labels: record.config.labels.clone(),
        state: record.state.status.as_str().to_string(),
        status: status_text(record, SystemTime::now()),
        host_config: SummaryHostConfig {
            network_mode: network_mode(record),
            ..SummaryHostConfig::default()
        },
        ports: super::networking::summary_ports(record),
        network_settings: SummaryNetworkSettings {
            networks: super::networking::network_settings(record, String::new()).networks,
        },
        ..ContainerSummary::default()
    }
}

fn network_mode(record: &ContainerRecord) -> String {
    super::networking::primary_network(&record.host_config).to_string()
}

/// Docker's STATUS column.
pub fn status_text(record: &ContainerRecord, now: SystemTime) -> String {
    let since = |time: &str| {
        berth_shim::time::parse(time)
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    let state = &record.state;
    match state.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let mut text = format!("Up {}", human_duration(since(&state.started_at)));
            if state.status == Status::Paused {
                text.push_str(" (Paused)");
            } else if let Some(health) = &state.health {
                let shown = match health.status.as_str() {
                    "starting" => "health: starting",
                    other => other,
                };
                text.push_str(&format!(" ({shown})"));
            }
            text
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code,
            human_duration(since(&state.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited | Status::Dead => {
            if state.finished_at.is_empty() || state.finished_at == super::record::ZERO_TIME {
                return "Created".into();
            }
            format!(
                "Exited ({}) {} ago",
                state.exit_code,
                human_duration(since(&state.finished_at))
            )
        }
    }
}

/// Docker's `units.HumanDuration`: "Less than a second", "3 seconds", "About a minute", …
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (seconds as f64 / 3600.0).round() as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

/// The inspect document.
pub fn inspect(record: &ContainerRecord, exec_ids: Vec<String>) -> ContainerInspect {
    let state = &record.state;
    let mut host_config = record.host_config.clone();
    host_config.network_mode = network_mode(record);
    if host_config.log_config.r#type.is_empty() {
        host_config.log_config.r#type = "json-file".into();
    }
    ContainerInspect {
        id: record.id.clone(),
        created: record.created.clone(),
        path: record.path.clone(),
        args: record.args.clone(),
        state: ContainerState {
            status: state.status.as_str().into(),
            running: state.status.is_live(),
            paused: state.status == Status::Paused,
            restarting: state.status == Status::Restarting,
            oom_killed: state.oom_killed,
            dead: state.status == Status::Dead,
            pid: state.pid.into(),
            exit_code: state.exit_code,
            error: state.error.clone(),
            started_at: state.started_at.clone(),
            finished_at: state.finished_at.clone(),
            health: state.health.as_ref().map(|h| Health {
                status: h.status.clone(),
                failing_streak: h.failing_streak as i64,
                log: h
                    .log
                    .iter()
                    .map(|p| HealthcheckResult {
                        start: p.start.clone(),
                        end: p.end.clone(),
                        exit_code: p.exit_code,
                        output: p.output.clone(),
                    })
                    .collect(),
            }),
        },
        image: record.image_id.clone(),
        resolv_conf_path: record.resolv_conf_path.display().to_string(),
        hostname_path: record.hostname_path.display().to_string(),
        hosts_path: record.hosts_path.display().to_string(),
        log_path: record.log.path.display().to_string(),
        name: format!("/{}", record.name),
        restart_count: record.restart_count as i64,
        driver: "overlay2".into(),
        platform: "linux".into(),
        exec_ids: (!exec_ids.is_empty()).then_some(exec_ids),
        host_config,
        graph_driver: DriverData {
            name: "overlay2".into(),
            data: [("MergedDir".to_string(), record.rootfs.display().to_string())]
                .into_iter()
                .collect(),
        },
        network_settings: super::networking::network_settings(
            record,
            record
                .network
                .netns
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        config: record.config.clone(),
        ..ContainerInspect::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(3)), "3 seconds");
        assert_eq!(human_duration(Duration::from_secs(61)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3600)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }
}
