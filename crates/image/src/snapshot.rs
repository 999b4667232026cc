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
    /// Probed when first needed (making a container), not when opening: pulls, loads and
    /// garbage collection never mount anything.
    driver: std::sync::OnceLock<Driver>,
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

/// Marks `root` as the top of directory hierarchies (`FS_TOPDIR_FL`, `chattr +T`): ext4 then
/// places each new snapshot in a block group of its own with free inodes, instead of next to
/// the parent, where the inodes of recently removed snapshots make every file creation scan
/// (it halves the time of unpacking an image right after another was removed). File systems
/// without the flag ignore or refuse it; either way nothing else changes.
fn spread_new_directories(root: &Path) {
    let Ok(dir) = File::open(root) else { return };
    if let Ok(flags) = rustix::fs::ioctl_getflags(&dir) {
        if !flags.contains(rustix::fs::IFlags::TOPDIR) {
            let _ = rustix::fs::ioctl_setflags(&dir, flags | rustix::fs::IFlags::TOPDIR);
        }
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
    /// Opens (creating if needed) the snapshots under `root`; containers get the overlay
    /// driver if overlay mounts work there and the copy driver otherwise.
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).context(|| format!("create {}", root.display()))?;
        spread_new_directories(root);
        Ok(Snapshotter {
            root: root.to_path_buf(),
            driver: std::sync::OnceLock::new(),
        })
    }

    /// Opens the snapshots under `root` with the given driver for containers.
    pub fn open_with(root: &Path, driver: Driver) -> Result<Self> {
        let snapshotter = Snapshotter::open(root)?;
        let _ = snapshotter.driver.set(driver);
        Ok(snapshotter)
    }

    /// The driver new containers get (probed once, on first use).
    pub fn driver(&self) -> Result<Driver> {
        if let Some(driver) = self.driver.get() {
            return Ok(*driver);
        }
        let probed = Driver::probe(&self.root)?;
        Ok(*self.driver.get_or_init(|| probed))
    }

    /// The directory of the snapshot `chain_id`, if it has been unpacked and can be trusted:
    /// one committed during an earlier boot and never synced (see [`Snapshotter::sync`]) may
    /// have lost data in a crash, so it is set aside for garbage collection and `None` tells
    /// the caller to unpack it again from its (durable, verified) blob.
    pub fn get(&self, chain_id: &Digest) -> Option<PathBuf> {
        let dir = self.root.join(chain_id.hex());
        if !dir.is_dir() {
            return None;
        }
        let suspect = match fs::read_to_string(dir.join(UNSYNCED)) {
            Ok(boot) => boot.trim() != boot_id(),
            // No mark: synced, if the snapshot is still there (another process may just have
            // set it aside); any other failure to read the mark counts as suspect.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => !dir.is_dir(),
            Err(_) => true,
        };
        if !suspect {
            return Some(dir.join("fs"));
        }
        let trash = self.root.join(format!(
            "trash-{}-{}-{}",
            chain_id.hex(),
            std::process::id(),
            PENDING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::rename(&dir, trash);
        None
    }

    /// Makes every snapshot committed so far durable: one `syncfs` for all of them, then
    /// their "unsynced" marks are dropped; returns how many were. Unpacking does not wait for the disk (the blobs it
    /// comes from are durable already); this runs when time does not matter (garbage
    /// collection, the daemon's idle time or shutdown).
    pub fn sync(&self) -> Result<usize> {
        let mut marked = Vec::new();
        for entry in fs::read_dir(&self.root).context(|| format!("read {}", self.root.display()))? {
            let entry = entry.context(|| format!("read {}", self.root.display()))?;
            // Committed snapshots only: they are named by their chain id's hex.
            let name = entry.file_name();
            if !name
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
            {
                continue;
            }
            let mark = entry.path().join(UNSYNCED);
            if mark.is_file() {
                marked.push(mark);
            }
        }
        if marked.is_empty() {
            return Ok(0);
        }
        let root = File::open(&self.root).context(|| format!("open {}", self.root.display()))?;
        nix::unistd::syncfs(&root).context(|| format!("sync {}", self.root.display()))?;
        let mut synced = 0;
        for mark in &marked {
            match fs::read_to_string(mark) {
                // Only this boot's marks: an older one's data may already be lost.
                Ok(boot) if boot.trim() == boot_id() => {
                    fs::remove_file(mark).context(|| format!("remove {}", mark.display()))?;
                    synced += 1;
                }
                _ => {}
            }
        }
        root.sync_all()
            .context(|| format!("fsync {}", self.root.display()))?;
        Ok(synced)
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

    /// Unpacks every layer of `image` not yet unpacked, checking each against its diff id,
    /// several at a time; returns their directories, bottom first.
    pub fn layers(&self, blobs: &BlobStore, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        let chain = chain_ids(&image.diff_ids);
        let jobs: Vec<(&Digest, &Digest, &Digest)> = chain
            .iter()
            .zip(&image.diff_ids)
            .zip(&image.layers)
            .map(|((chain_id, diff_id), blob)| (chain_id, diff_id, blob))
            .collect();
        let unpack = |(chain_id, diff_id, blob): &(&Digest, &Digest, &Digest)| -> Result<PathBuf> {
            match self.get(chain_id) {
                Some(dir) => Ok(dir),
                None => {
                    let pending = self.prepare(chain_id)?;
                    pending.unpack_blob(blobs, blob, diff_id)?;
                    pending.commit()
                }
            }
        };
        let next = AtomicU64::new(0);
        let results: Vec<std::sync::Mutex<Option<Result<PathBuf>>>> =
            jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_UNPACKS.min(jobs.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(job) = jobs.get(i) else { return };
                    *results[i].lock().expect("result lock") = Some(unpack(job));
                });
            }
        });
        results
            .into_iter()
            .map(|r| r.into_inner().expect("result lock").expect("every job ran"))
            .collect()
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
    let mut lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    if lower.is_empty() {
        // An image without layers (a build's `FROM scratch`): overlay needs a lower directory.
        let empty = work.join("empty");
        fs::create_dir_all(&empty).context(|| format!("create {}", empty.display()))?;
        lower.push(empty.display().to_string());
    }
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

    /// Unpacks the stored blob `blob`, checking it is `diff_id`. A blob that is its own diff
    /// id (an uncompressed layer) was hashed when it entered the store, which admits only
    /// content matching its name: it is not hashed a second time.
    pub fn unpack_blob(
        &self,
        blobs: &BlobStore,
        blob: &Digest,
        diff_id: &Digest,
    ) -> Result<layer::Stats> {
        let content = blobs.open_blob(blob)?;
        if blob == diff_id {
            layer::apply_with(&self.tmp.join("fs"), content, Whiteouts::Overlay)
        } else {
            self.unpack(content, diff_id)
        }
    }

    /// Gives the snapshot its final name; returns its file system directory. If another
    /// unpacking of the same layer got there first, that one is kept. The files are not
    /// flushed to disk here: the snapshot is marked as written during this boot until
    /// [`Snapshotter::sync`] runs, and one that a crash may have damaged is never used.
    pub fn commit(self) -> Result<PathBuf> {
        let fs_dir = self.target.join("fs");
        let mark = self.tmp.join(UNSYNCED);
        fs::write(&mark, boot_id()).context(|| format!("write {}", mark.display()))?;
        match fs::rename(&self.tmp, &self.target) {
            Ok(()) => {}
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

/// Layers unpacked at once by [`Snapshotter::layers`].
const PARALLEL_UNPACKS: usize = 4;

/// The mark of a snapshot written, but not yet flushed to disk, during the boot it names.
const UNSYNCED: &str = "unsynced";

/// This boot's id: a crash that loses unflushed data is a new boot.
fn boot_id() -> String {
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().to_string())
                // Without /proc, boots cannot be told apart: snapshots are trusted as written.
                .unwrap_or_default()
        })
        .clone()
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
    fn a_snapshot_left_unsynced_by_an_earlier_boot_is_unpacked_again() {
        struct Remove(PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!("berth-snapshot-boot-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let _remove = Remove(dir.clone());
        let blobs = BlobStore::open(&dir.join("blobs")).unwrap();
        let mut layer = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(1);
        layer.append_data(&mut header, "a", &b"x"[..]).unwrap();
        let blob = blobs.put_new(&layer.into_inner().unwrap()).unwrap();
        let image = ImageRecord {
            id: blob.clone(),
            layers: vec![blob.clone()],
            diff_ids: vec![blob.clone()],
            repo_digests: Vec::new(),
        };
        let snapshots = Snapshotter::open_with(&dir.join("snapshots"), Driver::Copy).unwrap();
        let unpacked = snapshots.layers(&blobs, &image).unwrap();
        let mark = unpacked[0].parent().unwrap().join(UNSYNCED);
        assert_eq!(fs::read_to_string(&mark).unwrap(), boot_id());

        // As after a crash and a reboot: the mark names another boot, and data is gone.
        fs::write(&mark, "an-earlier-boot").unwrap();
        fs::remove_file(unpacked[0].join("a")).unwrap();
        assert_eq!(snapshots.get(&blob), None, "a suspect snapshot was used");
        let again = snapshots.layers(&blobs, &image).unwrap();
        assert_eq!(fs::read(again[0].join("a")).unwrap(), b"x");

        assert_eq!(snapshots.sync().unwrap(), 1);
        assert!(!mark.exists(), "sync leaves the snapshot marked");
        assert!(snapshots.get(&blob).is_some());
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256(format!("{a} {b}").as_bytes()));
    }
}
