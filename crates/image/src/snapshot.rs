//! Snapshots: each layer unpacked once into its own directory (shared by every image that has
//! it), and a container's root file system as an overlay of them with its own upper layer.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::digest::{sha256, Digest};
use crate::error::{Context, Error, Result};
use crate::images::ImageRecord;
use crate::layer::{self, Whiteouts};
use crate::store::BlobStore;
use std::sync::atomic::{AtomicU64, Ordering};

/// The layers directory: `<root>/<chain id hex>/fs`; containers' root file systems under
/// `<root>/containers/<id>` (see [`crate::rootfs`]).
pub struct Snapshotter {
    pub(crate) root: PathBuf,
    pub(crate) driver: Driver,
}

/// How a container's root file system is made from the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// An overlay mount of the layer snapshots with the container's own upper directory.
    Overlay,
    /// A private copy of the layers, for file systems or kernels without overlayfs.
    Copy,
}

impl Driver {
    /// Overlay if an overlay mount works in `dir` (tried once, in a scratch directory that is
    /// removed again), otherwise Copy.
    pub fn probe(dir: &Path) -> Result<Driver> {
        let scratch = dir.join(format!(
            "probe-{}-{}",
            std::process::id(),
            PENDING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        for d in ["lower", "upper", "work", "merged"] {
            fs::create_dir_all(scratch.join(d))
                .context(|| format!("create {}", scratch.join(d).display()))?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            scratch.join("lower").display(),
            scratch.join("upper").display(),
            scratch.join("work").display()
        );
        let merged = scratch.join("merged");
        let mounted = mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .is_ok();
        if mounted {
            umount2(&merged, MntFlags::MNT_DETACH)
                .context(|| format!("unmount {}", merged.display()))?;
        }
        fs::remove_dir_all(&scratch).context(|| format!("remove {}", scratch.display()))?;
        Ok(if mounted {
            Driver::Overlay
        } else {
            Driver::Copy
        })
    }
}

/// The chain ids of a layer stack: the first is its diff id, each next one hashes the
/// previous chain id and the layer's diff id (as the OCI image spec defines).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => sha256(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

impl Snapshotter {
    /// Opens (creating if needed) the snapshots under `root`, with the overlay driver if
    /// overlay mounts work there and the copy driver otherwise.
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).context(|| format!("create {}", root.display()))?;
        let driver = Driver::probe(root)?;
        Ok(Snapshotter {
            root: root.to_path_buf(),
            driver,
        })
    }

    /// Opens the snapshots under `root` with the given driver for containers.
    pub fn open_with(root: &Path, driver: Driver) -> Result<Self> {
        fs::create_dir_all(root).context(|| format!("create {}", root.display()))?;
        Ok(Snapshotter {
            root: root.to_path_buf(),
            driver,
        })
    }

    /// The driver new containers get.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The directory of the snapshot `chain_id`, if it has been unpacked.
    pub fn get(&self, chain_id: &Digest) -> Option<PathBuf> {
        let dir = self.root.join(chain_id.hex());
        dir.is_dir().then(|| dir.join("fs"))
    }

    /// Starts unpacking the snapshot `chain_id`: it gets its final name only when
    /// [`PendingSnapshot::commit`] is called, so a half-unpacked or unverified layer is never used.
    pub fn prepare(&self, chain_id: &Digest) -> Result<PendingSnapshot> {
        let tmp = self.root.join(format!(
            "tmp-{}-{}-{}",
            chain_id.hex(),
            std::process::id(),
            PENDING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(tmp.join("fs")).context(|| format!("create {}", tmp.display()))?;
        Ok(PendingSnapshot {
            tmp,
            target: self.root.join(chain_id.hex()),
        })
    }

    /// The snapshot directories of `chain` (bottom first); an error names the first missing.
    pub fn dirs(&self, chain: &[Digest]) -> Result<Vec<PathBuf>> {
        chain
            .iter()
            .map(|id| {
                self.get(id).ok_or_else(|| Error::Io {
                    context: format!("snapshot {id}"),
                    source: std::io::ErrorKind::NotFound.into(),
                })
            })
            .collect()
    }

    /// Unpacks every layer of `image` not yet unpacked, checking each against its diff id;
    /// returns their directories, bottom first.
    pub fn layers(&self, blobs: &BlobStore, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        let chain = chain_ids(&image.diff_ids);
        for ((chain_id, diff_id), blob) in chain.iter().zip(&image.diff_ids).zip(&image.layers) {
            let dir = match self.get(chain_id) {
                Some(dir) => dir,
                None => {
                    let pending = self.prepare(chain_id)?;
                    pending.unpack(blobs.open_blob(blob)?, diff_id)?;
                    pending.commit()?
                }
            };
            dirs.push(dir);
        }
        Ok(dirs)
    }

    /// Mounts `image`'s root file system at `target` with overlayfs: the layers below, and
    /// `<work>/upper` for the container's own changes.
    pub fn mount_rootfs(
        &self,
        blobs: &BlobStore,
        image: &ImageRecord,
        work: &Path,
        target: &Path,
    ) -> Result<()> {
        let layers = self.layers(blobs, image)?;
        mount_overlay(&layers, work, target)
    }

    /// Unmounts a root file system made by [`Snapshotter::mount_rootfs`].
    pub fn unmount_rootfs(target: &Path) -> Result<()> {
        umount2(target, MntFlags::MNT_DETACH).context(|| format!("unmount {}", target.display()))
    }
}

/// Mounts an overlay of `layers` (bottom first) at `target`, with `<work>/upper` for changes.
pub(crate) fn mount_overlay(layers: &[PathBuf], work: &Path, target: &Path) -> Result<()> {
    for d in ["upper", "work"] {
        fs::create_dir_all(work.join(d))
            .context(|| format!("create {}", work.join(d).display()))?;
    }
    fs::create_dir_all(target).context(|| format!("create {}", target.display()))?;
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        work.join("upper").display(),
        work.join("work").display()
    );
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .context(|| format!("mount overlay on {}", target.display()))
}

pub(crate) static PENDING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A snapshot being unpacked beside its final place; removed unless committed.
pub struct PendingSnapshot {
    tmp: PathBuf,
    target: PathBuf,
}

impl PendingSnapshot {
    /// Unpacks a layer stream (any compression) as overlay whiteouts, checking it is `diff_id`.
    pub fn unpack(&self, layer: impl std::io::Read, diff_id: &Digest) -> Result<layer::Stats> {
        layer::apply_verified(&self.tmp.join("fs"), layer, Whiteouts::Overlay, diff_id)
    }

    /// Gives the snapshot its final name; returns its file system directory. If another
    /// unpacking of the same layer got there first, that one is kept.
    pub fn commit(self) -> Result<PathBuf> {
        let fs_dir = self.target.join("fs");
        // The unpacked files reach the disk before the snapshot gets the name that says it is
        // complete: after a crash, a snapshot under its chain id is whole (a `tmp-*` one is
        // garbage). One syncfs costs less than an fsync per file of the layer.
        let tmp = File::open(&self.tmp).context(|| format!("open {}", self.tmp.display()))?;
        nix::unistd::syncfs(&tmp).context(|| format!("sync {}", self.tmp.display()))?;
        match fs::rename(&self.tmp, &self.target) {
            Ok(()) => {
                let root = self.target.parent().unwrap_or(Path::new("/"));
                File::open(root)
                    .and_then(|d| d.sync_all())
                    .context(|| format!("fsync {}", root.display()))?;
            }
            Err(e)
                if matches!(
                    e.raw_os_error().map(nix::errno::Errno::from_raw),
                    Some(nix::errno::Errno::ENOTEMPTY | nix::errno::Errno::EEXIST)
                ) => {}
            Err(e) => {
                return Err(e).context(|| format!("store snapshot {}", self.target.display()))
            }
        }
        Ok(fs_dir)
    }
}

impl Drop for PendingSnapshot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256(format!("{a} {b}").as_bytes()));
    }
}
