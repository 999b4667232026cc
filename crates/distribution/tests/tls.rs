//! A registry serving HTTPS with a certificate from its own CA: trusted once the CA is in
//! `<certs dir>/<host:port>/ca.crt` (docker's convention), refused with a certificate error when
//! a different CA is there.

mod common;

use std::fs;

use berth_distribution::push;
use berth_image::archive::load_docker_archive;
use berth_image::layer::Compression;
use berth_image::progress::Silent;
use berth_image::{ImageStore, Reference};
use berth_testkit::{make_ca, LocalRegistry, Options};
use common::{busybox_archive, client_config, pull_quietly};

#[test]
fn the_registry_ca_from_the_certs_dir_is_trusted_and_no_other() {
    let registry = LocalRegistry::start_with(Options {
        tls: true,
        ..Options::default()
    });
    let config = client_config(&registry);
    let certs = config.certs_dir().join(&registry.address);
    fs::create_dir_all(&certs).unwrap();
    fs::copy(registry.ca(), certs.join("ca.crt")).unwrap();

    let name = format!("{}/berth-test/busybox:tls", registry.address);
    let archive = registry.dir.join("image.tar");
    busybox_archive(&archive, Some(&name), &[]);
    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    load_docker_archive(&mut store, fs::File::open(&archive).unwrap()).unwrap();
    let reference: Reference = name.parse().unwrap();
    push(&mut store, &reference, &config, Compression::Gzip, &Silent).unwrap();
    let mut fresh = ImageStore::open(&registry.dir.join("fresh")).unwrap();
    let image = pull_quietly(
        &mut fresh,
        &registry.dir.join("fresh-snapshots"),
        &reference,
        &config,
    )
    .unwrap();
    assert_eq!(image.id, store.get(&name).unwrap().id);

    // Another CA in its place: the registry's certificate is not trusted.
    make_ca(registry.dir.path(), "stranger");
    fs::copy(registry.dir.join("stranger.crt"), certs.join("ca.crt")).unwrap();
    let mut other = ImageStore::open(&registry.dir.join("other")).unwrap();
    let err = pull_quietly(
        &mut other,
        &registry.dir.join("other-snapshots"),
        &reference,
        &config,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("certificate") && err.contains(&registry.address),
        "{err}"
    );
}
