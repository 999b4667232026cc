//! The container service: creates containers from images, runs each under its own shim
//! (`berth-shim`, which calls the runtime as a library and outlives the daemon), and keeps
//! their records under `<data-root>/containers/<id>/`.
//!
//! Layout: `<data-root>/containers/<id>/{config.v2.json, <id>-json.log*, hostname, hosts,
//! resolv.conf}`; `<exec-root>/containers/<id>/{config.json (the OCI bundle), exit.json}`; the
//! shim's socket `<exec-root>/s/<id>` (short: a socket path must fit in 108 bytes); the
//! runtime's state under `<exec-root>/runtime`.

mod archive;
mod archive_path;
mod attach;
pub mod commit;
mod config;
mod exec;
mod external;
mod health;
mod lifecycle;
mod logs;
pub mod mount_plan;
pub(crate) mod names;
mod networking;
pub mod record;
mod restart;
mod restore;
mod runtimes;
mod spec_input;
mod stats;
mod table;
mod views;
mod volume_mounts;
pub mod volume_spec;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_api::containers::ContainerCreateRequest;

use crate::error::{Error, Result};
use crate::events::{Event, Events};
use crate::images::ImageService;
use crate::networks::NetworkService;
use crate::task::blocking;
use crate::volumes::VolumeService;
use record::{ContainerRecord, LogSettings, RunState, ZERO_TIME};
use table::{Entry, Table};

pub use archive::{ArchiveReader, PutOptions};
pub use attach::Attachment;
pub use exec::frame_header;
pub use exec::ExecStart;
pub use lifecycle::WaitCondition;
pub use logs::{parse_timestamp, LogOptions};
pub use runtimes::{parse_added, Runtime, Runtimes, DEFAULT_RUNTIME};
pub use table::AttachStreams;

/// Log rotation used when the request does not set `max-size`/`max-file`: bounded by default
/// (Docker's unbounded default fills disks).
const DEFAULT_LOG_MAX_SIZE: u64 = 20 << 20;
const DEFAULT_LOG_MAX_FILES: u32 = 5;

/// Where the service keeps things and which programs it runs.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `<data-root>/containers`.
    pub data: PathBuf,
    /// `<exec-root>/containers`.
    pub run: PathBuf,
    /// `<exec-root>/s`: the shims' sockets.
    pub sockets: PathBuf,
    /// berth-runtime's state root, `<exec-root>/runtime`.
    pub runtime_root: PathBuf,
    /// External runtimes' state roots, `<exec-root>/runtimes/<name>`.
    pub external_roots: PathBuf,
    /// The `berth-shim` binary.
    pub shim: PathBuf,
    /// The `berth-runtime` binary (exec and healthchecks run through it).
    pub runtime: PathBuf,
    /// The runtimes containers may ask for by name.
    pub runtimes: Runtimes,
}

impl Paths {
    /// The usual layout under the daemon's roots, with the helper binaries found next to the
    /// running executable (or on `PATH`).
    pub fn under(data_root: &Path, exec_root: &Path) -> Paths {
        Paths {
            data: data_root.join("containers"),
            run: exec_root.join("containers"),
            sockets: exec_root.join("s"),
            runtime_root: exec_root.join("runtime"),
            external_roots: exec_root.join("runtimes"),
            shim: sibling_binary("berth-shim"),
            runtime: sibling_binary("berth-runtime"),
            runtimes: Runtimes::discover(std::env::var_os("PATH").as_deref()),
        }
    }
}

/// `name` next to the current executable if it is there, else just `name` (found on `PATH`).
fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

pub(crate) struct Inner {
    paths: Paths,
    images: ImageService,
    networks: NetworkService,
    volumes: VolumeService,
    events: Events,
    table: Mutex<Table>,
    execs: Mutex<exec::Execs>,
}

/// The containers of one daemon; cheap to clone.
#[derive(Clone)]
pub struct ContainerService {
    inner: Arc<Inner>,
}

impl ContainerService {
    /// Loads the containers recorded under `paths.data`, reconnects to the shims of those that
    /// were running, and records the exits of those that stopped meanwhile.
    pub async fn open(
        paths: Paths,
        images: ImageService,
        networks: NetworkService,
        volumes: VolumeService,
        events: Events,
    ) -> Result<Self> {
        // A unix socket path holds at most 107 bytes: check now, not at the first start.
        // The console socket of a tty container under an external runtime is the longest.
        let longest = berth_shim::server::console_socket(&paths.sockets.join("0".repeat(64)));
        if longest.as_os_str().len() > 107 {
            return Err(Error::InvalidParameter {
                what: "exec root".into(),
                reason: format!(
                    "{} is too long: the shims' sockets ({}/<64-digit id>.tty) must fit in 107 bytes; use a shorter --exec-root",
                    paths.run.parent().unwrap_or(&paths.run).display(),
                    paths.sockets.display()
                ),
            });
        }
        for dir in [&paths.data, &paths.run, &paths.runtime_root] {
            fs::create_dir_all(dir).map_err(|e| io(format!("create {}", dir.display()), e))?;
        }
        let service = ContainerService {
            inner: Arc::new(Inner {
                paths,
                images,
                networks,
                volumes,
                events,
                table: Mutex::new(Table::default()),
                execs: Mutex::new(exec::Execs::default()),
            }),
        };
        let in_use = service.clone();
        service
            .inner
            .images
            .set_in_use(Arc::new(move |image| in_use.uses_image(image)));
        service.restore().await?;
        Ok(service)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn find(&self, key: &str) -> Result<Arc<Entry>> {
        self.table().find(key)
    }

    fn data_dir(&self, id: &str) -> PathBuf {
        self.inner.paths.data.join(id)
    }

    fn run_dir(&self, id: &str) -> PathBuf {
        self.inner.paths.run.join(id)
    }

    fn shim_socket(&self, id: &str) -> PathBuf {
        self.inner.paths.sockets.join(id)
    }

    /// The runtime a container was created with.
    fn runtime_of(&self, entry: &Entry) -> Result<Runtime> {
        let name = entry.record().host_config.runtime.clone();
        self.inner.paths.runtimes.get(&name)
    }

    /// Where `runtime` keeps the state of its containers.
    fn runtime_root(&self, runtime: &Runtime) -> PathBuf {
        match runtime {
            Runtime::Builtin => self.inner.paths.runtime_root.clone(),
            Runtime::External { name, .. } => self.inner.paths.external_roots.join(name),
        }
    }

    /// Every runtime containers may ask for, with its binary, the default first.
    pub fn runtimes(&self) -> Vec<(String, PathBuf)> {
        let paths = &self.inner.paths;
        let default = (DEFAULT_RUNTIME.to_string(), paths.runtime.clone());
        std::iter::once(default)
            .chain(
                paths
                    .runtimes
                    .external()
                    .map(|(name, path)| (name.to_string(), path.to_path_buf())),
            )
            .collect()
    }

    /// Whether any container was made from `image`.
    fn uses_image(&self, image: &berth_image::Digest) -> bool {
        let image = image.to_string();
        self.table()
            .all()
            .iter()
            .any(|entry| entry.record().image_id == image)
    }

    /// How many containers there are, and how many run, are paused, are stopped.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let all = self.table().all();
        let (mut running, mut paused) = (0, 0);
        for entry in &all {
            match entry.record().state.status {
                record::Status::Running | record::Status::Restarting => running += 1,
                record::Status::Paused => paused += 1,
                _ => {}
            }
        }
        (all.len(), running, paused, all.len() - running - paused)
    }

    /// The full id of the container `key` names (id, prefix or name).
    pub fn resolve(&self, key: &str) -> Result<String> {
        Ok(self.find(key)?.id.clone())
    }

    /// `POST /containers/create`: returns the new container's id and warnings.
    pub async fn create(
        &self,
        name: Option<String>,
        request: ContainerCreateRequest,
    ) -> Result<(String, Vec<String>)> {
        let image_name = request.config.image.clone();
        if image_name.is_empty() {
            return Err(Error::InvalidParameter {
                what: "config".into(),
                reason: "no image was given".into(),
            });
        }
        let image = match self.inner.images.for_container(image_name.clone()).await {
            Err(Error::Image(berth_image::Error::ImageNotFound(_))) => {
                return Err(Error::NoSuchImage(image_name))
            }
            other => other?,
        };
        let mut config = config::merge(&request.config, &image.config);
        config.image = image_name.clone();
        let (path, args) = config::command(&config).ok_or_else(|| Error::InvalidParameter {
            what: "config".into(),
            reason: "no command specified".into(),
        })?;
        let mut host_config = request.host_config.clone();
        host_config.runtime = match self.inner.paths.runtimes.get(&host_config.runtime)? {
            Runtime::Builtin => DEFAULT_RUNTIME.to_string(),
            Runtime::External { name, .. } => name,
        };
        spec_input::check(&host_config)?;
        let log = log_settings(&host_config, &self.data_dir("x"))?;
        let id = names::new_id();
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
        let endpoints_config =
            networking::endpoints_config(&host_config, &request.networking_config);
        if !networking::joins_another(&host_config) {
            let spec = networking::sandbox_spec(&id, "", &config, &host_config, &endpoints_config)?;
            self.inner.networks.validate(&spec)?;
        }
        let name = self.claim_name(name, &id)?;
        let mount_points = match self.make_mount_points(&id, &host_config, &config) {
            Ok(points) => points,
            Err(e) => {
                self.table().release_name(&name);
                return Err(e);
            }
        };
        let made = self
            .make(
                &id,
                &name,
                image_name,
                image.id,
                config,
                host_config,
                path,
                args,
                log,
                endpoints_config,
                mount_points.clone(),
            )
            .await;
        match made {
            Ok(entry) => {
                self.table().insert(entry);
                self.publish("create", &id);
                Ok((id, Vec::new()))
            }
            Err(e) => {
                self.table().release_name(&name);
                volume_mounts::release(&self.inner.volumes, &id, &mount_points, true);
                let _ = self.inner.images.remove_rootfs(id.clone()).await;
                let _ = fs::remove_dir_all(self.data_dir(&id));
                Err(e)
            }
        }
    }

    /// Takes the requested name (checked) or generates one that is free.
    fn claim_name(&self, name: Option<String>, id: &str) -> Result<String> {
        let mut table = self.table();
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            let name = names::validate(&name).map_err(|reason| Error::InvalidParameter {
                what: "name".into(),
                reason,
            })?;
            table.reserve_name(&name, id)?;
            return Ok(name);
        }
        let mut attempt = 0;
        loop {
            let candidate = names::generate(attempt);
            if table.name_free(&candidate) {
                table.reserve_name(&candidate, id)?;
                return Ok(candidate);
            }
            attempt += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn make(
        &self,
        id: &str,
        name: &str,
        image: String,
        image_id: berth_image::Digest,
        config: berth_api::containers::ContainerConfig,
        host_config: berth_api::containers::HostConfig,
        path: String,
        args: Vec<String>,
        mut log: LogSettings,
        endpoints_config: std::collections::BTreeMap<
            String,
            berth_api::container_inspect::EndpointSettings,
        >,
        mount_points: Vec<mount_plan::MountPoint>,
    ) -> Result<Arc<Entry>> {
        let dir = self.data_dir(id);
        fs::create_dir_all(&dir).map_err(|e| io(format!("create {}", dir.display()), e))?;
        log.path = dir.join(format!("{id}-json.log"));
        let rootfs = self
            .inner
            .images
            .create_rootfs(image_id.clone(), id.to_string())
            .await?;
        let etc = crate::spec::etc_paths(&dir);
        let etc_path = |name: &str| {
            etc.iter()
                .find(|(_, target)| target == name)
                .map(|(host, _)| host.clone())
                .unwrap_or_default()
        };
        let record = ContainerRecord {
            id: id.to_string(),
            name: name.to_string(),
            created: berth_shim::time::format(std::time::SystemTime::now()),
            image,
            image_id: image_id.to_string(),
            hostname_path: etc_path("/etc/hostname"),
            hosts_path: etc_path("/etc/hosts"),
            resolv_conf_path: etc_path("/etc/resolv.conf"),
            config,
            host_config,
            path,
            args,
            state: RunState {
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..RunState::default()
            },
            restart_count: 0,
            log,
            rootfs,
            endpoints_config,
            network: Default::default(),
            mount_points,
        };
        record.save(&dir)?;
        Ok(Entry::new(record))
    }

    /// `DELETE /containers/{id}?force=&v=`: a running container needs `force` (it is killed
    /// first); `volumes` removes its anonymous volumes too.
    pub async fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.find(key)?;
        let _op = entry.op.lock().await;
        if entry.record().state.status.is_live() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    entry.record().name
                )));
            }
            self.kill_and_wait(&entry).await?;
        }
        self.remove_stopped(&entry, volumes).await
    }

    /// Removes a container that is not running (its op lock held by the caller); with
    /// `volumes`, its anonymous volumes too.
    async fn remove_stopped(&self, entry: &Arc<Entry>, volumes: bool) -> Result<()> {
        if self.table().find(&entry.id).is_err() {
            return Ok(());
        }
        entry.record().state.status = record::Status::Removing;
        self.inner.images.remove_rootfs(entry.id.clone()).await?;
        self.release_volumes(&entry.snapshot(), volumes);
        let _ = fs::remove_dir_all(self.run_dir(&entry.id));
        let dir = self.data_dir(&entry.id);
        fs::remove_dir_all(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| io(format!("remove {}", dir.display()), e))?;
        self.publish("destroy", &entry.id);
        self.table().remove(&entry.id);
        entry.notify(|g| g.removed = true);
        Ok(())
    }

    /// `POST /containers/{id}/rename?name=`.
    pub async fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let entry = self.find(key)?;
        let new_name = names::validate(new_name).map_err(|reason| Error::InvalidParameter {
            what: "name".into(),
            reason,
        })?;
        let old = entry.record().name.clone();
        if old == new_name {
            return Err(Error::Conflict(format!(
                "Renaming a container with the same name as its current name: {new_name}"
            )));
        }
        self.table().reserve_name(&new_name, &entry.id)?;
        let saved = {
            let mut record = entry.record();
            record.name = new_name.clone();
            record.save(&self.data_dir(&entry.id))
        };
        if let Err(e) = saved {
            self.table().release_name(&new_name);
            entry.record().name = old;
            return Err(e);
        }
        self.table().release_name(&old);
        self.publish_with("rename", &entry.id, &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `POST /containers/prune`: removes every stopped container; returns their ids and the
    /// bytes their changes held.
    pub async fn prune(&self) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let all = self.table().all();
        for entry in all {
            let _op = entry.op.lock().await;
            let status = entry.record().state.status;
            if matches!(
                status,
                record::Status::Exited | record::Status::Created | record::Status::Dead
            ) {
                self.remove_stopped(&entry, false).await?;
                removed.push(entry.id.clone());
            }
        }
        Ok((removed, 0))
    }

    fn publish(&self, action: &str, id: &str) {
        self.publish_with(action, id, &[]);
    }

    fn publish_with(&self, action: &str, id: &str, extra: &[(&str, String)]) {
        let Ok(entry) = self.find(id) else {
            // Already gone from the table (destroy): use what the caller knows.
            self.inner
                .events
                .publish(Event::now("container", action, id));
            return;
        };
        let record = entry.record();
        let mut event = Event::now("container", action, id)
            .with("name", record.name.clone())
            .with("image", record.image.clone());
        for (key, value) in &record.config.labels {
            event = event.with(key, value.clone());
        }
        for (key, value) in extra {
            event = event.with(key, value.clone());
        }
        drop(record);
        self.inner.events.publish(event);
    }
}

/// The json-file log settings a request asks for (`--log-opt max-size=10m max-file=3`).
fn log_settings(host: &berth_api::containers::HostConfig, dir: &Path) -> Result<LogSettings> {
    let driver = host.log_config.r#type.as_str();
    if !matches!(driver, "" | "json-file" | "local") {
        return Err(Error::InvalidParameter {
            what: "log driver".into(),
            reason: format!("{driver:?} is not supported (json-file is)"),
        });
    }
    let options = &host.log_config.config;
    let max_size = match options.get("max-size") {
        Some(text) => parse_size(text).ok_or_else(|| Error::InvalidParameter {
            what: "log-opt max-size".into(),
            reason: format!("{text:?} is not a size such as 10m"),
        })?,
        None => DEFAULT_LOG_MAX_SIZE,
    };
    let max_files = match options.get("max-file") {
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Error::InvalidParameter {
                what: "log-opt max-file".into(),
                reason: format!("{text:?} is not a positive number"),
            })?,
        None => DEFAULT_LOG_MAX_FILES,
    };
    if let Some(unknown) = options.keys().find(|k| {
        !matches!(
            k.as_str(),
            "max-size" | "max-file" | "compress" | "labels" | "env" | "tag"
        )
    }) {
        return Err(Error::InvalidParameter {
            what: "log-opt".into(),
            reason: format!("unknown log opt '{unknown}' for json-file log driver"),
        });
    }
    Ok(LogSettings {
        path: dir.to_path_buf(),
        max_size,
        max_files,
    })
}

/// `10m`, `512k`, `1g`, `100` (bytes).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let text = text.strip_suffix('b').unwrap_or(&text);
    let (digits, unit) = match text
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let value: f64 = digits.parse().ok()?;
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    Some((value * scale as f64) as u64)
}

fn io(context: String, source: std::io::Error) -> Error {
    Error::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_writes_them() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("ten"), None);
    }
}
