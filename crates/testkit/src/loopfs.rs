//! A small ext4 file system mounted from a file through a loop device (to fill a disk).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::{run, TempDir};

/// An ext4 file system of a few MiB mounted at [`LoopFs::mount`]; on drop it is unmounted,
/// its loop device detached and its files removed, also when the test failed.
pub struct LoopFs {
    image: PathBuf,
    /// Where the file system is mounted.
    pub mount: PathBuf,
    _dir: TempDir,
}

impl LoopFs {
    /// Makes and mounts a file system of `mib` MiB.
    pub fn new(name: &str, mib: u64) -> LoopFs {
        let dir = TempDir::new(name);
        let image = dir.join("fs.img");
        let mount = dir.join("mnt");
        fs::create_dir(&mount).unwrap();
        fs::File::create(&image)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        let fs = LoopFs {
            image,
            mount,
            _dir: dir,
        };
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&fs.image));
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&fs.image)
            .arg(&fs.mount));
        fs
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
        // `mount -o loop` sets autoclear; detach explicitly in case the unmount failed.
        if let Ok(out) = Command::new("losetup").arg("-j").arg(&self.image).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(dev) = line.split(':').next() {
                    let _ = Command::new("losetup").args(["-d", dev]).status();
                }
            }
        }
    }
}
