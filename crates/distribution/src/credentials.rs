//! Registry credentials kept the docker CLI's way: `<config dir>/config.json` with
//! `auths.<host>.auth` (base64 `user:password`), or a credential helper
//! (`credsStore`, `credHelpers.<host>`) run as `docker-credential-<name> get|store|erase`.
//! Fields berth does not know are kept as they are.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::client::{Error, Result};

/// The key Docker Hub's credentials are stored under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and its password (or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The docker CLI's configuration directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn default_config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// The key a registry's credentials live under in `config.json`.
fn key_for(domain: &str) -> String {
    if domain == "docker.io" || domain == "index.docker.io" || domain == "registry-1.docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// `https://host:port/v1/` → `host:port`, as the docker CLI compares keys.
fn hostname_of(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn config_error(path: &Path, reason: impl ToString) -> Error {
    Error::Credentials {
        what: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// `config.json` as a JSON object, every field kept.
fn read_config(path: &Path) -> Result<Map<String, Value>> {
    match fs::read(path) {
        Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(data) => match serde_json::from_slice(&data) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(config_error(path, "not a JSON object")),
            Err(e) => Err(config_error(path, e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(config_error(path, e)),
    }
}

/// Writes `config.json` atomically and durably, readable by its owner only.
fn write_config(path: &Path, config: &Map<String, Value>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| config_error(dir, e))?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let data = serde_json::to_vec_pretty(config).expect("a JSON map always serialises");
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&data)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        config_error(path, e)
    })
}

/// The credential helper that holds `key`'s credentials, if any.
fn helper_for(config: &Map<String, Value>, key: &str) -> Option<String> {
    let host = hostname_of(key);
    config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| {
            helpers
                .iter()
                .find(|(k, _)| hostname_of(k) == host)
                .and_then(|(_, v)| v.as_str())
        })
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// Runs `docker-credential-<helper> <action>` with `input` on its stdin; returns its stdout.
/// `Ok(None)` when the helper says it has no credentials for the server.
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Option<Vec<u8>>> {
    let program = format!("docker-credential-{helper}");
    let failed = |reason: String| Error::Credentials {
        what: format!("{program} {action}"),
        reason,
    };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .map_err(|e| failed(e.to_string()))?;
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if output.status.success() {
        return Ok(Some(output.stdout));
    }
    let message = String::from_utf8_lossy(&output.stdout).trim().to_string()
        + String::from_utf8_lossy(&output.stderr).trim();
    if message.contains("credentials not found") {
        return Ok(None);
    }
    Err(failed(format!("{}: {message}", output.status)))
}

/// The credentials stored for `domain` (`registry.example:5000`, `docker.io`), if any.
pub fn get(config_dir: &Path, domain: &str) -> Result<Option<Credentials>> {
    let path = config_dir.join("config.json");
    let config = read_config(&path)?;
    let key = key_for(domain);
    if let Some(helper) = helper_for(&config, &key) {
        let Some(out) = run_helper(&helper, "get", key.as_bytes())? else {
            return Ok(None);
        };
        let answer: Value = serde_json::from_slice(&out).map_err(|e| Error::Credentials {
            what: format!("docker-credential-{helper} get"),
            reason: e.to_string(),
        })?;
        return Ok(Some(Credentials {
            username: answer["Username"].as_str().unwrap_or_default().to_string(),
            password: answer["Secret"].as_str().unwrap_or_default().to_string(),
        }));
    }
    let host = hostname_of(&key);
    let Some(entry) = config
        .get("auths")
        .and_then(Value::as_object)
        .and_then(|auths| {
            auths.get(&key).or_else(|| {
                auths
                    .iter()
                    .find(|(k, _)| hostname_of(k) == host)
                    .map(|(_, v)| v)
            })
        })
    else {
        return Ok(None);
    };
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| config_error(&path, format!("auths.{key}.auth: {e}")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| config_error(&path, format!("auths.{key}.auth: not UTF-8")))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| config_error(&path, format!("auths.{key}.auth: no ':'")))?;
        return Ok(Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    match (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        })),
        _ => Ok(None),
    }
}

/// Stores `credentials` for `domain`: in its credential helper when one is configured (the
/// docker CLI then leaves an empty `auths` entry), else in `config.json`.
pub fn store(config_dir: &Path, domain: &str, credentials: &Credentials) -> Result<()> {
    let path = config_dir.join("config.json");
    let mut config = read_config(&path)?;
    let key = key_for(domain);
    let entry = match helper_for(&config, &key) {
        Some(helper) => {
            let input = serde_json::json!({
                "ServerURL": key,
                "Username": credentials.username,
                "Secret": credentials.password,
            });
            run_helper(&helper, "store", input.to_string().as_bytes())?;
            Value::Object(Map::new())
        }
        None => {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", credentials.username, credentials.password));
            serde_json::json!({ "auth": auth })
        }
    };
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    auths
        .as_object_mut()
        .expect("made an object above")
        .insert(key, entry);
    write_config(&path, &config)
}

/// Removes `domain`'s credentials; returns whether there were any.
pub fn erase(config_dir: &Path, domain: &str) -> Result<bool> {
    let path = config_dir.join("config.json");
    let mut config = read_config(&path)?;
    let key = key_for(domain);
    let mut found = false;
    if let Some(helper) = helper_for(&config, &key) {
        found |= run_helper(&helper, "erase", key.as_bytes())?.is_some();
    }
    let host = hostname_of(&key).to_string();
    if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| hostname_of(k) == host)
            .cloned()
            .collect();
        for k in keys {
            auths.remove(&k);
            found = true;
        }
        write_config(&path, &config)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_and_url_keys_name_the_same_host() {
        assert_eq!(key_for("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(hostname_of(DOCKER_HUB_KEY), "index.docker.io");
        assert_eq!(hostname_of("https://r.example:5000/v2/"), "r.example:5000");
        assert_eq!(hostname_of("r.example:5000"), "r.example:5000");
    }

    /// A config directory removed even when an assertion fails.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("berth-creds-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    #[test]
    fn a_broken_config_is_an_error_naming_the_file() {
        let dir = temp_dir("broken");
        fs::write(dir.0.join("config.json"), "{\"auths\": ").unwrap();
        let err = get(&dir.0, "r.example").unwrap_err().to_string();
        assert!(
            err.contains(&dir.0.join("config.json").display().to_string()),
            "{err}"
        );
        fs::write(
            dir.0.join("config.json"),
            r#"{"auths": {"r.example": {"auth": "!!"}}}"#,
        )
        .unwrap();
        let err = get(&dir.0, "r.example").unwrap_err().to_string();
        assert!(err.contains("auths.r.example.auth"), "{err}");
    }

    #[test]
    fn entries_are_found_by_host_whatever_their_key_form() {
        let dir = temp_dir("keys");
        fs::write(
            dir.0.join("config.json"),
            r#"{"auths": {"https://r.example:5000/v1/": {"auth": "dTpwOnc="},
                          "https://index.docker.io/v1/": {"username": "hub", "password": "pw"}}}"#,
        )
        .unwrap();
        let found = get(&dir.0, "r.example:5000").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("u", "p:w")
        );
        let hub = get(&dir.0, "docker.io").unwrap().unwrap();
        assert_eq!(hub.username, "hub");
        assert_eq!(get(&dir.0, "other.example").unwrap(), None);
        assert!(erase(&dir.0, "r.example:5000").unwrap());
        assert_eq!(get(&dir.0, "r.example:5000").unwrap(), None);
        assert!(
            get(&dir.0, "docker.io").unwrap().is_some(),
            "other entries stay"
        );
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
