//! Arbitrary bytes as a layer: unpacking may fail, but must never touch anything outside the
//! target directory, nor panic.
#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("berth-fuzz-{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::Relaxed)));
    let target: PathBuf = base.join("root");
    let sentinel = base.join("outside");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&sentinel).unwrap();
    let _ = berth_image::layer::apply(&target, data);
    assert_eq!(std::fs::read_dir(&sentinel).unwrap().count(), 0, "a layer wrote outside its target");
    let _ = std::fs::remove_dir_all(&base);
});
