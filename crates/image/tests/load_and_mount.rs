//! From an image archive to a root file system: `docker save` format in, overlay mount out.

use std::fs;
use std::path::Path;
use std::process::Command;

use berth_image::archive::load_docker_archive;
use berth_image::digest::sha256;
use berth_image::snapshot::Snapshotter;
use berth_image::ImageStore;
use berth_testkit::TempDir;
use tar::{EntryType, Header};

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: EntryType,
    link: &str,
    data: &[u8],
    mode: u32,
) {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    if kind == EntryType::Symlink {
        builder.append_link(&mut h, name, link).unwrap();
    } else {
        builder.append_data(&mut h, name, data).unwrap();
    }
}

/// Layer 1: busybox with /bin/sh, /bin/true and /etc/motd. Layer 2: deletes /bin/true,
/// replaces /etc with an opaque directory, adds /hello.
fn layers() -> (Vec<u8>, Vec<u8>) {
    let mut l1 = tar::Builder::new(Vec::new());
    append(&mut l1, "bin/", EntryType::Directory, "", b"", 0o755);
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    append(
        &mut l1,
        "bin/busybox",
        EntryType::Regular,
        "",
        &busybox,
        0o755,
    );
    append(&mut l1, "bin/sh", EntryType::Symlink, "busybox", b"", 0o777);
    append(
        &mut l1,
        "bin/true",
        EntryType::Symlink,
        "busybox",
        b"",
        0o777,
    );
    append(
        &mut l1,
        "bin/cat",
        EntryType::Symlink,
        "busybox",
        b"",
        0o777,
    );
    append(&mut l1, "etc/", EntryType::Directory, "", b"", 0o755);
    append(
        &mut l1,
        "etc/motd",
        EntryType::Regular,
        "",
        b"lower\n",
        0o644,
    );
    let mut l2 = tar::Builder::new(Vec::new());
    append(&mut l2, "bin/.wh.true", EntryType::Regular, "", b"", 0o644);
    append(&mut l2, "etc/", EntryType::Directory, "", b"", 0o755);
    append(
        &mut l2,
        "etc/.wh..wh..opq",
        EntryType::Regular,
        "",
        b"",
        0o644,
    );
    append(
        &mut l2,
        "etc/hostname",
        EntryType::Regular,
        "",
        b"upper\n",
        0o644,
    );
    append(
        &mut l2,
        "hello",
        EntryType::Regular,
        "",
        b"hello from layer 2\n",
        0o644,
    );
    (l1.into_inner().unwrap(), l2.into_inner().unwrap())
}

fn docker_save_archive(l1: &[u8], l2: &[u8]) -> Vec<u8> {
    let (d1, d2) = (sha256(l1), sha256(l2));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Cmd": ["/bin/sh"], "Env": ["PATH=/bin"] },
        "rootfs": { "type": "layers", "diff_ids": [d1.to_string(), d2.to_string()] }
    })
    .to_string();
    let config_name = format!("{}.json", sha256(config.as_bytes()).hex());
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["berth-test/two-layers:1"],
        "Layers": [format!("{}/layer.tar", d1.hex()), format!("{}/layer.tar", d2.hex())]
    }])
    .to_string();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, data) in [
        (config_name.as_str(), config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
        (&format!("{}/layer.tar", d1.hex())[..], l1),
        (&format!("{}/layer.tar", d2.hex())[..], l2),
    ] {
        append(&mut archive, name, EntryType::Regular, "", data, 0o644);
    }
    archive.into_inner().unwrap()
}

#[test]
fn a_loaded_image_mounts_as_a_root_file_system() {
    let dir = TempDir::new("load");
    let (l1, l2) = layers();
    let archive = docker_save_archive(&l1, &l2);
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    let loaded = load_docker_archive(&mut store, &archive[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].1[0].familiar(), "berth-test/two-layers:1");

    let image = store
        .get("berth-test/two-layers:1")
        .expect("found by name")
        .clone();
    assert_eq!(
        store.get(&image.id.hex()[..12]).map(|i| &i.id),
        Some(&image.id),
        "found by id prefix"
    );
    let snapshots = Snapshotter::open(&dir.join("snapshots")).unwrap();
    let rootfs = dir.join("rootfs");
    snapshots
        .mount_rootfs(store.blobs(), &image, &dir.join("container"), &rootfs)
        .unwrap();

    assert_eq!(
        fs::read_to_string(rootfs.join("hello")).unwrap(),
        "hello from layer 2\n"
    );
    assert!(
        !rootfs.join("bin/true").exists(),
        "whiteout hides the lower file"
    );
    assert!(
        !rootfs.join("etc/motd").exists(),
        "opaque directory hides the lower content"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/hostname")).unwrap(),
        "upper\n"
    );
    // The layers are shared and untouched; the container's writes land in its upper dir.
    fs::write(rootfs.join("written"), "by the container").unwrap();
    assert!(dir.join("container/upper/written").exists());
    let out = Command::new("chroot")
        .arg(&rootfs)
        .args(["/bin/sh", "-c", "cat /hello"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from layer 2\n");

    // A second image with the same first layer reuses its snapshot.
    let layer_dirs = snapshots.layers(store.blobs(), &image).unwrap();
    assert_eq!(layer_dirs.len(), 2);
    assert!(Path::new(&layer_dirs[0]).join("bin/busybox").exists());
}

#[test]
fn an_archive_whose_layer_does_not_match_its_config_is_refused() {
    let dir = TempDir::new("load-bad");
    let (l1, l2) = layers();
    let mut archive = docker_save_archive(&l1, &l2);
    // Flip one byte inside the second layer's data (its file content "hello from layer 2").
    let pos = archive.windows(5).position(|w| w == b"hello").unwrap();
    archive[pos] = b'j';
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    let err = load_docker_archive(&mut store, &archive[..])
        .unwrap_err()
        .to_string();
    assert!(err.contains("but the config says"), "{err}");
    assert!(
        store.get("berth-test/two-layers:1").is_none(),
        "nothing registered"
    );
}
