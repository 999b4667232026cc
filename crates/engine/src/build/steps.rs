//! The steps that change files: RUN (a command in a container) and COPY/ADD (files unpacked
//! into a container), each committed as a layer. Their containers never outlive the step.

use std::path::Path;

use berth_api::containers::HostConfig;
use berth_build::parser::{Command, Heredoc, Run as RunInstruction, StageRef};
use berth_image::Digest;
use serde_json::json;

use super::files::{self, CopySpec};
use super::heredoc::{self, InlineFiles};
use super::metadata::resolve_workdir;
use super::run_mounts::Prepared;
use super::stage::{Current, Run};
use super::stubs::Stubs;
use super::{interrupted, io_error, plan_error, BuildError, BuildResult};
use crate::containers::{LogOptions, PutOptions, WaitCondition};
use crate::task::blocking;

impl Run<'_> {
    /// RUN: the command (its heredocs as BuildKit runs them) in a container of the current
    /// image, with its `--mount`s and `--network`, its output streamed; the container's
    /// changes, less the mount points its mounts needed, become the step's layer.
    pub(super) async fn run_step(
        &mut self,
        current: &mut Current,
        run: &RunInstruction,
        built: &[Option<Digest>],
    ) -> BuildResult<()> {
        let command = heredoc::run_command(&current.state, &run.command)?;
        let mounts = self.resolve_mounts(current, run, built).await?;
        let argv = command.argv.clone();
        let args = self.run_args(current);
        let mut created_by = argv.join(" ");
        if !args.is_empty() {
            created_by = format!("|{} {} {created_by}", args.len(), args.join(" "));
        }
        let mut env = args;
        env.extend(self.proxy_env(current));
        let network = match run.network.as_deref() {
            Some(mode @ ("none" | "host")) => mode.to_string(),
            _ => String::new(),
        };
        let key = self.key(
            current,
            &created_by,
            &json!({
                "env": env,
                "script": command.script,
                "mounts": self.mounts_key(&mounts)?,
                "network": network,
            }),
        );
        if self.cached(current, &key).await? {
            return Ok(());
        }
        let prepared = self.prepare_mounts(&mounts, &command).await?;
        let result = self
            .run_prepared(current, &prepared, argv, env, network, created_by.clone())
            .await;
        prepared.release(self).await;
        let image = result?;
        self.made(current, &key, image, created_by)
    }

    async fn run_prepared(
        &self,
        current: &Current,
        prepared: &Prepared,
        argv: Vec<String>,
        mut env: Vec<String>,
        network_mode: String,
        created_by: String,
    ) -> BuildResult<Digest> {
        let host = HostConfig {
            mounts: prepared.mounts.clone(),
            tmpfs: prepared.tmpfs.clone(),
            network_mode,
            ..Default::default()
        };
        env.extend(prepared.env.iter().cloned());
        let id = self
            .create_container(current, argv.clone(), env, host)
            .await?;
        self.say(format!(" ---> Running in {}\n", &id[..12]));
        let result = self
            .run_and_commit(current, &id, &argv, &prepared.targets, created_by)
            .await;
        self.remove_container(&id).await;
        let image = result?;
        self.say(format!(
            " ---> Removed intermediate container {}\n",
            &id[..12]
        ));
        Ok(image)
    }

    async fn run_and_commit(
        &self,
        current: &Current,
        id: &str,
        argv: &[String],
        mount_targets: &[String],
        created_by: String,
    ) -> BuildResult<Digest> {
        let containers = &self.service.containers;
        let images = &self.service.images;
        let stubs = if mount_targets.is_empty() {
            Stubs::default()
        } else {
            let rootfs = images.mount_rootfs(id.to_string()).await?;
            let targets = mount_targets.to_vec();
            blocking("find mount points", move || Stubs::find(&rootfs, &targets)).await?
        };
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
        if !mount_targets.is_empty() {
            let rootfs = images.mount_rootfs(id.to_string()).await?;
            blocking("remove mount points", move || stubs.remove(&rootfs)).await?;
            images.unmount_rootfs(id.to_string()).await?;
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
        let (instruction, sources, docs, dest, from, chown, chmod, unpack, link) = match command {
            Command::Copy(c) => (
                "COPY",
                &c.sources,
                &c.heredocs,
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
                &a.heredocs,
                &a.dest,
                None,
                &a.chown,
                &a.chmod,
                a.unpack.unwrap_or(true),
                a.link,
            ),
            _ => unreachable!("only COPY and ADD copy files"),
        };
        if !docs.is_empty() && sources.len() + docs.len() > 1 && !dest.ends_with('/') {
            return Err(BuildError::Invalid(format!(
                "When using {instruction} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
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
        // Sources from the context or a stage (none when only heredocs are copied).
        let mut taken = if sources.is_empty() {
            None
        } else {
            Some(self.copy_sources(spec, source_image).await?)
        };
        // Heredoc files are small: their tar is made in memory.
        let inline = if docs.is_empty() {
            None
        } else {
            let files = InlineFiles {
                docs,
                dest: &abs,
                owner,
                mode,
            };
            let mut tar = Vec::new();
            let hash = files.write_tar(&mut tar)?;
            Some((tar, hash))
        };
        let (kind, hash) = content_id(
            taken.as_ref().map(|s| (s.kind, &s.hash)),
            inline.as_ref().map(|(_, hash)| hash),
            docs,
        )?;
        let created_by = format!(
            "{} #(nop) {instruction} {kind}:{hash} in {dest} ",
            current.state.shell.join(" "),
        );
        let mut extra = json!({ "owner": owner, "mode": mode });
        if link {
            extra["link"] = json!(true);
        }
        let key = self.key(current, &created_by, &extra);
        if self.cached(current, &key).await? {
            return Ok(());
        }
        // A linked copy's layer is its own tar; heredoc files with --link are applied as a
        // plain COPY applies them.
        if let (true, Some(taken), None) = (link, &mut taken, &inline) {
            drop(self.copy_tar(taken).await?);
            let tar = taken.tar_path().expect("copy_tar wrote the tar");
            return self.link_step(current, tar, &key, created_by).await;
        }
        let mut cmd = current.state.shell.clone();
        cmd.push(format!("#(nop) {instruction} {abs}"));
        let mut inputs: Vec<Box<dyn std::io::Read + Send>> = Vec::new();
        if let Some(taken) = &mut taken {
            inputs.push(Box::new(self.copy_tar(taken).await?));
        }
        if let Some((tar, _)) = inline {
            inputs.push(Box::new(std::io::Cursor::new(tar)));
        }
        let id = self
            .create_container(current, cmd, Vec::new(), HostConfig::default())
            .await?;
        let result = self
            .put_and_commit(current, &id, inputs, created_by.clone())
            .await;
        self.remove_container(&id).await;
        self.made(current, &key, result?, created_by)
    }

    /// Unpacks the tars `inputs` at `/` of container `id`, one after the other, and commits it.
    async fn put_and_commit(
        &self,
        current: &Current,
        id: &str,
        inputs: Vec<Box<dyn std::io::Read + Send>>,
        created_by: String,
    ) -> BuildResult<Digest> {
        for input in inputs {
            let options = PutOptions {
                no_overwrite_dir_non_dir: false,
                copy_uid_gid: true,
            };
            self.service
                .containers
                .put_archive(id, "/", input, options)
                .await?;
        }
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
        let id = self
            .create_container(current, cmd, Vec::new(), HostConfig::default())
            .await?;
        let result = async {
            match self.service.containers.stat_path(&id, &dir).await {
                Ok(_) => {
                    let options = self.commit_options(current, String::new(), created_by.clone());
                    Ok(self.service.images.derive(options).await?)
                }
                Err(crate::Error::NoSuchPath { .. }) => {
                    let tar = directory_tar(&dir)?;
                    let input: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(tar));
                    self.put_and_commit(current, &id, vec![input], created_by.clone())
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
        let id = interrupted::snapshot_id("files");
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

/// What a COPY's history names its content by: the kind and hash of the files taken from a
/// tree, of the heredoc files, or of both together.
fn content_id(
    taken: Option<(&'static str, &Digest)>,
    inline: Option<&Digest>,
    docs: &[Heredoc],
) -> BuildResult<(&'static str, String)> {
    Ok(match (taken, inline) {
        (Some((kind, hash)), None) => (kind, hash.hex().to_string()),
        (None, Some(h)) if docs.len() == 1 => ("file", h.hex().to_string()),
        (None, Some(h)) => ("multi", h.hex().to_string()),
        (Some((_, hash)), Some(h)) => {
            let both = format!("{hash}{h}");
            (
                "multi",
                berth_image::digest::sha256(both.as_bytes())
                    .hex()
                    .to_string(),
            )
        }
        (None, None) => {
            return Err(BuildError::Invalid(
                "COPY failed: no source files were specified".into(),
            ))
        }
    })
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
