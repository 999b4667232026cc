//! Snapshots: each layer unpacked once into its own directory (shared by every image that has
//! it), and a container's root file system as an overlay of them with its own upper layer.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::digest::{sha256, Digest};
use crate::error::{Context, Result};
use crate::images::ImageRecord;
use crate::layer::{self, Whiteouts};
use crate::store::BlobStore;

/// The layers directory: `<root>/<chain id hex>/fs`.
pub struct Snapshotter {
    root: PathBuf,
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
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).context(|| format!("create {}", root.display()))?;
        Ok(Snapshotter {
            root: root.to_path_buf(),
        })
    }

    /// Unpacks every layer of `image` not yet unpacked; returns their directories, bottom first.
    pub fn layers(&self, blobs: &BlobStore, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for (chain_id, blob) in chain_ids(&image.diff_ids).iter().zip(&image.layers) {
            let dir = self.root.join(chain_id.hex());
            if !dir.is_dir() {
                // Unpack beside, then rename: a half-unpacked layer never has the final name.
                let tmp = self
                    .root
                    .join(format!("tmp-{}-{}", chain_id.hex(), std::process::id()));
                let _ = fs::remove_dir_all(&tmp);
                fs::create_dir_all(tmp.join("fs"))
                    .context(|| format!("create {}", tmp.display()))?;
                let result =
                    layer::apply_with(&tmp.join("fs"), blobs.open_blob(blob)?, Whiteouts::Overlay)
                        .and_then(|_| {
                            fs::rename(&tmp, &dir).context(|| format!("store layer {chain_id}"))
                        });
                if result.is_err() {
                    let _ = fs::remove_dir_all(&tmp);
                }
                result?;
            }
            dirs.push(dir.join("fs"));
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

    /// Unmounts a root file system made by [`Snapshotter::mount_rootfs`].
    pub fn unmount_rootfs(target: &Path) -> Result<()> {
        umount2(target, MntFlags::MNT_DETACH).context(|| format!("unmount {}", target.display()))
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
