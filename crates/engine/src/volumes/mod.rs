//! Volumes with the `local` driver: a directory `<data-root>/volumes/<name>/_data` that
//! containers mount, optionally with a filesystem mounted on it (`-o type=tmpfs`, a bind of
//! `device=`) from its first running user until its last one stops.
//!
//! A container refers to its volumes from create to removal ([`VolumeService::reference`],
//! [`VolumeService::release`]) and mounts them while it runs ([`VolumeService::mount`],
//! [`VolumeService::unmount`]); a volume a container refers to is in use, as in Docker, even
//! while that container is stopped, and cannot be removed. References and mounts live in memory:
//! after a restart the container service declares them again, then calls
//! [`VolumeService::settle`].

mod filters;
pub mod local;
pub mod populate;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_api::volumes::{Volume, VolumeCreateRequest};

use crate::error::{Error, Result};
use crate::events::{Event, Events};
pub use filters::VolumeFilters;
pub use store::VolumeRecord;
use store::VolumeStore;

/// The label marking a volume made without a name, as Docker marks it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The only driver.
const DRIVER: &str = "local";

/// The volumes of one daemon; cheap to clone.
#[derive(Clone)]
pub struct VolumeService {
    inner: Arc<Inner>,
}

struct Inner {
    store: VolumeStore,
    volumes: Mutex<BTreeMap<String, Entry>>,
    events: Events,
}

struct Entry {
    record: VolumeRecord,
    /// The containers referring to the volume (created with it, not yet removed).
    references: BTreeSet<String>,
    /// The running containers that have it mounted.
    mounted_by: BTreeSet<String>,
}

impl Entry {
    fn new(record: VolumeRecord) -> Entry {
        Entry {
            record,
            references: BTreeSet::new(),
            mounted_by: BTreeSet::new(),
        }
    }

    fn in_use(&self) -> bool {
        !self.references.is_empty() || !self.mounted_by.is_empty()
    }

    fn users(&self) -> Vec<String> {
        self.references.union(&self.mounted_by).cloned().collect()
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidParameter {
        what: "volume".into(),
        reason,
    }
}

/// A local volume name, as Docker accepts them: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "volume name {name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// Now as Docker shows a volume's CreatedAt: RFC 3339 in whole seconds.
fn now_seconds() -> String {
    let full = berth_runtime::time::format(std::time::SystemTime::now());
    format!("{}Z", &full[..19])
}

impl VolumeService {
    /// The volumes under `root` (`<data-root>/volumes`). Filesystems a previous daemon left
    /// mounted stay (live-restored containers may use them) until [`VolumeService::settle`].
    pub fn open(root: &Path, events: Events) -> Result<VolumeService> {
        let store = VolumeStore::open(root)?;
        let volumes = store
            .load()?
            .into_iter()
            .map(|record| (record.name.clone(), Entry::new(record)))
            .collect();
        Ok(VolumeService {
            inner: Arc::new(Inner {
                store,
                volumes: Mutex::new(volumes),
                events,
            }),
        })
    }

    fn volumes(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.volumes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `POST /volumes/create`: makes the volume, or returns the one of that name already there
    /// (as Docker does). An empty name makes an anonymous volume with a random 64-hex name.
    pub fn create(&self, request: VolumeCreateRequest) -> Result<VolumeRecord> {
        self.create_used_by(request, None)
    }

    /// Makes the volume (or takes the one of that name) for `container`, which refers to it
    /// from now on: a volume cannot be removed between being found and being referred to.
    pub fn create_for(
        &self,
        request: VolumeCreateRequest,
        container: &str,
    ) -> Result<VolumeRecord> {
        self.create_used_by(request, Some(container))
    }

    fn create_used_by(
        &self,
        request: VolumeCreateRequest,
        container: Option<&str>,
    ) -> Result<VolumeRecord> {
        if !matches!(request.driver.as_str(), "" | DRIVER) {
            return Err(invalid(format!(
                "plugin {:?} not found: berth has only the local volume driver",
                request.driver
            )));
        }
        local::parse(&request.driver_opts)?;
        let mut labels = request.labels;
        let name = if request.name.is_empty() {
            labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
            crate::containers::names::new_id()
        } else {
            check_name(&request.name)?;
            request.name
        };
        let mut volumes = self.volumes();
        if let Some(entry) = volumes.get_mut(&name) {
            if let Some(container) = container {
                entry.references.insert(container.to_string());
            }
            return Ok(entry.record.clone());
        }
        let record = VolumeRecord {
            name: name.clone(),
            created: now_seconds(),
            labels,
            options: request.driver_opts,
        };
        if let Err(e) = self.inner.store.create(&record) {
            let _ = self.inner.store.remove(&name);
            return Err(e);
        }
        let mut entry = Entry::new(record.clone());
        if let Some(container) = container {
            entry.references.insert(container.to_string());
        }
        volumes.insert(name.clone(), entry);
        drop(volumes);
        self.inner
            .events
            .publish(Event::now("volume", "create", &name).with("driver", DRIVER));
        Ok(record)
    }

    /// The volume called `name`.
    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        self.volumes()
            .get(name)
            .map(|e| e.record.clone())
            .ok_or_else(|| Error::NoSuchVolume(name.to_string()))
    }

    /// The volumes `filters` keep, by name.
    pub fn list(&self, filters: &VolumeFilters) -> Vec<VolumeRecord> {
        self.volumes()
            .values()
            .filter(|e| filters.keeps(&e.record, e.in_use()))
            .map(|e| e.record.clone())
            .collect()
    }

    /// The containers using the volume: referring to it or running with it.
    pub fn users(&self, name: &str) -> Result<Vec<String>> {
        self.volumes()
            .get(name)
            .map(Entry::users)
            .ok_or_else(|| Error::NoSuchVolume(name.to_string()))
    }

    /// `container` refers to the volume from now until [`VolumeService::release`].
    pub fn reference(&self, name: &str, container: &str) -> Result<()> {
        self.volumes()
            .get_mut(name)
            .ok_or_else(|| Error::NoSuchVolume(name.to_string()))?
            .references
            .insert(container.to_string());
        Ok(())
    }

    /// `container` (being removed) no longer refers to the volume; unknown names are ignored.
    pub fn release(&self, name: &str, container: &str) {
        if let Some(entry) = self.volumes().get_mut(name) {
            entry.references.remove(container);
        }
    }

    /// Takes down the filesystems of volumes no running container has mounted: those a
    /// previous daemon left behind, once restored containers have mounted theirs again.
    pub fn settle(&self) -> Result<()> {
        let unused: Vec<String> = self
            .volumes()
            .values()
            .filter(|e| e.mounted_by.is_empty())
            .map(|e| e.record.name.clone())
            .collect();
        for name in unused {
            local::unmount(&self.inner.store.data(&name))?;
        }
        Ok(())
    }

    /// Every volume with how many containers use it (refer to it or have it mounted).
    pub fn ref_counts(&self) -> Vec<(VolumeRecord, usize)> {
        self.volumes()
            .values()
            .map(|e| (e.record.clone(), e.users().len()))
            .collect()
    }

    /// A volume as the Engine API shows it.
    pub fn view(&self, record: &VolumeRecord) -> Volume {
        let some = |map: &BTreeMap<String, String>| (!map.is_empty()).then(|| map.clone());
        Volume {
            created_at: record.created.clone(),
            driver: DRIVER.to_string(),
            labels: some(&record.labels),
            mountpoint: self.mountpoint(&record.name).display().to_string(),
            name: record.name.clone(),
            options: some(&record.options),
            scope: "local".to_string(),
        }
    }

    /// Where the volume's content is on the host.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.inner.store.data(name)
    }

    /// `container` starts with the volume at `destination`: its filesystem is mounted for the
    /// first such container (unless still mounted from before a restart). Returns the
    /// directory to mount into the container.
    pub fn mount(
        &self,
        name: &str,
        container: &str,
        destination: &str,
        read_write: bool,
    ) -> Result<PathBuf> {
        let mut volumes = self.volumes();
        let entry = volumes
            .get_mut(name)
            .ok_or_else(|| Error::NoSuchVolume(name.to_string()))?;
        let data = self.inner.store.data(name);
        if entry.mounted_by.is_empty() {
            if let Some(mount) = local::parse(&entry.record.options)? {
                if !local::is_mountpoint(&data) {
                    mount.mount(&data)?;
                }
            }
        }
        if entry.mounted_by.insert(container.to_string()) {
            drop(volumes);
            self.inner.events.publish(
                Event::now("volume", "mount", name)
                    .with("container", container)
                    .with("destination", destination)
                    .with("driver", DRIVER)
                    .with("propagation", "")
                    .with("read/write", read_write.to_string()),
            );
        }
        Ok(data)
    }

    /// `container` stopped; the volume's filesystem is taken down after the last running
    /// container. Unknown volumes and containers are ignored (teardown after a crash).
    pub fn unmount(&self, name: &str, container: &str) -> Result<()> {
        let mut volumes = self.volumes();
        let Some(entry) = volumes.get_mut(name) else {
            return Ok(());
        };
        if !entry.mounted_by.remove(container) {
            return Ok(());
        }
        let last = entry.mounted_by.is_empty();
        drop(volumes);
        if last {
            local::unmount(&self.inner.store.data(name))?;
        }
        self.inner.events.publish(
            Event::now("volume", "unmount", name)
                .with("container", container)
                .with("driver", DRIVER),
        );
        Ok(())
    }

    /// `DELETE /volumes/{name}`: refused while a container uses it (Docker's 409 wording);
    /// with `force`, a missing volume is not an error.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let mut volumes = self.volumes();
        let Some(entry) = volumes.get(name) else {
            return if force {
                Ok(())
            } else {
                Err(Error::NoSuchVolume(name.to_string()))
            };
        };
        if entry.in_use() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                entry.users().join(", ")
            )));
        }
        local::unmount(&self.inner.store.data(name))?;
        self.inner.store.remove(name)?;
        volumes.remove(name);
        drop(volumes);
        self.inner
            .events
            .publish(Event::now("volume", "destroy", name).with("driver", DRIVER));
        Ok(())
    }

    /// `POST /volumes/prune`: removes the unused volumes `filters` keep (anonymous ones only,
    /// unless `all=true`, as Docker since API 1.42); returns their names and the bytes freed.
    pub fn prune(&self, filters: &VolumeFilters) -> Result<(Vec<String>, u64)> {
        let candidates: Vec<String> = self
            .volumes()
            .values()
            .filter(|e| {
                !e.in_use()
                    && (filters.all || e.record.is_anonymous())
                    && filters.keeps(&e.record, false)
            })
            .map(|e| e.record.name.clone())
            .collect();
        let mut removed = Vec::new();
        let mut space = 0;
        for name in candidates {
            let size = berth_image::usage::tree_size(&self.inner.store.data(&name)).unwrap_or(0);
            match self.remove(&name, false) {
                Ok(()) => {
                    removed.push(name);
                    space += size;
                }
                // Taken into use or removed since the list was made.
                Err(Error::Conflict(_) | Error::NoSuchVolume(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((removed, space))
    }
}

#[cfg(test)]
mod tests;
