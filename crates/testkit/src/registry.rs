//! Debian's `docker-registry`, started on 127.0.0.1 with storage in a temp dir; optionally with
//! htpasswd auth, TLS from a CA made for the test, or any `auth:` section.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{run, TempDir};

/// How the registry is set up.
#[derive(Default)]
pub struct Options {
    /// Require this user and password (htpasswd, bcrypt).
    pub user: Option<(String, String)>,
    /// Serve HTTPS with a certificate from a CA made for the test (see [`LocalRegistry::ca`]).
    pub tls: bool,
    /// An `auth:` section of the registry's configuration, as YAML text.
    pub auth: Option<String>,
}

/// A registry process and its storage; both go away on drop.
pub struct LocalRegistry {
    child: Child,
    /// The registry's storage and configuration; tests may keep their own files here too.
    pub dir: TempDir,
    /// `127.0.0.1:<port>`.
    pub address: String,
}

/// Makes a self-signed CA (`<dir>/<name>.crt`, `<dir>/<name>.key`) with openssl.
pub fn make_ca(dir: &Path, name: &str) {
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt"))));
}

/// Makes `server.crt`/`server.key` for 127.0.0.1 in `dir`, signed by a new CA `ca.crt`.
fn make_server_certificate(dir: &Path) {
    make_ca(dir, "ca");
    run(Command::new("openssl")
        .args(["req", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.csr")));
    fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-CAcreateserial"])
        .arg("-in")
        .arg(dir.join("server.csr"))
        .arg("-CA")
        .arg(dir.join("ca.crt"))
        .arg("-CAkey")
        .arg(dir.join("ca.key"))
        .arg("-extfile")
        .arg(dir.join("san.ext"))
        .arg("-out")
        .arg(dir.join("server.crt")));
}

/// The `auth:` section for `user`, with its htpasswd file written into `dir`.
fn htpasswd_section(dir: &Path, user: &str, password: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (apt-get install apache2-utils)");
    assert!(out.status.success(), "htpasswd failed for {user}");
    fs::write(dir.join("htpasswd"), out.stdout).unwrap();
    format!(
        "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
        dir.join("htpasswd").display()
    )
}

impl LocalRegistry {
    /// A registry without auth or TLS.
    pub fn start() -> LocalRegistry {
        LocalRegistry::start_with(Options::default())
    }

    /// A registry set up as `options` say.
    pub fn start_with(options: Options) -> LocalRegistry {
        let dir = TempDir::new("registry");
        fs::create_dir_all(dir.join("storage")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
            dir.join("storage").display()
        );
        if options.tls {
            make_server_certificate(dir.path());
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            );
        }
        if let Some((user, password)) = &options.user {
            config += &htpasswd_section(dir.path(), user, password);
        }
        if let Some(auth) = &options.auth {
            config += auth;
        }
        config += "log:\n  level: error\n";
        fs::write(dir.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let registry = LocalRegistry {
            child,
            dir,
            address,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.address).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry at {} did not start",
                registry.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// The CA that signed the registry's certificate (with `tls`).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Where the registry keeps the bytes of blob `sha256:<hex>` (to corrupt them in tests).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Pushes a docker-save archive to `<address>/<repository>` with skopeo.
    pub fn push_archive(&self, archive: &Path, repository: &str) -> String {
        let target = format!("{}/{repository}", self.address);
        let status = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{target}"))
            .status()
            .expect("skopeo (apt-get install skopeo)");
        assert!(status.success(), "skopeo copy to {target} failed");
        target
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
