//! API versions: the daemon advertises [`ApiVersion::CURRENT`] and accepts every version from
//! [`ApiVersion::MIN`] up to it, with or without the `/vX.Y` path prefix.

use std::fmt;
use std::str::FromStr;

/// An Engine API version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u16,
    pub minor: u16,
}

impl ApiVersion {
    /// The oldest version accepted (docker CLI 1.12).
    pub const MIN: ApiVersion = ApiVersion {
        major: 1,
        minor: 24,
    };
    /// The version advertised (docker 25); newer clients negotiate down to it.
    pub const CURRENT: ApiVersion = ApiVersion {
        major: 1,
        minor: 44,
    };

    /// Splits a request path into the version it names (`/v1.41/images/json`) and the rest;
    /// a path without a prefix gets `None` (the current version).
    pub fn strip_prefix(path: &str) -> (Option<&str>, &str) {
        if let Some(rest) = path.strip_prefix("/v") {
            if let Some(slash) = rest.find('/') {
                let (version, tail) = rest.split_at(slash);
                if version.contains('.') && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                {
                    return (Some(version), tail);
                }
            }
        }
        (None, path)
    }

    /// Whether the daemon serves this version.
    pub fn is_supported(self) -> bool {
        self >= Self::MIN && self <= Self::CURRENT
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (major, minor) = s
            .split_once('.')
            .ok_or_else(|| format!("invalid API version {s:?}: expected MAJOR.MINOR"))?;
        let parse = |part: &str| {
            part.parse::<u16>()
                .map_err(|_| format!("invalid API version {s:?}: expected MAJOR.MINOR"))
        };
        Ok(ApiVersion {
            major: parse(major)?,
            minor: parse(minor)?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_split_off_and_versions_compare() {
        assert_eq!(
            ApiVersion::strip_prefix("/v1.41/images/json"),
            (Some("1.41"), "/images/json")
        );
        assert_eq!(
            ApiVersion::strip_prefix("/images/json"),
            (None, "/images/json")
        );
        assert_eq!(ApiVersion::strip_prefix("/volumes"), (None, "/volumes"));
        let v: ApiVersion = "1.41".parse().unwrap();
        assert!(v.is_supported());
        assert!(!"1.12".parse::<ApiVersion>().unwrap().is_supported());
        assert!(!"1.99".parse::<ApiVersion>().unwrap().is_supported());
        assert!("one.two".parse::<ApiVersion>().is_err());
        assert_eq!(ApiVersion::CURRENT.to_string(), "1.44");
    }
}
