//! What the registry tests share on top of `berth-testkit`: client settings for a test
//! registry, a quiet pull, and a busybox image archive.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::Path;

use berth_distribution::ClientConfig;
use berth_testkit::{busybox_layer, docker_archive, LocalRegistry};

/// Client settings that never touch the real `~/.docker` or `/etc/docker/certs.d`.
pub fn client_config(registry: &LocalRegistry) -> ClientConfig {
    ClientConfig {
        insecure_registries: Vec::new(),
        config_dir: Some(registry.dir.join("docker-config")),
        certs_dir: Some(registry.dir.join("certs.d")),
    }
}

/// A busybox image in docker-save format (uncompressed layers, as `docker save` writes them):
/// `/bin/busybox` in the first layer, then `extra` layers, tagged `repo_tag`.
pub fn busybox_archive(path: &Path, repo_tag: Option<&str>, extra: &[Vec<u8>]) {
    let mut layers = vec![busybox_layer()];
    layers.extend(extra.iter().cloned());
    docker_archive(path, &layers, repo_tag);
}

/// Pulls `reference` into `store` for the default platform, unpacking into `snapshots`
/// (created if needed), without progress output.
pub fn pull_quietly(
    store: &mut berth_image::ImageStore,
    snapshots: &Path,
    reference: &berth_image::Reference,
    config: &ClientConfig,
) -> berth_distribution::Result<berth_image::ImageRecord> {
    let snapshots = berth_image::snapshot::Snapshotter::open(snapshots)?;
    berth_distribution::pull(
        store,
        &snapshots,
        reference,
        &berth_distribution::Platform::default(),
        config,
        &berth_image::progress::Silent,
    )
}

/// Mounts `image` at `<dir>/rootfs`, runs busybox `args` in it with chroot and returns what it
/// printed; the root file system is unmounted again also when the test fails.
pub fn run_in_rootfs(
    snapshots: &berth_image::snapshot::Snapshotter,
    blobs: &berth_image::BlobStore,
    image: &berth_image::ImageRecord,
    dir: &Path,
    args: &[&str],
) -> String {
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = berth_image::snapshot::Snapshotter::unmount_rootfs(&self.0);
        }
    }
    let rootfs = dir.join("rootfs");
    snapshots
        .mount_rootfs(blobs, image, &dir.join("container"), &rootfs)
        .unwrap();
    let _unmount = Unmount(rootfs.clone());
    let out = std::process::Command::new("chroot")
        .arg(&rootfs)
        .arg("/bin/busybox")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
