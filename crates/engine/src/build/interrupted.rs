//! Step containers and snapshots a killed daemon left behind. A build removes its RUN, COPY and WORKDIR
//! containers when each step ends; a daemon killed during a step never does, and the
//! container (its shim keeps it running across the restart) would stay in `ps -a` with its
//! mounted root file system. So each step container carries the label [`STEP_LABEL`] whose
//! value is a fresh token, and a marker file of that name is made (durably) before the
//! container is created and removed after the container is. On start the daemon removes
//! every container whose label names a marker, then the markers. The marker, not the label
//! alone, decides: a user's container with that label (or one from an image committed from a
//! step container) is never taken for a leftover.
//!
//! A build also mounts image root file systems for a moment (to read a stage's files, or
//! for a RUN's bind of an image); their ids start with [`SNAPSHOT_PREFIX`], which no
//! container's id does, and on start every such snapshot is removed.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{io_error, BuildResult, BuildService};

/// The label naming a step container's marker.
pub(super) const STEP_LABEL: &str = "berth.build.step";

/// How the ids of a build's own snapshots begin (container ids are hex).
const SNAPSHOT_PREFIX: &str = "build-";

static NEXT_SNAPSHOT: AtomicU64 = AtomicU64::new(0);

/// A fresh id for a snapshot a build makes for `purpose` (a word) and removes when done.
pub(super) fn snapshot_id(purpose: &str) -> String {
    format!(
        "{SNAPSHOT_PREFIX}{purpose}-{}-{}",
        std::process::id(),
        NEXT_SNAPSHOT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The directory of markers: `<data_root>/build/steps`.
#[derive(Clone)]
pub(super) struct Markers {
    dir: PathBuf,
}

impl Markers {
    pub(super) fn new(build_root: &std::path::Path) -> Self {
        Markers {
            dir: build_root.join("steps"),
        }
    }

    /// A new marker, on disk before this returns; its token is the label's value.
    pub(super) fn mark(&self) -> BuildResult<String> {
        let token = crate::containers::names::new_id();
        let path = self.dir.join(&token);
        std::fs::create_dir_all(&self.dir)
            .map_err(io_error(format!("create {}", self.dir.display())))?;
        let file =
            std::fs::File::create(&path).map_err(io_error(format!("create {}", path.display())))?;
        file.sync_all()
            .and_then(|()| std::fs::File::open(&self.dir)?.sync_all())
            .map_err(io_error(format!("sync {}", path.display())))?;
        Ok(token)
    }

    /// Drops the marker `token` (its container is gone).
    pub(super) fn unmark(&self, token: &str) {
        let path = self.dir.join(token);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("berthd: build: remove {}: {e}", path.display());
            }
        }
    }

    fn tokens(&self) -> HashSet<String> {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return HashSet::new();
        };
        listing
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl BuildService {
    /// Removes what builds a killed daemon interrupted left: their step containers (with
    /// their root file systems and mounts), then their markers, and their own snapshots. Run
    /// once at start, before any build.
    pub async fn remove_interrupted(&self) {
        self.remove_interrupted_steps().await;
        self.remove_interrupted_snapshots().await;
    }

    async fn remove_interrupted_snapshots(&self) {
        let ids = match self.images.rootfs_ids().await {
            Ok(ids) => ids,
            Err(e) => {
                eprintln!("berthd: build: listing snapshots: {e}");
                return;
            }
        };
        for id in ids.into_iter().filter(|id| id.starts_with(SNAPSHOT_PREFIX)) {
            if let Err(e) = self.images.remove_rootfs(id.clone()).await {
                eprintln!("berthd: build: removing the interrupted snapshot {id}: {e}");
            }
        }
    }

    async fn remove_interrupted_steps(&self) {
        let tokens = self.markers.tokens();
        if tokens.is_empty() {
            return;
        }
        for container in self.containers.list(true) {
            let marked = container
                .labels
                .get(STEP_LABEL)
                .is_some_and(|token| tokens.contains(token));
            if !marked {
                continue;
            }
            if let Err(e) = self.containers.remove(&container.id, true, true).await {
                // Its marker stays, for the next start to try again.
                eprintln!(
                    "berthd: build: removing the interrupted step container {}: {e}",
                    container.id
                );
                continue;
            }
            self.markers.unmark(&container.labels[STEP_LABEL]);
        }
        // Markers of containers that were never made, or already removed.
        let left: HashSet<String> = self
            .containers
            .list(true)
            .into_iter()
            .filter_map(|c| c.labels.get(STEP_LABEL).cloned())
            .collect();
        for token in tokens.difference(&left) {
            self.markers.unmark(token);
        }
    }
}
