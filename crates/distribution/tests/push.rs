//! Pushing to a real registry (Debian's docker-registry on 127.0.0.1) an image loaded from a
//! docker-save archive, and reading it back with skopeo and with berth's own pull.

mod common;

use std::fs;
use std::io::Read;
use std::process::Command;
use std::sync::Mutex;

use berth_distribution::push;
use berth_image::archive::load_docker_archive;
use berth_image::compress::stored_compression;
use berth_image::digest::{sha256, Digest};
use berth_image::layer::{decompress, Compression};
use berth_image::progress::{Event, Status};
use berth_image::snapshot::Snapshotter;
use berth_image::{ImageStore, Reference};
use berth_testkit::{layer_tar, LocalRegistry};
use common::{busybox_archive, client_config, pull_quietly, run_in_rootfs};

/// Incompressible bytes (xorshift), so the layer stays larger than one upload chunk.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Loads a three-layer busybox image (one layer larger than an upload chunk) named `name`.
fn load_image(registry: &LocalRegistry, store: &mut ImageStore, name: &str) -> Reference {
    let archive = registry.dir.join("image.tar");
    let big = noise(17 << 20);
    busybox_archive(
        &archive,
        Some(name),
        &[
            layer_tar(&[("etc/greeting", 0o644, b"hello from berth\n")]),
            layer_tar(&[("var/noise", 0o644, &big)]),
        ],
    );
    load_docker_archive(store, fs::File::open(&archive).unwrap()).unwrap();
    fs::remove_file(&archive).unwrap();
    name.parse().unwrap()
}

/// Pushes and returns the manifest digest with the final status of each layer, in order.
fn push_and_watch(
    store: &mut ImageStore,
    reference: &Reference,
    registry: &LocalRegistry,
    compression: Compression,
) -> (Digest, Vec<(String, Status)>) {
    let (digest, events) = push_with_events(store, reference, registry, compression);
    let finals = events
        .iter()
        .filter(|e| e.status.is_final())
        .map(|e| (e.id.clone(), e.status))
        .collect();
    (digest, finals)
}

/// Pushes and returns the manifest digest with every progress event.
fn push_with_events(
    store: &mut ImageStore,
    reference: &Reference,
    registry: &LocalRegistry,
    compression: Compression,
) -> (Digest, Vec<Event>) {
    let events: Mutex<Vec<Event>> = Mutex::new(Vec::new());
    let observer = |e: Event| events.lock().unwrap().push(e);
    let digest = push(
        store,
        reference,
        &client_config(registry),
        compression,
        &observer,
    )
    .unwrap();
    (digest, events.into_inner().unwrap())
}

fn skopeo_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_loaded_image_is_pushed_then_reused_and_mounted() {
    let registry = LocalRegistry::start();
    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let name = format!("{}/berth-test/busybox:1", registry.address);
    let reference = load_image(&registry, &mut store, &name);
    let loaded = store.get(&name).unwrap().clone();

    let (digest, events) = push_with_events(&mut store, &reference, &registry, Compression::Gzip);
    let finals: Vec<_> = events.iter().filter(|e| e.status.is_final()).collect();
    assert_eq!(finals.len(), 3, "{finals:?}");
    assert!(
        finals.iter().all(|e| e.status == Status::Pushed),
        "{finals:?}"
    );
    // Each layer is prepared, compressed, then pushed; the large one reports its bytes as
    // they go, up to its compressed size.
    for layer in &loaded.layers {
        let statuses: Vec<Status> = events
            .iter()
            .filter(|e| e.id == layer.short())
            .map(|e| e.status)
            .collect();
        assert_eq!(statuses[..2], [Status::Preparing, Status::Compressing]);
    }
    let big = finals.iter().max_by_key(|e| e.total).unwrap();
    let progress: Vec<u64> = events
        .iter()
        .filter(|e| e.id == big.id && e.status == Status::Pushing)
        .map(|e| e.current)
        .collect();
    assert!(progress.len() > 10, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(big.current, big.total.unwrap());

    // The record now points at the gzip layers, and says where the image is.
    let pushed = store.get(&name).unwrap().clone();
    assert_eq!(pushed.id, loaded.id);
    assert_eq!(pushed.diff_ids, loaded.diff_ids);
    assert_ne!(pushed.layers, loaded.layers);
    for layer in &pushed.layers {
        assert_eq!(
            stored_compression(store.blobs(), layer).unwrap(),
            Compression::Gzip
        );
    }
    assert_eq!(
        pushed.repo_digests,
        vec![format!("{}/berth-test/busybox@{digest}", registry.address)]
    );

    // skopeo sees a Docker schema 2 manifest with our digest and layers, and each layer it
    // copies out decompresses to the diff id the config names.
    let url = format!("docker://{name}");
    let raw = skopeo_json(&["inspect", "--raw", "--tls-verify=false", &url]);
    assert_eq!(
        raw["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let inspect = skopeo_json(&["inspect", "--tls-verify=false", &url]);
    assert_eq!(inspect["Digest"], digest.to_string());
    let layers: Vec<String> = pushed.layers.iter().map(|d| d.to_string()).collect();
    assert_eq!(inspect["Layers"], serde_json::json!(layers));
    let copy = registry.dir.join("copy");
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false", &url])
        .arg(format!("dir:{}", copy.display()))
        .status()
        .unwrap();
    assert!(status.success(), "skopeo copy failed");
    for (layer, diff_id) in pushed.layers.iter().zip(&pushed.diff_ids) {
        let file = fs::File::open(copy.join(layer.hex())).unwrap();
        let mut plain = Vec::new();
        decompress(file).unwrap().read_to_end(&mut plain).unwrap();
        assert_eq!(&sha256(&plain), diff_id);
    }

    // Again: the registry has every layer already, and nothing changes.
    let (again, finals) = push_and_watch(&mut store, &reference, &registry, Compression::Gzip);
    assert_eq!(again, digest);
    assert_eq!(finals.len(), 3, "{finals:?}");
    assert!(
        finals.iter().all(|(_, s)| *s == Status::AlreadyExists),
        "{finals:?}"
    );

    // To another repository of the same registry: every layer is mounted, not uploaded.
    let other: Reference = format!("{}/elsewhere/copy:2", registry.address)
        .parse()
        .unwrap();
    store
        .add(pushed.clone(), std::slice::from_ref(&other))
        .unwrap();
    let (mounted, finals) = push_and_watch(&mut store, &other, &registry, Compression::Gzip);
    assert_eq!(mounted, digest, "the same manifest");
    assert_eq!(finals.len(), 3, "{finals:?}");
    assert!(
        finals.iter().all(|(_, s)| *s == Status::Mounted),
        "{finals:?}"
    );
    let record = store.get(&name).unwrap();
    assert_eq!(record.repo_digests.len(), 2, "{:?}", record.repo_digests);
}

#[test]
fn a_zstd_push_of_a_gzip_image_is_pulled_back_by_berth() {
    let registry = LocalRegistry::start();
    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let name = format!("{}/berth-test/busybox:gzip", registry.address);
    let reference = load_image(&registry, &mut store, &name);
    push_and_watch(&mut store, &reference, &registry, Compression::Gzip);
    let gzip = store.get(&name).unwrap().clone();

    let zstd_name: Reference = format!("{}/berth-test/busybox:zstd", registry.address)
        .parse()
        .unwrap();
    store
        .add(gzip.clone(), std::slice::from_ref(&zstd_name))
        .unwrap();
    let (digest, finals) = push_and_watch(&mut store, &zstd_name, &registry, Compression::Zstd);
    assert!(
        finals.iter().all(|(_, s)| *s == Status::Pushed),
        "{finals:?}"
    );
    assert_eq!(
        store.get(&name).unwrap().layers,
        gzip.layers,
        "gzip layers stay the stored ones"
    );
    let raw = skopeo_json(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{zstd_name}"),
    ]);
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    for layer in raw["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }

    // A fresh store pulls the zstd image, and it runs.
    let mut fresh = ImageStore::open(&registry.dir.join("fresh")).unwrap();
    let image = pull_quietly(
        &mut fresh,
        &registry.dir.join("fresh-snapshots"),
        &zstd_name,
        &client_config(&registry),
    )
    .unwrap();
    assert_eq!(
        image.repo_digests,
        vec![format!("{}/berth-test/busybox@{digest}", registry.address)]
    );
    assert_eq!(image.diff_ids, gzip.diff_ids);
    for layer in &image.layers {
        assert_eq!(
            stored_compression(fresh.blobs(), layer).unwrap(),
            Compression::Zstd
        );
    }
    let snapshots = Snapshotter::open(&registry.dir.join("snapshots")).unwrap();
    let out = run_in_rootfs(
        &snapshots,
        fresh.blobs(),
        &image,
        registry.dir.path(),
        &["cat", "/etc/greeting"],
    );
    assert_eq!(out, "hello from berth\n");
}
