//! Image archives (`docker save` format) made from layers built in memory.

use std::fs;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Appends a tar entry (mode 0644, owner 0:0) written byte for byte, so that its name may be
/// one the tar crate refuses to write (`..`, absolute): hostile archives for tests.
pub fn raw_tar_entry(tar: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().next_multiple_of(512), 0);
}

/// A layer holding `/bin/busybox` from the busybox-static package.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let mut layer = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    layer.append_data(&mut dir, "bin", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    layer
        .append_data(&mut h, "bin/busybox", &busybox[..])
        .unwrap();
    layer.into_inner().unwrap()
}

/// A layer like [`busybox_layer`] with every applet linked in `/bin` (so `sh`, `echo`, `cat`
/// … work as in the busybox image people pull), plus `/tmp` and `/etc/passwd`/`/etc/group`
/// with root and nobody.
pub fn busybox_image_layer() -> Vec<u8> {
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    let mut layer = tar::Builder::new(Vec::new());
    for (dir, mode) in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        layer.append_data(&mut h, dir, &[][..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    layer
        .append_data(&mut h, "bin/busybox", &busybox[..])
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet.is_empty() || applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        layer
            .append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let files: [(&str, &[u8]); 2] = [
        (
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
    ];
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        layer.append_data(&mut h, path, data).unwrap();
    }
    layer.into_inner().unwrap()
}

/// `len` deterministic bytes from `seed` that do not compress (xorshift).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A layer tar with the given regular files (path, mode, content).
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

/// An entry of [`owned_layer_tar`]: path, mode, owner, group, and the content of a regular
/// file (`None` for a directory).
pub type OwnedEntry<'a> = (&'a str, u32, u32, u32, Option<&'a [u8]>);

/// A layer tar of directories and regular files with their owners.
pub fn owned_layer_tar(entries: &[OwnedEntry<'_>]) -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    for (path, mode, uid, gid, content) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_uid(u64::from(*uid));
        h.set_gid(u64::from(*gid));
        let data = content.unwrap_or_default();
        h.set_entry_type(if content.is_some() {
            tar::EntryType::Regular
        } else {
            tar::EntryType::Directory
        });
        h.set_size(data.len() as u64);
        layer.append_data(&mut h, path, data).unwrap();
    }
    layer.into_inner().unwrap()
}

/// A layer with one file `/data/<seed>.bin` of `size` pseudo-random (incompressible) bytes.
pub fn random_layer(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data: Vec<u8> = (0..size)
        .map(|_| {
            // xorshift64*: cheap, deterministic, and gzip cannot shrink it.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545F4914F6CDD1D) >> 56) as u8
        })
        .collect();
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    layer
        .append_data(&mut h, format!("data/{seed}.bin"), &data[..])
        .unwrap();
    layer.into_inner().unwrap()
}

/// Writes a docker-save archive of one image with these (uncompressed) layers, named `name`
/// when given; its config runs `/bin/busybox true`. Returns the image id (the config digest).
pub fn docker_archive(path: &Path, layers: &[Vec<u8>], name: Option<&str>) -> String {
    let config = serde_json::json!({ "Cmd": ["/bin/busybox", "true"] });
    docker_archive_with_config(path, layers, name, config)
}

/// [`docker_archive`] with `config` as the image's container config (`Cmd`, `Volumes`, …).
pub fn docker_archive_with_config(
    path: &Path,
    layers: &[Vec<u8>],
    name: Option<&str>,
    config: serde_json::Value,
) -> String {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": diff_ids.iter().map(|d| serde_json::json!({"created_by": format!("layer {d}")})).collect::<Vec<_>>(),
    })
    .to_string();
    let layer_names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": name.map(|n| vec![n]),
        "Layers": layer_names,
    }])
    .to_string();
    let mut archive = tar::Builder::new(fs::File::create(path).expect("create the archive"));
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        archive.append_data(&mut h, name, data).unwrap();
    };
    add("config.json", config.as_bytes());
    for (name, data) in layer_names.iter().zip(layers) {
        add(name, data);
    }
    add("manifest.json", manifest.as_bytes());
    archive.finish().unwrap();
    sha256(config.as_bytes())
}

/// The digests of the layers an image manifest (Docker v2 or OCI, as JSON) lists, in order.
pub fn manifest_layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("a manifest with layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("a layer digest").to_string())
        .collect()
}
