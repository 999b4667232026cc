//! The daemon's in-memory index of containers: by id, by name and by id prefix, with each
//! container's record, its state-change signal and its operation lock.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, watch};

use super::record::ContainerRecord;
use crate::error::{Error, Result};

/// What waiters watch: changes each time the container starts, exits or is removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generation {
    /// How many times the container has exited since the daemon loaded it.
    pub exits: u64,
    /// How many times it has started since the daemon loaded it.
    pub starts: u64,
    pub live: bool,
    pub exit_code: i64,
    pub removed: bool,
}

/// An attach request waiting for the container to start: gets its stream to the shim.
pub type PendingAttach = (AttachStreams, oneshot::Sender<Result<UnixStream>>);

/// Which of the container's streams an attach wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachStreams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// One container the daemon knows.
pub struct Entry {
    pub id: String,
    record: Mutex<ContainerRecord>,
    pub changes: watch::Sender<Generation>,
    /// Held by operations that change the container's life cycle (start, stop, remove, …).
    pub op: tokio::sync::Mutex<()>,
    /// Attach requests made before the container's next start.
    pub pending_attach: Mutex<Vec<PendingAttach>>,
}

impl Entry {
    pub fn new(record: ContainerRecord) -> Arc<Entry> {
        let live = record.state.status.is_live();
        Arc::new(Entry {
            id: record.id.clone(),
            record: Mutex::new(record),
            changes: watch::channel(Generation {
                live,
                ..Generation::default()
            })
            .0,
            op: tokio::sync::Mutex::new(()),
            pending_attach: Mutex::new(Vec::new()),
        })
    }

    /// The record, locked briefly (never held across an await).
    pub fn record(&self) -> MutexGuard<'_, ContainerRecord> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> ContainerRecord {
        self.record().clone()
    }

    /// Tells waiters what changed.
    pub fn notify(&self, change: impl FnOnce(&mut Generation)) {
        self.changes.send_modify(change);
    }
}

/// Containers by id, and their names.
#[derive(Default)]
pub struct Table {
    by_id: HashMap<String, Arc<Entry>>,
    /// Name (without `/`) → id.
    names: HashMap<String, String>,
}

impl Table {
    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Arc<Entry>> {
        if let Some(entry) = self.by_id.get(key) {
            return Ok(entry.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(entry) = self.names.get(name).and_then(|id| self.by_id.get(id)) {
            return Ok(entry.clone());
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NoSuchContainer(key.to_string()));
        }
        let mut matches = self.by_id.iter().filter(|(id, _)| id.starts_with(key));
        match (matches.next(), matches.next()) {
            (Some((_, entry)), None) => Ok(entry.clone()),
            (Some(_), Some(_)) => Err(Error::InvalidParameter {
                what: "container id".into(),
                reason: format!("multiple containers found with provided prefix: {key}"),
            }),
            _ => Err(Error::NoSuchContainer(key.to_string())),
        }
    }

    /// Claims `name` for `id`; a name in use is a conflict, as Docker words it.
    pub fn reserve_name(&mut self, name: &str, id: &str) -> Result<()> {
        if let Some(owner) = self.names.get(name) {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        self.names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    /// Whether `name` is free.
    pub fn name_free(&self, name: &str) -> bool {
        !self.names.contains_key(name)
    }

    /// Gives up `name`.
    pub fn release_name(&mut self, name: &str) {
        self.names.remove(name);
    }

    pub fn insert(&mut self, entry: Arc<Entry>) {
        self.by_id.insert(entry.id.clone(), entry);
    }

    pub fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.by_id.remove(id)?;
        let name = entry.record().name.clone();
        if self.names.get(&name).is_some_and(|owner| owner == id) {
            self.names.remove(&name);
        }
        Some(entry)
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.by_id.values().cloned().collect()
    }
}
