//! What berthd keeps of a volume: `<data-root>/volumes/<name>/volume.json` beside its `_data`,
//! written durably (temp file, fsync, rename) when the volume is created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable;
use crate::error::{Error, Result};

/// The metadata file in a volume's directory.
const METADATA: &str = "volume.json";

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    /// RFC 3339 in seconds, UTC.
    pub created: String,
    pub labels: BTreeMap<String, String>,
    /// The local driver's options as given (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
}

impl VolumeRecord {
    /// Whether the volume was made without a name (`-v /path`, an image's VOLUME).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(super::ANONYMOUS_LABEL)
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// The volumes directory of a data root.
#[derive(Debug)]
pub struct VolumeStore {
    root: PathBuf,
}

impl VolumeStore {
    /// The store in `root` (created if missing, 0700).
    pub fn open(root: &Path) -> Result<VolumeStore> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io(format!("create {}", root.display())))?;
        Ok(VolumeStore {
            root: root.to_path_buf(),
        })
    }

    /// A volume's directory.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// A volume's content: what containers mount.
    pub fn data(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    /// Every saved volume. A directory without metadata is the remains of a create cut short
    /// by a crash (the metadata is written last) and is skipped.
    pub fn load(&self) -> Result<Vec<VolumeRecord>> {
        let entries =
            std::fs::read_dir(&self.root).map_err(io(format!("read {}", self.root.display())))?;
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(format!("read {}", self.root.display())))?;
            let path = entry.path().join(METADATA);
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(format!("read {}", path.display()))(e)),
            };
            let record: VolumeRecord = serde_json::from_slice(&data).map_err(|e| {
                io(format!("parse {}", path.display()))(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e,
                ))
            })?;
            records.push(record);
        }
        Ok(records)
    }

    /// Makes the volume's directories and saves its metadata, durably.
    pub fn create(&self, record: &VolumeRecord) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let data = self.data(&record.name);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&data)
            .map_err(io(format!("create {}", data.display())))?;
        let path = self.dir(&record.name).join(METADATA);
        let json = serde_json::to_vec_pretty(record).expect("volume records serialise");
        durable::write(&path, &json).map_err(io(format!("save {}", path.display())))?;
        std::fs::File::open(&self.root)
            .and_then(|dir| dir.sync_all())
            .map_err(io(format!("sync {}", self.root.display())))
    }

    /// Removes the volume's metadata first (so a crash half-way leaves no volume behind), then
    /// its directory.
    pub fn remove(&self, name: &str) -> Result<()> {
        let dir = self.dir(name);
        let path = dir.join(METADATA);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("remove {}", path.display()))(e)),
        }
        std::fs::remove_dir_all(&dir).map_err(io(format!("remove {}", dir.display())))
    }
}
