//! Talking to one registry: requests with the auth flow (anonymous, Basic, bearer tokens),
//! TLS, manifests, and verified blobs.

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use berth_image::digest::{sha256, Digest};
use berth_image::BlobStore;
use ureq::http::{Method, Response};
use ureq::Body;

use crate::auth::{parse_challenge, Challenge};
use crate::credentials::{self, Credentials};
use crate::resume::ResumingReader;
use crate::tls;

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
    #[error("{url}: unauthorized: {reason}")]
    Unauthorized { url: String, reason: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("credentials ({what}): {reason}")]
    Credentials { what: String, reason: String },
    #[error("TLS settings {}: {reason}", path.display())]
    Tls { path: PathBuf, reason: String },
    #[error(transparent)]
    Image(#[from] berth_image::Error),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Largest manifest or config accepted (the distribution spec's recommended limit).
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// OCI image manifest media type.
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Reads a JSON document's body, refusing one larger than [`MAX_DOCUMENT`].
pub(crate) fn read_document(response: &mut Response<Body>, url: &str) -> Result<Vec<u8>> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_DOCUMENT)
        .read_to_vec()
        .map_err(|e| http_error(url, e))
}

pub(crate) fn http_error(url: &str, e: ureq::Error) -> Error {
    Error::Http {
        url: url.to_string(),
        source: Box::new(e),
    }
}

/// The host serving a registry domain's API: Docker Hub's name differs from its endpoint.
fn endpoint(domain: &str) -> &str {
    match domain {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// How to reach registries: shared by pull, push and login.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// Registries (`host:port`) reached over plain HTTP although not on loopback.
    pub insecure_registries: Vec<String>,
    /// The docker CLI configuration directory holding `config.json`; `None` means
    /// `$DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: Option<PathBuf>,
    /// Per-registry TLS files (`<dir>/<host:port>/ca.crt`); `None` means `/etc/docker/certs.d`.
    pub certs_dir: Option<PathBuf>,
}

impl ClientConfig {
    /// The directory of `config.json`.
    pub fn config_dir(&self) -> PathBuf {
        self.config_dir
            .clone()
            .unwrap_or_else(credentials::default_config_dir)
    }

    /// The directory of per-registry TLS files.
    pub fn certs_dir(&self) -> PathBuf {
        self.certs_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/etc/docker/certs.d"))
    }
}

/// A request body: sent again after an auth challenge unless it is a stream.
pub(crate) enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A stream of a known length (sent once).
    Stream(&'a mut dyn Read, u64),
}

struct Inner {
    agent: ureq::Agent,
    base: String,
    domain: String,
    credentials: Option<Credentials>,
    /// The `Authorization` header value that worked last.
    authorization: Mutex<Option<String>>,
    /// Token scopes asked for besides the one a challenge names (push, cross-repo mounts).
    scopes: Mutex<Vec<String>>,
}

/// A registry, addressed by its domain (`127.0.0.1:5000`, `registry.example`). Cheap to clone;
/// clones share the auth state.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// Connects with the credentials stored for `domain` (see [`crate::credentials`]). Plain
    /// HTTP is used for loopback registries and those listed as insecure, unless the certs
    /// directory has an entry for `domain`; HTTPS with the system's roots (plus that entry's
    /// CAs) otherwise.
    pub fn new(domain: &str, config: &ClientConfig) -> Result<Registry> {
        let credentials = credentials::get(&config.config_dir(), domain)?;
        Registry::with_credentials(domain, config, credentials)
    }

    /// Connects with the given credentials (or anonymously).
    pub fn with_credentials(
        domain: &str,
        config: &ClientConfig,
        credentials: Option<Credentials>,
    ) -> Result<Registry> {
        let host = domain.rsplit_once(':').map_or(domain, |(h, _)| h);
        let certs_dir = config.certs_dir();
        // Loopback by address, not by name prefix: `127.evil.example` is a host like any other.
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let plain = (loopback || config.insecure_registries.iter().any(|i| i == domain))
            && !tls::has_registry_dir(&certs_dir, domain);
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost);
        if !plain {
            builder = builder.tls_config(tls::config_for(&certs_dir, domain)?);
        }
        let scheme = if plain { "http" } else { "https" };
        Ok(Registry {
            inner: Arc::new(Inner {
                agent: builder.build().into(),
                base: format!("{scheme}://{}", endpoint(domain)),
                domain: domain.to_string(),
                credentials,
                authorization: Mutex::new(None),
                scopes: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The registry's domain as given to [`Registry::new`].
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// The URL of a path on the registry, or `location` itself when it is absolute (upload
    /// locations may point elsewhere).
    pub(crate) fn url(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.inner.base)
        }
    }

    /// Also asks for `scope` (`repository:<name>:pull,push`) whenever a token is fetched.
    pub(crate) fn add_scope(&self, scope: String) {
        let mut scopes = self.inner.scopes.lock().expect("scopes lock");
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }

    /// Checks that the registry accepts this client's credentials (`GET /v2/`).
    pub fn check_auth(&self) -> Result<()> {
        self.send(Method::GET, "/v2/", &[], Payload::Empty)
            .and_then(|r| self.expect_success(r, "/v2/"))
            .map(drop)
    }

    /// Sends a request with the current authorization; on a 401 challenge, authenticates
    /// (Basic credentials, or a bearer token for the challenge's scope) and sends it once more.
    /// Returns any other answer as it is, whatever its status.
    pub(crate) fn send(
        &self,
        method: Method,
        location: &str,
        headers: &[(&str, String)],
        mut payload: Payload<'_>,
    ) -> Result<Response<Body>> {
        let url = self.url(location);
        // Credentials go to the registry only, never to another host an upload Location names.
        let ours = url.starts_with(&format!("{}/", self.inner.base));
        for attempt in 0..2 {
            let mut request = ureq::http::Request::builder()
                .method(method.clone())
                .uri(&url);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let authorization = self
                .inner
                .authorization
                .lock()
                .expect("authorization lock")
                .clone()
                .filter(|_| ours);
            if let Some(value) = &authorization {
                request = request.header("Authorization", value);
            }
            let result = match &mut payload {
                // An explicit empty body: ureq would otherwise send POST/PUT as chunked.
                Payload::Empty if matches!(method, Method::POST | Method::PUT | Method::PATCH) => {
                    request
                        .header("Content-Length", "0")
                        .body(())
                        .map(|r| self.inner.agent.run(r))
                }
                Payload::Empty => request.body(()).map(|r| self.inner.agent.run(r)),
                Payload::Bytes(data) => request.body(*data).map(|r| self.inner.agent.run(r)),
                Payload::Stream(reader, size) => request
                    .header("Content-Length", size.to_string())
                    .body(ureq::SendBody::from_reader(*reader))
                    .map(|r| self.inner.agent.run(r)),
            };
            let response = result
                .map_err(|e| Error::Invalid {
                    what: url.clone(),
                    reason: e.to_string(),
                })?
                .map_err(|e| http_error(&url, e))?;
            if response.status().as_u16() != 401 {
                return Ok(response);
            }
            let rejected = || Error::Unauthorized {
                url: url.clone(),
                reason: if authorization.is_some() {
                    "the registry refused the credentials".into()
                } else {
                    "authentication required".into()
                },
            };
            if attempt == 1 || !ours || matches!(payload, Payload::Stream(..)) {
                return Err(rejected());
            }
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            let next = match challenge {
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }) => format!(
                    "Bearer {}",
                    self.fetch_token(&realm, service.as_deref(), scope.as_deref())?
                ),
                Some(Challenge::Basic) => match self.basic() {
                    Some(basic) if Some(&basic) != authorization.as_ref() => basic,
                    _ => return Err(rejected()),
                },
                None => return Err(rejected()),
            };
            *self.inner.authorization.lock().expect("authorization lock") = Some(next);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// `Basic base64(user:password)`, when there are credentials.
    fn basic(&self) -> Option<String> {
        self.inner.credentials.as_ref().map(|c| {
            let pair = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        })
    }

    /// Turns a non-2xx answer into an error carrying the registry's message.
    pub(crate) fn expect_success(
        &self,
        mut response: Response<Body>,
        location: &str,
    ) -> Result<Response<Body>> {
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        Err(Error::Status {
            url: self.url(location),
            status,
            body: body.trim().to_string(),
        })
    }

    /// A token from the registry's auth service, for the challenge's scope and those added
    /// with [`Registry::add_scope`]; sent with Basic credentials when there are some.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String> {
        let mut request = self.inner.agent.get(realm);
        if let Some(service) = service {
            request = request.query("service", service);
        }
        let mut scopes: Vec<String> = scope.into_iter().map(str::to_string).collect();
        for extra in self.inner.scopes.lock().expect("scopes lock").iter() {
            if !scopes.contains(extra) {
                scopes.push(extra.clone());
            }
        }
        for scope in &scopes {
            request = request.query("scope", scope);
        }
        if let Some(basic) = self.basic() {
            // A registry reached over HTTPS must not be able to send the password in the clear.
            if realm.starts_with("http://") && self.inner.base.starts_with("https://") {
                return Err(Error::Invalid {
                    what: format!("token service {realm}"),
                    reason: "a registry reached over HTTPS named a plain-HTTP token service; \
                             credentials are not sent there"
                        .into(),
                });
            }
            request = request.header("Authorization", basic);
        }
        let mut response = request.call().map_err(|e| http_error(realm, e))?;
        if response.status().as_u16() == 401 {
            return Err(Error::Unauthorized {
                url: realm.to_string(),
                reason: "the token service refused the credentials".into(),
            });
        }
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
        let response = self.send(Method::GET, &path, &[("Accept", accept)], Payload::Empty)?;
        let mut response = self.expect_success(response, &path)?;
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

    /// Opens a blob for reading, following redirects to blob storage. When the connection
    /// breaks before the end (`size`, when known, else the announced length), the rest is
    /// requested again from where it stopped (`Range`), a few times. The bytes are not checked
    /// here: the caller hashes them as they pass (see [`Registry::fetch_blob`]).
    pub fn blob_reader(
        &self,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + 'static>> {
        Ok(Box::new(ResumingReader::open(
            self.clone(),
            repository,
            digest.clone(),
            size,
        )?))
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
        let mut reader = self.blob_reader(repository, digest, size)?;
        let mut writer = store.writer(digest, size)?;
        std::io::copy(&mut reader, &mut writer).map_err(|e| Error::Invalid {
            what: format!("blob {digest}"),
            reason: e.to_string(),
        })?;
        writer.commit()?;
        Ok(())
    }
}
