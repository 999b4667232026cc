//! Arbitrary bytes as a `docker cp` archive (into a container, or from a daemon onto the host):
//! extracting may fail, but must never touch anything outside the target directory, nor panic.
#![no_main]

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_image::extract::{extract, Extract};
use libfuzzer_sys::fuzz_target;

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("berth-fuzz-cp-{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::Relaxed)));
    let target = base.join("root");
    let sentinel = base.join("outside");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&sentinel).unwrap();
    let dir = std::fs::File::open(&target).unwrap();
    let options = Extract {
        rebase: Some(("a".into(), "renamed".into())),
        owner: Some((0, 0)),
        no_overwrite_dir_non_dir: true,
        ..Extract::default()
    };
    let _ = extract(dir.as_fd(), data, &options);
    assert_eq!(std::fs::read_dir(&sentinel).unwrap().count(), 0, "an archive wrote outside its target");
    let _ = std::fs::remove_dir_all(&base);
});
