//! `save` and `load` against each other and against skopeo, the reference reader and writer of
//! docker-archive and oci-archive files.

mod fixture;

use std::collections::BTreeMap;
use std::fs;

use berth_image::archive::load_docker_archive;
use berth_image::save::{save, Format};
use berth_image::{ImageStore, Reference};
use berth_testkit::{manifest_layer_digests, TempDir};
use fixture::*;

/// The tar's entries: path → content.
fn entries(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in tar::Archive::new(archive).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.insert(path, data);
    }
    out
}

fn json(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).unwrap()
}

fn names(loaded: &[(berth_image::Digest, Vec<Reference>)]) -> Vec<String> {
    let mut names: Vec<String> = loaded
        .iter()
        .flat_map(|(_, n)| n.iter().map(Reference::familiar))
        .collect();
    names.sort();
    names
}

#[test]
fn a_saved_image_loads_back_with_its_id_names_and_uncompressed_layers() {
    let dir = TempDir::new("save-load");
    let mut store = ImageStore::open(&dir.join("a")).unwrap();
    let image = busybox_image(&mut store, "hello\n", &["berth-test/app:1"]);
    store
        .tag("berth-test/app:1", &"berth-test/app:2".parse().unwrap())
        .unwrap();
    let mut archive = Vec::new();
    save(
        &store,
        &["berth-test/app:1", "berth-test/app:2"],
        Format::Docker,
        &mut archive,
    )
    .unwrap();

    let files = entries(&archive);
    let manifest = json(&files["manifest.json"]);
    assert_eq!(
        manifest[0]["Config"],
        format!("blobs/sha256/{}", image.id.hex())
    );
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["berth-test/app:1", "berth-test/app:2"])
    );
    for (path, diff_id) in manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&image.diff_ids)
    {
        let data = &files[path.as_str().unwrap()];
        assert_eq!(
            &berth_image::digest::sha256(data),
            diff_id,
            "layer {path} is uncompressed"
        );
    }
    assert_eq!(
        json(&files["repositories"]),
        serde_json::json!({"berth-test/app": {"1": image.id.hex(), "2": image.id.hex()}})
    );
    assert_eq!(
        json(&files["index.json"])["manifests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let mut other = ImageStore::open(&dir.join("b")).unwrap();
    let loaded = load_docker_archive(&mut other, &archive[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].0, image.id);
    assert_eq!(names(&loaded), ["berth-test/app:1", "berth-test/app:2"]);
    let record = other.get("berth-test/app:2").unwrap();
    assert_eq!(record.diff_ids, image.diff_ids);
    assert_eq!(
        record.layers, image.diff_ids,
        "docker archives carry uncompressed layers"
    );
}

#[test]
fn an_image_saved_by_id_has_no_name() {
    let dir = TempDir::new("save-by-id");
    let mut store = ImageStore::open(&dir.join("a")).unwrap();
    let image = busybox_image(&mut store, "by id\n", &["berth-test/app:1"]);
    let mut archive = Vec::new();
    save(
        &store,
        &[&image.id.hex()[..12]],
        Format::Docker,
        &mut archive,
    )
    .unwrap();
    let files = entries(&archive);
    assert_eq!(
        json(&files["manifest.json"])[0]["RepoTags"],
        serde_json::Value::Null
    );
    assert!(!files.contains_key("repositories"));
    let mut other = ImageStore::open(&dir.join("b")).unwrap();
    let loaded = load_docker_archive(&mut other, &archive[..]).unwrap();
    assert_eq!(loaded, vec![(image.id.clone(), vec![])]);
    assert!(other.names_of(&image.id).is_empty());
}

#[test]
fn saving_an_unknown_image_names_it() {
    let dir = TempDir::new("save-unknown");
    let store = ImageStore::open(&dir.join("a")).unwrap();
    let err = save(&store, &["nope:1"], Format::Docker, Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "image nope:1 not found");
}

#[test]
fn skopeo_reads_a_saved_archive_as_docker_archive_and_as_oci_archive() {
    let dir = TempDir::new("save-skopeo");
    let mut store = ImageStore::open(&dir.join("a")).unwrap();
    let image = busybox_image(&mut store, "skopeo\n", &["berth-test/app:1"]);
    let saved = dir.join("saved.tar");
    save(
        &store,
        &["berth-test/app:1"],
        Format::Docker,
        fs::File::create(&saved).unwrap(),
    )
    .unwrap();
    let saved = file_name(&saved);
    let diff_ids: Vec<String> = image.diff_ids.iter().map(|d| d.to_string()).collect();
    for source in [
        format!("docker-archive:{saved}"),
        format!("oci-archive:{saved}"),
    ] {
        let manifest = skopeo_raw(&source);
        assert_eq!(manifest_layer_digests(&manifest), diff_ids, "{source}");
        assert_eq!(
            manifest["config"]["digest"],
            image.id.to_string(),
            "{source}"
        );
    }
    // Through skopeo's own writers and back into berth: same image, same name.
    let oci = dir.join("skopeo-oci.tar");
    skopeo_copy(
        &format!("docker-archive:{saved}"),
        &format!("oci-archive:{}:berth-test/copied:2", file_name(&oci)),
    );
    assert_eq!(
        manifest_layer_digests(&skopeo_raw(&format!("oci-archive:{}", file_name(&oci)))),
        diff_ids
    );
    let docker = dir.join("skopeo-docker.tar");
    skopeo_copy(
        &format!("oci-archive:{saved}"),
        &format!("docker-archive:{}:berth-test/copied:3", file_name(&docker)),
    );
    for (archive, name) in [
        (oci, "berth-test/copied:2"),
        (docker, "berth-test/copied:3"),
    ] {
        let mut other = ImageStore::open(&dir.join(format!("b-{}", name.len()))).unwrap();
        let loaded = load_docker_archive(&mut other, fs::File::open(&archive).unwrap()).unwrap();
        assert_eq!(loaded[0].0, image.id, "{}", archive.display());
        assert_eq!(names(&loaded), [name]);
        assert_eq!(other.get(name).unwrap().diff_ids, image.diff_ids);
    }
}

#[test]
fn an_oci_archive_keeps_stored_layers_and_loads_by_annotation() {
    let dir = TempDir::new("save-oci");
    let mut store = ImageStore::open(&dir.join("a")).unwrap();
    let image = busybox_image(&mut store, "oci\n", &["127.0.0.1:5000/berth/app:v1"]);
    let saved = dir.join("oci.tar");
    save(
        &store,
        &["127.0.0.1:5000/berth/app:v1"],
        Format::Oci,
        fs::File::create(&saved).unwrap(),
    )
    .unwrap();
    let files = entries(&fs::read(&saved).unwrap());
    assert!(!files.contains_key("manifest.json"), "a pure OCI layout");
    let index = json(&files["index.json"]);
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    let manifest = skopeo_raw(&format!("oci-archive:{}", file_name(&saved)));
    assert_eq!(
        manifest["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(manifest["layers"][1]["digest"], image.layers[1].to_string());

    let mut other = ImageStore::open(&dir.join("b")).unwrap();
    let loaded = load_docker_archive(&mut other, fs::File::open(&saved).unwrap()).unwrap();
    assert_eq!(names(&loaded), ["127.0.0.1:5000/berth/app:v1"]);
    assert_eq!(other.get("127.0.0.1:5000/berth/app:v1").unwrap(), &image);
}

#[test]
fn loading_an_image_the_store_has_keeps_its_repo_digests() {
    let dir = TempDir::new("load-known");
    let mut store = ImageStore::open(&dir.join("a")).unwrap();
    let image = busybox_image(&mut store, "hello\n", &["berth-test/app:1"]);
    let mut archive = Vec::new();
    save(&store, &["berth-test/app:1"], Format::Docker, &mut archive).unwrap();
    let mut record = store.get("berth-test/app:1").unwrap().clone();
    record.repo_digests = vec!["berth-test/app@sha256:1234".into()];
    store.add(record.clone(), &[]).unwrap();

    let loaded = load_docker_archive(&mut store, &archive[..]).unwrap();
    assert_eq!(loaded[0].0, image.id);
    let after = store.get("berth-test/app:1").unwrap();
    assert_eq!(after.repo_digests, record.repo_digests);
    assert_eq!(after.layers, record.layers);
}
