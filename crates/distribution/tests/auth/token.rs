//! A token service for docker-registry's `auth: token` mode: it checks Basic credentials and
//! answers with a JWT (RS256, signed by `openssl` with a key whose self-signed certificate the
//! registry trusts) granting the scopes asked for. Anonymous requests get a token granting
//! nothing, as Docker Hub's service does for private repositories.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use berth_testkit::TempDir;

/// The `service` and `issuer` the registry is configured with.
pub const SERVICE: &str = "berth-test-registry";
pub const ISSUER: &str = "berth-test-issuer";

/// One token request as received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub user: Option<String>,
    pub scopes: Vec<String>,
}

/// A listening token service; stops on drop.
pub struct TokenService {
    pub address: String,
    _dir: TempDir,
    /// The certificate to give the registry as `rootcertbundle`.
    pub cert: PathBuf,
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// `%xx` and `+` decoding of a query value.
fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Signs `data` with the RSA key at `key` (RS256: PKCS#1 v1.5 over SHA-256).
fn sign(key: &Path, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -sign failed");
    out.stdout
}

impl TokenService {
    /// Makes a signing key and certificate and starts answering; `user` and `password` are
    /// the only credentials accepted.
    pub fn start(user: &str, password: &str) -> TokenService {
        let dir = TempDir::new("token");
        let (key, cert) = (dir.join("token.key"), dir.join("token.crt"));
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=berth-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(der)],
        });
        let header = b64url(header.to_string().as_bytes());
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop2, requests2, user) = (stop.clone(), requests.clone(), user.to_string());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                answer(stream, &header, &key, &expected, &user, &requests2);
            }
        });
        TokenService {
            address,
            _dir: dir,
            cert,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The registry configuration's `auth` section for this service.
    pub fn registry_auth(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.address,
            self.cert.display()
        )
    }
}

/// Answers one request on `stream`.
fn answer(
    stream: TcpStream,
    header: &str,
    key: &Path,
    expected: &str,
    user: &str,
    requests: &Mutex<Vec<TokenRequest>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    let target = line.split(' ').nth(1).unwrap_or_default();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|p| p.strip_prefix("scope="))
        .map(unescape)
        .collect();
    let mut stream = stream;
    let authenticated = match &authorization {
        None => false,
        Some(a) if a == expected => true,
        Some(_) => {
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
    };
    requests.lock().unwrap().push(TokenRequest {
        user: authenticated.then(|| user.to_string()),
        scopes: scopes.clone(),
    });
    let access: Vec<serde_json::Value> = if authenticated {
        scopes
            .iter()
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect()
    } else {
        Vec::new()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": if authenticated { user } else { "" },
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", requests.lock().unwrap().len()),
        "access": access,
    });
    let signing_input = format!("{header}.{}", b64url(claims.to_string().as_bytes()));
    let signature = b64url(&sign(key, signing_input.as_bytes()));
    let body = serde_json::json!({ "token": format!("{signing_input}.{signature}") }).to_string();
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
