//! Filling an empty volume from the image, as Docker does the first time a container mounts
//! it: what the container's root file system holds at the mount's destination is copied into
//! the volume, with owners, modes and times, and the volume's top directory takes the owner
//! and mode of the directory it covers.
//!
//! The root file system is the container's, so hostile: the destination is resolved inside it
//! (`openat2(RESOLVE_IN_ROOT)`), the tree is read through directory descriptors without
//! following a symlink, and written by the same unpacker that unpacks downloaded layers.

use std::os::fd::AsFd;
use std::path::Path;

use berth_safepath::proc_path;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::error::{Error, Result};

fn failed(what: String, e: impl std::fmt::Display) -> Error {
    Error::InvalidParameter {
        what: "volume".into(),
        reason: format!("{what}: {e}"),
    }
}

/// Whether the directory `dir` has no entries.
fn is_empty(dir: &Path) -> Result<bool> {
    let mut entries =
        std::fs::read_dir(dir).map_err(|e| failed(format!("list {}", dir.display()), e))?;
    Ok(entries.next().is_none())
}

/// Copies what `rootfs` holds at `destination` into `volume` if `volume` is empty; returns
/// whether anything was copied. A destination missing in the image, or not a directory, leaves
/// the volume as it is.
pub fn populate(rootfs: &Path, destination: &str, volume: &Path) -> Result<bool> {
    if !is_empty(volume)? {
        return Ok(false);
    }
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed(format!("open {}", rootfs.display()), e))?;
    let source = berth_safepath::open(root.as_fd(), Path::new(destination))
        .map_err(|e| failed(format!("resolve {destination} in the image"), e))?;
    let Some(source) = source else {
        return Ok(false);
    };
    let stat = fstat(&source).map_err(|e| failed(format!("stat {destination}"), e))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return Ok(false);
    }
    // The tree is read from the resolved descriptor, never from a path in the container.
    let tree = proc_path(&source);
    let (reader, writer) = std::io::pipe().map_err(|e| failed("create a pipe".to_string(), e))?;
    std::thread::scope(|scope| -> Result<()> {
        let producer = scope.spawn(move || berth_image::rootfs_tar::export(&tree, writer));
        let applied = berth_image::layer::apply(volume, reader);
        let produced = producer.join().expect("the export thread does not panic");
        // The unpacker's error explains a failed write into the closed pipe: it comes first.
        applied.map_err(|e| failed(format!("copy {destination} into the volume"), e))?;
        produced.map_err(|e| failed(format!("read {destination} in the image"), e))?;
        Ok(())
    })?;
    nix::unistd::chown(
        volume,
        Some(Uid::from_raw(stat.st_uid)),
        Some(Gid::from_raw(stat.st_gid)),
    )
    .map_err(|e| failed(format!("chown {}", volume.display()), e))?;
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        volume,
        Mode::from_bits_truncate(stat.st_mode & 0o7777),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| failed(format!("chmod {}", volume.display()), e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("berth-populate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_empty_volume_takes_the_image_content_once() {
        let top = temp("once");
        let rootfs = top.join("rootfs");
        let volume = top.join("volume");
        std::fs::create_dir_all(rootfs.join("data/sub")).unwrap();
        std::fs::create_dir_all(&volume).unwrap();
        std::fs::write(rootfs.join("data/sub/file"), "from the image").unwrap();
        symlink("/etc/passwd", rootfs.join("data/link")).unwrap();
        std::fs::set_permissions(rootfs.join("data"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        std::os::unix::fs::chown(rootfs.join("data"), Some(42), Some(43)).unwrap();

        assert!(populate(&rootfs, "/data", &volume).unwrap());
        assert_eq!(
            std::fs::read_to_string(volume.join("sub/file")).unwrap(),
            "from the image"
        );
        assert_eq!(
            std::fs::read_link(volume.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        let meta = std::fs::metadata(&volume).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (42, 43, 0o1777)
        );

        std::fs::remove_file(volume.join("sub/file")).unwrap();
        assert!(!populate(&rootfs, "/data", &volume).unwrap(), "not empty");
        assert!(!volume.join("sub/file").exists());
        std::fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn a_destination_leading_out_of_the_root_stays_inside_it() {
        let top = temp("escape");
        let rootfs = top.join("rootfs");
        let volume = top.join("volume");
        let outside = top.join("outside");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::create_dir_all(&volume).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "host").unwrap();
        // `/data` → the host's `outside`, read inside the root: it does not exist there.
        symlink(&outside, rootfs.join("data")).unwrap();
        assert!(!populate(&rootfs, "/data", &volume).unwrap());
        symlink("../../../../..", rootfs.join("up")).unwrap();
        std::fs::create_dir_all(rootfs.join("inside")).unwrap();
        std::fs::write(rootfs.join("inside/mine"), "image").unwrap();
        assert!(populate(&rootfs, "/up/inside", &volume).unwrap());
        assert!(volume.join("mine").exists() && !volume.join("secret").exists());
        std::fs::remove_dir_all(&top).unwrap();
    }
}
