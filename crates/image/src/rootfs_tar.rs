//! `docker import` and `docker export`: a plain root file system tar becomes a one-layer image,
//! and a directory tree (a container's mounted root file system) becomes a tar.
//!
//! Export walks the tree with [`crate::tree_tar`], which never follows a symlink.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde_json::json;

use crate::changes;
use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::images::{ImageRecord, ImageStore};
use crate::inspect::ContainerConfig;
use crate::layer;
use crate::store::BlobStore;
use crate::tree_tar::TreeWriter;

/// `docker import`: stores the tar read from `input` (any compression) as the single layer of
/// a new image for this host's platform, its config shaped by `changes` (`CMD ["sh"]`, `ENV
/// A=1`…) and its history noting `message` (empty: `Imported from -`). Returns the image id;
/// the caller names it.
pub fn import(
    store: &mut ImageStore,
    input: impl Read,
    changes: &[&str],
    message: &str,
) -> Result<Digest> {
    let record = import_blobs(store.blobs(), input, changes, message)?;
    let id = record.id.clone();
    store.add(record, &[])?;
    Ok(id)
}

/// The part of [`import`] that reads the tar: stores the layer and the config in `blobs` and
/// returns the image's record, not yet added to any store (hold
/// [`crate::lock::DataLock::writer`] until it is).
pub fn import_blobs(
    blobs: &BlobStore,
    input: impl Read,
    changes: &[&str],
    message: &str,
) -> Result<ImageRecord> {
    let mut config = ContainerConfig::default();
    for change in changes {
        changes::apply(&mut config, change)?;
    }
    let (diff_id, _) = blobs.put_stream(&mut layer::decompress(input)?)?;
    check_tar(blobs, &diff_id)?;
    let created = crate::time::format(crate::time::now());
    let message = if message.is_empty() {
        "Imported from -"
    } else {
        message
    };
    let image_config = json!({
        "architecture": crate::oci_layout::host_architecture(),
        "os": "linux",
        "created": created,
        "comment": message,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "comment": message }],
    });
    let id = blobs.put_new(&serde_json::to_vec(&image_config).expect("JSON values serialise"))?;
    Ok(ImageRecord {
        id,
        layers: vec![diff_id.clone()],
        diff_ids: vec![diff_id],
        repo_digests: Vec::new(),
    })
}

fn check_tar(blobs: &BlobStore, digest: &Digest) -> Result<()> {
    let not_tar = |e: io::Error| Error::Layer {
        entry: PathBuf::from(digest.to_string()),
        reason: format!("the imported file is not a tar archive: {e}"),
    };
    let mut archive = tar::Archive::new(blobs.open_blob(digest)?);
    for entry in archive.entries().map_err(not_tar)? {
        entry.map_err(not_tar)?;
    }
    Ok(())
}

/// `docker export`: writes the tree under `dir` to `out` as a tar, keeping owners, modes,
/// times, hard links, devices, FIFOs and extended attributes; symlinks are stored, never
/// followed. Sockets are left out (tar cannot hold them).
pub fn export(dir: &Path, out: impl Write) -> Result<()> {
    let root = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open {}", dir.display()))?;
    let mut tree = TreeWriter::new(out, dir);
    tree.contents(root.as_fd())?;
    tree.finish().map(drop)
}
