//! `/volumes`: the shapes of volumes as the Engine API creates, lists, inspects and prunes them
//! (API 1.44).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

/// One volume, as `GET /volumes` lists it and `GET /volumes/{name}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// RFC 3339 in seconds (`2024-05-01T10:00:00Z`).
    #[serde(deserialize_with = "nd")]
    pub created_at: String,
    /// Always `local`.
    #[serde(deserialize_with = "nd")]
    pub driver: String,
    /// `null` when the volume has none, as docker shows it.
    pub labels: Option<BTreeMap<String, String>>,
    /// Where the volume's content is on the host: `<data-root>/volumes/<name>/_data`.
    #[serde(deserialize_with = "nd")]
    pub mountpoint: String,
    #[serde(deserialize_with = "nd")]
    pub name: String,
    /// The driver options given at create (`-o`); `null` when none were.
    pub options: Option<BTreeMap<String, String>>,
    /// Always `local`.
    #[serde(deserialize_with = "nd")]
    pub scope: String,
}

/// `POST /volumes/create`'s body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    /// Empty for an anonymous volume (a random 64-hex name).
    #[serde(deserialize_with = "nd")]
    pub name: String,
    /// Empty or `local`.
    #[serde(deserialize_with = "nd")]
    pub driver: String,
    #[serde(deserialize_with = "nd")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
}

/// `GET /volumes`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    #[serde(deserialize_with = "nd")]
    pub volumes: Vec<Volume>,
    /// Always `null` from berthd (docker's shape).
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumePruneResponse {
    /// The names removed; `null` when none were.
    pub volumes_deleted: Option<Vec<String>>,
    /// Bytes freed.
    #[serde(deserialize_with = "nd")]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_volume_shows_null_labels_and_options() {
        let volume = Volume {
            created_at: "2024-05-01T10:00:00Z".into(),
            driver: "local".into(),
            mountpoint: "/var/lib/berth/volumes/data/_data".into(),
            name: "data".into(),
            scope: "local".into(),
            ..Volume::default()
        };
        let json = serde_json::to_string(&volume).unwrap();
        assert_eq!(
            json,
            r#"{"CreatedAt":"2024-05-01T10:00:00Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":null,"Scope":"local"}"#
        );
    }

    #[test]
    fn a_create_body_from_the_docker_cli_decodes() {
        let body = r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"tmpfs"},"Labels":null}"#;
        let request: VolumeCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.name, "v");
        assert_eq!(request.driver_opts["type"], "tmpfs");
        assert!(request.labels.is_empty());
    }
}
