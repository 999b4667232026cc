//! `tag`, `rmi` and `image prune` with Docker's rules, and that the store remembers them.

mod fixture;

use berth_image::{Digest, ImageStore, Removal};
use berth_testkit::TempDir;
use fixture::*;

fn unused(_: &Digest) -> bool {
    false
}

fn lines(removals: &[Removal]) -> Vec<String> {
    removals.iter().map(ToString::to_string).collect()
}

#[test]
fn removing_one_of_several_names_only_untags() {
    let dir = TempDir::new("names-untag");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let image = busybox_image(&mut store, "a\n", &["berth-test/a:1"]);
    store
        .tag("berth-test/a:1", &"other/b:2".parse().unwrap())
        .unwrap();
    let done = store.remove("other/b:2", false, &unused).unwrap();
    assert_eq!(lines(&done), ["Untagged: other/b:2"]);
    assert!(store.get("other/b:2").is_none());
    assert_eq!(store.get("berth-test/a:1").unwrap().id, image.id);

    let done = store.remove("berth-test/a:1", false, &unused).unwrap();
    assert_eq!(
        lines(&done),
        [
            "Untagged: berth-test/a:1".to_string(),
            format!("Deleted: {}", image.id)
        ]
    );
    assert!(store.get(image.id.hex()).is_none());
    let reopened = ImageStore::open(&dir.join("s")).unwrap();
    assert_eq!(reopened.records().count(), 0, "the removal is on disk");
}

#[test]
fn removing_by_id_with_names_in_several_repositories_needs_force() {
    let dir = TempDir::new("names-force");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let image = busybox_image(&mut store, "b\n", &["berth-test/a:1", "berth-test/a:2"]);
    store
        .tag(image.id.hex(), &"other/b:1".parse().unwrap())
        .unwrap();
    let err = store
        .remove(&image.id.hex()[..12], false, &unused)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "image {}: unable to delete (must be forced): image is referenced in multiple repositories",
            image.id.short()
        )
    );
    assert_eq!(store.names_of(&image.id).len(), 3, "nothing removed");
    let done = store.remove(&image.id.hex()[..12], true, &unused).unwrap();
    assert_eq!(
        lines(&done),
        [
            "Untagged: berth-test/a:1".to_string(),
            "Untagged: berth-test/a:2".to_string(),
            "Untagged: other/b:1".to_string(),
            format!("Deleted: {}", image.id)
        ]
    );
}

#[test]
fn removing_by_id_with_tags_of_one_repository_needs_no_force() {
    let dir = TempDir::new("names-one-repo");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let image = busybox_image(&mut store, "c\n", &["berth-test/a:1", "berth-test/a:2"]);
    let done = store.remove(image.id.hex(), false, &unused).unwrap();
    assert_eq!(done.len(), 3);
    assert!(store.get("berth-test/a:2").is_none());
}

#[test]
fn an_image_a_container_uses_is_kept_unless_forced() {
    let dir = TempDir::new("names-in-use");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let image = busybox_image(&mut store, "d\n", &["berth-test/a:1"]);
    let id = image.id.clone();
    let used = move |d: &Digest| *d == id;
    let err = store.remove("berth-test/a:1", false, &used).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("image berth-test/a:1: unable to remove repository reference"),
        "{err}"
    );
    let err = store.remove(image.id.hex(), false, &used).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("image is being used by a container"),
        "{err}"
    );
    assert!(store.get("berth-test/a:1").is_some());
    assert!(
        store.prune(true, &used).unwrap().is_empty(),
        "prune skips it"
    );
    let done = store.remove("berth-test/a:1", true, &used).unwrap();
    assert_eq!(done.last(), Some(&Removal::Deleted(image.id.clone())));
}

#[test]
fn prune_removes_dangling_images_or_with_all_every_unused_one() {
    let dir = TempDir::new("names-prune");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let named = busybox_image(&mut store, "named\n", &["berth-test/a:1"]);
    let dangling = busybox_image(&mut store, "dangling\n", &[]);
    let used = busybox_image(&mut store, "used\n", &[]);
    let used_id = used.id.clone();
    let in_use = move |d: &Digest| *d == used_id;

    let done = store.prune(false, &in_use).unwrap();
    assert_eq!(done, [Removal::Deleted(dangling.id.clone())]);
    assert!(store.get(named.id.hex()).is_some());

    let done = store.prune(true, &in_use).unwrap();
    assert_eq!(
        lines(&done),
        [
            "Untagged: berth-test/a:1".to_string(),
            format!("Deleted: {}", named.id)
        ]
    );
    let left: Vec<_> = store.records().map(|r| r.id.clone()).collect();
    assert_eq!(left, [used.id]);
}

#[test]
fn tagging_moves_a_name_and_untag_leaves_the_image() {
    let dir = TempDir::new("names-tag");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let first = busybox_image(&mut store, "1\n", &["berth-test/a:1"]);
    let second = busybox_image(&mut store, "2\n", &["berth-test/b:1"]);
    store
        .tag("berth-test/b:1", &"berth-test/a:1".parse().unwrap())
        .unwrap();
    assert_eq!(store.get("berth-test/a:1").unwrap().id, second.id);
    assert!(
        store.names_of(&first.id).is_empty(),
        "the first image is dangling now"
    );
    assert!(store.tag("nope:1", &"x:1".parse().unwrap()).is_err());

    let id = store.untag(&"berth-test/a:1".parse().unwrap()).unwrap();
    assert_eq!(id, second.id);
    assert!(store.get(second.id.hex()).is_some());
    let err = store.untag(&"berth-test/a:1".parse().unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "image berth-test/a:1 not found");
}

#[test]
fn an_image_is_found_by_the_manifest_digest_it_was_pulled_as() {
    let dir = TempDir::new("names-digest");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let mut image = busybox_image(&mut store, "pulled\n", &["berth-test/p:1"]);
    let manifest = berth_image::digest::sha256(b"a manifest");
    image.repo_digests = vec![format!("docker.io/berth-test/p@{manifest}")];
    store.add(image.clone(), &[]).unwrap();
    let by_digest = format!("berth-test/p@{manifest}");
    assert_eq!(store.get(&by_digest).map(|r| &r.id), Some(&image.id));
    assert!(store.get(&format!("berth-test/other@{manifest}")).is_none());
}
