//! Arbitrary `WWW-Authenticate` headers (a registry, or anything between it and us, chooses
//! them): parsing never panics, whatever the quoting, commas or encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let _ = berth_distribution::parse_challenge(header);
});
