//! Disk usage as `docker system df` counts it: the bytes a tree of files holds, the part of
//! each image's layers other images share, and the bytes a container's changes take.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};

use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::images::ImageStore;
use crate::inspect::LayerSizes;
use crate::snapshot::{chain_ids, Driver, Snapshotter};

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Files or directories gone or replaced while a tree is walked (a running container may
/// change its files meanwhile): they are skipped, not errors.
fn vanished(errno: Errno) -> bool {
    matches!(errno, Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP)
}

/// A walk's running total: each file counted once however many hard links it has.
struct Tally {
    device: u64,
    linked: HashSet<(u64, u64)>,
    bytes: u64,
}

impl Tally {
    fn count(&mut self, stat: &FileStat) {
        if stat.st_size <= 0 {
            return;
        }
        if stat.st_nlink > 1 && !self.linked.insert((stat.st_dev, stat.st_ino)) {
            return;
        }
        self.bytes += stat.st_size as u64;
    }
}

/// A directory waiting to be read: its name in a parent kept open for it.
struct Pending {
    parent: Rc<OwnedFd>,
    name: CString,
    path: PathBuf,
}

/// The bytes the files under `root` hold, as Docker counts a volume or a container's layer:
/// the sizes of everything but directories (a symlink counts its target's length), each
/// hard-linked file once. Nothing is followed: every directory is opened with `O_NOFOLLOW`
/// relative to its parent, so a symlink swapped in during the walk leads nowhere, and what
/// is mounted inside `root` (another file system) is left out. A `root` that does not exist
/// holds 0 bytes; files that vanish during the walk are skipped.
pub fn tree_size(root: &Path) -> Result<u64> {
    let dir = match nix::fcntl::open(root, DIR_FLAGS, Mode::empty()) {
        Ok(dir) => dir,
        Err(Errno::ENOENT) => return Ok(0),
        Err(e) => return Err(e).context(|| format!("open directory {}", root.display())),
    };
    let device = fstat(&dir)
        .context(|| format!("stat {}", root.display()))?
        .st_dev;
    let mut tally = Tally {
        device,
        linked: HashSet::new(),
        bytes: 0,
    };
    let mut pending = Vec::new();
    scan(dir, root, &mut tally, &mut pending)?;
    while let Some(next) = pending.pop() {
        let opened = nix::fcntl::openat(
            next.parent.as_fd(),
            next.name.as_c_str(),
            DIR_FLAGS,
            Mode::empty(),
        );
        let dir = match opened {
            Ok(dir) => dir,
            Err(e) if vanished(e) => continue,
            Err(e) => return Err(e).context(|| format!("open directory {}", next.path.display())),
        };
        scan(dir, &next.path, &mut tally, &mut pending)?;
    }
    Ok(tally.bytes)
}

/// Counts the files of the directory `dir` (at `path`) and queues its subdirectories.
fn scan(dir: OwnedFd, path: &Path, tally: &mut Tally, pending: &mut Vec<Pending>) -> Result<()> {
    let stat = fstat(&dir).context(|| format!("stat {}", path.display()))?;
    if stat.st_dev != tally.device {
        return Ok(());
    }
    let listing = dir
        .try_clone()
        .context(|| format!("duplicate the descriptor of {}", path.display()))?;
    let mut entries =
        nix::dir::Dir::from_fd(listing).context(|| format!("read {}", path.display()))?;
    let parent = Rc::new(dir);
    for entry in entries.iter() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if vanished(e) => break,
            Err(e) => return Err(e).context(|| format!("read {}", path.display())),
        };
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let stat = match fstatat(parent.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(e) if vanished(e) => continue,
            Err(e) => {
                let child = path.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
                return Err(e).context(|| format!("stat {}", child.display()));
            }
        };
        if stat.st_dev != tally.device {
            continue;
        }
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
            pending.push(Pending {
                parent: parent.clone(),
                name: name.to_owned(),
                path: path.join(std::ffi::OsStr::from_bytes(name.to_bytes())),
            });
        } else {
            tally.count(&stat);
        }
    }
    Ok(())
}

/// One image's part of the layers: its size, and how much of it is in layers other images
/// have too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub id: Digest,
    /// The sum of its layers' sizes.
    pub size: u64,
    /// The sum of the sizes of its layers that at least one other image has.
    pub shared_size: u64,
}

/// The layers of all images: each image's share, and the size of all layers, each counted
/// once however many images have it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayersUsage {
    pub layers_size: u64,
    pub images: Vec<ImageUsage>,
}

/// An image's layers, bottom first: their chain ids with their sizes.
pub type Layers = Vec<(Digest, u64)>;

/// Each image of `store` (by id) with its layers.
pub fn image_layers(store: &ImageStore, sizes: &mut LayerSizes) -> Result<Vec<(Digest, Layers)>> {
    let mut images = Vec::new();
    for record in store.records() {
        let layer_sizes = sizes.of(store.blobs(), record)?;
        let layers: Vec<(Digest, u64)> = chain_ids(&record.diff_ids)
            .into_iter()
            .zip(layer_sizes)
            .collect();
        images.push((record.id.clone(), layers));
    }
    Ok(images)
}

/// How the images of `store` share their layers. A layer is the same for two images when
/// it has the same chain id (the same content on the same layers below), which is also what
/// the snapshots are keyed by.
pub fn layers_usage(store: &ImageStore, sizes: &mut LayerSizes) -> Result<LayersUsage> {
    let images = image_layers(store, sizes)?;
    let mut users: HashMap<&Digest, (usize, u64)> = HashMap::new();
    for (_, layers) in &images {
        let unique: HashSet<&Digest> = layers.iter().map(|(chain, _)| chain).collect();
        for (chain, size) in layers {
            if unique.contains(chain) {
                users.entry(chain).or_insert((0, *size)).0 += 1;
            }
        }
    }
    let layers_size = users.values().map(|(_, size)| size).sum();
    let images = images
        .iter()
        .map(|(id, layers)| ImageUsage {
            id: id.clone(),
            size: layers.iter().map(|(_, size)| size).sum(),
            shared_size: layers
                .iter()
                .filter(|(chain, _)| users[chain].0 > 1)
                .map(|(_, size)| size)
                .sum(),
        })
        .collect();
    Ok(LayersUsage {
        layers_size,
        images,
    })
}

impl Snapshotter {
    /// The bytes container `id` wrote over its image (Docker's `SizeRw`): for the overlay
    /// driver what its upper directory holds; for the copy driver the regular files its
    /// changes (see [`Snapshotter::diff_container`]) add or replace.
    pub fn container_size(&self, id: &str) -> Result<u64> {
        let meta = self.container(id)?;
        match meta.driver {
            Driver::Overlay => tree_size(&self.root.join("containers").join(id).join("upper")),
            Driver::Copy => self.copied_changes_size(id),
        }
    }

    fn copied_changes_size(&self, id: &str) -> Result<u64> {
        let (reader, writer) =
            std::io::pipe().context(|| format!("create a pipe to measure container {id}"))?;
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || self.diff_container(id, None, writer));
            let counted = regular_file_bytes(reader, id);
            let produced = producer
                .join()
                .expect("the diff of a container does not panic");
            // A failed count closes the pipe, which fails the diff: the count's error says why.
            let bytes = counted?;
            produced?;
            Ok(bytes)
        })
    }
}

/// The sizes of the regular files in a layer tar (hard links are entries without data).
fn regular_file_bytes(layer: impl Read, id: &str) -> Result<u64> {
    let bad = |source: std::io::Error| Error::Io {
        context: format!("read the changes of container {id}"),
        source,
    };
    let mut archive = tar::Archive::new(layer);
    let mut bytes = 0;
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        if entry.header().entry_type().is_file() {
            bytes += entry.size();
        }
    }
    // The rest (the end-of-archive blocks) is read too, so the writer never meets a closed
    // pipe.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(bad)?;
    Ok(bytes)
}
