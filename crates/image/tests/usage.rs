//! Disk usage as `docker system df` counts it: trees of files (hard links once, symlinks not
//! followed, other file systems left out), layers shared between images, and what containers
//! of both drivers wrote.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use berth_image::archive::load_docker_archive;
use berth_image::inspect::LayerSizes;
use berth_image::snapshot::{Driver, Snapshotter};
use berth_image::usage::{layers_usage, tree_size};
use berth_image::ImageStore;
use berth_testkit::TempDir;
use common::{docker_save_archive, LayerBuilder};

/// Unmounts a tmpfs when dropped, even if the test fails.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_tree_counts_files_once_and_follows_nothing() {
    let dir = TempDir::new("usage-tree");
    let root = dir.join("root");
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::write(root.join("a/one"), vec![1u8; 1000]).unwrap();
    fs::write(root.join("a/b/c/two"), vec![2u8; 24]).unwrap();
    fs::hard_link(root.join("a/one"), root.join("a/b/again")).unwrap();
    // Outside the tree: a symlink to it counts its target's length only.
    let outside = dir.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("big"), vec![0u8; 100_000]).unwrap();
    symlink(&outside, root.join("link")).unwrap();
    let link_len = outside.as_os_str().len() as u64;
    assert_eq!(tree_size(&root).unwrap(), 1000 + 24 + link_len);
    assert_eq!(tree_size(&dir.join("missing")).unwrap(), 0);
    // A root that is itself a symlink is not followed.
    symlink(&outside, dir.join("root-link")).unwrap();
    assert!(tree_size(&dir.join("root-link")).is_err());
}

#[test]
fn a_file_system_mounted_inside_is_left_out() {
    let dir = TempDir::new("usage-mount");
    let root = dir.join("root");
    let mounted = root.join("mnt");
    fs::create_dir_all(&mounted).unwrap();
    fs::write(root.join("file"), vec![0u8; 10]).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &mounted,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount a tmpfs (the tests run as root)");
    let _guard = Tmpfs(mounted.clone());
    fs::write(mounted.join("inside"), vec![0u8; 5000]).unwrap();
    assert_eq!(tree_size(&root).unwrap(), 10);
    // Measured from its own root, the tmpfs counts.
    assert_eq!(tree_size(&mounted).unwrap(), 5000);
}

#[test]
fn images_share_the_layers_they_have_in_common() {
    let dir = TempDir::new("usage-layers");
    let base = LayerBuilder::default()
        .file("base", &[7u8; 3000], 0o644)
        .finish();
    let top_a = LayerBuilder::default()
        .file("a", &[1u8; 500], 0o644)
        .finish();
    let top_b = LayerBuilder::default()
        .file("b", &[2u8; 700], 0o644)
        .finish();
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    load_docker_archive(
        &mut store,
        &docker_save_archive(&[&base, &top_a], "a:1")[..],
    )
    .unwrap();
    load_docker_archive(
        &mut store,
        &docker_save_archive(&[&base, &top_b], "b:1")[..],
    )
    .unwrap();
    // The same content above a different layer is a different layer.
    load_docker_archive(&mut store, &docker_save_archive(&[&top_a], "c:1")[..]).unwrap();
    let usage = layers_usage(&store, &mut LayerSizes::default()).unwrap();
    let (base, a, b) = (base.len() as u64, top_a.len() as u64, top_b.len() as u64);
    assert_eq!(usage.layers_size, base + a + b + a);
    let of = |name: &str| {
        let id = store.get(name).unwrap().id.clone();
        let image = usage.images.iter().find(|i| i.id == id).unwrap();
        (image.size, image.shared_size)
    };
    assert_eq!(of("a:1"), (base + a, base));
    assert_eq!(of("b:1"), (base + b, base));
    assert_eq!(of("c:1"), (a, 0));
}

#[test]
fn containers_of_both_drivers_count_what_they_wrote() {
    for driver in [Driver::Overlay, Driver::Copy] {
        let dir = TempDir::new(&format!("usage-container-{driver:?}"));
        let layer = LayerBuilder::default()
            .dir("etc", 0o755)
            .file("etc/big", &[3u8; 4096], 0o644)
            .file("etc/small", b"small\n", 0o644)
            .finish();
        let mut store = ImageStore::open(&dir.join("store")).unwrap();
        load_docker_archive(&mut store, &docker_save_archive(&[&layer], "i:1")[..]).unwrap();
        let image = store.get("i:1").unwrap().clone();
        let snapshots = Snapshotter::open_with(&dir.join("snapshots"), driver).unwrap();
        let rootfs = snapshots
            .create_container(store.blobs(), &image, "c")
            .unwrap();
        assert_eq!(snapshots.container_size("c").unwrap(), 0, "{driver:?}");
        fs::write(rootfs.join("new"), vec![9u8; 1 << 20]).unwrap();
        fs::write(rootfs.join("etc/small"), b"changed, longer\n").unwrap();
        fs::remove_file(rootfs.join("etc/big")).unwrap();
        assert_eq!(
            snapshots.container_size("c").unwrap(),
            (1 << 20) + 16,
            "{driver:?}"
        );
        snapshots.remove_container("c").unwrap();
        assert!(snapshots.container_size("c").is_err());
    }
}
