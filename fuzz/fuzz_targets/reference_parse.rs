//! Arbitrary strings as image references: parsing never panics, and whatever parses
//! round-trips through its normalised form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(reference) = text.parse::<berth_image::Reference>() {
        let again: berth_image::Reference = reference.to_string().parse().expect("normalised form parses");
        assert_eq!(again, reference);
    }
});
