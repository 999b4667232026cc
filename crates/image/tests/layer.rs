//! Unpacking layers: the features images use, and the breakout attempts a hostile layer makes
//! (after containerd's TestBreakouts and moby's archive tests).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_image::layer;
use berth_testkit::TempDir;
use tar::{EntryType, Header};

/// A scratch area with `root` (the unpack target) and `outside` (must never change).
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = TempDir::new("layer");
        fs::create_dir_all(dir.join("root")).unwrap();
        fs::create_dir_all(dir.join("outside")).unwrap();
        fs::write(dir.join("outside/victim"), "keep me").unwrap();
        Scratch { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    fn outside(&self) -> PathBuf {
        self.dir.join("outside")
    }
    /// The outside directory is exactly as it was made.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.outside())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "something was created outside the root");
        assert_eq!(
            fs::read_to_string(self.outside().join("victim")).unwrap(),
            "keep me"
        );
    }
}

/// Builds a tar whose entry names are written raw, as a hostile tool would.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }
    fn entry(mut self, name: &str, kind: EntryType, link: &str, data: &[u8], mode: u32) -> Layer {
        let mut h = Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(self, name: &str, data: &str) -> Layer {
        self.entry(name, EntryType::Regular, "", data.as_bytes(), 0o644)
    }
    fn dir(self, name: &str) -> Layer {
        self.entry(name, EntryType::Directory, "", b"", 0o755)
    }
    fn symlink(self, name: &str, target: &str) -> Layer {
        self.entry(name, EntryType::Symlink, target, b"", 0o777)
    }
    fn hardlink(self, name: &str, target: &str) -> Layer {
        self.entry(name, EntryType::Link, target, b"", 0o644)
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

#[test]
fn files_dirs_links_devices_modes_and_times() {
    let s = Scratch::new();
    let tar = Layer::new()
        .dir("etc/")
        .entry(
            "etc/passwd",
            EntryType::Regular,
            "",
            b"root:x:0:0::/root:/bin/sh\n",
            0o600,
        )
        .symlink("etc/link", "passwd")
        .hardlink("etc/hard", "etc/passwd")
        .entry("bin/tool", EntryType::Regular, "", b"#!/bin/sh\n", 0o4755)
        .entry("null", EntryType::Char, "", b"", 0o666)
        .entry("pipe", EntryType::Fifo, "", b"", 0o600)
        .bytes();
    let stats = layer::apply(&s.root(), &tar[..]).unwrap();
    assert_eq!(stats.entries, 7);
    let root = s.root();
    let passwd = fs::metadata(root.join("etc/passwd")).unwrap();
    assert_eq!(passwd.permissions().mode() & 0o7777, 0o600);
    assert_eq!(passwd.mtime(), 1_700_000_000);
    assert_eq!(passwd.nlink(), 2, "hardlink shares the inode");
    assert_eq!(
        fs::read_link(root.join("etc/link")).unwrap(),
        PathBuf::from("passwd")
    );
    assert_eq!(
        fs::metadata(root.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &fs::symlink_metadata(root.join("null")).unwrap().file_type()
    ));
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &fs::symlink_metadata(root.join("pipe")).unwrap().file_type()
    ));
    assert_eq!(
        fs::metadata(root.join("etc")).unwrap().mtime(),
        1_700_000_000,
        "directory times set last"
    );
}

#[test]
fn gzip_and_zstd_layers_unpack() {
    let tar = Layer::new().file("hello", "world").bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for data in [gz, zst] {
        let s = Scratch::new();
        layer::apply(&s.root(), &data[..]).unwrap();
        assert_eq!(fs::read_to_string(s.root().join("hello")).unwrap(), "world");
    }
}

#[test]
fn whiteouts_remove_and_opaque_dirs_hide_lower_content() {
    let s = Scratch::new();
    let lower = Layer::new()
        .dir("a/")
        .file("a/old", "1")
        .file("a/keep-no", "2")
        .file("gone", "x")
        .dir("d/")
        .file("d/f", "y")
        .bytes();
    layer::apply(&s.root(), &lower[..]).unwrap();
    let upper = Layer::new()
        .file("a/.wh..wh..opq", "")
        .file("a/new", "3")
        .file(".wh.gone", "")
        .file(".wh.d", "")
        .bytes();
    let stats = layer::apply(&s.root(), &upper[..]).unwrap();
    assert_eq!(stats.whiteouts, 3);
    let names: Vec<_> = fs::read_dir(s.root().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["new"]);
    assert!(!s.root().join("gone").exists() && !s.root().join("d").exists());
}

#[test]
fn a_file_replaces_a_directory_and_back() {
    let s = Scratch::new();
    layer::apply(
        &s.root(),
        &Layer::new().dir("x/").file("x/inner", "1").bytes()[..],
    )
    .unwrap();
    layer::apply(&s.root(), &Layer::new().file("x", "now a file").bytes()[..]).unwrap();
    assert_eq!(
        fs::read_to_string(s.root().join("x")).unwrap(),
        "now a file"
    );
    layer::apply(&s.root(), &Layer::new().dir("x/").bytes()[..]).unwrap();
    assert!(s.root().join("x").is_dir());
}

#[test]
fn breakout_dot_dot_and_absolute_paths_land_inside() {
    let s = Scratch::new();
    let tar = Layer::new()
        .file("../../outside/evil", "x")
        .file("/abs-evil", "y")
        .bytes();
    layer::apply(&s.root(), &tar[..]).unwrap();
    s.assert_outside_untouched();
    assert!(s.root().join("outside/evil").exists() && s.root().join("abs-evil").exists());
}

#[test]
fn breakout_through_a_planted_symlink_stays_inside() {
    let s = Scratch::new();
    let outside = s.outside();
    let tar = Layer::new()
        .symlink("abs", outside.to_str().unwrap())
        .file("abs/evil", "x")
        .symlink("rel", "../outside")
        .file("rel/evil2", "y")
        .symlink("up", "../../../../../../../..")
        .file(&format!("up{}/evil3", outside.display()), "z")
        .bytes();
    layer::apply(&s.root(), &tar[..]).unwrap();
    s.assert_outside_untouched();
}

#[test]
fn breakout_a_file_written_over_a_symlink_replaces_the_link() {
    let s = Scratch::new();
    let victim = s.outside().join("victim");
    let tar = Layer::new()
        .symlink("v", victim.to_str().unwrap())
        .file("v", "overwritten?")
        .bytes();
    layer::apply(&s.root(), &tar[..]).unwrap();
    s.assert_outside_untouched();
    assert_eq!(
        fs::read_to_string(s.root().join("v")).unwrap(),
        "overwritten?"
    );
}

#[test]
fn breakout_hardlinks_cannot_reach_outside_files() {
    let s = Scratch::new();
    let victim = s.outside().join("victim");
    let before = fs::metadata(&victim).unwrap().nlink();
    // A hardlink through a symlink links the symlink itself, not what it points to.
    let tar = Layer::new()
        .symlink("to-victim", victim.to_str().unwrap())
        .hardlink("h", "to-victim")
        .bytes();
    layer::apply(&s.root(), &tar[..]).unwrap();
    assert!(fs::symlink_metadata(s.root().join("h"))
        .unwrap()
        .file_type()
        .is_symlink());
    // A hardlink whose target climbs out refers to a path inside the root, which is missing.
    let tar = Layer::new().hardlink("h2", "../outside/victim").bytes();
    let err = layer::apply(&s.root(), &tar[..]).unwrap_err().to_string();
    assert!(err.contains("not in the layer"), "{err}");
    assert_eq!(fs::metadata(&victim).unwrap().nlink(), before);
    s.assert_outside_untouched();
}

#[test]
fn breakout_whiteouts_cannot_remove_outside_files() {
    let s = Scratch::new();
    let outside = s.outside();
    let tar = Layer::new()
        .file("../outside/.wh.victim", "")
        .symlink("link", outside.to_str().unwrap())
        .file("link/.wh.victim", "")
        .bytes();
    layer::apply(&s.root(), &tar[..]).unwrap();
    s.assert_outside_untouched();
    for bad in ["dir/.wh...", "dir/.wh.."] {
        let tar = Layer::new().file(bad, "").bytes();
        assert!(layer::apply(&s.root(), &tar[..]).is_err(), "{bad} accepted");
    }
    let tar = Layer::new()
        .symlink("link2", outside.to_str().unwrap())
        .file("link2/.wh..wh..opq", "")
        .bytes();
    layer::apply(&s.root(), &tar[..]).unwrap();
    s.assert_outside_untouched();
    assert!(Path::new(&outside).join("victim").exists());
}
