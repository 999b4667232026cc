//! `-v`/`--volume` strings (`SOURCE:DESTINATION[:MODE]`, or `DESTINATION` alone) read as
//! Docker's Linux parser reads them: a source starting with `/` is a host path to bind, any
//! other source a named volume, no source an anonymous volume.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a `-v` mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A host path (`-v /srv:/data`).
    Bind(PathBuf),
    /// A named volume (`-v data:/data`), made at create if missing.
    Named(String),
    /// A new anonymous volume (`-v /data`).
    Anonymous,
}

/// One `-v` string, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub source: VolumeSource,
    /// An absolute path in the container, not `/`.
    pub destination: String,
    pub read_only: bool,
    /// `rprivate`, `shared`, … (binds only); empty for the default.
    pub propagation: String,
    /// `nocopy`: an empty volume is not filled from the image.
    pub nocopy: bool,
}

fn invalid_spec(spec: &str) -> Error {
    Error::InvalidParameter {
        what: "volume specification".into(),
        reason: format!("{spec:?}"),
    }
}

fn invalid(spec: &str, reason: String) -> Error {
    Error::InvalidParameter {
        what: "volume specification".into(),
        reason: format!("{spec:?}: {reason}"),
    }
}

const PROPAGATION: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn is_mode(text: &str) -> bool {
    !text.is_empty()
        && text
            .split(',')
            .all(|m| matches!(m, "ro" | "rw" | "z" | "Z" | "nocopy") || PROPAGATION.contains(&m))
}

/// How many components `path` has once `.`, `..` and empty ones are resolved lexically (as
/// Go's `filepath.Clean`, which Docker applies): 0 for `/`, `//`, `/a/..`.
fn lexical_depth(path: &str) -> usize {
    path.split('/').fold(0, |depth, part| match part {
        "" | "." => depth,
        ".." => depth.saturating_sub(1),
        _ => depth + 1,
    })
}

/// Parses one `-v` string.
pub fn parse(spec: &str) -> Result<VolumeSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [destination] => (None, *destination, ""),
        // `/data:ro` is a destination with a mode and no source: not allowed.
        [_, mode] if is_mode(mode) => return Err(invalid_spec(spec)),
        [source, destination] => (Some(*source), *destination, ""),
        [source, destination, mode] => (Some(*source), *destination, *mode),
        _ => return Err(invalid_spec(spec)),
    };
    if destination.is_empty() || source == Some("") {
        return Err(invalid_spec(spec));
    }
    if !destination.starts_with('/') {
        return Err(invalid(
            spec,
            format!("invalid mount path: {destination:?} mount path must be absolute"),
        ));
    }
    if lexical_depth(destination) == 0 {
        return Err(invalid(spec, "destination can't be '/'".into()));
    }
    let source = match source {
        None => VolumeSource::Anonymous,
        Some(path) if path.starts_with('/') => VolumeSource::Bind(PathBuf::from(path)),
        Some(name) => {
            crate::volumes::check_name(name)?;
            VolumeSource::Named(name.to_string())
        }
    };
    let mut parsed = VolumeSpec {
        source,
        destination: destination.to_string(),
        read_only: false,
        propagation: String::new(),
        nocopy: false,
    };
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => parsed.read_only = true,
            "rw" | "z" | "Z" => {}
            "nocopy" => parsed.nocopy = true,
            p if PROPAGATION.contains(&p) => parsed.propagation = p.to_string(),
            other => return Err(invalid(spec, format!("invalid mode: {other}"))),
        }
    }
    if parsed.nocopy && matches!(parsed.source, VolumeSource::Bind(_)) {
        return Err(invalid(spec, "nocopy applies to volumes, not binds".into()));
    }
    if !parsed.propagation.is_empty() && !matches!(parsed.source, VolumeSource::Bind(_)) {
        return Err(invalid(
            spec,
            format!("propagation {} applies to binds only", parsed.propagation),
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_sources() {
        let bind = parse("/srv:/data:ro,rslave").unwrap();
        assert_eq!(bind.source, VolumeSource::Bind("/srv".into()));
        assert!(bind.read_only);
        assert_eq!(bind.propagation, "rslave");
        let named = parse("pgdata:/var/lib/pg:nocopy").unwrap();
        assert_eq!(named.source, VolumeSource::Named("pgdata".into()));
        assert!(named.nocopy && !named.read_only);
        let anonymous = parse("/cache").unwrap();
        assert_eq!(anonymous.source, VolumeSource::Anonymous);
        assert_eq!(anonymous.destination, "/cache");
    }

    #[test]
    fn bad_specs_are_named_in_the_error() {
        for (spec, wanted) in [
            ("a:/b:ro:extra", "\"a:/b:ro:extra\""),
            ("/data:ro", "\"/data:ro\""),
            (":/data", "\":/data\""),
            ("data:relative", "mount path must be absolute"),
            ("relative", "mount path must be absolute"),
            ("data:/", "destination can't be '/'"),
            ("/srv://", "destination can't be '/'"),
            ("/srv:/a/../.", "destination can't be '/'"),
            ("data:/d:rx", "invalid mode: rx"),
            ("a/b:/d", "invalid characters"),
            ("/srv:/d:nocopy", "nocopy"),
            ("data:/d:rshared", "binds only"),
        ] {
            let err = parse(spec).unwrap_err().to_string();
            assert!(err.contains(wanted), "{spec}: {err}");
        }
    }
}
