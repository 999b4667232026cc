//! `COPY --link` and `ADD --link`, as far as a builder that makes one layer per step on top
//! of its parent allows BuildKit's semantics. BuildKit copies the files into an empty
//! directory and lays that layer over the parent, so the layer depends on nothing below it.
//! Here likewise the step's layer is the copy's own tar, stored as is, plus entries for the
//! destination's missing parent directories (root's, 0755, as BuildKit's `mkdir -p` in its
//! empty directory makes them): nothing is unpacked into a container of the parent, so the
//! layer does not depend on the parent's files: no destination resolved through a link of
//! the parent, no owner copied from a directory of the parent, no parent file replaced in
//! place. The same files give the same layer digest on any parent, which is the reuse
//! `--link` is for; the step's image (its config and history extend the parent's) and so its
//! cache key still name the parent. `--chown` user names are still looked up in the parent's
//! `/etc/passwd`, as the numbers have to come from somewhere.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use berth_image::Digest;

use super::stage::{Current, Run};
use super::{io_error, BuildResult};
use crate::task::blocking;

/// Writes the layer of a linked copy to `out`: the parent directories the tar `copied` lacks,
/// then its entries; modification times capped at `clamp` (the build's epoch).
fn layer_tar(copied: &Path, out: &Path, clamp: Option<u64>) -> BuildResult<()> {
    let read = || io_error(format!("read {}", copied.display()));
    let write = || io_error(format!("write {}", out.display()));
    let names = {
        let mut archive = tar::Archive::new(File::open(copied).map_err(read())?);
        let mut names = BTreeSet::new();
        for entry in archive.entries().map_err(read())? {
            let entry = entry.map_err(read())?;
            let path = entry.path().map_err(read())?;
            names.insert(path.components().collect::<PathBuf>());
        }
        names
    };
    let parents: BTreeSet<PathBuf> = names
        .iter()
        .flat_map(|n| n.ancestors().skip(1))
        .filter(|p| !p.as_os_str().is_empty() && !names.contains(*p))
        .map(Path::to_path_buf)
        .collect();
    let file = File::create(out).map_err(io_error(format!("create {}", out.display())))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    for dir in &parents {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        header.set_mtime(clamp.unwrap_or(0));
        tar.append_data(&mut header, dir, std::io::empty())
            .map_err(write())?;
    }
    let mut archive = tar::Archive::new(File::open(copied).map_err(read())?);
    for entry in archive.entries().map_err(read())? {
        let mut entry = entry.map_err(read())?;
        let path = entry.path().map_err(read())?.into_owned();
        let mut header = entry.header().clone();
        if let (Some(clamp), Ok(mtime)) = (clamp, header.mtime()) {
            header.set_mtime(mtime.min(clamp));
        }
        if let Some(target) = entry.link_name().map_err(read())? {
            let target = target.into_owned();
            tar.append_link(&mut header, &path, target)
                .map_err(write())?;
        } else {
            tar.append_data(&mut header, &path, &mut entry)
                .map_err(write())?;
        }
    }
    let writer = tar.into_inner().map_err(write())?;
    let file = writer.into_inner().map_err(|e| write()(e.into_error()))?;
    file.sync_all().map_err(write())
}

impl Run<'_> {
    /// Makes the step's image from the copy's tar `copied` as a layer of its own (see the
    /// module's comment).
    pub(super) async fn link_step(
        &self,
        current: &mut Current,
        copied: &Path,
        key: &Digest,
        created_by: String,
    ) -> BuildResult<()> {
        let out = copied.with_extension("link.tar");
        let clamp = self.source_date_epoch.map(|s| s.max(0) as u64);
        let (from, to) = (copied.to_path_buf(), out.clone());
        let made = blocking("write a linked copy's layer", move || {
            layer_tar(&from, &to, clamp)
        })
        .await;
        let image = match made {
            Ok(Ok(())) => {
                let options = self.commit_options(current, String::new(), created_by.clone());
                self.service
                    .images
                    .add_layer(options, out.clone())
                    .await
                    .map_err(Into::into)
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.into()),
        };
        let _ = std::fs::remove_file(&out);
        self.made(current, key, image?, created_by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linked_layer_carries_its_parent_directories() {
        let dir = berth_testkit::TempDir::new("build-link");
        let copied = dir.join("copied.tar");
        let mut tar = tar::Builder::new(File::create(&copied).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o600);
        header.set_size(2);
        header.set_mtime(2_000_000_000);
        header.set_uid(7);
        tar.append_data(&mut header, "app/conf/a", &b"hi"[..])
            .unwrap();
        tar.into_inner().unwrap();
        let out = dir.join("layer.tar");
        layer_tar(&copied, &out, Some(1_700_000_000)).unwrap();
        let mut archive = tar::Archive::new(File::open(&out).unwrap());
        let seen: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("app".to_string(), 0o755, 0, 1_700_000_000),
                ("app/conf".to_string(), 0o755, 0, 1_700_000_000),
                ("app/conf/a".to_string(), 0o600, 7, 1_700_000_000),
            ]
        );
    }
}
