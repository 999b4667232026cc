//! The mount table, and detaching what a test left mounted.

use std::fs;
use std::path::{Path, PathBuf};

/// (mount point, file system type) of every mount, from /proc/self/mountinfo.
pub fn mounts() -> Vec<(PathBuf, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mount_point = fields.get(4)?;
            let sep = fields.iter().position(|f| *f == "-")?;
            let fstype = fields.get(sep + 1)?;
            Some((
                PathBuf::from(unescape_mountinfo(mount_point)),
                fstype.to_string(),
            ))
        })
        .collect()
}

/// Undoes the octal escapes (`\040` for a space, ...) of /proc/self/mountinfo.
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4);
        if bytes[i] == b'\\' && octal.is_some_and(|o| o.iter().all(|b| (b'0'..=b'7').contains(b))) {
            let o = octal.unwrap_or_default();
            out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lazily unmounts every mount at or below `dir`, innermost first; returns what is still
/// mounted.
pub fn unmount_all_under(dir: &Path) -> Vec<PathBuf> {
    let under = || -> Vec<PathBuf> {
        let mut list: Vec<PathBuf> = mounts()
            .into_iter()
            .map(|(mount_point, _)| mount_point)
            .filter(|m| m.starts_with(dir))
            .collect();
        list.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        list.dedup();
        list
    };
    for _ in 0..10 {
        let list = under();
        if list.is_empty() {
            break;
        }
        for mount_point in list {
            let _ = nix::mount::umount2(&mount_point, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    under()
}
