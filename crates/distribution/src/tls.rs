//! TLS for registries: the system's trusted roots plus, docker's way, a registry's own files in
//! `<certs dir>/<host:port>/`: `*.crt` are extra CAs, `client.cert` + `client.key` a client
//! certificate.

use std::fs;
use std::path::Path;

use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use crate::client::{Error, Result};

fn cert_error(path: &Path, reason: impl ToString) -> Error {
    Error::Tls {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Every certificate in a PEM file.
fn read_pem_certs(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let pem = fs::read(path).map_err(|e| cert_error(path, e))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| cert_error(path, e))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(cert_error(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// Whether `<certs_dir>/<domain>/` exists: the registry has its own TLS settings, so it is
/// reached over HTTPS even on loopback.
pub fn has_registry_dir(certs_dir: &Path, domain: &str) -> bool {
    certs_dir.join(domain).is_dir()
}

/// The TLS settings for `domain`: system roots, the registry's CAs and client certificate.
pub fn config_for(certs_dir: &Path, domain: &str) -> Result<TlsConfig> {
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| Certificate::from_der(der).to_owned())
        .collect();
    let dir = certs_dir.join(domain);
    let mut client = None;
    if dir.is_dir() {
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| cert_error(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            if name.to_string_lossy().ends_with(".crt") {
                roots.extend(read_pem_certs(&path)?);
            }
        }
        let (cert, key) = (dir.join("client.cert"), dir.join("client.key"));
        match (cert.exists(), key.exists()) {
            (true, true) => {
                let chain = read_pem_certs(&cert)?;
                let pem = fs::read(&key).map_err(|e| cert_error(&key, e))?;
                let key = PrivateKey::from_pem(&pem).map_err(|e| cert_error(&key, e))?;
                client = Some(ClientCert::new_with_certs(&chain, key));
            }
            (true, false) => return Err(cert_error(&cert, "client.key is missing beside it")),
            (false, true) => return Err(cert_error(&key, "client.cert is missing beside it")),
            (false, false) => {}
        }
    }
    // No system bundle and no CA of the registry's own: fall back to the built-in Mozilla roots
    // rather than trusting nothing.
    let roots = if roots.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&roots)
    };
    Ok(TlsConfig::builder()
        .root_certs(roots)
        .client_cert(client)
        .build())
}
