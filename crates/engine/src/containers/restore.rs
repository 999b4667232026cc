//! Live restore: on start the daemon loads every container record, reconnects to the shims of
//! containers that are still running, records the exits of those that ended while it was
//! down (from their shims' exit files), and starts containers whose restart policy says so.

use std::fs;

use super::record::{ContainerRecord, Status};
use super::table::Entry;
use super::{io, restart, ContainerService};
use crate::error::Result;

impl ContainerService {
    pub(super) async fn restore(&self) -> Result<()> {
        let dir = &self.inner.paths.data;
        let listing = fs::read_dir(dir).map_err(|e| io(format!("read {}", dir.display()), e))?;
        let mut to_start = Vec::new();
        for item in listing {
            let item = item.map_err(|e| io(format!("read {}", dir.display()), e))?;
            let path = item.path();
            if !ContainerRecord::exists(&path) {
                // An unfinished create: nothing refers to it.
                let _ = fs::remove_dir_all(&path);
                continue;
            }
            let record = match ContainerRecord::load(&path) {
                Ok(record) => record,
                Err(e) => {
                    // Keep the files for inspection; the daemon runs on without it.
                    eprintln!("berthd: skipping container {}: {e}", path.display());
                    continue;
                }
            };
            let entry = Entry::new(record);
            {
                let mut table = self.table();
                let name = entry.record().name.clone();
                if table.reserve_name(&name, &entry.id).is_err() {
                    eprintln!("berthd: container {} has a duplicate name {name}", entry.id);
                }
                table.insert(entry.clone());
            }
            let status = entry.record().state.status;
            match status {
                Status::Running | Status::Paused => self.reconnect(&entry).await,
                Status::Restarting | Status::Removing => {
                    let mut record = entry.record();
                    record.state.status = Status::Exited;
                    let _ = record.save(&path);
                }
                _ => {}
            }
            if restart::starts_with_daemon(&entry.record())
                && !entry.record().state.status.is_live()
            {
                to_start.push(entry);
            }
        }
        for entry in to_start {
            let _op = entry.op.lock().await;
            if let Err(e) = self.start_locked(&entry).await {
                eprintln!("berthd: restart policy: cannot start {}: {e}", entry.id);
            }
        }
        Ok(())
    }

    /// Picks up a container recorded as running: its shim still serves it, or it ended.
    async fn reconnect(&self, entry: &std::sync::Arc<Entry>) {
        let client = berth_shim::Client::new(&self.shim_socket(&entry.id));
        let alive = tokio::task::spawn_blocking(move || client.state())
            .await
            .ok()
            .and_then(|r| r.ok())
            .is_some_and(|s| s.status != berth_shim::protocol::Status::Exited);
        // When the shim is gone the monitor reads its exit file.
        self.monitor(entry.clone(), None);
        if alive {
            self.start_healthcheck(entry);
        }
    }
}
