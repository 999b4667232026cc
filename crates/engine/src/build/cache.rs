//! The build cache's index: which image a step made, by a key over everything the step's
//! result depends on. Kept in `<data_root>/build/cache.json`, replaced atomically and durably
//! on every change of its entries; usage statistics are saved once a build ends, without
//! waiting for the disk (a crash may lose a count, never an entry).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_image::Digest;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One cached step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The key's hex digest, which also names the entry.
    pub id: String,
    /// The image the step made.
    pub image: Digest,
    /// The step's history line (`/bin/sh -c #(nop)  CMD ["sh"]`).
    pub description: String,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds.
    pub last_used: u64,
    pub usage_count: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    entries: Vec<CacheEntry>,
}

/// The index, loaded.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    index: Index,
    /// Entry ids → their place in `index.entries`.
    by_id: HashMap<String, usize>,
    /// Whether usage statistics changed since the last save.
    used: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Cache {
    /// Loads `<root>/cache.json`, creating `root` if needed; an unreadable index is an error
    /// (a half-written one cannot exist: it is only ever renamed into place).
    pub fn open(root: &Path) -> Result<Cache> {
        std::fs::create_dir_all(root).map_err(|source| Error::Io {
            context: format!("create {}", root.display()),
            source,
        })?;
        let path = root.join("cache.json");
        let index = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Io {
                context: format!("parse {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(source) => {
                return Err(Error::Io {
                    context: format!("read {}", path.display()),
                    source,
                })
            }
        };
        let mut cache = Cache {
            path,
            index,
            by_id: HashMap::new(),
            used: false,
        };
        cache.reindex();
        Ok(cache)
    }

    fn reindex(&mut self) {
        self.by_id = (self.index.entries.iter().enumerate())
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
    }

    /// The image cached under `key`, marked as used (saved by [`Cache::save_usage`]).
    pub fn lookup(&mut self, key: &Digest) -> Option<Digest> {
        let entry = &mut self.index.entries[*self.by_id.get(key.hex())?];
        entry.last_used = now();
        entry.usage_count += 1;
        self.used = true;
        Some(entry.image.clone())
    }

    /// Saves the usage statistics [`Cache::lookup`] changed, atomically but without waiting
    /// for the disk.
    pub fn save_usage(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.used) {
            return Ok(());
        }
        crate::durable::replace(&self.path, &self.bytes()).map_err(|source| Error::Io {
            context: format!("write {}", self.path.display()),
            source,
        })
    }

    fn remove(&mut self, key: &Digest) {
        if let Some(i) = self.by_id.remove(key.hex()) {
            self.index.entries.swap_remove(i);
            if let Some(moved) = self.index.entries.get(i) {
                self.by_id.insert(moved.id.clone(), i);
            }
        }
    }

    /// Drops the entry `key` (its image is gone).
    pub fn forget(&mut self, key: &Digest) -> Result<()> {
        self.remove(key);
        self.save()
    }

    /// Records that the step `key` made `image`.
    pub fn insert(&mut self, key: &Digest, image: Digest, description: String) -> Result<()> {
        self.remove(key);
        let now = now();
        self.by_id
            .insert(key.hex().to_string(), self.index.entries.len());
        self.index.entries.push(CacheEntry {
            id: key.hex().to_string(),
            image,
            description,
            created: now,
            last_used: now,
            usage_count: 0,
        });
        self.save()
    }

    /// Every entry.
    pub fn entries(&self) -> Vec<CacheEntry> {
        self.index.entries.clone()
    }

    /// Empties the cache; returns what it held.
    pub fn clear(&mut self) -> Result<Vec<CacheEntry>> {
        let entries = std::mem::take(&mut self.index.entries);
        self.by_id.clear();
        self.save()?;
        Ok(entries)
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.index).expect("the cache index serialises")
    }

    /// Saves every entry durably (usage statistics with them).
    fn save(&mut self) -> Result<()> {
        self.used = false;
        crate::durable::write(&self.path, &self.bytes()).map_err(|source| Error::Io {
            context: format!("write {}", self.path.display()),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_clear_empties_them() {
        let dir = berth_testkit::TempDir::new("build-cache");
        let sha = |text: &str| berth_image::digest::sha256(text.as_bytes());
        let (key, other) = (sha("step"), sha("other step"));
        let mut cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.lookup(&key), None);
        cache.insert(&key, sha("image"), "RUN x".into()).unwrap();
        cache.insert(&other, sha("other"), "RUN y".into()).unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.lookup(&key), Some(sha("image")));
        cache.save_usage().unwrap();
        let usage = |cache: &Cache| -> Vec<(String, u64)> {
            let mut entries: Vec<_> = cache
                .entries()
                .into_iter()
                .map(|e| (e.description, e.usage_count))
                .collect();
            entries.sort();
            entries
        };
        assert_eq!(
            usage(&Cache::open(dir.path()).unwrap()),
            [("RUN x".into(), 1), ("RUN y".into(), 0)]
        );
        // The first entry goes: the index still finds the one that took its place.
        cache.forget(&key).unwrap();
        assert_eq!(cache.lookup(&other), Some(sha("other")));
        cache.insert(&key, sha("again"), "RUN x".into()).unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        assert_eq!(
            (cache.lookup(&key), cache.lookup(&other)),
            (Some(sha("again")), Some(sha("other")))
        );
        assert_eq!(cache.clear().unwrap().len(), 2);
        assert!(Cache::open(dir.path()).unwrap().entries().is_empty());
    }
}
