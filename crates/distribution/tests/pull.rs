//! Pulling from a real registry (Debian's docker-registry on 127.0.0.1) an image that skopeo
//! pushed there: the layers land verified, unpack, and mount as a root file system.

mod common;

use std::process::Command;

use berth_distribution::{pull, Platform};
use berth_image::progress::Silent;
use berth_image::snapshot::Snapshotter;
use berth_image::{ImageStore, Reference};
use common::{busybox_archive, LocalRegistry};

#[test]
fn an_image_pushed_by_skopeo_is_pulled_verified_and_mounts() {
    let registry = LocalRegistry::start();
    let archive = registry.dir.join("busybox.tar");
    busybox_archive(&archive, None, &[]);
    let target = format!("docker://{}/berth-test/busybox:1", registry.address);
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(&target)
        .status()
        .expect("skopeo (apt-get install skopeo)");
    assert!(status.success(), "skopeo copy failed");

    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let snapshots = Snapshotter::open(&registry.dir.join("snapshots")).unwrap();
    let reference: Reference = format!("{}/berth-test/busybox:1", registry.address)
        .parse()
        .unwrap();
    let image = pull(
        &mut store,
        &snapshots,
        &reference,
        &Platform::default(),
        &registry.client_config(),
        &Silent,
    )
    .unwrap();
    assert_eq!(image.layers.len(), 1);
    for blob in image.layers.iter().chain([&image.id]) {
        store.blobs().verify(blob).unwrap();
    }
    assert!(
        store.get(&reference.to_string()).is_some(),
        "the name points at the image"
    );

    let rootfs = registry.dir.join("rootfs");
    snapshots
        .mount_rootfs(
            store.blobs(),
            &image,
            &registry.dir.join("container"),
            &rootfs,
        )
        .unwrap();
    let out = Command::new("chroot")
        .arg(&rootfs)
        .args(["/bin/busybox", "echo", "pulled"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pulled");

    // A second pull finds everything in place and changes nothing.
    let again = pull(
        &mut store,
        &snapshots,
        &reference,
        &Platform::default(),
        &registry.client_config(),
        &Silent,
    )
    .unwrap();
    assert_eq!(again, image);

    let missing: Reference = format!("{}/berth-test/nothing:1", registry.address)
        .parse()
        .unwrap();
    let err = pull(
        &mut store,
        &snapshots,
        &missing,
        &Platform::default(),
        &registry.client_config(),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("404") || err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
}
