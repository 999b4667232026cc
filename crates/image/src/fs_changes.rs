//! `docker diff`: what a container changed in its root file system, listed as Docker computes
//! it. With overlay, from the upper directory: a whiteout is a deletion, an entry that a lower
//! layer also has is a modification (a directory only if its mode, size or mtime differ), any
//! other an addition, and the parent of an addition or deletion is listed as modified. With
//! copies, by comparing the container's tree with the layers it was copied from.
//!
//! As in [`crate::diff`], the container's tree is walked through directory descriptors and
//! nothing is followed: a running container may change it meanwhile.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use berth_safepath::proc_path;
use serde::{Serialize, Serializer};

use crate::diff::{is_opaque, is_whiteout, lstat, open_dir, sorted_names, Lower};
use crate::error::Result;
use crate::snapshot::{Driver, Snapshotter};

/// How a path changed; serialised as the number the Engine API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl Kind {
    /// The letter `docker diff` prints: `C`, `A` or `D`.
    pub fn letter(self) -> char {
        match self {
            Kind::Modified => 'C',
            Kind::Added => 'A',
            Kind::Deleted => 'D',
        }
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_u8(*self as u8)
    }
}

/// One changed path (absolute, as seen in the container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    pub path: String,
    pub kind: Kind,
}

/// Mount points the runtime makes in a root file system that lacks them (Docker keeps these in
/// a hidden init layer, so they are never a container's changes).
const MOUNT_POINTS: [&str; 11] = [
    ".dockerenv",
    "dev",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
    "etc/hosts",
    "etc/mtab",
    "etc/resolv.conf",
    "proc",
    "sys",
];

/// Whether `path` (at `rel`, not in the image) is an empty mount point the runtime made.
fn made_by_runtime(rel: &Path, path: &Path, meta: &Metadata) -> Result<bool> {
    if !MOUNT_POINTS.iter().any(|m| Path::new(m) == rel) {
        return Ok(false);
    }
    Ok(if meta.is_dir() {
        sorted_names(path)?.is_empty()
    } else {
        meta.is_file() && meta.len() == 0
    })
}

/// Whether the upper directory `path` (at `rel`) holds nothing but mount points the runtime
/// made: it was copied up for them alone.
fn holds_only_mount_points(rel: &Path, path: &Path, layers: &[PathBuf]) -> Result<bool> {
    for name in sorted_names(path)? {
        let entry = rel.join(&name);
        let Some(meta) = lstat(&path.join(&name))? else {
            continue;
        };
        let in_image = layers
            .iter()
            .map(|layer| in_layer(layer, &entry))
            .collect::<Result<Vec<_>>>()?
            .iter()
            .any(Option::is_some);
        if in_image || !made_by_runtime(&entry, &path.join(&name), &meta)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn absolute(rel: &Path) -> String {
    let mut path = String::from("/");
    path.push_str(&rel.to_string_lossy());
    path
}

impl Snapshotter {
    /// What container `id` changed, in the order Docker lists it (by path, parents first).
    pub fn container_changes(&self, id: &str) -> Result<Vec<Change>> {
        let meta = self.container(id)?;
        let dir = self.root.join("containers").join(&meta.id);
        let layers = self.dirs(&meta.chain_ids)?;
        let mut out = Vec::new();
        match meta.driver {
            Driver::Overlay => {
                let top_first: Vec<PathBuf> = layers.into_iter().rev().collect();
                let mut walk = OverlayWalk {
                    layers: &top_first,
                    changed_dirs: HashSet::new(),
                    out: &mut out,
                };
                walk.dir(&open_dir(&dir.join("upper"))?, Path::new(""))?;
            }
            Driver::Copy => {
                let lower = Lower { layers: &layers };
                walk_copy(
                    &open_dir(&dir.join("rootfs"))?,
                    &lower,
                    Path::new(""),
                    &mut out,
                )?;
            }
        }
        Ok(out)
    }
}

/// `rel` in one layer, looked up one component at a time without following anything; `None`
/// if it is not there (or a component on the way is not a directory).
fn in_layer(layer: &Path, rel: &Path) -> Result<Option<Metadata>> {
    let mut cur = layer.to_path_buf();
    let mut meta = None;
    for component in rel.components() {
        if let Some(m) = &meta {
            if !Metadata::is_dir(m) {
                return Ok(None);
            }
        }
        let Component::Normal(name) = component else {
            return Ok(None);
        };
        cur.push(name);
        meta = lstat(&cur)?;
        if meta.is_none() {
            return Ok(None);
        }
    }
    Ok(meta)
}

/// Go's `sameFsTime`: equal, or equal seconds where one side lacks nanoseconds.
fn same_mtime(a: &Metadata, b: &Metadata) -> bool {
    a.mtime() == b.mtime()
        && (a.mtime_nsec() == b.mtime_nsec() || a.mtime_nsec() == 0 || b.mtime_nsec() == 0)
}

struct OverlayWalk<'a> {
    /// The image's layer snapshots, top first.
    layers: &'a [PathBuf],
    /// Directories already listed (as changed or added).
    changed_dirs: HashSet<PathBuf>,
    out: &'a mut Vec<Change>,
}

impl OverlayWalk<'_> {
    fn below(&self, rel: &Path) -> Result<Option<Metadata>> {
        for layer in self.layers {
            if let Some(meta) = in_layer(layer, rel)? {
                return Ok(Some(meta));
            }
        }
        Ok(None)
    }

    fn dir(&mut self, dir_fd: &OwnedFd, rel: &Path) -> Result<()> {
        let dir = proc_path(dir_fd);
        for name in sorted_names(&dir)? {
            let path = dir.join(&name);
            let entry = rel.join(&name);
            let Some(meta) = lstat(&path)? else { continue };
            let kind = if is_whiteout(&meta) {
                Some(Kind::Deleted)
            } else {
                let below = self.below(&entry)?;
                if below.is_none() && made_by_runtime(&entry, &path, &meta)? {
                    continue;
                }
                match below {
                    // An opaque directory replaced one below: Docker lists it as deleted.
                    Some(_) if meta.is_dir() && is_opaque(&path)? => Some(Kind::Deleted),
                    // Copied up only because something inside it changed.
                    Some(old)
                        if meta.is_dir()
                            && old.is_dir()
                            && meta.len() == old.len()
                            && meta.mode() == old.mode()
                            && same_mtime(&meta, &old) =>
                    {
                        None
                    }
                    // Copied up only to hold mount points (its mtime changed with them).
                    Some(old)
                        if meta.is_dir()
                            && old.is_dir()
                            && meta.mode() == old.mode()
                            && holds_only_mount_points(&entry, &path, self.layers)? =>
                    {
                        None
                    }
                    Some(_) => Some(Kind::Modified),
                    None => Some(Kind::Added),
                }
            };
            if let Some(kind) = kind {
                self.record(&entry, meta.is_dir(), kind);
            }
            if meta.is_dir() {
                self.dir(&open_dir(&path)?, &entry)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, entry: &Path, is_dir: bool, kind: Kind) {
        if is_dir {
            self.changed_dirs.insert(entry.to_path_buf());
        }
        if kind != Kind::Modified {
            if let Some(parent) = entry.parent().filter(|p| !p.as_os_str().is_empty()) {
                if self.changed_dirs.insert(parent.to_path_buf()) {
                    self.out.push(Change {
                        path: absolute(parent),
                        kind: Kind::Modified,
                    });
                }
            }
        }
        self.out.push(Change {
            path: absolute(entry),
            kind,
        });
    }
}

/// Docker's `statDifferent`: type and mode, owner, device, and for anything but a directory
/// its size and mtime.
fn stat_differs(new: &Metadata, old: &Metadata) -> bool {
    new.mode() != old.mode()
        || new.uid() != old.uid()
        || new.gid() != old.gid()
        || new.rdev() != old.rdev()
        || (!old.is_dir() && (!same_mtime(new, old) || new.len() != old.len()))
}

/// Lists the changes under the directory `rel` of a copied root file system; a directory with
/// changes inside that did not change itself is listed as modified before them.
fn walk_copy(dir_fd: &OwnedFd, lower: &Lower<'_>, rel: &Path, out: &mut Vec<Change>) -> Result<()> {
    let dir = proc_path(dir_fd);
    let present = sorted_names(&dir)?;
    let mut names: Vec<OsString> = lower.names(rel)?;
    names.extend(present.iter().cloned());
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();
    for name in names {
        let entry = rel.join(&name);
        let new = if present
            .binary_search_by(|p| p.as_bytes().cmp(name.as_bytes()))
            .is_ok()
        {
            lstat(&dir.join(&name))?
        } else {
            None
        };
        let old = lower.lookup(&entry)?.map(|(_, meta)| meta);
        if let (Some(meta), None) = (&new, &old) {
            if made_by_runtime(&entry, &dir.join(&name), meta)? {
                continue;
            }
        }
        let at_entry = out.len();
        let recorded = match (&new, &old) {
            (None, None) => continue,
            (None, Some(_)) => Some(Kind::Deleted),
            (Some(_), None) => Some(Kind::Added),
            (Some(n), Some(o)) if stat_differs(n, o) => Some(Kind::Modified),
            (Some(_), Some(_)) => None,
        };
        if let Some(kind) = recorded {
            out.push(Change {
                path: absolute(&entry),
                kind,
            });
        }
        if new.as_ref().is_some_and(Metadata::is_dir) {
            walk_copy(&open_dir(&dir.join(&name))?, lower, &entry, out)?;
            if recorded.is_none() && out.len() > at_entry {
                out.insert(
                    at_entry,
                    Change {
                        path: absolute(&entry),
                        kind: Kind::Modified,
                    },
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_as_the_api_numbers() {
        let change = Change {
            path: "/etc".into(),
            kind: Kind::Deleted,
        };
        assert_eq!(
            serde_json::to_string(&change).unwrap(),
            r#"{"Path":"/etc","Kind":2}"#
        );
        assert_eq!(Kind::Modified.letter(), 'C');
        assert_eq!(Kind::Added.letter(), 'A');
    }

    /// A temp directory removed on drop.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("berth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `files` under `root`, every one with the same mtime.
    fn tree(root: &Path, files: &[(&str, &str)]) {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for (path, content) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }

    #[test]
    fn a_copied_tree_is_compared_with_its_layers() {
        let dir = scratch("fs-changes-copy");
        let (layer, container) = (dir.0.join("layer"), dir.0.join("container"));
        let image = [
            ("bin/sh", "sh"),
            ("etc/passwd", "root"),
            ("etc/group", "root"),
        ];
        tree(&layer, &image);
        tree(&container, &image[..2]);
        tree(
            &container,
            &[
                ("etc/passwd", "root\nme"),
                ("new", "x"),
                ("d/e/f", "y"),
                ("etc/hosts", ""),
            ],
        );
        std::fs::create_dir(container.join("proc")).unwrap();
        let layers = [layer];
        let mut out = Vec::new();
        let lower = Lower { layers: &layers };
        walk_copy(
            &open_dir(&container).unwrap(),
            &lower,
            Path::new(""),
            &mut out,
        )
        .unwrap();
        let listed: Vec<String> = out
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        assert_eq!(
            listed,
            [
                "A /d",
                "A /d/e",
                "A /d/e/f",
                "C /etc",
                "D /etc/group",
                "C /etc/passwd",
                "A /new"
            ]
        );
    }

    #[test]
    fn layer_lookups_stop_at_files_and_never_climb() {
        let dir = std::env::temp_dir().join(format!("berth-fs-changes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("file"), b"x").unwrap();
        std::os::unix::fs::symlink("/", dir.join("link")).unwrap();
        let found = |rel: &str| in_layer(&dir, Path::new(rel)).unwrap().is_some();
        assert!(found("etc"));
        assert!(found("link"));
        assert!(!found("file/x"));
        assert!(!found("link/etc"), "a symlink in a layer was followed");
        assert!(!found("../etc"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
