//! Lenient client readings of image answers (`GET /images/json`, history, delete, prune):
//! any daemon's, dockerd's `null` lists included.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

/// One image of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageListItem {
    #[serde(deserialize_with = "nd")]
    pub id: String,
    #[serde(deserialize_with = "nd")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    #[serde(deserialize_with = "nd")]
    pub created: i64,
    #[serde(deserialize_with = "nd")]
    pub size: u64,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
}

/// One line of `GET /images/{name}/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    #[serde(deserialize_with = "nd")]
    pub id: String,
    /// Unix seconds.
    #[serde(deserialize_with = "nd")]
    pub created: i64,
    #[serde(deserialize_with = "nd")]
    pub created_by: String,
    #[serde(deserialize_with = "nd")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub size: i64,
    #[serde(deserialize_with = "nd")]
    pub comment: String,
}

/// One line of `DELETE /images/{name}` and of a prune's `ImagesDeleted`: exactly one is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteResponseItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// The answer to `POST /images/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagePruneResponse {
    #[serde(deserialize_with = "nd")]
    pub images_deleted: Vec<DeleteResponseItem>,
    /// Bytes.
    #[serde(deserialize_with = "nd")]
    pub space_reclaimed: u64,
}
