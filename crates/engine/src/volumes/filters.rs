//! The filters of `GET /volumes` and `POST /volumes/prune`: `dangling`, `label`, `name`,
//! `driver`, and prune's `all`.

use std::collections::BTreeMap;

use super::store::VolumeRecord;
use crate::error::{Error, Result};

/// Parsed volume filters; the default keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFilters {
    /// `dangling=true`: only unused volumes; `false`: only used ones.
    pub dangling: Option<bool>,
    /// `label=KEY` or `label=KEY=VALUE`: all must match.
    pub labels: Vec<(String, Option<String>)>,
    /// `label!=KEY` or `label!=KEY=VALUE`: none may match (prune).
    pub not_labels: Vec<(String, Option<String>)>,
    /// `name=PART`: any may be a substring of the name.
    pub names: Vec<String>,
    /// `driver=local`: any may match.
    pub drivers: Vec<String>,
    /// Prune's `all=true`: named volumes too, not only anonymous ones.
    pub all: bool,
}

fn invalid(reason: String) -> Error {
    Error::InvalidParameter {
        what: "filter".into(),
        reason,
    }
}

fn boolean(key: &str, values: &[String]) -> Result<bool> {
    let mut result = None;
    for value in values {
        let b = match value.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(invalid(format!("invalid filter '{key}={value}'"))),
        };
        if result.is_some_and(|r| r != b) {
            return Err(invalid(format!("conflicting values for filter '{key}'")));
        }
        result = Some(b);
    }
    Ok(result.unwrap_or(false))
}

fn label(value: &str) -> (String, Option<String>) {
    match value.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (value.to_string(), None),
    }
}

impl VolumeFilters {
    /// Parses the `filters` query parameter as decoded (`key → values`).
    pub fn parse(filters: &BTreeMap<String, Vec<String>>) -> Result<VolumeFilters> {
        let mut parsed = VolumeFilters::default();
        for (key, values) in filters {
            match key.as_str() {
                "dangling" => parsed.dangling = Some(boolean(key, values)?),
                "all" => parsed.all = boolean(key, values)?,
                "label" => parsed.labels.extend(values.iter().map(|v| label(v))),
                "label!" => parsed.not_labels.extend(values.iter().map(|v| label(v))),
                "name" => parsed.names.extend(values.iter().cloned()),
                "driver" => parsed.drivers.extend(values.iter().cloned()),
                other => return Err(invalid(format!("invalid filter '{other}'"))),
            }
        }
        Ok(parsed)
    }

    /// Whether the volume passes; `in_use` is whether a container uses it.
    pub fn keeps(&self, record: &VolumeRecord, in_use: bool) -> bool {
        let has = |(key, value): &(String, Option<String>)| match value {
            Some(v) => record.labels.get(key) == Some(v),
            None => record.labels.contains_key(key),
        };
        self.dangling.is_none_or(|d| d != in_use)
            && self.labels.iter().all(has)
            && !self.not_labels.iter().any(has)
            && (self.names.is_empty() || self.names.iter().any(|n| record.name.contains(n)))
            && (self.drivers.is_empty() || self.drivers.iter().any(|d| d == super::DRIVER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
        map
    }

    fn record(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            created: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options: BTreeMap::new(),
        }
    }

    #[test]
    fn dangling_label_and_name_filters_combine() {
        let filters = VolumeFilters::parse(&query(&[
            ("dangling", "true"),
            ("label", "tier=db"),
            ("name", "pg"),
        ]))
        .unwrap();
        let db = record("pgdata", &[("tier", "db")]);
        assert!(filters.keeps(&db, false));
        assert!(!filters.keeps(&db, true), "in use is not dangling");
        assert!(!filters.keeps(&record("pgdata", &[("tier", "web")]), false));
        assert!(!filters.keeps(&record("mysql", &[("tier", "db")]), false));
    }

    #[test]
    fn a_label_key_alone_matches_any_value() {
        let filters = VolumeFilters::parse(&query(&[("label", "tier")])).unwrap();
        assert!(filters.keeps(&record("a1", &[("tier", "")]), true));
        assert!(!filters.keeps(&record("a1", &[]), true));
    }

    #[test]
    fn bad_filters_are_named() {
        let err = VolumeFilters::parse(&query(&[("colour", "red")])).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter: invalid filter 'colour'");
        let err = VolumeFilters::parse(&query(&[("dangling", "maybe")])).unwrap_err();
        assert!(err.to_string().contains("'dangling=maybe'"), "{err}");
    }
}
