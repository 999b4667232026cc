//! Garbage collection: removes the blobs and layer snapshots no image and no container
//! needs, and what killed writers left behind (ingest files, `tmp-*` snapshots, unfinished
//! container snapshots, `trash-*` from an interrupted removal).
//!
//! It runs under the data root's exclusive lock ([`crate::lock::DataLock`]) and reads the
//! image list only once it holds it, so content a writer adds under the shared lock is either
//! referenced by then or not yet written. Every removal can be interrupted and redone:
//! snapshots are renamed to `trash-*` before they are deleted, and the next run finishes them.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::mount::{umount2, MntFlags};

use crate::digest::Digest;
use crate::error::{Context, Result};
use crate::images::ImageStore;
use crate::lock::DataLock;
use crate::snapshot::{chain_ids, Driver, Snapshotter, PENDING_COUNTER};
use crate::store::BlobStore;

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Blobs no image references, removed.
    pub blobs_removed: Vec<Digest>,
    /// Layer snapshots (by chain id) no image or container uses, removed.
    pub snapshots_removed: Vec<Digest>,
    /// Partial files and directories of interrupted writers and removals.
    pub leftovers_removed: usize,
    /// Bytes of file content freed (each inode counted once).
    pub bytes_freed: u64,
}

/// Largest manifest or index followed when marking.
const MAX_MANIFEST: u64 = 4 << 20;
/// How deep indexes may nest (an index of indexes of manifests is already unusual).
const MAX_DEPTH: usize = 4;

/// Collects garbage in the image store at `images_root` and the snapshots at
/// `snapshots_root`. Kept: every image's config, layers and pulled manifests (with what those
/// manifests reference), the snapshots of every image's layer chain, those recorded by
/// container snapshots, and the chain ids in `held` (snapshots the caller knows are in use).
/// Waits for running writers to release the lock first.
pub fn collect(images_root: &Path, snapshots_root: &Path, held: &[Digest]) -> Result<Report> {
    let _lock = DataLock::collector(images_root)?;
    let images = ImageStore::open(images_root)?;
    // The driver only matters for creating containers, which collection never does.
    let snapshots = Snapshotter::open_with(snapshots_root, Driver::Copy)?;
    let mut report = Report::default();

    let mut blobs: HashSet<Digest> = HashSet::new();
    let mut chains: HashSet<String> = held.iter().map(|d| d.hex().to_string()).collect();
    for (image, _) in images.list() {
        blobs.insert(image.id.clone());
        blobs.extend(image.layers.iter().cloned());
        chains.extend(
            chain_ids(&image.diff_ids)
                .iter()
                .map(|d| d.hex().to_string()),
        );
        for repo_digest in &image.repo_digests {
            let Some(Ok(manifest)) = repo_digest.rsplit_once('@').map(|(_, d)| d.parse()) else {
                continue;
            };
            mark_manifest(images.blobs(), &manifest, &mut blobs, 0)?;
        }
    }
    for container in snapshots.containers()? {
        chains.extend(container.chain_ids.iter().map(|d| d.hex().to_string()));
    }

    for digest in images.blobs().digests()? {
        if blobs.contains(&digest) {
            continue;
        }
        report.bytes_freed += fs::symlink_metadata(images.blobs().path(&digest))
            .map(|m| m.len())
            .unwrap_or(0);
        images.blobs().delete(&digest)?;
        report.blobs_removed.push(digest);
    }
    let ingest = images_root.join("ingest");
    report.bytes_freed += disk_usage(&ingest, &mut HashSet::new())?;
    report.leftovers_removed += images.blobs().clean_ingest()?;

    sweep_snapshots(snapshots_root, &chains, &mut report)?;
    // What is kept is also made durable (unpacking leaves that for later).
    snapshots.sync()?;
    Ok(report)
}

/// Marks a manifest or index blob and what it references (config, layers, child manifests).
/// A manifest that is missing or unreadable keeps nothing more: it is not ours to judge here.
fn mark_manifest(
    blobs: &BlobStore,
    digest: &Digest,
    marked: &mut HashSet<Digest>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH || !marked.insert(digest.clone()) {
        return Ok(());
    }
    let size = fs::metadata(blobs.path(digest)).map(|m| m.len());
    if !matches!(size, Ok(n) if n <= MAX_MANIFEST) {
        return Ok(());
    }
    let Ok(data) = blobs.get(digest) else {
        return Ok(());
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&data) else {
        return Ok(());
    };
    let digest_of =
        |v: &serde_json::Value| -> Option<Digest> { v.get("digest")?.as_str()?.parse().ok() };
    if let Some(config) = doc.get("config").and_then(digest_of) {
        marked.insert(config);
    }
    for layer in doc
        .get("layers")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        marked.extend(digest_of(layer));
    }
    let children: Vec<Digest> = doc
        .get("manifests")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .filter_map(digest_of)
        .collect();
    for child in children {
        mark_manifest(blobs, &child, marked, depth + 1)?;
    }
    Ok(())
}

fn is_chain_dir(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn sweep_snapshots(root: &Path, keep: &HashSet<String>, report: &mut Report) -> Result<()> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(root).context(|| format!("read {}", root.display()))? {
        let entry = entry.context(|| format!("read {}", root.display()))?;
        names.insert(entry.file_name().to_string_lossy().into_owned());
    }
    let mut seen = HashSet::new();
    for name in &names {
        let path = root.join(name);
        if is_chain_dir(name) {
            if keep.contains(name) {
                continue;
            }
            let trash = root.join(format!(
                "trash-{name}-{}-{}",
                std::process::id(),
                PENDING_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            fs::rename(&path, &trash).context(|| format!("remove snapshot {}", path.display()))?;
            report.bytes_freed += remove_tree(&trash, &mut seen)?;
            report
                .snapshots_removed
                .push(format!("sha256:{name}").parse().expect("64 hex digits"));
        } else if is_unfinished(name) {
            report.bytes_freed += remove_tree(&path, &mut seen)?;
            report.leftovers_removed += 1;
        } else if name.starts_with("probe-") {
            let _ = umount2(&path.join("merged"), MntFlags::MNT_DETACH);
            remove_tree(&path, &mut seen)?;
            report.leftovers_removed += 1;
        }
    }
    let containers = root.join("containers");
    if containers.is_dir() {
        for entry in
            fs::read_dir(&containers).context(|| format!("read {}", containers.display()))?
        {
            let path = entry
                .context(|| format!("read {}", containers.display()))?
                .path();
            if path.join("snapshot.json").is_file() {
                continue;
            }
            // A create that died before it finished: nothing can be using it.
            let _ = umount2(&path.join("rootfs"), MntFlags::MNT_DETACH);
            report.bytes_freed += remove_tree(&path, &mut seen)?;
            report.leftovers_removed += 1;
        }
    }
    Ok(())
}

/// Whether a snapshots-root entry is what an interrupted unpack (`tmp-*`) or removal
/// (`trash-*`) left.
fn is_unfinished(name: &str) -> bool {
    name.starts_with("tmp-") || name.starts_with("trash-")
}

/// Removes the `tmp-*` and `trash-*` directories that interrupted unpacks and removals left
/// under `snapshots_root`, and nothing else; returns how many. Only for a caller no writer
/// can run beside (a daemon starting on roots it has locked).
pub fn remove_unfinished_snapshots(snapshots_root: &Path) -> Result<usize> {
    let mut removed = 0;
    let mut seen = HashSet::new();
    for entry in
        fs::read_dir(snapshots_root).context(|| format!("read {}", snapshots_root.display()))?
    {
        let entry = entry.context(|| format!("read {}", snapshots_root.display()))?;
        if is_unfinished(&entry.file_name().to_string_lossy()) {
            remove_tree(&entry.path(), &mut seen)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes a directory tree (never following symlinks); returns the bytes it held.
fn remove_tree(path: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<u64> {
    let bytes = disk_usage(path, seen)?;
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context(|| format!("remove {}", path.display()))
        }
        _ => Ok(bytes),
    }
}

/// The sizes of the regular files under `path`, each inode counted once.
fn disk_usage(path: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<u64> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).context(|| format!("stat {}", path.display())),
    };
    if meta.is_file() {
        return Ok(if seen.insert((meta.dev(), meta.ino())) {
            meta.len()
        } else {
            0
        });
    }
    if !meta.is_dir() {
        return Ok(0);
    }
    let mut total = 0;
    for entry in fs::read_dir(path).context(|| format!("read {}", path.display()))? {
        let entry = entry.context(|| format!("read {}", path.display()))?;
        total += disk_usage(&entry.path(), seen)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_chain_id_names_are_taken_for_snapshots() {
        assert!(is_chain_dir(&"ab".repeat(32)));
        assert!(!is_chain_dir(&"AB".repeat(32)));
        assert!(!is_chain_dir("containers"));
        assert!(!is_chain_dir(&format!("tmp-{}", "a".repeat(60))));
    }
}
