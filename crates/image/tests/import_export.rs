//! `export` a tree, `import` the tar as an image, unpack it again: everything a root file
//! system holds comes back as it was.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_image::inspect::{history, inspect, LayerSizes};
use berth_image::rootfs_tar::{export, import};
use berth_image::{layer, ImageStore};
use berth_testkit::files::set_mtime;
use berth_testkit::TempDir;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chown, mkfifo, Gid, Uid};

/// A tree with every kind of entry a root file system holds.
fn build_tree(root: &Path) {
    fs::create_dir_all(root.join("d/sub")).unwrap();
    fs::write(root.join("d/setuid"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("d/setuid"), fs::Permissions::from_mode(0o4755)).unwrap();
    chown(
        &root.join("d/setuid"),
        Some(Uid::from_raw(1234)),
        Some(Gid::from_raw(5678)),
    )
    .unwrap();
    xattr::set(root.join("d/setuid"), "user.berth", b"kept").unwrap();
    fs::hard_link(root.join("d/setuid"), root.join("d/sub/hard")).unwrap();
    fs::write(root.join("d/odd"), b"odd").unwrap();
    fs::set_permissions(root.join("d/odd"), fs::Permissions::from_mode(0o2604)).unwrap();
    fs::set_permissions(root.join("d"), fs::Permissions::from_mode(0o1777)).unwrap();
    symlink("d/setuid", root.join("link")).unwrap();
    symlink("/etc", root.join("escape")).unwrap();
    fs::create_dir(root.join("dev")).unwrap();
    mknod(
        &root.join("dev/null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .unwrap();
    mkfifo(&root.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
    // A socket a container left behind: tar cannot hold it, export leaves it out.
    drop(std::os::unix::net::UnixListener::bind(root.join("d/sock")).unwrap());
    for (i, p) in [
        "d/setuid", "d/odd", "link", "dev/null", "fifo", "d/sub", "d",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&root.join(p), 1_600_000_000 + i as i64);
    }
}

fn tar_names(data: &[u8]) -> BTreeSet<String> {
    tar::Archive::new(data)
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

#[test]
fn an_exported_tree_imports_and_unpacks_unchanged() {
    let dir = TempDir::new("export");
    let src = dir.join("src");
    build_tree(&src);
    let mut archive = Vec::new();
    export(&src, &mut archive).unwrap();
    let names = tar_names(&archive);
    assert!(names.contains("escape"), "{names:?}");
    assert!(!names.contains("d/sock"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("escape/")),
        "the symlink to /etc was followed: {names:?}"
    );

    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    let id = import(
        &mut store,
        &archive[..],
        &[
            r#"CMD ["/d/setuid"]"#,
            "ENV A=1",
            "WORKDIR /d",
            "USER 1234",
            "EXPOSE 8080",
            "LABEL k=v",
        ],
        "from a test",
    )
    .unwrap();
    store
        .tag(id.hex(), &"berth-test/imported:1".parse().unwrap())
        .unwrap();
    let image = store.get("berth-test/imported:1").unwrap().clone();
    assert_eq!(image.layers, image.diff_ids, "one uncompressed layer");

    let dst = dir.join("dst");
    fs::create_dir(&dst).unwrap();
    layer::apply(&dst, store.blobs().open_blob(&image.layers[0]).unwrap()).unwrap();
    for path in [
        "d", "d/setuid", "d/odd", "d/sub", "link", "escape", "dev/null", "fifo",
    ] {
        let (a, b) = (
            fs::symlink_metadata(src.join(path)).unwrap(),
            fs::symlink_metadata(dst.join(path)).unwrap(),
        );
        assert_eq!(a.mode(), b.mode(), "{path} mode");
        assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "{path} owner");
        assert_eq!(a.rdev(), b.rdev(), "{path} device");
        if !a.is_dir() {
            assert_eq!(a.mtime(), b.mtime(), "{path} mtime");
        }
    }
    assert_eq!(
        fs::read_link(dst.join("escape")).unwrap(),
        Path::new("/etc")
    );
    assert_eq!(
        fs::read_link(dst.join("link")).unwrap(),
        Path::new("d/setuid")
    );
    assert_eq!(
        fs::metadata(dst.join("d/setuid")).unwrap().ino(),
        fs::metadata(dst.join("d/sub/hard")).unwrap().ino(),
        "the hard link is one file"
    );
    assert_eq!(
        xattr::get(dst.join("d/setuid"), "user.berth")
            .unwrap()
            .as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(fs::read(dst.join("d/odd")).unwrap(), b"odd");

    let mut sizes = LayerSizes::default();
    let view = inspect(&store, "berth-test/imported:1", &mut sizes).unwrap();
    let config = view.config.unwrap();
    assert_eq!(config.cmd.unwrap(), ["/d/setuid"]);
    assert_eq!(config.env.unwrap(), ["A=1"]);
    assert_eq!(
        (config.working_dir.as_str(), config.user.as_str()),
        ("/d", "1234")
    );
    assert!(config.exposed_ports.unwrap().contains_key("8080/tcp"));
    assert_eq!(view.comment, "from a test");
    assert_eq!(
        (view.os.as_str(), view.size),
        ("linux", archive.len() as u64)
    );
    let steps = history(&store, id.hex(), &mut sizes).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].comment, "from a test");
    assert!(steps[0].created > 1_700_000_000);
}

#[test]
fn importing_something_that_is_not_a_tar_is_refused() {
    let dir = TempDir::new("import-bad");
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    let junk = vec![0x55u8; 4096];
    let err = import(&mut store, &junk[..], &[], "")
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a tar archive"), "{err}");
    assert_eq!(store.records().count(), 0);
    let err = import(&mut store, &b""[..], &["RUN true"], "")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("invalid change \"RUN true\""), "{err}");
}
