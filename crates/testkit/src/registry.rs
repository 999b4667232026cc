//! Debian's `docker-registry`, started on 127.0.0.1 with storage in a temp dir.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// A registry process and its storage; both go away on drop.
pub struct LocalRegistry {
    child: Child,
    pub dir: TempDir,
    /// `127.0.0.1:<port>`.
    pub address: String,
}

impl LocalRegistry {
    pub fn start() -> LocalRegistry {
        let dir = TempDir::new("registry");
        fs::create_dir_all(dir.join("storage")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\nlog:\n  level: error\n",
            dir.join("storage").display()
        );
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
    pub fn push_archive(&self, archive: &std::path::Path, repository: &str) -> String {
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
