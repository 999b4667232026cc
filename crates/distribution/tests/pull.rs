//! Pulling from a real registry (Debian's docker-registry on 127.0.0.1) an image that skopeo
//! pushed there: the layers land verified, unpack, and mount as a root file system.

mod common;

use berth_image::snapshot::Snapshotter;
use berth_image::{ImageStore, Reference};
use berth_testkit::LocalRegistry;
use common::{busybox_archive, client_config, pull_quietly, run_in_rootfs};

#[test]
fn an_image_pushed_by_skopeo_is_pulled_verified_and_mounts() {
    let registry = LocalRegistry::start();
    let archive = registry.dir.join("busybox.tar");
    busybox_archive(&archive, None, &[]);
    registry.push_archive(&archive, "berth-test/busybox:1");

    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let snapshots_dir = registry.dir.join("snapshots");
    let snapshots = Snapshotter::open(&snapshots_dir).unwrap();
    let config = client_config(&registry);
    let reference: Reference = format!("{}/berth-test/busybox:1", registry.address)
        .parse()
        .unwrap();
    let image = pull_quietly(&mut store, &snapshots_dir, &reference, &config).unwrap();
    assert_eq!(image.layers.len(), 1);
    for blob in image.layers.iter().chain([&image.id]) {
        store.blobs().verify(blob).unwrap();
    }
    assert!(
        store.get(&reference.to_string()).is_some(),
        "the name points at the image"
    );

    let out = run_in_rootfs(
        &snapshots,
        store.blobs(),
        &image,
        registry.dir.path(),
        &["echo", "pulled"],
    );
    assert_eq!(out.trim(), "pulled");

    // A second pull finds everything in place and changes nothing.
    let again = pull_quietly(&mut store, &snapshots_dir, &reference, &config).unwrap();
    assert_eq!(again, image);

    let missing: Reference = format!("{}/berth-test/nothing:1", registry.address)
        .parse()
        .unwrap();
    let err = pull_quietly(&mut store, &snapshots_dir, &missing, &config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("404") || err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
}
