//! What the registry tests share: a real `docker-registry` on 127.0.0.1 (optionally with
//! htpasswd auth and TLS), and locally made busybox images.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod proxy;
pub mod token;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_distribution::ClientConfig;
use berth_image::digest::sha256;
use berth_image::snapshot::Snapshotter;

/// How the registry is set up.
#[derive(Default)]
pub struct Options {
    /// Require this user and password (htpasswd, bcrypt).
    pub user: Option<(String, String)>,
    /// Serve HTTPS with a certificate from a CA made for the test (see [`LocalRegistry::ca`]).
    pub tls: bool,
    /// An `auth:` section of the registry's configuration (see [`token::TokenService`]).
    pub auth: Option<String>,
}

/// A registry process and its storage; both go away on drop.
pub struct LocalRegistry {
    child: Child,
    pub dir: PathBuf,
    pub address: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory for one test, removed on drop.
pub fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "berth-{what}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(command: &mut Command) {
    let out = command.output().expect("run a test tool");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a CA (`<dir>/<name>.crt`, `.key`) with openssl.
pub fn make_ca(dir: &Path, name: &str) {
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt"))));
}

impl LocalRegistry {
    /// A registry without auth or TLS.
    pub fn start() -> LocalRegistry {
        LocalRegistry::start_with(Options::default())
    }

    /// A registry set up as `options` say.
    pub fn start_with(options: Options) -> LocalRegistry {
        let dir = temp_dir("registry");
        fs::create_dir_all(dir.join("storage")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
            dir.join("storage").display()
        );
        if options.tls {
            make_ca(&dir, "ca");
            run(Command::new("openssl")
                .args([
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
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
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            );
        }
        if let Some((user, password)) = &options.user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apt-get install apache2-utils)");
            assert!(out.status.success());
            fs::write(dir.join("htpasswd"), out.stdout).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.join("htpasswd").display()
            );
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
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// The CA that signed the registry's certificate (with `tls`).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Client settings that never touch the real `~/.docker` or `/etc/docker/certs.d`.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            insecure_registries: Vec::new(),
            config_dir: Some(self.dir.join("docker-config")),
            certs_dir: Some(self.dir.join("certs.d")),
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Snapshotter::unmount_rootfs(&self.dir.join("rootfs"));
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A layer tar with the given files (path, mode, content).
pub fn layer_tar(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_size(data.len() as u64);
        layer.append_data(&mut h, path, *data).unwrap();
    }
    layer.into_inner().unwrap()
}

/// A busybox image in docker-save format (uncompressed layers, as `docker save` writes them):
/// `/bin/busybox` in the first layer, then `extra` layers, tagged `repo_tag`.
pub fn busybox_archive(path: &Path, repo_tag: Option<&str>, extra: &[Vec<u8>]) {
    let busybox = fs::read("/bin/busybox").expect("busybox-static");
    let mut layers = vec![layer_tar(&[("bin/busybox", 0o755, &busybox)])];
    layers.extend(extra.iter().cloned());
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l).to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": ["/bin/busybox", "true"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids }
    })
    .to_string();
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": repo_tag.map(|t| vec![t]),
        "Layers": names,
    }])
    .to_string();
    let mut archive = tar::Builder::new(Vec::new());
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ];
    for (name, layer) in names.iter().zip(&layers) {
        entries.push((name, layer));
    }
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        archive.append_data(&mut h, name, data).unwrap();
    }
    fs::write(path, archive.into_inner().unwrap()).unwrap();
}

/// Pulls `reference` into `store` for the default platform, unpacking into `snapshots`
/// (created if needed), without progress output.
pub fn pull_quietly(
    store: &mut berth_image::ImageStore,
    snapshots: &std::path::Path,
    reference: &berth_image::Reference,
    config: &ClientConfig,
) -> berth_distribution::Result<berth_image::ImageRecord> {
    let snapshots = berth_image::snapshot::Snapshotter::open(snapshots)?;
    berth_distribution::pull(
        store,
        &snapshots,
        reference,
        &berth_distribution::Platform::default(),
        config,
        &berth_image::progress::Silent,
    )
}
