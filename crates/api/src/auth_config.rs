//! `POST /auth` as a client sends and reads it.

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

/// The body of `POST /auth`, and (base64url) of the `X-Registry-Auth` header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
}

/// The answer to `POST /auth`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthResponse {
    #[serde(deserialize_with = "nd")]
    pub status: String,
    #[serde(deserialize_with = "nd")]
    pub identity_token: String,
}
