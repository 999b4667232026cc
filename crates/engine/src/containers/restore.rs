//! Live restore: on start the daemon loads every container record, reconnects to the shims of
//! containers that are still running, records the exits of those that ended while it was
//! down (from their shims' exit files), and starts containers whose restart policy says so.

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use super::lifecycle::shim_wait;
use super::record::{ContainerRecord, Status};
use super::table::Entry;
use super::{io, restart, ContainerService};
use crate::error::Result;

/// How long a killed, unrecorded container's shim has to report the exit.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

impl ContainerService {
    pub(super) async fn restore(&self) -> Result<()> {
        let dir = &self.inner.paths.data;
        let listing = fs::read_dir(dir).map_err(|e| io(format!("read {}", dir.display()), e))?;
        let mut to_start = Vec::new();
        let mut loaded = Vec::new();
        for item in listing {
            let item = item.map_err(|e| io(format!("read {}", dir.display()), e))?;
            let path = item.path();
            if !ContainerRecord::exists(&path) {
                // An unfinished create: nothing refers to it, nor to the root file system
                // (mounted) it may have made. The record's directory goes last, so that a
                // crash in between is cleaned on the next start.
                let id = item.file_name().to_string_lossy().into_owned();
                if let Err(e) = self.inner.images.remove_rootfs(id).await {
                    eprintln!("berthd: unfinished container {}: {e}", path.display());
                    continue;
                }
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
            self.restore_volumes(&record);
            let entry = Entry::new(record);
            {
                let mut table = self.table();
                let name = entry.record().name.clone();
                if table.reserve_name(&name, &entry.id).is_err() {
                    eprintln!("berthd: container {} has a duplicate name {name}", entry.id);
                }
                table.insert(entry.clone());
            }
            loaded.push(entry);
        }
        self.restore_networking(&loaded).await;
        for entry in loaded {
            let path = self.data_dir(&entry.id);
            let status = entry.record().state.status;
            // A container that ended while the daemon was down restarts by its policy, from
            // the exit recorded below; one recorded as stopped may start with the daemon.
            let was_stopped = !status.is_live();
            match status {
                Status::Running | Status::Paused => self.reconnect(&entry).await,
                Status::Restarting | Status::Removing => {
                    {
                        let mut record = entry.record();
                        record.state.status = Status::Exited;
                        let _ = record.save_state(&path);
                    }
                    self.settle_unrecorded_start(&entry).await;
                }
                Status::Created | Status::Exited | Status::Dead => {
                    self.settle_unrecorded_start(&entry).await
                }
            }
            if !entry.record().state.status.is_live() {
                self.detach_network(&entry).await;
            }
            if was_stopped && restart::starts_with_daemon(&entry.record()) {
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

    /// Takes over the networking of the containers recorded as running, before anything can
    /// see them exit; removes namespace files no running container owns.
    async fn restore_networking(&self, loaded: &[Arc<Entry>]) {
        let running: Vec<(String, crate::networks::NetworkState)> = loaded
            .iter()
            .filter(|e| e.record().state.status.is_live())
            .map(|e| (e.id.clone(), e.record().network.clone()))
            .collect();
        for (id, e) in self.inner.networks.restore(&running).await {
            eprintln!("berthd: restoring the networking of container {id}: {e}");
        }
        let keep: Vec<String> = running
            .iter()
            .filter(|(_, state)| state.netns.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        self.inner.networks.remove_stray_namespaces(&keep);
    }

    /// A container recorded as not running may have been started by a daemon that died before
    /// recording it: its shim may still serve it (created or running, watched by nobody), its
    /// root file system may still be mounted. Like dockerd with a task it has no record of,
    /// the container is killed and its exit recorded; the mount goes.
    async fn settle_unrecorded_start(&self, entry: &Arc<Entry>) {
        let socket = self.shim_socket(&entry.id);
        let client = berth_shim::Client::new(&socket);
        let killed = tokio::task::spawn_blocking(move || client.kill(9, true)).await;
        if matches!(killed, Ok(Ok(()))) {
            match tokio::time::timeout(SETTLE_TIMEOUT, shim_wait(&socket)).await {
                Ok(Ok(status)) => {
                    entry.notify(|g| g.live = true);
                    self.exited(entry, status).await;
                    return;
                }
                _ => eprintln!(
                    "berthd: container {}: its unrecorded shim did not report the exit",
                    entry.id
                ),
            }
        }
        if let Err(e) = self.inner.images.unmount_rootfs(entry.id.clone()).await {
            eprintln!("berthd: container {}: {e}", entry.id);
        }
    }

    /// Picks up a container recorded as running: its shim still serves it, or it ended while
    /// the daemon was down and its exit is recorded before the daemon answers anyone.
    async fn reconnect(&self, entry: &Arc<Entry>) {
        let client = berth_shim::Client::new(&self.shim_socket(&entry.id));
        let alive = tokio::task::spawn_blocking(move || client.state())
            .await
            .ok()
            .and_then(|r| r.ok())
            .is_some_and(|s| s.status != berth_shim::protocol::Status::Exited);
        if alive {
            self.monitor(entry.clone(), None);
            self.start_healthcheck(entry);
        } else {
            let status = self.wait_exit(entry).await;
            self.exited(entry, status).await;
        }
    }
}
