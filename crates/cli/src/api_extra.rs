//! Engine API request and response shapes the CLI needs that `berth-api` does not have yet
//! (to move there), and lenient readings of some it has: dockerd sends `null` for empty lists
//! and maps, which the strict `berth_api` types refuse.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One image of `GET /images/json`, as any daemon sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageListItem {
    pub id: String,
    pub repo_tags: Option<Vec<String>>,
    pub repo_digests: Option<Vec<String>>,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    pub labels: Option<BTreeMap<String, String>>,
}

/// One line of `GET /images/{name}/history`, as any daemon sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub tags: Option<Vec<String>>,
    pub size: i64,
    pub comment: String,
}

/// The body of `POST /auth`, and (base64url) of the `X-Registry-Auth` header.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
}

/// The answer to `POST /auth`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthResponse {
    pub status: String,
    pub identity_token: String,
}

/// One line of `DELETE /images/{name}` and of a prune's `ImagesDeleted`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteResponseItem {
    pub untagged: Option<String>,
    pub deleted: Option<String>,
}

/// The answer to `POST /images/prune`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagePruneResponse {
    pub images_deleted: Option<Vec<DeleteResponseItem>>,
    pub space_reclaimed: u64,
}
