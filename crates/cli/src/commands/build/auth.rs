//! `X-Registry-Config`: the credentials a build may need to pull its base images. As the
//! docker CLI does, it holds every registry the credentials file knows (the CLI cannot tell
//! which ones the Dockerfile's `FROM` lines will name once their variables are expanded).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use berth_api::auth_config::AuthConfig;
use berth_distribution::credentials;
use serde_json::Value;

use crate::error::Result;

/// The header's value: base64url of `{server: AuthConfig}` for each stored login.
pub fn registry_config(config_dir: &Path) -> Result<String> {
    let servers: Vec<String> = std::fs::read(config_dir.join("config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|config| Some(config.get("auths")?.as_object()?.keys().cloned().collect()))
        .unwrap_or_default();
    let mut configs = BTreeMap::new();
    for server in servers {
        if let Some(found) = credentials::get(config_dir, &domain_of(&server))? {
            configs.insert(
                server.clone(),
                AuthConfig {
                    username: found.username,
                    password: found.password,
                    serveraddress: server,
                },
            );
        }
    }
    let json = serde_json::to_vec(&configs).expect("auth configs serialize");
    Ok(base64::engine::general_purpose::URL_SAFE.encode(json))
}

/// The registry a credentials key names: `https://index.docker.io/v1/` → `docker.io`,
/// `127.0.0.1:5000` as is.
fn domain_of(server: &str) -> String {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    match rest.split('/').next().unwrap_or(rest) {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        host => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys_name_registries() {
        assert_eq!(domain_of("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(domain_of("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(domain_of("http://r.example/x"), "r.example");
    }
}
