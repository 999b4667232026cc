//! Arbitrary bytes as an image archive (docker-save or OCI layout): loading may fail, but must
//! never panic, and a refused archive names no image.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("berth-fuzz-archive-{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::Relaxed)));
    let mut store = berth_image::ImageStore::open(&base).unwrap();
    if berth_image::archive::load_docker_archive(&mut store, data).is_err() {
        assert!(store.list().iter().all(|(_, names)| names.is_empty()), "a refused archive named an image");
    }
    let _ = std::fs::remove_dir_all(&base);
});
