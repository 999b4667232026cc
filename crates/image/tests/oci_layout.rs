//! Loading OCI layouts as containerd and Docker 25 write them: nested indexes, one manifest
//! per platform, names in annotations.

mod fixture;

use berth_image::archive::load_docker_archive;
use berth_image::digest::sha256;
use berth_image::ImageStore;
use berth_testkit::TempDir;
use fixture::*;
use serde_json::json;
use tar::EntryType;

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn a_nested_index_loads_the_host_platform_under_its_annotated_name() {
    let layer = file_layer("greeting", b"hi\n");
    let stored = gzip(&layer);
    let config = config(&[sha256(&layer)], &["/bin/sh"]);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha256(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     "digest": sha256(&stored), "size": stored.len() }],
    }))
    .unwrap();
    // The other platform's manifest is not in the archive, as Docker 25 saves a single one.
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            { "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": sha256(b"elsewhere"), "size": 9,
              "platform": { "os": "linux", "architecture": "s390x" } },
            { "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": sha256(&manifest), "size": manifest.len(),
              "platform": { "os": "linux", "architecture": host_arch() } },
        ],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [
            { "mediaType": "application/vnd.oci.image.index.v1+json",
              "digest": sha256(&nested), "size": nested.len(),
              "annotations": { "io.containerd.image.name": "127.0.0.1:5000/multi/app:3",
                               "org.opencontainers.image.ref.name": "3" } },
            // A bare tag names no repository: the image loads without a name.
            { "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": sha256(&manifest), "size": manifest.len(),
              "annotations": { "org.opencontainers.image.ref.name": "latest" } },
        ],
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for data in [&stored, &config, &manifest, &nested] {
        let path = format!("blobs/sha256/{}", sha256(data).hex());
        append(&mut b, &path, EntryType::Regular, "", data);
    }
    append(
        &mut b,
        "oci-layout",
        EntryType::Regular,
        "",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    append(&mut b, "index.json", EntryType::Regular, "", &index);
    let archive = b.into_inner().unwrap();

    let dir = TempDir::new("oci-nested");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let loaded = load_docker_archive(&mut store, &archive[..]).unwrap();
    assert_eq!(loaded.len(), 1, "both entries are the same image");
    assert_eq!(loaded[0].0, sha256(&config));
    assert_eq!(
        loaded[0]
            .1
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>(),
        ["127.0.0.1:5000/multi/app:3"]
    );
    let image = store.get("127.0.0.1:5000/multi/app:3").unwrap();
    assert_eq!(image.layers, [sha256(&stored)], "the layer stays as stored");
    assert_eq!(image.diff_ids, [sha256(&layer)]);
    assert!(store.get("latest").is_none());
}
