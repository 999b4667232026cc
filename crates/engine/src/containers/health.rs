//! Healthchecks, run by the daemon itself: the image's HEALTHCHECK or `--health-*` probes run
//! in the container (through the runtime's exec) at their interval; the result shows in
//! inspect and `ps`, and each change of status is an event. A container whose restart policy
//! is `on-unhealthy` (berth's addition, moby#28400) is restarted when it turns unhealthy.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use berth_api::containers::HealthConfig;
use berth_api::exec::ExecConfig;

use super::record::{Health, Probe, Status};
use super::table::Entry;
use super::ContainerService;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u64 = 3;
/// Probe results kept in inspect.
const KEPT_PROBES: usize = 5;
/// Output kept per probe.
const MAX_OUTPUT: usize = 4096;

fn nanos(value: i64, default: Duration) -> Duration {
    if value > 0 {
        Duration::from_nanos(value as u64)
    } else {
        default
    }
}

/// The probe command, or None when there is no healthcheck (or it is disabled).
fn probe_command(config: &HealthConfig) -> Option<Vec<String>> {
    match config.test.first().map(String::as_str) {
        Some("CMD") => Some(config.test[1..].to_vec()),
        Some("CMD-SHELL") => Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            config.test[1..].join(" "),
        ]),
        _ => None,
    }
    .filter(|c| !c.is_empty())
}

impl ContainerService {
    /// Starts probing `entry` if it has a healthcheck; the task ends when the container stops.
    pub(super) fn start_healthcheck(&self, entry: &Arc<Entry>) {
        let Some(config) = entry.record().config.healthcheck.clone() else {
            return;
        };
        let Some(command) = probe_command(&config) else {
            return;
        };
        {
            let mut record = entry.record();
            record.state.health = Some(Health {
                status: "starting".into(),
                ..Health::default()
            });
        }
        let service = self.clone();
        let entry = entry.clone();
        let starts = entry.changes.borrow().starts;
        tokio::spawn(async move {
            let started = Instant::now();
            let start_period = nanos(config.start_period, Duration::ZERO);
            let interval = nanos(config.interval, DEFAULT_INTERVAL);
            let start_interval = nanos(config.start_interval, DEFAULT_START_INTERVAL);
            let timeout = nanos(config.timeout, DEFAULT_TIMEOUT);
            let retries = if config.retries > 0 {
                config.retries as u64
            } else {
                DEFAULT_RETRIES
            };
            let mut changes = entry.changes.subscribe();
            loop {
                let in_start_period = started.elapsed() < start_period;
                let starting = entry
                    .record()
                    .state
                    .health
                    .as_ref()
                    .is_some_and(|h| h.status == "starting");
                let wait = if in_start_period && starting {
                    start_interval
                } else {
                    interval
                };
                let stopped =
                    tokio::time::timeout(wait, changes.wait_for(|g| !g.live || g.starts != starts))
                        .await
                        .is_ok();
                if stopped {
                    return;
                }
                let probe = service.probe(&entry, &command, timeout).await;
                if !service.record_probe(&entry, probe, retries, started.elapsed() < start_period) {
                    return;
                }
            }
        });
    }

    async fn probe(&self, entry: &Arc<Entry>, command: &[String], timeout: Duration) -> Probe {
        let start = berth_shim::time::format(SystemTime::now());
        let run_dir = self.run_dir(&entry.id);
        let file = run_dir.join(format!("health-{}.json", super::names::new_id()));
        let rootfs = entry.record().rootfs.clone();
        let exec = ExecConfig {
            cmd: command.to_vec(),
            ..ExecConfig::default()
        };
        let written = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || {
                super::exec::write_process(&run_dir.join("config.json"), &rootfs, &exec, &file)
            })
            .await
        };
        let outcome = match written {
            Ok(Ok(())) => match self.runtime_exec(&file, entry) {
                Err(e) => (-1, e.to_string()),
                Ok(mut command) => {
                    let child = command
                        .stdin(std::process::Stdio::null())
                        .kill_on_drop(true)
                        .output();
                    match tokio::time::timeout(timeout, child).await {
                        Ok(Ok(output)) => {
                            let mut text = output.stdout;
                            text.extend_from_slice(&output.stderr);
                            text.truncate(MAX_OUTPUT);
                            (
                                output.status.code().unwrap_or(1) as i64,
                                String::from_utf8_lossy(&text).into_owned(),
                            )
                        }
                        Ok(Err(e)) => (-1, format!("cannot run the healthcheck: {e}")),
                        Err(_) => (
                            -1,
                            format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()),
                        ),
                    }
                }
            },
            Ok(Err(e)) => (-1, e.to_string()),
            Err(e) => (-1, e.to_string()),
        };
        let _ = tokio::fs::remove_file(&file).await;
        Probe {
            start,
            end: berth_shim::time::format(SystemTime::now()),
            exit_code: outcome.0,
            output: outcome.1,
        }
    }

    /// Records a probe; returns false once the container no longer runs.
    fn record_probe(
        &self,
        entry: &Arc<Entry>,
        probe: Probe,
        retries: u64,
        in_start_period: bool,
    ) -> bool {
        let (old, new, restart) = {
            let mut record = entry.record();
            if record.state.status != Status::Running {
                return false;
            }
            let on_unhealthy = record.host_config.restart_policy.name == "on-unhealthy";
            let Some(health) = record.state.health.as_mut() else {
                return false;
            };
            let old = health.status.clone();
            if probe.exit_code == 0 {
                health.failing_streak = 0;
                health.status = "healthy".into();
            } else if !in_start_period || old != "starting" {
                health.failing_streak += 1;
                if health.failing_streak >= retries {
                    health.status = "unhealthy".into();
                }
            }
            health.log.push(probe);
            if health.log.len() > KEPT_PROBES {
                health.log.remove(0);
            }
            let new = health.status.clone();
            let _ = record.save_state(&self.data_dir(&entry.id));
            (old, new.clone(), on_unhealthy && new == "unhealthy")
        };
        if old != new {
            self.publish(&format!("health_status: {new}"), &entry.id);
        }
        if restart {
            let service = self.clone();
            let id = entry.id.clone();
            // A restart by policy: it counts, as the restarts of `always` and `on-failure` do.
            entry.record().restart_count += 1;
            tokio::spawn(async move {
                if let Err(e) = service.restart(&id, None, None).await {
                    eprintln!("berthd: restarting unhealthy container {id}: {e}");
                }
            });
            return false;
        }
        true
    }
}
