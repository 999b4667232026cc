//! The image store: blobs plus the names and layer lists of the images made from them,
//! kept in `<root>/images.json` (written atomically and durably).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::reference::Reference;
use crate::store::BlobStore;

/// One image: its config blob (whose digest is the image id) and its layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    /// Layer blobs as stored (possibly compressed).
    pub layers: Vec<Digest>,
    /// Digests of the uncompressed layers, from the config's `rootfs.diff_ids`.
    pub diff_ids: Vec<Digest>,
    /// Manifests this image was pulled as or pushed as: `repository@digest`.
    #[serde(default)]
    pub repo_digests: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    /// Full reference (`docker.io/library/busybox:latest`) → image id.
    names: BTreeMap<String, Digest>,
    images: BTreeMap<String, ImageRecord>,
}

/// Images and their blobs under one data root.
pub struct ImageStore {
    root: PathBuf,
    blobs: BlobStore,
    index: Index,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = BlobStore::open(root)?;
        let path = root.join("images.json");
        let index = match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| Error::Io {
                context: format!("parse {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(e).context(|| format!("read {}", path.display())),
        };
        Ok(ImageStore {
            root: root.to_path_buf(),
            blobs,
            index,
        })
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    fn save(&self) -> Result<()> {
        let path = self.root.join("images.json");
        let tmp = self
            .root
            .join(format!(".images.json.{}", std::process::id()));
        let data = serde_json::to_vec_pretty(&self.index).expect("the index always serialises");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.root)?.sync_all()
        };
        write().context(|| format!("write {}", path.display()))
    }

    /// Records an image and points `names` at it.
    pub fn add(&mut self, record: ImageRecord, names: &[Reference]) -> Result<()> {
        for name in names {
            self.index.names.insert(name.to_string(), record.id.clone());
        }
        self.index.images.insert(record.id.to_string(), record);
        self.save()
    }

    /// Finds an image by name (normalised), full id, or an id prefix of at least 4 hex digits.
    pub fn get(&self, name_or_id: &str) -> Option<&ImageRecord> {
        if let Ok(reference) = name_or_id.parse::<Reference>() {
            if let Some(id) = self.index.names.get(&reference.to_string()) {
                return self.index.images.get(&id.to_string());
            }
        }
        let hex = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        if hex.len() < 4 {
            return None;
        }
        let mut matches = self
            .index
            .images
            .values()
            .filter(|r| r.id.hex().starts_with(hex));
        match (matches.next(), matches.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// Every image with the names that point at it.
    pub fn list(&self) -> Vec<(&ImageRecord, Vec<&str>)> {
        self.index
            .images
            .values()
            .map(|r| {
                let names = self
                    .index
                    .names
                    .iter()
                    .filter(|(_, id)| **id == r.id)
                    .map(|(n, _)| n.as_str())
                    .collect();
                (r, names)
            })
            .collect()
    }
}
