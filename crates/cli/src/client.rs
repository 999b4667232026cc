//! The daemon as the CLI sees it: a unix socket speaking the Engine API, with the API version
//! negotiated once (`GET /_ping`) and used as the `/vX.Y` prefix of every request.

use std::io::Read;
use std::path::PathBuf;

use berth_api::{ApiVersion, ErrorBody};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::http::{self, Body, Response, Upgraded};

/// Where `berth` looks for the daemon when neither `-H` nor the environment says.
pub const DEFAULT_HOST: &str = "unix:///run/berth.sock";

/// A connection target and the API version both sides speak.
pub struct Daemon {
    host: String,
    socket: PathBuf,
    /// The negotiated version: the lower of the daemon's and [`ApiVersion::CURRENT`].
    pub version: ApiVersion,
    /// `-D`: print each request and its status on stderr.
    pub debug: bool,
}

/// `-H`, else `BERTH_HOST`, else `DOCKER_HOST`; `None` when none names a daemon (then the
/// default socket is used, and berthd started on it if need be).
pub fn resolve_host(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string)
        .or_else(|| std::env::var("BERTH_HOST").ok().filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
}

impl Daemon {
    /// Connects to `host` (`unix:///path`) and negotiates the API version.
    pub fn connect(host: &str) -> Result<Daemon> {
        let path = host.strip_prefix("unix://").ok_or_else(|| {
            Error::Usage(format!(
                "unsupported daemon host {host:?}: only unix:///path is supported"
            ))
        })?;
        if path.is_empty() {
            return Err(Error::Usage(format!(
                "daemon host {host:?} names no socket"
            )));
        }
        let mut daemon = Daemon {
            host: host.to_string(),
            socket: PathBuf::from(path),
            version: ApiVersion::CURRENT,
            debug: false,
        };
        let ping = daemon.send("GET", "/_ping", &[], Body::Empty)?;
        if let Some(advertised) = ping.header("Api-Version") {
            let advertised: ApiVersion = advertised
                .parse()
                .map_err(|reason| daemon.protocol(format!("/_ping: {reason}")))?;
            daemon.version = advertised.min(ApiVersion::CURRENT);
        }
        Ok(daemon)
    }

    /// The host as given (`unix:///run/berth.sock`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// An error about the daemon's answer.
    pub fn protocol(&self, reason: impl Into<String>) -> Error {
        Error::Protocol {
            host: self.host.clone(),
            reason: reason.into(),
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response> {
        let response = http::request(&self.socket, method, path, headers, body)
            .map_err(|e| self.io_error(method, path, e))?;
        if self.debug {
            eprintln!("DEBU {method} {path} -> {}", response.status);
        }
        if response.status >= 400 {
            return Err(self.error_of(response, method, path));
        }
        Ok(response)
    }

    fn io_error(&self, method: &str, path: &str, e: std::io::Error) -> Error {
        match e.kind() {
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::PermissionDenied => Error::Connect {
                host: self.host.clone(),
            },
            _ => self.protocol(format!("{method} {path}: {e}")),
        }
    }

    /// The [`Error::Daemon`] an error status carries in its body.
    fn error_of(&self, response: Response, method: &str, path: &str) -> Error {
        let status = response.status;
        let mut text = String::new();
        if let Err(e) = response.body.take(1 << 20).read_to_string(&mut text) {
            return self.protocol(format!("{method} {path}: {e}"));
        }
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.message)
            .unwrap_or_else(|_| text.trim().to_string());
        Error::Daemon { status, message }
    }

    /// Sends `body` (JSON) to `path` asking for the connection itself (attach, exec start):
    /// the answer's body is then the raw stream, and the writer the way in.
    pub fn hijack(&self, method: &str, path: &str, body: &[u8]) -> Result<Upgraded> {
        let path = format!("/v{}{path}", self.version);
        let upgraded = http::upgrade(&self.socket, method, &path, body)
            .map_err(|e| self.io_error(method, &path, e))?;
        if self.debug {
            eprintln!("DEBU {method} {path} -> {}", upgraded.response.status);
        }
        if upgraded.response.status >= 400 {
            return Err(self.error_of(upgraded.response, method, &path));
        }
        Ok(upgraded)
    }

    /// `POST path` with an optional JSON body, the answer decoded from JSON.
    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T> {
        let body = match body {
            Some(body) => Body::Json(
                serde_json::to_vec(body).map_err(|e| self.protocol(format!("POST {path}: {e}")))?,
            ),
            None => Body::Empty,
        };
        let response = self.request("POST", path, &[], body)?;
        let bytes = response
            .bytes()
            .map_err(|e| self.protocol(format!("POST {path}: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.protocol(format!("POST {path}: unexpected answer: {e}")))
    }

    /// `POST path` with a JSON body, its answer ignored.
    pub fn post(&self, path: &str, body: &impl serde::Serialize) -> Result<()> {
        let body =
            serde_json::to_vec(body).map_err(|e| self.protocol(format!("POST {path}: {e}")))?;
        let response = self.request("POST", path, &[], Body::Json(body))?;
        response
            .bytes()
            .map_err(|e| self.protocol(format!("POST {path}: {e}")))?;
        Ok(())
    }

    /// `method path` without a body, its answer ignored.
    pub fn call(&self, method: &str, path: &str) -> Result<()> {
        let response = self.request(method, path, &[], Body::Empty)?;
        response
            .bytes()
            .map_err(|e| self.protocol(format!("{method} {path}: {e}")))?;
        Ok(())
    }

    /// Sends a request to `path` under the negotiated version; an error status becomes
    /// [`Error::Daemon`] with the daemon's message.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response> {
        self.send(method, &format!("/v{}{path}", self.version), headers, body)
    }

    /// `GET path`, the body as sent.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let response = self.request("GET", path, &[], Body::Empty)?;
        response
            .bytes()
            .map_err(|e| self.protocol(format!("GET {path}: {e}")))
    }

    /// `GET path`, decoded from JSON.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.request("GET", path, &[], Body::Empty)?;
        let bytes = response
            .bytes()
            .map_err(|e| self.protocol(format!("GET {path}: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.protocol(format!("GET {path}: unexpected answer: {e}")))
    }
}

/// `text` escaped for a URL path segment or query value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_names_in_one_segment() {
        assert_eq!(escape("busybox:1.36"), "busybox%3A1.36");
        assert_eq!(escape("a/../b?x=1&y"), "a%2F..%2Fb%3Fx%3D1%26y");
    }

    #[test]
    fn only_unix_hosts_are_accepted() {
        assert!(matches!(
            Daemon::connect("tcp://127.0.0.1:2375"),
            Err(Error::Usage(_))
        ));
        let err = Daemon::connect("unix:///nonexistent/berth.sock")
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), 125);
        assert_eq!(
            err.to_string(),
            "Cannot connect to the berth daemon at unix:///nonexistent/berth.sock. Is the daemon running?"
        );
    }
}
