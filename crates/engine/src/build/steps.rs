//! The steps that change files: RUN (a command in a container) and COPY/ADD (files unpacked
//! into a container), each committed as a layer. Their containers never outlive the step.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_build::parser::{Command, Run as RunInstruction, StageRef};
use berth_image::Digest;
use serde_json::json;

use super::files::{self, CopySpec};
use super::metadata::resolve_workdir;
use super::stage::{Current, Run};
use super::{io_error, plan_error, BuildError, BuildResult};
use crate::containers::{LogOptions, PutOptions, WaitCondition};
use crate::task::blocking;

static NEXT_ROOTFS: AtomicU64 = AtomicU64::new(0);

impl Run<'_> {
    /// RUN: the command in a container of the current image, its output streamed; the
    /// container's changes become the step's layer.
    pub(super) async fn run_step(
        &mut self,
        current: &mut Current,
        run: &RunInstruction,
    ) -> BuildResult<()> {
        if !run.command.heredocs.is_empty() || !run.mounts.is_empty() {
            return Err(BuildError::Invalid(
                "RUN heredocs and --mount need BuildKit; the legacy builder does not support them"
                    .into(),
            ));
        }
        let argv = current.state.argv(&run.command);
        let args = self.run_args(current);
        let mut created_by = argv.join(" ");
        if !args.is_empty() {
            created_by = format!("|{} {} {created_by}", args.len(), args.join(" "));
        }
        let mut env = args;
        env.extend(self.proxy_env(current));
        let key = self.key(current, &created_by, &json!({ "env": env }));
        if self.cached(current, &key).await? {
            return Ok(());
        }
        let id = self.create_container(current, argv.clone(), env).await?;
        self.say(format!(" ---> Running in {}\n", &id[..12]));
        let result = self
            .run_and_commit(current, &id, &argv, created_by.clone())
            .await;
        self.remove_container(&id).await;
        let image = result?;
        self.say(format!(
            " ---> Removed intermediate container {}\n",
            &id[..12]
        ));
        self.made(current, &key, image, created_by)
    }

    async fn run_and_commit(
        &self,
        current: &Current,
        id: &str,
        argv: &[String],
        created_by: String,
    ) -> BuildResult<Digest> {
        let containers = &self.service.containers;
        let exited = containers.wait(id, WaitCondition::NextExit)?;
        containers.start(id).await?;
        let mut logs = containers.logs(
            id,
            LogOptions {
                follow: true,
                ..Default::default()
            },
        )?;
        while let Some(entry) = logs.recv().await {
            self.say(String::from_utf8_lossy(&entry.line).into_owned());
        }
        let code = exited.await;
        if code != 0 {
            return Err(BuildError::CommandFailed {
                command: argv.join(" "),
                code,
            });
        }
        let options = self.commit_options(current, id.to_string(), created_by);
        Ok(self.service.images.commit(options, None).await?)
    }

    /// COPY and ADD: the sources, from the context or another stage or image, unpacked into
    /// a container of the current image at the destination.
    pub(super) async fn copy_step(
        &mut self,
        current: &mut Current,
        command: &Command,
        built: &[Option<Digest>],
    ) -> BuildResult<()> {
        let (instruction, sources, dest, from, chown, chmod, unpack, link) = match command {
            Command::Copy(c) => (
                "COPY",
                &c.sources,
                &c.dest,
                c.from.as_deref(),
                &c.chown,
                &c.chmod,
                false,
                c.link,
            ),
            Command::Add(a) => (
                "ADD",
                &a.sources,
                &a.dest,
                None,
                &a.chown,
                &a.chmod,
                a.unpack.unwrap_or(true),
                a.link,
            ),
            _ => unreachable!("only COPY and ADD copy files"),
        };
        let mut abs = resolve_workdir(&current.config.working_dir, dest);
        if (dest.ends_with('/') || dest.ends_with('.') || dest.is_empty()) && abs != "/" {
            abs.push('/');
        }
        let mode = chmod
            .as_deref()
            .map(|m| {
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| BuildError::Invalid(format!("invalid chmod parameter: {m}")))
            })
            .transpose()?;
        let source_image = match from {
            None => None,
            Some(from) => Some(match self.dockerfile.copy_source(from) {
                Ok(StageRef::Stage(i)) => built[i].clone().ok_or_else(|| plan_error(i))?,
                Ok(StageRef::Image(name)) => self.base_image(&name).await?.0,
                Err(message) => return Err(BuildError::Invalid(message)),
            }),
        };
        let owner = match chown {
            None => (0, 0),
            Some(spec) => self.owner(current, spec).await?,
        };
        let spec = CopySpec {
            instruction,
            sources: sources.clone(),
            dest: abs.clone(),
            owner,
            mode,
            unpack_archives: unpack,
        };
        let mut sources = self.copy_sources(spec, source_image).await?;
        let created_by = format!(
            "{} #(nop) {instruction} {}:{} in {dest} ",
            current.state.shell.join(" "),
            sources.kind,
            sources.hash.hex()
        );
        let mut extra = json!({ "owner": owner, "mode": mode });
        if link {
            extra["link"] = json!(true);
        }
        let key = self.key(current, &created_by, &extra);
        if self.cached(current, &key).await? {
            return Ok(());
        }
        if link {
            drop(self.copy_tar(&mut sources).await?);
            let tar = sources.tar_path().expect("copy_tar wrote the tar");
            return self.link_step(current, tar, &key, created_by).await;
        }
        let mut cmd = current.state.shell.clone();
        cmd.push(format!("#(nop) {instruction} {abs}"));
        let input = self.copy_tar(&mut sources).await?;
        let id = self.create_container(current, cmd, Vec::new()).await?;
        let result = self
            .put_and_commit(current, &id, input, created_by.clone())
            .await;
        self.remove_container(&id).await;
        self.made(current, &key, result?, created_by)
    }

    /// Unpacks the tar `input` at `/` of container `id` and commits it.
    async fn put_and_commit(
        &self,
        current: &Current,
        id: &str,
        input: impl std::io::Read + Send + 'static,
        created_by: String,
    ) -> BuildResult<Digest> {
        let options = PutOptions {
            no_overwrite_dir_non_dir: false,
            copy_uid_gid: true,
        };
        self.service
            .containers
            .put_archive(id, "/", input, options)
            .await?;
        let options = self.commit_options(current, id.to_string(), created_by);
        Ok(self.service.images.commit(options, None).await?)
    }

    /// WORKDIR: the directory is made (root's, 0755) when the image lacks it, as a layer.
    pub(super) async fn workdir_step(
        &mut self,
        current: &mut Current,
        created_by: String,
    ) -> BuildResult<()> {
        let key = self.key(current, &created_by, &json!("workdir"));
        if self.cached(current, &key).await? {
            return Ok(());
        }
        let dir = current.config.working_dir.clone();
        let mut cmd = current.state.shell.clone();
        cmd.push(format!("#(nop) WORKDIR {dir}"));
        let id = self.create_container(current, cmd, Vec::new()).await?;
        let result = async {
            match self.service.containers.stat_path(&id, &dir).await {
                Ok(_) => {
                    let options = self.commit_options(current, String::new(), created_by.clone());
                    Ok(self.service.images.derive(options).await?)
                }
                Err(crate::Error::NoSuchPath { .. }) => {
                    let tar = directory_tar(&dir)?;
                    self.put_and_commit(current, &id, std::io::Cursor::new(tar), created_by.clone())
                        .await
                }
                Err(e) => Err(e.into()),
            }
        }
        .await;
        self.remove_container(&id).await;
        self.made(current, &key, result?, created_by)
    }

    /// `--chown`'s user and group as numbers, names looked up in the image's `/etc/passwd`
    /// and `/etc/group`.
    async fn owner(&self, current: &Current, spec: &str) -> BuildResult<(u32, u32)> {
        let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
        if let (Ok(uid), Ok(gid)) = (user.parse::<u32>(), group.parse::<u32>()) {
            return Ok((uid, gid));
        }
        let (user, group, spec) = (user.to_string(), group.to_string(), spec.to_string());
        self.with_rootfs(&current.image, move |root| {
            // `name:x:id:…`: the id, and for a user its primary group.
            let lookup = |file: &str, name: &str| -> BuildResult<Option<(u32, Option<u32>)>> {
                if let Ok(n) = name.parse::<u32>() {
                    return Ok(Some((n, Some(n))));
                }
                let Some(path) = files::resolve(root, file)? else {
                    return Ok(None);
                };
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                Ok(text.lines().find_map(|line| {
                    let fields: Vec<&str> = line.split(':').collect();
                    if fields.first() != Some(&name) {
                        return None;
                    }
                    let id = fields.get(2)?.parse().ok()?;
                    Some((id, fields.get(3).and_then(|g| g.parse().ok())))
                }))
            };
            let unknown = |what: &str| {
                BuildError::Invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find {what} for {spec}"
                ))
            };
            let (uid, primary) = lookup("etc/passwd", &user)?.ok_or_else(|| unknown("uid"))?;
            let gid = if group.is_empty() {
                primary.unwrap_or(uid)
            } else {
                lookup("etc/group", &group)?.ok_or_else(|| unknown("gid"))?.0
            };
            Ok((uid, gid))
        })
        .await
    }

    /// Runs `work` on the blocking pool with image `image`'s root file system mounted.
    pub(super) async fn with_rootfs<T: Send + 'static>(
        &self,
        image: &Digest,
        work: impl FnOnce(&Path) -> BuildResult<T> + Send + 'static,
    ) -> BuildResult<T> {
        let images = &self.service.images;
        let id = format!(
            "build-{}-{}",
            std::process::id(),
            NEXT_ROOTFS.fetch_add(1, Ordering::Relaxed)
        );
        let result = async {
            images.create_rootfs(image.clone(), id.clone()).await?;
            let root = images.mount_rootfs(id.clone()).await?;
            let done = blocking("read a stage's files", move || work(&root)).await;
            let _ = images.unmount_rootfs(id.clone()).await;
            done?
        }
        .await;
        if let Err(e) = images.remove_rootfs(id.clone()).await {
            eprintln!("berthd: build: removing snapshot {id}: {e}");
        }
        result
    }
}

/// A tar of the one directory `path`, root's, mode 0755.
fn directory_tar(path: &str) -> BuildResult<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    header.set_mtime(now);
    let mut tar = tar::Builder::new(Vec::new());
    let name = format!("{}/", path.trim_matches('/'));
    tar.append_data(&mut header, &name, std::io::empty())
        .and_then(|()| tar.into_inner())
        .map_err(io_error(format!("make the tar of {path}")))
}
