//! Archives built to escape or cheat: each is refused, says why, and names nothing.

mod fixture;

use berth_image::archive::load_docker_archive;
use berth_image::digest::sha256;
use berth_image::ImageStore;
use berth_testkit::TempDir;
use fixture::*;
use tar::EntryType;

enum E<'a> {
    File(&'a str, Vec<u8>),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn archive(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(name, data) => {
                // Header::set_path refuses `..`; write the name into the header directly.
                let mut h = tar::Header::new_gnu();
                h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_entry_type(EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
            E::Symlink(name, target) => append(&mut b, name, EntryType::Symlink, target, b""),
            E::Hardlink(name, target) => append(&mut b, name, EntryType::Link, target, b""),
        }
    }
    b.into_inner().unwrap()
}

/// A one-layer image's config and manifest, with the layer and config at the given paths.
fn docker_files(layer: &[u8], config_path: &str, layer_path: &str) -> (Vec<u8>, Vec<u8>) {
    let config = config(&[sha256(layer)], &["/bin/sh"]);
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_path,
        "RepoTags": ["berth-test/hostile:1"],
        "Layers": [layer_path],
    }]))
    .unwrap();
    (config, manifest)
}

/// Loads `archive` into a fresh store; returns the error and checks nothing got a name.
fn refused(test: &str, archive: &[u8]) -> String {
    let dir = TempDir::new(test);
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    let err = load_docker_archive(&mut store, archive)
        .expect_err("the archive must be refused")
        .to_string();
    assert!(
        store.list().iter().all(|(_, names)| names.is_empty()),
        "{test}: a refused archive named an image"
    );
    assert!(store.get("berth-test/hostile:1").is_none());
    err
}

#[test]
fn a_manifest_path_that_climbs_out_is_refused() {
    let layer = file_layer("a", b"a");
    let (config, manifest) = docker_files(&layer, "../config.json", "layer.tar");
    let err = refused(
        "hostile-climb",
        &archive(&[
            E::File("config.json", config),
            E::File("layer.tar", layer),
            E::File("manifest.json", manifest),
        ]),
    );
    assert!(
        err.contains("\"../config.json\" is outside the archive"),
        "{err}"
    );
}

#[test]
fn an_entry_named_outside_the_archive_is_refused() {
    let layer = file_layer("a", b"a");
    let (config, manifest) = docker_files(&layer, "config.json", "layer.tar");
    let err = refused(
        "hostile-entry",
        &archive(&[
            E::File("../../evil", b"x".to_vec()),
            E::File("config.json", config),
            E::File("layer.tar", layer),
            E::File("manifest.json", manifest),
        ]),
    );
    assert!(
        err.contains("\"../../evil\" is outside the archive"),
        "{err}"
    );
}

#[test]
fn a_symlink_out_of_the_archive_is_refused() {
    let layer = file_layer("a", b"a");
    let (config, manifest) = docker_files(&layer, "config.json", "l/layer.tar");
    for target in ["/etc/passwd", "../../etc/passwd"] {
        let err = refused(
            "hostile-symlink",
            &archive(&[
                E::File("config.json", config.clone()),
                E::Symlink("l/layer.tar", target),
                E::File("manifest.json", manifest.clone()),
            ]),
        );
        assert!(err.contains("is outside the archive"), "{target}: {err}");
    }
}

#[test]
fn links_inside_the_archive_are_followed() {
    // Docker 20.10 saves a layer two images share once and links the second copy to it.
    let layer = file_layer("a", b"a");
    let (config, manifest) = docker_files(&layer, "config.json", "two/layer.tar");
    let archive = archive(&[
        E::File("one/layer.tar", layer.clone()),
        E::Symlink("two/layer.tar", "../one/layer.tar"),
        E::Hardlink("config.json", "c.json"),
        E::File("c.json", config),
        E::File("manifest.json", manifest),
    ]);
    let dir = TempDir::new("links");
    let mut store = ImageStore::open(&dir.join("store")).unwrap();
    let loaded = load_docker_archive(&mut store, &archive[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        store.get("berth-test/hostile:1").unwrap().layers,
        [sha256(&layer)]
    );
}

#[test]
fn an_oversized_manifest_is_refused() {
    let mut manifest = b"[".to_vec();
    manifest.resize(5 << 20, b' ');
    manifest.push(b']');
    let err = refused(
        "hostile-big",
        &archive(&[E::File("manifest.json", manifest)]),
    );
    assert!(err.contains("manifest.json is larger than 4 MiB"), "{err}");
}

#[test]
fn an_oci_blob_that_is_not_its_digest_is_refused() {
    let layer = file_layer("a", b"a");
    let config = config(&[sha256(&layer)], &["/bin/sh"]);
    let claimed = sha256(b"something else");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha256(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar",
                     "digest": claimed, "size": layer.len() }],
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": sha256(&manifest), "size": manifest.len(),
                        "annotations": { "io.containerd.image.name": "docker.io/berth-test/hostile:1" } }],
    }))
    .unwrap();
    let err = refused(
        "hostile-digest",
        &archive(&[
            E::File("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            E::File(
                &format!("blobs/sha256/{}", sha256(&config).hex()),
                config.clone(),
            ),
            E::File(&format!("blobs/sha256/{}", claimed.hex()), layer),
            E::File(
                &format!("blobs/sha256/{}", sha256(&manifest).hex()),
                manifest.clone(),
            ),
            E::File("index.json", index),
        ]),
    );
    assert!(
        err.contains(&format!("blob {claimed} does not match its content")),
        "{err}"
    );
}
