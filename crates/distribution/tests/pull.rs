//! Pulling from a real registry (Debian's docker-registry on 127.0.0.1) an image that skopeo
//! pushed there: the layers land verified, unpack, and mount as a root file system.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_distribution::{pull, ClientConfig, Platform};
use berth_image::digest::sha256;
use berth_image::progress::Silent;
use berth_image::snapshot::Snapshotter;
use berth_image::{ImageStore, Reference};

/// A registry process and its storage; both go away on drop.
struct LocalRegistry {
    child: Child,
    dir: PathBuf,
    address: String,
}

impl LocalRegistry {
    fn start() -> LocalRegistry {
        let dir = std::env::temp_dir().join(format!("berth-registry-{}", std::process::id()));
        fs::create_dir_all(dir.join("storage")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\nlog:\n  level: error\n",
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
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Snapshotter::unmount_rootfs(&self.dir.join("rootfs"));
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A one-layer busybox image in docker-save format.
fn busybox_archive(path: &std::path::Path) {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let busybox = fs::read("/bin/busybox").expect("busybox-static");
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    layer
        .append_data(&mut h, "bin/busybox", &busybox[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let diff_id = sha256(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": ["/bin/busybox", "true"] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] }
    })
    .to_string();
    let manifest =
        serde_json::json!([{ "Config": "config.json", "RepoTags": null, "Layers": ["layer.tar"] }])
            .to_string();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
        ("layer.tar", &layer[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        archive.append_data(&mut h, name, data).unwrap();
    }
    fs::write(path, archive.into_inner().unwrap()).unwrap();
}

#[test]
fn an_image_pushed_by_skopeo_is_pulled_verified_and_mounts() {
    let registry = LocalRegistry::start();
    let archive = registry.dir.join("busybox.tar");
    busybox_archive(&archive);
    let target = format!("docker://{}/berth-test/busybox:1", registry.address);
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(&target)
        .status()
        .expect("skopeo (apt-get install skopeo)");
    assert!(status.success(), "skopeo copy failed");

    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let snapshots = Snapshotter::open(&registry.dir.join("snapshots")).unwrap();
    let reference: Reference = format!("{}/berth-test/busybox:1", registry.address)
        .parse()
        .unwrap();
    let image = pull(
        &mut store,
        &snapshots,
        &reference,
        &Platform::default(),
        &ClientConfig::default(),
        &Silent,
    )
    .unwrap();
    assert_eq!(image.layers.len(), 1);
    for blob in image.layers.iter().chain([&image.id]) {
        store.blobs().verify(blob).unwrap();
    }
    assert!(
        store.get(&reference.to_string()).is_some(),
        "the name points at the image"
    );

    let rootfs = registry.dir.join("rootfs");
    snapshots
        .mount_rootfs(
            store.blobs(),
            &image,
            &registry.dir.join("container"),
            &rootfs,
        )
        .unwrap();
    let out = Command::new("chroot")
        .arg(&rootfs)
        .args(["/bin/busybox", "echo", "pulled"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pulled");

    // A second pull finds everything in place and changes nothing.
    let again = pull(
        &mut store,
        &snapshots,
        &reference,
        &Platform::default(),
        &ClientConfig::default(),
        &Silent,
    )
    .unwrap();
    assert_eq!(again, image);

    let missing: Reference = format!("{}/berth-test/nothing:1", registry.address)
        .parse()
        .unwrap();
    let err = pull(
        &mut store,
        &snapshots,
        &missing,
        &Platform::default(),
        &ClientConfig::default(),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("404") || err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
}
