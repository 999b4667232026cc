//! Container root file systems from both drivers, and their changes as a layer: applying the
//! diff on top of the image's layers gives exactly what the container saw.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_image::archive::load_docker_archive;
use berth_image::digest::sha256;
use berth_image::layer;
use berth_image::snapshot::{Driver, Snapshotter};
use berth_image::ImageStore;
use berth_testkit::TempDir;
use common::{describe, docker_save_archive, entry_names, LayerBuilder};
use tar::EntryType;

/// Layer 1: owners, modes, an xattr, a hardlink, symlinks (one absolute, pointing outside),
/// devices. Layer 2: a whiteout, an opaque directory, a new file.
fn layers() -> (Vec<u8>, Vec<u8>) {
    let l1 = LayerBuilder::default()
        .dir("bin", 0o755)
        .file("bin/setuid", b"#!/bin/true\n", 0o4755)
        .dir("etc", 0o755)
        .file("etc/motd", b"lower\n", 0o644)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
        .dir("usr", 0o755)
        .dir("usr/share", 0o755)
        .dir("usr/share/doc", 0o755)
        .file("usr/share/doc/a.txt", b"a\n", 0o644)
        .file("usr/share/doc/b.txt", b"b\n", 0o644)
        .dir("data", 0o750)
        .xattr("user.note", "hello")
        .owned_file("data/file", b"owned by 1000\n", 0o640, 1000, 1000)
        .hardlink("data/hard", "data/file")
        .symlink("data/sym", "../etc/motd")
        .symlink("data/escape", "/etc/shadow")
        .dir("dev", 0o755)
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/fifo", EntryType::Fifo, 0, 0)
        .dir("opaque", 0o755)
        .file("opaque/old", b"hidden by layer 2\n", 0o644)
        .file("hello", b"hello\n", 0o644)
        .finish();
    let l2 = LayerBuilder::default()
        .dir("etc", 0o755)
        .file("etc/.wh.passwd", b"", 0o644)
        .file("etc/hostname", b"upper\n", 0o644)
        .dir("opaque", 0o755)
        .file("opaque/.wh..wh..opq", b"", 0o644)
        .file("opaque/new", b"from layer 2\n", 0o644)
        .finish();
    (l1, l2)
}

/// The view `layers` give when applied in order onto a fresh directory.
fn applied(dir: &Path, layers: &[&[u8]]) -> std::collections::BTreeMap<String, String> {
    fs::create_dir_all(dir).unwrap();
    for l in layers {
        layer::apply(dir, *l).unwrap();
    }
    describe(dir)
}

/// Adds, modifies, deletes files, replaces a directory, changes only metadata.
fn change(rootfs: &Path) {
    fs::write(rootfs.join("new.txt"), "added\n").unwrap();
    nix::unistd::chown(&rootfs.join("new.txt"), Some(5.into()), Some(6.into())).unwrap();
    fs::write(rootfs.join("etc/motd"), "changed\n").unwrap();
    fs::remove_file(rootfs.join("hello")).unwrap();
    fs::remove_dir_all(rootfs.join("usr/share")).unwrap();
    fs::create_dir(rootfs.join("usr/share")).unwrap();
    fs::write(rootfs.join("usr/share/fresh"), "fresh\n").unwrap();
    fs::remove_file(rootfs.join("data/escape")).unwrap();
    fs::remove_file(rootfs.join("data/sym")).unwrap();
    symlink("elsewhere", rootfs.join("data/sym")).unwrap();
    fs::set_permissions(rootfs.join("bin/setuid"), fs::Permissions::from_mode(0o755)).unwrap();
    rustix::fs::lsetxattr(
        rootfs.join("etc/hostname"),
        "user.added",
        b"yes",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::create_dir_all(rootfs.join("var/new/deep")).unwrap();
    fs::write(rootfs.join("var/new/deep/file"), "deep\n").unwrap();
    fs::remove_file(rootfs.join("opaque/new")).unwrap();
    symlink("/etc", rootfs.join("hostetc")).unwrap();
}

fn round_trip(driver: Driver, name: &str) {
    let dir = TempDir::new(name);
    let (l1, l2) = layers();
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    load_docker_archive(&mut store, &docker_save_archive(&[&l1, &l2], "diff:1")[..]).unwrap();
    let image = store.get("diff:1").unwrap().clone();
    let snapshots = Snapshotter::open_with(&dir.join("snapshots"), driver).unwrap();
    let rootfs = snapshots
        .create_container(store.blobs(), &image, "c1")
        .unwrap();

    let image_view = applied(&dir.join("image-view"), &[&l1, &l2]);
    assert_eq!(
        describe(&rootfs),
        image_view,
        "a new container sees the image"
    );
    assert!(!rootfs.join("etc/passwd").exists() && !rootfs.join("opaque/old").exists());
    assert_eq!(
        fs::read_link(rootfs.join("data/escape")).unwrap(),
        Path::new("/etc/shadow"),
        "symlinks are copied, not followed"
    );
    let (file, hard) = (
        fs::metadata(rootfs.join("data/file")).unwrap(),
        fs::metadata(rootfs.join("data/hard")).unwrap(),
    );
    assert_eq!(file.ino(), hard.ino(), "hardlinks stay linked");
    let mut empty = Vec::new();
    snapshots.diff_container("c1", None, &mut empty).unwrap();
    assert_eq!(
        entry_names(&empty),
        Vec::<String>::new(),
        "no changes, no entries"
    );

    change(&rootfs);
    let mut tar = Vec::new();
    let diff = snapshots.diff_container("c1", None, &mut tar).unwrap();
    assert_eq!(diff.diff_id, sha256(&tar));
    assert_eq!(diff.size, tar.len() as u64);
    let names = entry_names(&tar);
    for expected in [
        "hello",
        ".wh.hello",
        "data/.wh.escape",
        "opaque/.wh.new",
        "new.txt",
    ] {
        let whiteout_or_file = names.iter().any(|n| n.ends_with(expected));
        assert!(whiteout_or_file, "{expected} missing from {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("hostetc/")),
        "a symlink is recorded, not followed: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("data/file")),
        "unchanged files are not in the diff: {names:?}"
    );

    let container_view = describe(&rootfs);
    let rebuilt = applied(&dir.join("rebuilt"), &[&l1, &l2, &tar]);
    assert_eq!(
        rebuilt, container_view,
        "layers + diff == the container's view"
    );

    let mut again = Vec::new();
    let second = snapshots.diff_container("c1", None, &mut again).unwrap();
    assert_eq!(
        second.diff_id, diff.diff_id,
        "the same changes give the same diff id"
    );

    snapshots.unmount_container("c1").unwrap();
    let rootfs = snapshots.mount_container("c1").unwrap();
    assert_eq!(
        fs::read_to_string(rootfs.join("new.txt")).unwrap(),
        "added\n"
    );
    assert_eq!(snapshots.containers().unwrap()[0].driver, driver);

    snapshots.remove_container("c1").unwrap();
    snapshots.remove_container("c1").unwrap();
    assert!(snapshots.containers().unwrap().is_empty());
    let left: Vec<_> = fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("trash-") || n.starts_with("tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn overlay_containers_diff_to_a_layer_that_reproduces_them() {
    assert_eq!(
        Driver::probe(&std::env::temp_dir()).unwrap(),
        Driver::Overlay,
        "this test needs overlayfs (root, a kernel with it)"
    );
    round_trip(Driver::Overlay, "diff-overlay");
}

#[test]
fn copied_containers_diff_to_a_layer_that_reproduces_them() {
    round_trip(Driver::Copy, "diff-copy");
}

#[test]
fn a_replaced_directory_keeps_none_of_the_old_content() {
    for driver in [Driver::Overlay, Driver::Copy] {
        let dir = TempDir::new(&format!("diff-replace-{driver:?}"));
        let (l1, l2) = layers();
        let mut store = ImageStore::open(&dir.join("store")).unwrap();
        load_docker_archive(&mut store, &docker_save_archive(&[&l1, &l2], "r:1")[..]).unwrap();
        let image = store.get("r:1").unwrap().clone();
        let snapshots = Snapshotter::open_with(&dir.join("snapshots"), driver).unwrap();
        let rootfs = snapshots
            .create_container(store.blobs(), &image, "r")
            .unwrap();
        fs::remove_dir_all(rootfs.join("usr/share")).unwrap();
        fs::create_dir(rootfs.join("usr/share")).unwrap();
        let mut tar = Vec::new();
        snapshots.diff_container("r", None, &mut tar).unwrap();
        let rebuilt = dir.join("rebuilt");
        applied(&rebuilt, &[&l1, &l2, &tar]);
        assert!(rebuilt.join("usr/share").is_dir(), "{driver:?}");
        assert!(
            !rebuilt.join("usr/share/doc").exists(),
            "{driver:?}: {:?}",
            entry_names(&tar)
        );
        assert_eq!(
            fs::metadata(rootfs.join("usr/share")).unwrap().mode(),
            fs::metadata(rebuilt.join("usr/share")).unwrap().mode()
        );
    }
}
