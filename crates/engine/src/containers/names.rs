//! Container ids and names: 64 hex digits of randomness, and Docker-style generated names
//! (`adjective_noun`) for containers created without `--name`.

use std::io::Read;

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ancient", "bold", "brave", "bright", "brisk", "calm", "clever", "cosy",
    "crisp", "daring", "deep", "eager", "fair", "fast", "fearless", "gentle", "glad", "golden",
    "grand", "happy", "hardy", "honest", "humble", "keen", "kind", "lively", "loyal", "lucky",
    "merry", "mighty", "modest", "neat", "nimble", "noble", "patient", "plucky", "polite", "proud",
    "quick", "quiet", "rapid", "ready", "robust", "salty", "serene", "sharp", "shiny", "silent",
    "sleek", "smart", "snug", "solid", "spry", "steady", "stoic", "sturdy", "sunny", "swift",
    "tidy", "tough", "trusty", "vivid", "warm", "wise", "witty", "zealous",
];

const NOUNS: &[&str] = &[
    "anchor",
    "bay",
    "beacon",
    "bollard",
    "bosun",
    "breakwater",
    "buoy",
    "cabin",
    "capstan",
    "cargo",
    "channel",
    "clipper",
    "compass",
    "coral",
    "cove",
    "crane",
    "current",
    "dinghy",
    "dock",
    "dolphin",
    "estuary",
    "ferry",
    "fjord",
    "gull",
    "harbour",
    "hawser",
    "helm",
    "heron",
    "hull",
    "inlet",
    "jetty",
    "keel",
    "kelp",
    "lagoon",
    "lantern",
    "lighthouse",
    "mariner",
    "marina",
    "mast",
    "mooring",
    "narwhal",
    "oar",
    "orca",
    "otter",
    "pelican",
    "pier",
    "pilot",
    "quay",
    "reef",
    "rudder",
    "sail",
    "schooner",
    "seal",
    "shoal",
    "skiff",
    "sloop",
    "sound",
    "starboard",
    "steward",
    "tide",
    "tugboat",
    "walrus",
    "wharf",
    "whale",
    "windlass",
    "yacht",
];

/// `n` random bytes from the kernel.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom is readable");
    bytes
}

/// A new container id: 64 lowercase hex digits, never all digits (Docker avoids ids that
/// could be read as numbers by tools).
pub fn new_id() -> String {
    loop {
        let id: String = random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// A generated name such as `brave_harbour`; `attempt` > 0 appends a number, used when the
/// plain name is taken.
pub fn generate(attempt: u32) -> String {
    let [a, b, c, d] = random_bytes::<4>();
    let adjective = ADJECTIVES[usize::from(u16::from_le_bytes([a, b])) % ADJECTIVES.len()];
    let noun = NOUNS[usize::from(u16::from_le_bytes([c, d])) % NOUNS.len()];
    if attempt == 0 {
        format!("{adjective}_{noun}")
    } else {
        format!("{adjective}_{noun}{attempt}")
    }
}

/// Checks a user-chosen name (with or without its leading `/`) as Docker does:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. Returns it without the slash.
pub fn validate(name: &str) -> Result<String, String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = bare.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && bare.len() >= 2 && bare.len() <= 128 {
        Ok(bare.to_string())
    } else {
        Err(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let a = new_id();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(a, new_id());
    }

    #[test]
    fn names_follow_dockers_rules() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert_eq!(validate("db.main_2").unwrap(), "db.main_2");
        assert!(validate("-x").is_err());
        assert!(validate("a/b").is_err());
        assert!(validate("x").is_err());
        assert!(validate("..").is_err());
        let generated = generate(0);
        assert!(validate(&generated).is_ok(), "{generated}");
        assert!(generate(3).ends_with('3'));
    }
}
