//! `RUN --mount` as BuildKit mounts them, through the container's ordinary mounts (host paths
//! bound, tmpfs): `bind` (the context, a stage or an image; read-only unless `rw`, and then
//! its writes are thrown away), `cache` (see [`super::cache_mounts`]), `tmpfs`, `secret` (a
//! file the build's `--secret` gave, or an environment variable). What each mount is, but not
//! what a secret holds, goes into the step's cache key, with the content of a context
//! directory a bind mounts (see [`context_dir`]). Every host path made for a RUN goes when it
//! ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_api::containers::Mount as ApiMount;
use berth_build::parser::{CacheSharing, Mount, MountType, Run as RunInstruction, StageRef};
use berth_image::Digest;
use serde_json::{json, Value};

use super::cache_mounts::{Lease, Seed};
use super::context_dir;
use super::files;
use super::heredoc::{RunCommand, PIPES};
use super::interrupted;
use super::stage::{Current, Run};
use super::{io_error, plan_error, BuildError, BuildResult};
use crate::containers::mount_plan::clean;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Where a bind or cache mount takes its files from.
#[derive(Debug, Clone)]
enum Origin {
    Context,
    Image(Digest),
}

/// One `--mount`, its target absolute and its names settled.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    mount: Mount,
    target: String,
    origin: Origin,
    /// Cache: the cache's id; secret: the secret's id.
    id: String,
    /// Secret: its file's path, if it has one (it may be an environment variable only).
    secret_file: Option<String>,
}

/// The stages and images that `run`'s mounts take files from (`from=`), for the build plan.
pub fn mount_sources(run: &RunInstruction) -> Vec<String> {
    run.mounts
        .iter()
        .filter_map(|m| match &m.mount {
            Some(mount) => mount.from.clone(),
            // A spec with variables: `from` itself may not use any.
            None => m.spec.split(',').find_map(|f| {
                let (k, v) = f.split_once('=')?;
                k.eq_ignore_ascii_case("from").then(|| v.to_string())
            }),
        })
        .collect()
}

/// A directory removed (with what is in it) on drop.
pub(super) struct Scratch(pub PathBuf);

impl Scratch {
    /// A new directory `<what>-<pid>-<n>` in `parent`, mode 0700.
    pub(super) fn new(parent: &Path, what: &str) -> BuildResult<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = parent.join(format!(
            "{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error(format!("create {}", dir.display())))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("berthd: build: removing {}: {e}", self.0.display());
            }
        }
    }
}

/// What a RUN's container mounts, and what must go when it ends ([`Prepared::release`]).
#[derive(Default)]
pub(super) struct Prepared {
    pub mounts: Vec<ApiMount>,
    pub tmpfs: BTreeMap<String, String>,
    /// `NAME=value` of secrets given as environment variables.
    pub env: Vec<String>,
    /// Every mount's target, for [`super::stubs::Stubs`].
    pub targets: Vec<String>,
    leases: Vec<Lease>,
    scratch: Vec<Scratch>,
    snapshots: Vec<String>,
}

impl Prepared {
    fn bind(&mut self, source: &Path, target: &str, read_only: bool) {
        self.mounts.push(ApiMount {
            target: target.to_string(),
            source: source.display().to_string(),
            r#type: "bind".into(),
            read_only,
            ..Default::default()
        });
        self.targets.push(target.to_string());
    }

    /// Releases the caches and removes the files and snapshots made for the RUN.
    pub async fn release(self, run: &Run<'_>) {
        let images = &run.service.images;
        for id in &self.snapshots {
            if let Err(e) = images.remove_rootfs(id.clone()).await {
                eprintln!("berthd: build: removing snapshot {id}: {e}");
            }
        }
    }
}

/// `source` (a path in a tree) as a relative, `/`-separated path.
fn relative(source: Option<&str>) -> String {
    clean(source.unwrap_or("/"))
        .trim_start_matches('/')
        .to_string()
}

/// `rel` under `root`, which must exist and not be a symbolic link (it would be followed on
/// the host).
fn source_path(root: &Path, rel: &str, what: &str) -> BuildResult<PathBuf> {
    let path = files::resolve(root, rel)?.ok_or_else(|| {
        BuildError::Invalid(format!(
            "failed to compute cache key: \"/{rel}\" not found in {what}"
        ))
    })?;
    let meta = std::fs::symlink_metadata(&path).map_err(io_error(format!("stat /{rel}")))?;
    if meta.file_type().is_symlink() {
        return Err(BuildError::Invalid(format!(
            "RUN --mount: source /{rel} in {what} is a symbolic link; mount what it points to"
        )));
    }
    Ok(path)
}

impl Run<'_> {
    /// `run`'s mounts with their targets made absolute against the working directory and
    /// their stages and images found.
    pub(super) async fn resolve_mounts(
        &self,
        current: &Current,
        run: &RunInstruction,
        built: &[Option<Digest>],
    ) -> BuildResult<Vec<Resolved>> {
        let mut out = Vec::new();
        for spec in &run.mounts {
            let mount = spec.mount.clone().ok_or_else(|| {
                BuildError::Invalid(format!("RUN --mount={} was not expanded", spec.spec))
            })?;
            let given = mount.target.clone().unwrap_or_default();
            let (id, secret_file) = match mount.kind {
                MountType::Ssh => {
                    return Err(BuildError::Invalid(
                        "RUN --mount=type=ssh is not supported: berth does not forward SSH agents"
                            .into(),
                    ))
                }
                MountType::Secret => {
                    let id = match (&mount.source, &mount.id) {
                        (Some(s), _) => s.clone(),
                        (None, Some(id)) => id.clone(),
                        (None, None) => base_name(&given).to_string(),
                    };
                    let file = match (&mount.target, &mount.env) {
                        (Some(t), _) => Some(t.clone()),
                        (None, None) => Some(format!("/run/secrets/{}", base_name(&id))),
                        (None, Some(_)) => None,
                    };
                    (id, file)
                }
                MountType::Cache => (mount.id.clone().unwrap_or_else(|| go_clean(&given)), None),
                MountType::Bind | MountType::Tmpfs => (String::new(), None),
            };
            let target_text = secret_file.clone().unwrap_or(given);
            let target = if target_text.starts_with('/') {
                clean(&target_text)
            } else {
                clean(&format!("/{}/{target_text}", current.config.working_dir))
            };
            if target == "/" && (mount.kind != MountType::Secret || secret_file.is_some()) {
                return Err(BuildError::Invalid(format!(
                    "invalid mount target {target:?}"
                )));
            }
            let origin = match (&mount.from, mount.kind) {
                (Some(from), MountType::Bind | MountType::Cache) => {
                    Origin::Image(match self.dockerfile.copy_source(from) {
                        Ok(StageRef::Stage(i)) => built[i].clone().ok_or_else(|| plan_error(i))?,
                        Ok(StageRef::Image(name)) => self.base_image(&name).await?.0,
                        Err(message) => return Err(BuildError::Invalid(message)),
                    })
                }
                _ => Origin::Context,
            };
            out.push(Resolved {
                mount,
                target,
                origin,
                id,
                secret_file,
            });
        }
        Ok(out)
    }

    /// What the mounts add to the step's cache key: each mount's settings, the image a bind
    /// or cache comes from, and the content of a context directory a bind mounts. A secret's
    /// value is not part of it (as in BuildKit, changing a secret does not re-run the step).
    pub(super) fn mounts_key(&self, mounts: &[Resolved]) -> BuildResult<Value> {
        let mut out = Vec::new();
        for r in mounts {
            let m = &r.mount;
            let content = match (m.kind, &r.origin) {
                (MountType::Bind, Origin::Context) => Some(
                    context_dir::hash(self.context, &relative(m.source.as_deref()))?.to_string(),
                ),
                _ => None,
            };
            let from = match &r.origin {
                Origin::Image(d) => Some(d.to_string()),
                Origin::Context => None,
            };
            out.push(json!({
                "type": format!("{:?}", m.kind),
                "target": r.target,
                "source": m.source,
                "from": from,
                "content": content,
                "readonly": m.readonly,
                "id": r.id,
                "sharing": m.sharing.map(|s| format!("{s:?}")),
                "mode": m.mode, "uid": m.uid, "gid": m.gid,
                "size": m.size,
                "required": m.required,
                "env": m.env,
            }));
        }
        Ok(Value::Array(out))
    }

    /// Makes what `mounts` and `command`'s script need on the host.
    pub(super) async fn prepare_mounts(
        &self,
        mounts: &[Resolved],
        command: &RunCommand,
    ) -> BuildResult<Prepared> {
        let mut prepared = Prepared::default();
        match self.prepare_into(&mut prepared, mounts, command).await {
            Ok(()) => Ok(prepared),
            Err(e) => {
                prepared.release(self).await;
                Err(e)
            }
        }
    }

    async fn prepare_into(
        &self,
        prepared: &mut Prepared,
        mounts: &[Resolved],
        command: &RunCommand,
    ) -> BuildResult<()> {
        let private = self.service.exec_root.clone();
        if let Some((name, content)) = &command.script {
            let dir = Scratch::new(&private, "pipes")?;
            // Mounted as the container's /dev/pipes: any user may run the script.
            set_mode(&dir.0, 0o755)?;
            let path = dir.0.join(name);
            std::fs::write(&path, content)
                .map_err(io_error(format!("write {}", path.display())))?;
            set_mode(&path, 0o755)?;
            prepared.bind(&dir.0, PIPES, true);
            prepared.scratch.push(dir);
        }
        let mut leases = self.cache_leases(prepared, mounts).await?;
        for (i, r) in mounts.iter().enumerate() {
            let m = &r.mount;
            match m.kind {
                MountType::Bind => {
                    let rel = relative(m.source.as_deref());
                    let path = match &r.origin {
                        Origin::Image(image) => {
                            let root = self.mounted_snapshot(prepared, image).await?;
                            source_path(&root, &rel, &format!("image {}", image.short()))?
                        }
                        Origin::Context => {
                            let dir = Scratch::new(&self.service.root.join("tmp"), "mount")?;
                            let path = context_dir::write(self.context, &rel, &dir.0)?;
                            prepared.scratch.push(dir);
                            path
                        }
                    };
                    prepared.bind(&path, &r.target, m.readonly);
                }
                MountType::Cache => {
                    let lease = leases[i].take().expect("each cache mount has its lease");
                    let mut path = lease.path.clone();
                    if let (Origin::Context, Some(source)) = (&r.origin, &m.source) {
                        let rel = relative(Some(source));
                        if files::resolve(&path, &rel)?.is_none() {
                            std::fs::create_dir_all(path.join(&rel))
                                .map_err(io_error(format!("create {rel} in cache {}", r.id)))?;
                        }
                        path = source_path(&path, &rel, &format!("cache {}", r.id))?;
                    }
                    prepared.bind(&path, &r.target, m.readonly);
                    prepared.leases.push(lease);
                }
                MountType::Tmpfs => {
                    let mut options = vec!["exec".to_string()];
                    if let Some(size) = m.size.filter(|s| *s > 0) {
                        options.push(format!("size={size}"));
                    }
                    prepared.tmpfs.insert(r.target.clone(), options.join(","));
                    prepared.targets.push(r.target.clone());
                }
                MountType::Secret => self.prepare_secret(prepared, r, &private)?,
                MountType::Ssh => unreachable!("refused by resolve_mounts"),
            }
        }
        Ok(())
    }

    /// The leases of `mounts`' caches, by mount. They are taken in the order of their keys, so
    /// RUNs (of stages built at the same time) that lock the same caches never each hold one
    /// that the other waits for; a cache that one RUN mounts twice is locked once.
    async fn cache_leases(
        &self,
        prepared: &mut Prepared,
        mounts: &[Resolved],
    ) -> BuildResult<Vec<Option<Lease>>> {
        let mut wanted = Vec::new();
        for (i, r) in mounts.iter().enumerate() {
            let m = &r.mount;
            if m.kind != MountType::Cache {
                continue;
            }
            let (seed, key) = match &r.origin {
                Origin::Image(image) => {
                    let root = self.mounted_snapshot(prepared, image).await?;
                    let rel = relative(m.source.as_deref());
                    let path = source_path(&root, &rel, &format!("image {}", image.short()))?;
                    let key = json!({ "id": r.id, "from": image.to_string(), "source": rel });
                    (Seed::Copy(path), key)
                }
                Origin::Context => (
                    Seed::Empty {
                        mode: m.mode.unwrap_or(0o755),
                        uid: m.uid.unwrap_or(0),
                        gid: m.gid.unwrap_or(0),
                    },
                    json!({ "id": r.id }),
                ),
            };
            let key = berth_image::digest::sha256(key.to_string().as_bytes());
            wanted.push((key.hex().to_string(), i, seed));
        }
        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut leases: Vec<Option<Lease>> = mounts.iter().map(|_| None).collect();
        let mut locked = std::collections::HashSet::new();
        for (key, i, seed) in wanted {
            let r = &mounts[i];
            let mut sharing = r.mount.sharing.unwrap_or(CacheSharing::Shared);
            if sharing == CacheSharing::Locked && !locked.insert(key.clone()) {
                sharing = CacheSharing::Shared;
            }
            let lease = self
                .service
                .cache_mounts
                .acquire(&key, &r.id, sharing, seed)
                .await?;
            leases[i] = Some(lease);
        }
        Ok(leases)
    }

    fn prepare_secret(
        &self,
        prepared: &mut Prepared,
        r: &Resolved,
        private: &Path,
    ) -> BuildResult<()> {
        let m = &r.mount;
        let Some(secret) = self.options.secrets.get(&r.id) else {
            if m.required {
                return Err(BuildError::Invalid(format!("secret {}: not found", r.id)));
            }
            return Ok(());
        };
        if let Some(name) = &m.env {
            let value = std::str::from_utf8(secret.bytes()).map_err(|_| {
                BuildError::Invalid(format!(
                    "secret {} is not UTF-8 text, so it cannot be the environment variable {name}",
                    r.id
                ))
            })?;
            prepared.env.push(format!("{name}={value}"));
        }
        if r.secret_file.is_some() {
            let dir = Scratch::new(private, "secret")?;
            let path = dir.0.join("secret");
            {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o400)
                    .open(&path)
                    .map_err(io_error(format!("create the file of secret {}", r.id)))?;
                file.write_all(secret.bytes())
                    .map_err(io_error(format!("write the file of secret {}", r.id)))?;
            }
            std::os::unix::fs::lchown(&path, m.uid.or(Some(0)), m.gid.or(Some(0)))
                .map_err(io_error(format!("chown the file of secret {}", r.id)))?;
            set_mode(&path, m.mode.unwrap_or(0o400))?;
            prepared.bind(&path, &r.target, true);
            prepared.scratch.push(dir);
        }
        Ok(())
    }

    /// `image`'s root file system, in a snapshot of its own (a read-write bind's writes go
    /// there and are thrown away with it).
    async fn mounted_snapshot(
        &self,
        prepared: &mut Prepared,
        image: &Digest,
    ) -> BuildResult<PathBuf> {
        let images = &self.service.images;
        let id = interrupted::snapshot_id("mount");
        images.create_rootfs(image.clone(), id.clone()).await?;
        prepared.snapshots.push(id.clone());
        Ok(images.mount_rootfs(id).await?)
    }
}

fn set_mode(path: &Path, mode: u32) -> BuildResult<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_error(format!("chmod {}", path.display())))
}

/// The last component of `path` (Go's `path.Base`).
fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit('/').next() {
        Some("") | None if path.starts_with('/') => "/",
        Some(last) if !last.is_empty() => last,
        _ => ".",
    }
}

/// Go's `path.Clean`: relative paths stay relative (a cache's default id is its target as
/// written, cleaned).
fn go_clean(path: &str) -> String {
    if path.starts_with('/') {
        return clean(path);
    }
    let cleaned = clean(&format!("/{path}"));
    match cleaned.trim_start_matches('/') {
        "" => ".".into(),
        rest => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_go_cleans_them() {
        assert_eq!(base_name("/run/secrets/token"), "token");
        assert_eq!(base_name("token"), "token");
        assert_eq!(base_name("dir/"), "dir");
        assert_eq!(go_clean("/root/.cache/"), "/root/.cache");
        assert_eq!(go_clean("cache/./x"), "cache/x");
        assert_eq!(go_clean(""), ".");
    }
}
