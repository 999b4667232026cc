//! `/proc/self/mountinfo` read into the fields its users need (proc(5)): the mount point
//! (octal escapes undone), the optional fields (`shared:N`, `master:N`), the file system type
//! and its super options.

use std::path::PathBuf;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    /// Propagation tags such as `shared:1`, `master:2`.
    pub optional: Vec<String>,
    pub fs_type: String,
    pub super_options: String,
}

/// The mounts of this mount namespace.
pub fn read() -> std::io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// The mounts `text` (mountinfo's format) lists; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mount_point = PathBuf::from(unescape(left.get(4)?));
            let mut right = right.split(' ');
            let fs_type = right.next().unwrap_or_default().to_string();
            let super_options = right.nth(1).unwrap_or_default().to_string();
            Some(Mount {
                mount_point,
                optional: left.iter().skip(6).map(|f| f.to_string()).collect(),
                fs_type,
                super_options,
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i + 1..i + 4) {
            Some(o) if bytes[i] == b'\\' && o.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_and_escapes_undone() {
        let mounts = parse(
            "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n\
             27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n\
             garbage\n",
        );
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(mounts[0].optional, ["master:1", "shared:2"]);
        assert_eq!(mounts[0].fs_type, "ext3");
        assert_eq!(mounts[0].super_options, "rw,errors=continue");
        assert!(mounts[1].optional.is_empty());
        assert_eq!(unescape("/plain\\"), "/plain\\");
    }
}
