//! Talking to one registry: requests with the auth flow, manifests, and verified blobs.

use std::io::Read;
use std::time::Duration;

use berth_image::digest::{sha256, Digest};
use berth_image::BlobStore;

use crate::auth::{parse_challenge, Challenge};

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: {source}")]
    Http {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{url}: the registry answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error(transparent)]
    Image(#[from] berth_image::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Largest manifest or config accepted (the distribution spec's recommended limit).
pub const MAX_DOCUMENT: u64 = 4 << 20;

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Reads a JSON document's body, refusing one larger than [`MAX_DOCUMENT`].
fn read_document(response: &mut ureq::http::Response<ureq::Body>, url: &str) -> Result<Vec<u8>> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_DOCUMENT)
        .read_to_vec()
        .map_err(|e| Error::Http {
            url: url.to_string(),
            source: Box::new(e),
        })
}

/// How to reach registries: shared by pull, push and login.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// Registries (`host:port`) reached over plain HTTP although not on loopback.
    pub insecure_registries: Vec<String>,
}

/// A registry, addressed by its domain (`127.0.0.1:5000`, `registry.example`).
pub struct Registry {
    agent: ureq::Agent,
    base: String,
    token: std::sync::Mutex<Option<String>>,
}

impl Registry {
    /// Plain HTTP is used for loopback registries and those listed as insecure; HTTPS with the
    /// system's roots otherwise.
    pub fn new(domain: &str, config: &ClientConfig) -> Registry {
        let host = domain.rsplit_once(':').map_or(domain, |(h, _)| h);
        let plain = host == "localhost"
            || host.starts_with("127.")
            || host == "[::1]"
            || config.insecure_registries.iter().any(|i| i == domain);
        let scheme = if plain { "http" } else { "https" };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .build()
            .into();
        Registry {
            agent,
            base: format!("{scheme}://{domain}"),
            token: std::sync::Mutex::new(None),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET with the current token; on a 401 challenge, fetches a token and tries once more.
    fn get(&self, path: &str, accept: &str) -> Result<ureq::http::Response<ureq::Body>> {
        let url = self.url(path);
        for attempt in 0..2 {
            let mut request = self.agent.get(&url).header("Accept", accept);
            if let Some(token) = self.token.lock().expect("token lock").clone() {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            let response = request.call().map_err(|e| Error::Http {
                url: url.clone(),
                source: Box::new(e),
            })?;
            let status = response.status().as_u16();
            if status == 401 && attempt == 0 {
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                if let Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }) = challenge
                {
                    *self.token.lock().expect("token lock") =
                        Some(self.fetch_token(&realm, service.as_deref(), scope.as_deref())?);
                    continue;
                }
            }
            if !(200..300).contains(&status) {
                let mut response = response;
                let body = response
                    .body_mut()
                    .with_config()
                    .limit(4096)
                    .read_to_string()
                    .unwrap_or_default();
                return Err(Error::Status {
                    url,
                    status,
                    body: body.trim().to_string(),
                });
            }
            return Ok(response);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// An anonymous token from the registry's auth service.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String> {
        let mut request = self.agent.get(realm);
        if let Some(service) = service {
            request = request.query("service", service);
        }
        if let Some(scope) = scope {
            request = request.query("scope", scope);
        }
        let mut response = request.call().map_err(|e| Error::Http {
            url: realm.to_string(),
            source: Box::new(e),
        })?;
        let body = read_document(&mut response, realm)?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Invalid {
                what: format!("token from {realm}"),
                reason: e.to_string(),
            })?;
        value["token"]
            .as_str()
            .or_else(|| value["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Invalid {
                what: format!("token from {realm}"),
                reason: "no token in the answer".into(),
            })
    }

    /// Fetches a manifest or index; returns its bytes, media type and digest. When `reference`
    /// is a digest, the bytes are checked against it.
    pub fn manifest(&self, repository: &str, reference: &str) -> Result<(Vec<u8>, String, Digest)> {
        let accept = [
            MEDIA_OCI_INDEX,
            MEDIA_OCI_MANIFEST,
            MEDIA_DOCKER_LIST,
            MEDIA_DOCKER_MANIFEST,
        ]
        .join(", ");
        let path = format!("/v2/{repository}/manifests/{reference}");
        let mut response = self.get(&path, &accept)?;
        let media_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        // By digest, the bytes must be that digest; by tag, they must be the digest the registry
        // announces, so that content corrupted in the registry's storage is caught either way.
        let announced = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_document(&mut response, &self.url(&path))?;
        let expected = match reference.parse::<Digest>() {
            Ok(digest) => Some(digest),
            Err(_) => announced
                .as_deref()
                .map(str::parse::<Digest>)
                .transpose()
                .map_err(|_| Error::Invalid {
                    what: format!("manifest {repository}:{reference}"),
                    reason: format!("the registry announced an invalid digest {announced:?}"),
                })?,
        };
        let digest = match &expected {
            Some(expected) => {
                let mut hasher = berth_image::digest::Hasher::new(expected.algorithm());
                hasher.update(&body);
                hasher.finish()
            }
            None => sha256(&body),
        };
        if let Some(expected) = expected {
            if expected != digest {
                return Err(Error::Invalid {
                    what: format!("manifest {repository}@{expected}"),
                    reason: format!("the registry sent content with digest {digest}"),
                });
            }
        }
        Ok((body, media_type, digest))
    }

    /// Opens a blob for reading. The bytes are not checked here: the caller hashes them as
    /// they pass (see [`Registry::fetch_blob`]).
    pub fn blob_reader(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Box<dyn Read + Send + 'static>> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let response = self.get(&path, "*/*")?;
        Ok(Box::new(response.into_body().into_reader()))
    }

    /// Downloads a blob straight into the store; it is stored only if it matches `digest`.
    pub fn fetch_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        store: &BlobStore,
    ) -> Result<()> {
        if store.contains(digest) {
            return Ok(());
        }
        let mut reader = self.blob_reader(repository, digest)?;
        let mut writer = store.writer(digest, size)?;
        std::io::copy(&mut reader, &mut writer).map_err(|e| Error::Invalid {
            what: format!("blob {digest}"),
            reason: e.to_string(),
        })?;
        writer.commit()?;
        Ok(())
    }
}
