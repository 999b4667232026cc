//! Helpers shared by the snapshot, diff and garbage collection tests.
#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_image::digest::sha256;
use tar::{EntryType, Header};

/// Builds a layer tar entry by entry.
pub struct LayerBuilder(tar::Builder<Vec<u8>>);

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder(tar::Builder::new(Vec::new()))
    }
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h
}

impl LayerBuilder {
    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        let mut h = header(EntryType::Directory, mode, 0);
        self.0.append_data(&mut h, name, &b""[..]).unwrap();
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        self.owned_file(name, data, mode, 0, 0)
    }

    pub fn owned_file(
        &mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        let mut h = header(EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }

    /// A PAX record `SCHILY.xattr.<key>=<value>` for the next entry.
    pub fn xattr(&mut self, key: &str, value: &str) -> &mut Self {
        let record = format!(" SCHILY.xattr.{key}={value}\n");
        let mut len = record.len() + 1;
        while len.to_string().len() + record.len() != len {
            len = len.to_string().len() + record.len();
        }
        let data = format!("{len}{record}");
        let mut h = header(EntryType::XHeader, 0o644, data.len() as u64);
        self.0
            .append_data(&mut h, "PaxHeader", data.as_bytes())
            .unwrap();
        self
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, name, target).unwrap();
        self
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, 0o644, 0);
        self.0.append_link(&mut h, name, target).unwrap();
        self
    }

    pub fn device(&mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = header(kind, 0o666, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, name, &b""[..]).unwrap();
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

/// A `docker save` archive of one image made of `layers`, tagged `tag`.
pub fn docker_save_archive(layers: &[&[u8]], tag: &str) -> Vec<u8> {
    let diff_ids: Vec<_> = layers.iter().map(|l| sha256(l)).collect();
    docker_save_archive_with(layers, &diff_ids, tag)
}

/// A `docker save` archive of one image whose (possibly compressed) `layers` unpack to
/// `diff_ids`.
pub fn docker_save_archive_with(
    layers: &[&[u8]],
    diff_ids: &[berth_image::Digest],
    tag: &str,
) -> Vec<u8> {
    let diff_ids: Vec<String> = diff_ids.iter().map(|d| d.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids }
    })
    .to_string();
    let config_name = format!("{}.json", sha256(config.as_bytes()).hex());
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", sha256(l).hex()))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": layer_names,
    }])
    .to_string();
    let mut archive = LayerBuilder::default();
    archive.file(&config_name, config.as_bytes(), 0o644);
    for (name, data) in layer_names.iter().zip(layers) {
        archive.file(name, data, 0o644);
    }
    archive.file("manifest.json", manifest.as_bytes(), 0o644);
    archive.finish()
}

/// Everything a user could see of a directory tree, one line per entry (the root excluded):
/// type, mode, owner, mtime (seconds: what a layer records), content hash, link target,
/// device number and extended attributes (overlayfs's own excluded).
pub fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let entry = rel.join(&name);
        let path = root.join(&entry);
        let m = fs::symlink_metadata(&path).unwrap();
        let ft = m.file_type();
        let what = if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_file() {
            format!("file {}", sha256(&fs::read(&path).unwrap()))
        } else if ft.is_symlink() {
            format!("symlink -> {}", fs::read_link(&path).unwrap().display())
        } else if ft.is_char_device() {
            format!("char {}", m.rdev())
        } else if ft.is_block_device() {
            format!("block {}", m.rdev())
        } else {
            "fifo".to_string()
        };
        let mut attrs = Vec::new();
        let mut list = vec![0u8; 4096];
        let n = rustix::fs::llistxattr(&path, &mut list[..]).unwrap_or(0);
        for key in list[..n].split(|b| *b == 0).filter(|k| !k.is_empty()) {
            if key.starts_with(b"trusted.overlay.") {
                continue;
            }
            let mut value = vec![0u8; 4096];
            let key = std::ffi::OsStr::from_bytes(key);
            let len = rustix::fs::lgetxattr(&path, key, &mut value[..]).unwrap();
            attrs.push(format!(
                "{}={}",
                key.to_string_lossy(),
                String::from_utf8_lossy(&value[..len])
            ));
        }
        out.insert(
            entry.display().to_string(),
            format!(
                "{what} {:o} {}:{} mtime={} xattrs=[{}]",
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                m.mtime(),
                attrs.join(",")
            ),
        );
        if ft.is_dir() {
            walk(root, &entry, out);
        }
    }
}

/// The names of the entries of a layer tar, in order.
pub fn entry_names(layer: &[u8]) -> Vec<String> {
    tar::Archive::new(layer)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}
