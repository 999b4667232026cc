//! Blob downloads through a misbehaving proxy in front of the real registry: a connection cut
//! midway is resumed with `Range`, a server that ignores `Range` is a clear error, and
//! redirects to blob storage are followed without sending the credentials there.

#[path = "../common/mod.rs"]
mod common;
mod proxy;

use std::fs;

use berth_distribution::{login, push};
use berth_image::archive::load_docker_archive;
use berth_image::layer::Compression;
use berth_image::progress::Silent;
use berth_image::{ImageRecord, ImageStore, Reference};
use berth_testkit::{LocalRegistry, Options};
use common::{busybox_archive, client_config, pull_quietly};
use proxy::{Mode, Proxy};

/// Loads a busybox image and pushes it to `domain` (the registry, or a proxy in front of it).
fn push_busybox(registry: &LocalRegistry, domain: &str) -> ImageRecord {
    let name = format!("{domain}/berth-test/busybox:1");
    let archive = registry.dir.join("image.tar");
    busybox_archive(&archive, Some(&name), &[]);
    let mut store = ImageStore::open(&registry.dir.join("pushed")).unwrap();
    load_docker_archive(&mut store, fs::File::open(&archive).unwrap()).unwrap();
    let reference: Reference = name.parse().unwrap();
    let config = client_config(registry);
    push(&mut store, &reference, &config, Compression::Gzip, &Silent).unwrap();
    store.get(&name).unwrap().clone()
}

fn pull_through(
    registry: &LocalRegistry,
    proxy: &Proxy,
    store: &str,
) -> berth_distribution::Result<ImageRecord> {
    let snapshots = registry.dir.join(format!("{store}-snapshots"));
    let mut store = ImageStore::open(&registry.dir.join(store)).unwrap();
    let reference: Reference = format!("{}/berth-test/busybox:1", proxy.address)
        .parse()
        .unwrap();
    let image = pull_quietly(&mut store, &snapshots, &reference, &client_config(registry))?;
    for blob in image.layers.iter().chain([&image.id]) {
        store.blobs().verify(blob).unwrap();
    }
    Ok(image)
}

/// A registry with busybox pushed, behind a proxy that cuts the download of its layer after
/// 100 000 bytes (and, with `strip_range`, ignores the `Range` of the retry).
struct Cut {
    proxy: Proxy,
    registry: LocalRegistry,
    pushed: ImageRecord,
    layer: String,
}

fn cut_midway(strip_range: bool) -> Cut {
    let registry = LocalRegistry::start();
    let pushed = push_busybox(&registry, &registry.address);
    let layer = pushed.layers[0].to_string();
    let proxy = Proxy::start(
        &registry.address,
        Mode::CutBlob {
            digest: layer.clone(),
            after: 100_000,
            strip_range,
        },
    );
    Cut {
        proxy,
        registry,
        pushed,
        layer,
    }
}

#[test]
fn a_download_cut_midway_resumes_where_it_stopped() {
    let Cut {
        registry,
        pushed,
        layer,
        proxy,
    } = cut_midway(false);
    let image = pull_through(&registry, &proxy, "store").unwrap();
    assert_eq!(image.layers, pushed.layers);
    let seen = proxy.blobs.lock().unwrap().clone();
    let resumed: Vec<_> = seen
        .iter()
        .filter(|s| s.line.contains(&layer) && s.range.is_some())
        .collect();
    assert_eq!(resumed.len(), 1, "{seen:?}");
    let from: u64 = resumed[0].range.as_deref().unwrap()["bytes=".len()..]
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(from > 0 && from < 100_000, "resumed from byte {from}");
}

#[test]
fn a_server_that_ignores_range_is_a_clear_error() {
    let Cut {
        registry,
        layer,
        proxy,
        ..
    } = cut_midway(true);
    let err = pull_through(&registry, &proxy, "store")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&layer) && err.contains("ignored the request to resume"),
        "{err}"
    );
}

#[test]
fn redirects_to_blob_storage_are_followed_without_credentials() {
    let registry = LocalRegistry::start_with(Options {
        user: Some(("berth".into(), "pw".into())),
        ..Options::default()
    });
    let proxy = Proxy::start(
        &registry.address,
        Mode::Redirect {
            storage: registry.dir.join("storage"),
        },
    );
    let config = client_config(&registry);
    login(&proxy.address, "berth", "pw", &config).unwrap();
    let pushed = push_busybox(&registry, &proxy.address);
    let image = pull_through(&registry, &proxy, "store").unwrap();
    assert_eq!(image.layers, pushed.layers);

    let asked = proxy.blobs.lock().unwrap().clone();
    assert!(asked.iter().all(|s| s.authorization), "{asked:?}");
    let served = proxy.storage.lock().unwrap().clone();
    assert_eq!(served.len(), 2, "the config and the layer: {served:?}");
    assert!(
        served.iter().all(|s| !s.authorization),
        "credentials leaked to blob storage: {served:?}"
    );
}
