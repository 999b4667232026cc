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

/// One line of what `rmi` or `prune` did, as Docker prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A name no longer points at its image (`Untagged: busybox:latest`).
    Untagged(String),
    /// An image record is gone (`Deleted: sha256:…`); its blobs wait for garbage collection.
    Deleted(Digest),
}

impl std::fmt::Display for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Removal::Untagged(name) => write!(f, "Untagged: {name}"),
            Removal::Deleted(id) => write!(f, "Deleted: {id}"),
        }
    }
}

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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Index {
    /// Full reference (`docker.io/library/busybox:latest`) → image id.
    names: BTreeMap<String, Digest>,
    images: BTreeMap<String, ImageRecord>,
}

/// Images and their blobs under one data root. A clone is a copy of the records as they are
/// (for reading at length without holding the original, as `save` does); changes made
/// through it are not seen by the original.
#[derive(Clone)]
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

    /// The blob store the images' configs and layers live in.
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

    /// Finds an image by name (normalised), by `repository@digest` of a manifest it was pulled
    /// or pushed as, by full id, or by an id prefix of at least 4 hex digits.
    pub fn get(&self, name_or_id: &str) -> Option<&ImageRecord> {
        if let Ok(reference) = name_or_id.parse::<Reference>() {
            if let Some(id) = self.index.names.get(&reference.to_string()) {
                return self.index.images.get(&id.to_string());
            }
            if let Some(digest) = reference.digest() {
                let wanted = format!("{}@{digest}", reference.repository());
                return self
                    .index
                    .images
                    .values()
                    .find(|r| r.repo_digests.contains(&wanted));
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

    /// Every image record (for garbage collection: what they name is what is referenced).
    pub fn records(&self) -> impl Iterator<Item = &ImageRecord> {
        self.index.images.values()
    }

    /// The names (full references) pointing at the image `id`, sorted.
    pub fn names_of(&self, id: &Digest) -> Vec<&str> {
        self.index
            .names
            .iter()
            .filter(|(_, target)| *target == id)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Finds an image like [`get`](Self::get), or says which one is missing.
    fn require(&self, name_or_id: &str) -> Result<&ImageRecord> {
        self.get(name_or_id)
            .ok_or_else(|| Error::ImageNotFound(name_or_id.to_string()))
    }

    /// Points `target` at the image `source` (a name or id), like `docker tag`; a name that
    /// pointed elsewhere moves.
    pub fn tag(&mut self, source: &str, target: &Reference) -> Result<Digest> {
        if target.digest().is_some() {
            return Err(Error::InvalidReference(
                target.to_string(),
                "a tag cannot carry a digest",
            ));
        }
        let id = self.require(source)?.id.clone();
        // A name that already points there (a rebuild that changed nothing) costs no write.
        let before = self.index.names.insert(target.to_string(), id.clone());
        if before.as_ref() != Some(&id) {
            self.save()?;
        }
        Ok(id)
    }

    /// Removes the name `name`, leaving the image even if nothing else names it. Returns the id
    /// it pointed at.
    pub fn untag(&mut self, name: &Reference) -> Result<Digest> {
        let id = self
            .index
            .names
            .remove(&name.to_string())
            .ok_or_else(|| Error::ImageNotFound(name.familiar()))?;
        self.save()?;
        Ok(id)
    }

    /// `docker rmi`: by name, removes the name and, if it was the last one, the image; by id,
    /// removes the image and all its names. Refused without `force` when the id's names span
    /// several repositories or a container uses the image (`in_use`).
    pub fn remove(
        &mut self,
        name_or_id: &str,
        force: bool,
        in_use: &dyn Fn(&Digest) -> bool,
    ) -> Result<Vec<Removal>> {
        let id = self.require(name_or_id)?.id.clone();
        let by_name = name_or_id
            .parse::<Reference>()
            .ok()
            .map(|r| r.to_string())
            .filter(|n| self.index.names.contains_key(n));
        let names: Vec<String> = self.names_of(&id).into_iter().map(String::from).collect();
        let mut done = Vec::new();
        if let Some(name) = by_name {
            if names.len() > 1 {
                // Other names keep the image alive: only this one goes.
                self.index.names.remove(&name);
                self.save()?;
                return Ok(vec![Removal::Untagged(familiar(&name))]);
            }
            if !force && in_use(&id) {
                return Err(Error::Conflict {
                    image: familiar(&name),
                    reason: format!(
                        "unable to remove repository reference (must force): a container is using its image {}",
                        id.short()
                    ),
                });
            }
        } else {
            let mut repositories: Vec<String> = names
                .iter()
                .filter_map(|n| n.parse::<Reference>().ok().map(|r| r.repository()))
                .collect();
            repositories.sort();
            repositories.dedup();
            if !force && repositories.len() > 1 {
                return Err(Error::Conflict {
                    image: id.short().to_string(),
                    reason: "unable to delete (must be forced): image is referenced in multiple repositories".into(),
                });
            }
            if !force && in_use(&id) {
                return Err(Error::Conflict {
                    image: id.short().to_string(),
                    reason: "unable to delete (must be forced): image is being used by a container"
                        .into(),
                });
            }
        }
        for name in &names {
            self.index.names.remove(name);
            done.push(Removal::Untagged(familiar(name)));
        }
        self.index.images.remove(&id.to_string());
        self.save()?;
        done.push(Removal::Deleted(id));
        Ok(done)
    }

    /// `docker image prune`: removes images no container uses that have no name (dangling), or
    /// with `all`, every image no container uses, names and all.
    pub fn prune(&mut self, all: bool, in_use: &dyn Fn(&Digest) -> bool) -> Result<Vec<Removal>> {
        let victims: Vec<(Digest, Vec<String>)> = self
            .index
            .images
            .values()
            .map(|r| {
                let names = self.names_of(&r.id).into_iter().map(String::from).collect();
                (r.id.clone(), names)
            })
            .filter(|(id, names): &(Digest, Vec<String>)| (all || names.is_empty()) && !in_use(id))
            .collect();
        let mut done = Vec::new();
        for (id, names) in victims {
            for name in names {
                self.index.names.remove(&name);
                done.push(Removal::Untagged(familiar(&name)));
            }
            self.index.images.remove(&id.to_string());
            done.push(Removal::Deleted(id));
        }
        if !done.is_empty() {
            self.save()?;
        }
        Ok(done)
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

/// The short form Docker prints for a stored full name (`busybox:latest`).
fn familiar(name: &str) -> String {
    name.parse::<Reference>()
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_string())
}
