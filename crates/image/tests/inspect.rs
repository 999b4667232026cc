//! `image inspect`, `history` and `images` views of a stored image.

mod fixture;

use berth_image::inspect::{history, inspect, rows, summaries, LayerSizes};
use berth_image::ImageStore;
use berth_testkit::TempDir;
use fixture::*;

#[test]
fn inspect_history_and_images_show_the_config_and_uncompressed_sizes() {
    let dir = TempDir::new("inspect");
    let mut store = ImageStore::open(&dir.join("s")).unwrap();
    let image = busybox_image(&mut store, "inspect me\n", &["berth-test/i:1"]);
    let sizes = [
        busybox_layer().len() as u64,
        file_layer("hello", b"inspect me\n").len() as u64,
    ];
    let mut cache = LayerSizes::default();

    let view = inspect(&store, "berth-test/i:1", &mut cache).unwrap();
    assert_eq!(view.id, image.id.to_string());
    assert_eq!(view.repo_tags, ["berth-test/i:1"]);
    assert_eq!(view.created, "2024-01-02T03:04:05Z");
    assert_eq!(view.author, "berth tests");
    assert_eq!(
        (view.os.as_str(), view.architecture.as_str()),
        ("linux", "amd64")
    );
    let config = view.config.as_ref().unwrap();
    assert_eq!(
        config.cmd.as_deref(),
        Some(&["/bin/cat".to_string(), "/hello".to_string()][..])
    );
    assert_eq!(config.labels.as_ref().unwrap()["test"], "fixture");
    assert_eq!(
        view.size,
        sizes[0] + sizes[1],
        "uncompressed bytes, gzip layer included"
    );
    assert_eq!(
        view.root_fs.layers,
        image
            .diff_ids
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    );
    let json = serde_json::to_value(&view).unwrap();
    for key in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Created",
        "Config",
        "RootFS",
        "Metadata",
        "Size",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["RootFS"]["Type"], "layers");
    assert_eq!(json["Config"]["Env"][0], "PATH=/bin");

    let steps = history(&store, image.id.hex(), &mut cache).unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].id, image.id.to_string());
    assert_eq!(steps[0].tags, ["berth-test/i:1"]);
    assert_eq!(steps[0].created_by, "/bin/sh -c #(nop) layer 1");
    assert_eq!(steps[0].size, sizes[1]);
    assert_eq!(
        (steps[1].id.as_str(), steps[1].size),
        ("<missing>", sizes[0])
    );
    assert_eq!(steps[1].created, 1_704_164_645);

    busybox_image(&mut store, "dangling\n", &[]);
    let all = summaries(&store, &mut cache).unwrap();
    assert_eq!(all.len(), 2);
    let named = all.iter().find(|s| s.id == image.id.to_string()).unwrap();
    assert_eq!(rows(named), [("berth-test/i".to_string(), "1".to_string())]);
    assert_eq!(named.size, view.size);
    let dangling = all.iter().find(|s| s.id != image.id.to_string()).unwrap();
    assert_eq!(
        rows(dangling),
        [("<none>".to_string(), "<none>".to_string())]
    );

    let err = inspect(&store, "nope", &mut cache).unwrap_err();
    assert_eq!(err.to_string(), "image nope not found");
}
