//! `RUN --mount=type=cache`: directories under `<data_root>/build/cache-mounts/` that RUN
//! containers mount and that outlive builds (and the daemon), until `builder prune`. Each is
//! named by a hash of its id (the target unless `id=` says otherwise) and of what seeded it
//! (`from=`, `source=`), with `<name>.json` beside it saying what it is. A directory is made
//! complete under a temporary name and renamed into place, so a crash leaves no half-seeded
//! cache. Sharing as BuildKit's: `shared` lets every RUN use it at once, `locked` makes them
//! wait for each other, `private` gives a RUN that finds it busy another instance of its own
//! (`<name>-<n>`, kept too).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_build::parser::CacheSharing;
use serde::{Deserialize, Serialize};

use super::{io_error, BuildResult};
use crate::task::blocking;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// What a cache mount's `<name>.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// The `id=` (or target) the Dockerfile gave.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
}

/// A cache mount as `system df` and `builder prune` see it.
#[derive(Debug, Clone)]
pub struct Record {
    /// The directory's name.
    pub name: String,
    pub meta: Meta,
    /// Bytes of the files in it.
    pub size: u64,
    /// Unix seconds of the directory's last change.
    pub last_used: u64,
    /// Whether a RUN has it mounted now.
    pub in_use: bool,
}

/// How a new cache directory is first filled.
pub enum Seed {
    /// Empty, with this mode and owner.
    Empty { mode: u32, uid: u32, gid: u32 },
    /// A copy of this directory (of a stage or image mounted for the purpose).
    Copy(PathBuf),
}

#[derive(Default)]
struct State {
    in_use: HashMap<String, usize>,
    /// By key: what `locked` users hold.
    locks: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// By name: held while a directory is made, so RUNs of stages built at the same time
    /// make it once (a second rename could replace the first's directory under its mount).
    making: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

/// The cache mounts of one data root.
pub struct CacheMounts {
    root: PathBuf,
    state: Arc<Mutex<State>>,
}

/// A cache directory a RUN uses; released on drop.
pub struct Lease {
    /// The directory to mount.
    pub path: PathBuf,
    name: String,
    state: Arc<Mutex<State>>,
    _lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = state.in_use.get_mut(&self.name) {
            *n -= 1;
            if *n == 0 {
                state.in_use.remove(&self.name);
            }
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CacheMounts {
    /// The cache mounts under `root`, made if missing; what an interrupted seeding left goes.
    pub fn open(root: PathBuf) -> std::io::Result<CacheMounts> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        for entry in std::fs::read_dir(&root)?.flatten() {
            if entry.file_name().to_string_lossy().contains(".tmp-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(CacheMounts {
            root,
            state: Arc::default(),
        })
    }

    /// The directory for cache `key` (a hex hash), made from `seed` if it does not exist, held
    /// as `sharing` says until the lease is dropped.
    pub async fn acquire(
        &self,
        key: &str,
        id: &str,
        sharing: CacheSharing,
        seed: Seed,
    ) -> BuildResult<Lease> {
        let lock = match sharing {
            CacheSharing::Locked => {
                let mutex = mutex_of(&mut self.lock_state().locks, key);
                Some(mutex.lock_owned().await)
            }
            _ => None,
        };
        let name = {
            let mut state = self.lock_state();
            let mut name = key.to_string();
            if sharing == CacheSharing::Private {
                let mut n = 0;
                while state.in_use.contains_key(&name) {
                    n += 1;
                    name = format!("{key}-{n}");
                }
            }
            *state.in_use.entry(name.clone()).or_default() += 1;
            name
        };
        let lease = Lease {
            path: self.root.join(&name),
            name: name.clone(),
            state: self.state.clone(),
            _lock: lock,
        };
        let making = mutex_of(&mut self.lock_state().making, &name);
        let _making = making.lock().await;
        let (root, id) = (self.root.clone(), id.to_string());
        blocking("prepare a cache mount", move || {
            make(&root, &name, &id, seed)
        })
        .await??;
        Ok(lease)
    }

    /// Every cache mount, with its size.
    pub fn records(&self) -> Vec<Record> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".json") else {
                continue;
            };
            let Some(meta) = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
            else {
                continue;
            };
            let dir = self.root.join(name);
            let last_used = std::fs::metadata(&dir)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(meta.created, |d| d.as_secs());
            out.push(Record {
                name: name.to_string(),
                meta,
                size: size_of(&dir),
                last_used,
                in_use: self.lock_state().in_use.contains_key(name),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Removes every cache mount no RUN uses; returns those removed.
    pub fn prune(&self) -> std::io::Result<Vec<Record>> {
        let mut removed = Vec::new();
        for record in self.records() {
            let trash = self.root.join(format!(
                "{}.tmp-prune-{}",
                record.name,
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            {
                // Held while the directory is moved away, so no RUN takes it meanwhile (a RUN
                // after this makes a new one). A crash leaves a `.tmp-` directory, which the
                // next start removes, and maybe the description, which the next prune removes.
                let state = self.lock_state();
                if state.in_use.contains_key(&record.name) {
                    continue;
                }
                match std::fs::rename(self.root.join(&record.name), &trash) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                match std::fs::remove_file(self.root.join(format!("{}.json", record.name))) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            match std::fs::remove_dir_all(&trash) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            removed.push(record);
        }
        Ok(removed)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The mutex of `name` in `map`, made on first use.
fn mutex_of(
    map: &mut HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    name: &str,
) -> Arc<tokio::sync::Mutex<()>> {
    map.entry(name.to_string()).or_default().clone()
}

/// Makes `<root>/<name>` from `seed` unless it exists.
fn make(root: &Path, name: &str, id: &str, seed: Seed) -> BuildResult<()> {
    let dir = root.join(name);
    if dir.is_dir() {
        return Ok(());
    }
    let tmp = root.join(format!(
        "{name}.tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let made = (|| -> BuildResult<()> {
        match seed {
            Seed::Empty { mode, uid, gid } => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::create_dir(&tmp).map_err(io_error(format!("create {}", tmp.display())))?;
                std::os::unix::fs::lchown(&tmp, Some(uid), Some(gid))
                    .map_err(io_error(format!("chown {}", tmp.display())))?;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                    .map_err(io_error(format!("chmod {}", tmp.display())))?;
            }
            Seed::Copy(source) => super::dir_copy::copy_tree(&source, &tmp)?,
        }
        let meta = Meta {
            id: id.to_string(),
            created: now(),
        };
        let json = serde_json::to_vec(&meta).expect("metadata serialises");
        crate::durable::write(&root.join(format!("{name}.json")), &json).map_err(io_error(
            format!("write the description of cache mount {id}"),
        ))?;
        std::fs::rename(&tmp, &dir).map_err(io_error(format!("rename to {}", dir.display())))
    })();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made
}

/// Bytes of the regular files under `dir` (links not followed).
fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => todo.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Seed {
        Seed::Empty {
            mode: 0o755,
            uid: 0,
            gid: 0,
        }
    }

    #[tokio::test]
    async fn caches_persist_private_ones_split_and_prune_spares_those_in_use() {
        let dir = berth_testkit::TempDir::new("cache-mounts");
        let mounts = CacheMounts::open(dir.join("cm")).unwrap();
        let first = mounts
            .acquire("k", "/root/.cache", CacheSharing::Shared, empty())
            .await
            .unwrap();
        std::fs::write(first.path.join("f"), b"1234").unwrap();
        let private = mounts
            .acquire("k", "/root/.cache", CacheSharing::Private, empty())
            .await
            .unwrap();
        assert_ne!(
            private.path, first.path,
            "a busy cache gives a private user its own"
        );
        drop(first);
        let again = mounts
            .acquire("k", "/root/.cache", CacheSharing::Locked, empty())
            .await
            .unwrap();
        assert_eq!(std::fs::read(again.path.join("f")).unwrap(), b"1234");
        let records = mounts.records();
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r.in_use));
        assert_eq!(records[0].size, 4);
        assert_eq!(records[0].meta.id, "/root/.cache");
        drop(again);
        let removed = mounts.prune().unwrap();
        assert_eq!(removed.len(), 1, "the private instance is still in use");
        assert!(!dir.join("cm/k").exists());
        drop(private);
        assert_eq!(mounts.prune().unwrap().len(), 1);
        assert!(mounts.records().is_empty());
    }

    #[tokio::test]
    async fn a_locked_cache_waits_for_its_user() {
        let dir = berth_testkit::TempDir::new("cache-mounts-locked");
        let mounts = std::sync::Arc::new(CacheMounts::open(dir.join("cm")).unwrap());
        let held = mounts
            .acquire("k", "id", CacheSharing::Locked, empty())
            .await
            .unwrap();
        let waiting = {
            let mounts = mounts.clone();
            tokio::spawn(async move {
                mounts
                    .acquire("k", "id", CacheSharing::Locked, empty())
                    .await
                    .map(|lease| lease.path.clone())
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "the second user waits");
        drop(held);
        let path = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the second user gets the cache once the first is done")
            .unwrap()
            .unwrap();
        assert_eq!(path, dir.join("cm/k"));
    }
}
