//! Registry credentials as clients send them: the `X-Registry-Auth` header (base64url JSON)
//! and the body of `POST /auth`.

use axum::http::HeaderMap;
use base64::Engine as _;
use berth_distribution::Credentials;
use serde::Deserialize;

use super::error::ApiError;

/// Docker's `AuthConfig`, the parts berth uses.
#[derive(Debug, Default, Deserialize)]
pub struct AuthConfig {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub serveraddress: String,
}

impl AuthConfig {
    /// The credentials, when a user name was given.
    pub fn credentials(self) -> Option<Credentials> {
        (!self.username.is_empty()).then_some(Credentials {
            username: self.username,
            password: self.password,
        })
    }

    /// The registry's domain from `serveraddress` (`https://127.0.0.1:5000/v2/` →
    /// `127.0.0.1:5000`); Docker Hub when empty.
    pub fn domain(&self) -> String {
        let address = self.serveraddress.trim();
        let address = address
            .strip_prefix("https://")
            .or_else(|| address.strip_prefix("http://"))
            .unwrap_or(address);
        let host = address.split('/').next().unwrap_or("");
        match host {
            "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
            other => other.into(),
        }
    }
}

/// The credentials in `X-Registry-Auth`, if any; a header that is not base64 JSON is a 400.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
    let Some(value) = headers.get("x-registry-auth") else {
        return Ok(None);
    };
    let bad =
        |reason: String| ApiError::invalid(format!("invalid X-Registry-Auth header: {reason}"));
    let text = value.to_str().map_err(|e| bad(e.to_string()))?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
    ];
    let json = engines
        .iter()
        .find_map(|e| e.decode(text).ok())
        .ok_or_else(|| bad("not base64".into()))?;
    let config: AuthConfig = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    Ok(config.credentials())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let mut headers = HeaderMap::new();
        assert!(from_headers(&headers).unwrap().is_none());
        let json = r#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#;
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(json);
        headers.insert("x-registry-auth", encoded.parse().unwrap());
        let credentials = from_headers(&headers).unwrap().unwrap();
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("u", "p?>")
        );
        headers.insert("x-registry-auth", "e30=".parse().unwrap());
        assert!(from_headers(&headers).unwrap().is_none());
        headers.insert("x-registry-auth", "!!!".parse().unwrap());
        assert_eq!(from_headers(&headers).unwrap_err().kind.status(), 400);
    }

    #[test]
    fn server_addresses() {
        let at = |s: &str| AuthConfig {
            serveraddress: s.into(),
            ..Default::default()
        };
        assert_eq!(at("https://index.docker.io/v1/").domain(), "docker.io");
        assert_eq!(at("http://127.0.0.1:5000/v2/").domain(), "127.0.0.1:5000");
        assert_eq!(at("127.0.0.1:5000").domain(), "127.0.0.1:5000");
    }
}
