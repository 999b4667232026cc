//! The build cache's index: which image a step made, by a key over everything the step's
//! result depends on. Kept in `<data_root>/build/cache.json`, replaced atomically and durably
//! on every change.

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
        Ok(Cache { path, index })
    }

    /// The image cached under `key`, marked as used.
    pub fn lookup(&mut self, key: &Digest) -> Option<Digest> {
        let entry = self.index.entries.iter_mut().find(|e| e.id == key.hex())?;
        entry.last_used = now();
        entry.usage_count += 1;
        let image = entry.image.clone();
        // Usage statistics are not worth a failed build.
        let _ = self.save();
        Some(image)
    }

    /// Drops the entry `key` (its image is gone).
    pub fn forget(&mut self, key: &Digest) -> Result<()> {
        self.index.entries.retain(|e| e.id != key.hex());
        self.save()
    }

    /// Records that the step `key` made `image`.
    pub fn insert(&mut self, key: &Digest, image: Digest, description: String) -> Result<()> {
        self.index.entries.retain(|e| e.id != key.hex());
        let now = now();
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
        self.save()?;
        Ok(entries)
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec(&self.index).expect("the cache index serialises");
        crate::durable::write(&self.path, &bytes).map_err(|source| Error::Io {
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
        let key = berth_image::digest::sha256(b"step");
        let image = berth_image::digest::sha256(b"image");
        let mut cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.lookup(&key), None);
        cache.insert(&key, image.clone(), "RUN x".into()).unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.lookup(&key), Some(image));
        assert_eq!(cache.entries()[0].usage_count, 1);
        assert_eq!(cache.clear().unwrap().len(), 1);
        assert!(Cache::open(dir.path()).unwrap().entries().is_empty());
    }
}
