//! Restart policies: `no`, `always`, `unless-stopped`, `on-failure[:N]`, with Docker's backoff
//! (100 ms doubling up to a minute, back to 100 ms after a run of 10 s or more).

use std::sync::Arc;
use std::time::Duration;

use super::record::{ContainerRecord, Status};
use super::table::Entry;
use super::ContainerService;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the backoff.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// Whether a container that just exited (per `record`) restarts, and after how long.
pub fn should_restart(record: &ContainerRecord) -> Option<Duration> {
    let policy = &record.host_config.restart_policy;
    let wanted = match policy.name.as_str() {
        "always" | "unless-stopped" => !record.state.stopped_by_user,
        "on-failure" => {
            !record.state.stopped_by_user
                && record.state.exit_code != 0
                && (policy.maximum_retry_count <= 0
                    || record.restart_count < policy.maximum_retry_count as u64)
        }
        _ => false,
    };
    if !wanted || record.host_config.auto_remove {
        return None;
    }
    let ran = run_time(record);
    if ran >= STABLE_RUN {
        return Some(FIRST_DELAY);
    }
    let doublings = record.restart_count.min(10) as u32;
    Some((FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY))
}

/// Whether the daemon starts this container when it starts itself.
pub fn starts_with_daemon(record: &ContainerRecord) -> bool {
    match record.host_config.restart_policy.name.as_str() {
        "always" => true,
        "unless-stopped" | "on-failure" => {
            !record.state.stopped_by_user && record.state.status != Status::Created
        }
        _ => false,
    }
}

fn run_time(record: &ContainerRecord) -> Duration {
    let parse = |t: &str| berth_shim::time::parse(t);
    match (
        parse(&record.state.started_at),
        parse(&record.state.finished_at),
    ) {
        (Some(start), Some(end)) => end.duration_since(start).unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

impl ContainerService {
    /// Marks `entry` restarting and starts it again after `delay`, unless it was stopped or
    /// removed meanwhile.
    pub(super) fn schedule_restart(&self, entry: Arc<Entry>, delay: Duration) {
        {
            let mut record = entry.record();
            record.state.status = Status::Restarting;
            let _ = record.save_state(&self.data_dir(&entry.id));
        }
        let service = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = entry.op.lock().await;
            if entry.record().state.status != Status::Restarting || service.find(&entry.id).is_err()
            {
                return;
            }
            entry.record().restart_count += 1;
            if service.start_locked(&entry).await.is_err() {
                let mut record = entry.record();
                record.state.status = Status::Exited;
                let _ = record.save_state(&service.data_dir(&entry.id));
            }
        });
    }
}
