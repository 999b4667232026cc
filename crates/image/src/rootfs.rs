//! Containers' root file systems: `<snapshots>/containers/<id>/` holds `rootfs/` and
//! `snapshot.json` (the driver and the layer chain it was made from), plus `upper/` and `work/`
//! for the overlay driver. `snapshot.json` is written last: a directory without it is an
//! unfinished create, which garbage collection removes.
//!
//! The engine's view: [`Snapshotter::create_container`] → rootfs path; [`Snapshotter::mount_container`]
//! again after a reboot; [`Snapshotter::unmount_container`] when the container stops (the copy
//! driver keeps its files: they are the container's); [`Snapshotter::remove_container`].

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{umount2, MntFlags};
use serde::{Deserialize, Serialize};

use crate::diff::{self, LayerDiff};
use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::images::ImageRecord;
use crate::layer;
use crate::snapshot::{chain_ids, mount_overlay, Driver, Snapshotter, PENDING_COUNTER};
use crate::store::BlobStore;

/// What a container's root file system was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSnapshot {
    /// The container's id (its directory's name).
    pub id: String,
    /// The driver that made it (and that mounts, diffs and removes it).
    pub driver: Driver,
    /// Chain ids of the image's layers, bottom first: the snapshots this container holds.
    pub chain_ids: Vec<Digest>,
}

const META: &str = "snapshot.json";

fn invalid_id(id: &str) -> Error {
    Error::Io {
        context: format!("container id {id:?}"),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
        ),
    }
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid_id(id))
    }
}

fn write_durably(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(path.parent().unwrap_or(Path::new("/")))?.sync_all()
    };
    write().context(|| format!("write {}", path.display()))
}

/// Whether `dir` is the root of a mount (its device differs from its parent's).
fn is_mount_point(dir: &Path) -> Result<bool> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let (Ok(a), Ok(b)) = (fs::symlink_metadata(dir), fs::symlink_metadata(parent)) else {
        return Ok(false);
    };
    Ok(a.dev() != b.dev())
}

impl Snapshotter {
    /// The directory of container `id`'s snapshot.
    fn container_dir(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.root.join("containers").join(id))
    }

    /// Makes container `id`'s root file system from `image` (unpacking its layers first if
    /// needed) and returns its path, mounted when the driver is overlay. Take
    /// [`crate::lock::DataLock::writer`] around it so garbage collection cannot remove the
    /// layers meanwhile.
    pub fn create_container(
        &self,
        blobs: &BlobStore,
        image: &ImageRecord,
        id: &str,
    ) -> Result<PathBuf> {
        let dir = self.container_dir(id)?;
        fs::create_dir_all(dir.parent().expect("containers dir"))
            .context(|| format!("create {}", self.root.join("containers").display()))?;
        fs::create_dir(&dir).context(|| format!("create container snapshot {}", dir.display()))?;
        let made = self.fill_container(blobs, image, id, &dir);
        if made.is_err() {
            // Leave nothing half made (garbage collection would also remove it, lacking
            // snapshot.json, but the space is better freed now).
            let _ = umount2(&dir.join("rootfs"), MntFlags::MNT_DETACH);
            let _ = fs::remove_dir_all(&dir);
        }
        made
    }

    fn fill_container(
        &self,
        blobs: &BlobStore,
        image: &ImageRecord,
        id: &str,
        dir: &Path,
    ) -> Result<PathBuf> {
        let layers = self.layers(blobs, image)?;
        let rootfs = dir.join("rootfs");
        let driver = self.driver()?;
        match driver {
            Driver::Overlay => mount_overlay(&layers, dir, &rootfs)?,
            Driver::Copy => {
                fs::create_dir(&rootfs).context(|| format!("create {}", rootfs.display()))?;
                for layer in &layers {
                    copy_layer(layer, &rootfs)?;
                }
            }
        }
        let meta = ContainerSnapshot {
            id: id.to_string(),
            driver,
            chain_ids: chain_ids(&image.diff_ids),
        };
        let json = serde_json::to_vec_pretty(&meta).expect("snapshot metadata serialises");
        write_durably(&dir.join(META), &json)?;
        Ok(rootfs)
    }

    /// What container `id`'s root file system was made from.
    pub fn container(&self, id: &str) -> Result<ContainerSnapshot> {
        let path = self.container_dir(id)?.join(META);
        let data = fs::read(&path).context(|| format!("read {}", path.display()))?;
        serde_json::from_slice(&data).map_err(|e| Error::Io {
            context: format!("parse {}", path.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Every container root file system that was completely created.
    pub fn containers(&self) -> Result<Vec<ContainerSnapshot>> {
        let dir = self.root.join("containers");
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).context(|| format!("read {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.context(|| format!("read {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if check_id(&name).is_ok() && entry.path().join(META).is_file() {
                out.push(self.container(&name)?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Container `id`'s root file system, mounting it again if the overlay is not mounted
    /// (after a reboot or [`Snapshotter::unmount_container`]).
    pub fn mount_container(&self, id: &str) -> Result<PathBuf> {
        let meta = self.container(id)?;
        let dir = self.container_dir(id)?;
        let rootfs = dir.join("rootfs");
        if meta.driver == Driver::Overlay && !is_mount_point(&rootfs)? {
            mount_overlay(&self.dirs(&meta.chain_ids)?, &dir, &rootfs)?;
        }
        Ok(rootfs)
    }

    /// Unmounts container `id`'s overlay root file system (its changes stay in its upper
    /// directory); for the copy driver this does nothing, the files being the container's.
    pub fn unmount_container(&self, id: &str) -> Result<()> {
        let rootfs = self.container_dir(id)?.join("rootfs");
        if is_mount_point(&rootfs)? {
            umount2(&rootfs, MntFlags::MNT_DETACH)
                .context(|| format!("unmount {}", rootfs.display()))?;
        }
        Ok(())
    }

    /// Removes container `id`'s root file system and changes; removing one that is not there
    /// is not an error. Hold [`crate::lock::DataLock::writer`] around it. Crash-safe: the directory is first renamed to a `trash-*` name, which
    /// garbage collection finishes removing if this is interrupted.
    pub fn remove_container(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id)?;
        if !dir.exists() {
            return Ok(());
        }
        self.unmount_container(id)?;
        let trash = self.root.join(format!(
            "trash-container-{id}-{}-{}",
            std::process::id(),
            PENDING_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        match fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(Errno::ENOENT as i32) => return Ok(()),
            Err(e) => return Err(e).context(|| format!("remove {}", dir.display())),
        }
        match fs::remove_dir_all(&trash) {
            // A garbage collection finishing trash-* got there too.
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).context(|| format!("remove {}", trash.display()))
            }
            _ => Ok(()),
        }
    }

    /// Writes container `id`'s changes to `out` as an uncompressed layer tar (see
    /// [`crate::diff`]); the same changes always give the same diff id. With `clamp`, no
    /// entry's modification time is later than it.
    pub fn diff_container(
        &self,
        id: &str,
        clamp: Option<u64>,
        out: impl Write,
    ) -> Result<LayerDiff> {
        let meta = self.container(id)?;
        let dir = self.container_dir(id)?;
        match meta.driver {
            Driver::Overlay => diff::overlay_diff(&dir.join("upper"), clamp, out),
            Driver::Copy => diff::copy_diff(
                &dir.join("rootfs"),
                &self.dirs(&meta.chain_ids)?,
                clamp,
                out,
            ),
        }
    }
}

/// Copies one layer snapshot onto `target`, applying its whiteouts: the snapshot is streamed
/// as a layer tar into the same unpacker that unpacks downloaded layers, so the copy gets
/// owners, modes, times, xattrs, hardlinks and devices exactly as unpacking does, and nothing
/// in it can follow a symlink.
fn copy_layer(layer: &Path, target: &Path) -> Result<()> {
    let (reader, writer) =
        std::io::pipe().context(|| format!("create a pipe to copy {}", layer.display()))?;
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || diff::overlay_diff(layer, None, writer));
        let applied = layer::apply(target, reader);
        let produced = producer.join().expect("layer writer thread does not panic");
        // The apply error explains a failed write into the closed pipe, so it comes first.
        applied?;
        produced.map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_cannot_name_other_directories() {
        for bad in ["", "..", ".hidden", "a/b", "-x", &"x".repeat(129)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        for good in ["abc", "0123456789abcdef", "my_container-1.2"] {
            check_id(good).unwrap();
        }
    }
}
