//! Starting, stopping and waiting: each start spawns a shim that creates the container and
//! starts it once pending attach requests are connected; a monitor task waits for the exit,
//! records it, and applies the restart policy or `--rm`.

use std::sync::Arc;
use std::time::Duration;

use berth_shim::{Client, ExitStatus};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::record::Status;
use super::table::Entry;
use super::{blocking, io, spec_input, ContainerService};
use crate::error::{Error, Result};

/// What `POST /containers/{id}/wait?condition=` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// Returns at once if the container is not running, else at its exit.
    #[default]
    NotRunning,
    /// Waits for the next exit, even of a container not yet started.
    NextExit,
    /// Waits until the container is removed.
    Removed,
}

impl std::str::FromStr for WaitCondition {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::InvalidParameter {
                what: "condition".into(),
                reason: format!("{other:?} is not one of not-running, next-exit, removed"),
            }),
        }
    }
}

/// How long a signal's failure waits for the exit that explains it to be recorded.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// Docker's stop timeout when neither the request nor the container sets one.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl ContainerService {
    /// `POST /containers/{id}/start`.
    pub async fn start(&self, key: &str) -> Result<()> {
        let entry = self.find(key)?;
        let _op = entry.op.lock().await;
        match entry.record().state.status {
            Status::Running | Status::Paused => {
                return Err(Error::NotModified(entry.id.clone(), "started"))
            }
            Status::Removing | Status::Dead => {
                return Err(Error::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    entry.id
                )))
            }
            _ => {}
        }
        self.start_locked(&entry).await
    }

    /// Starts `entry` (its op lock held by the caller).
    pub(super) async fn start_locked(&self, entry: &Arc<Entry>) -> Result<()> {
        let id = entry.id.clone();
        let runtime = self.runtime_of(entry)?;
        let runtime_root = self.runtime_root(&runtime);
        let runtime_binary = match runtime {
            super::Runtime::Builtin => None,
            super::Runtime::External { path, .. } => Some(path),
        };
        let rootfs = self.inner.images.mount_rootfs(id.clone()).await?;
        let mut record = entry.snapshot();
        let networking = match self.attach_network(&mut record).await {
            Ok(attached) => attached,
            Err(e) => {
                let _ = self.inner.images.unmount_rootfs(id.clone()).await;
                return Err(self.start_failed(entry, e).await);
            }
        };
        record.network = networking.state.clone();
        let network_state = networking.state.clone();
        // Published ports are forwarded by a firewall reload, which runs while the container
        // is created and must be done before it starts.
        let (forwarded_tx, forwarded) = std::sync::mpsc::channel::<Result<()>>();
        if network_state.ports.is_empty() {
            let _ = forwarded_tx.send(Ok(()));
        } else {
            let networks = self.inner.networks.clone();
            tokio::spawn(async move {
                let _ = forwarded_tx.send(networks.reload_firewall().await);
            });
        }
        let shim = self.inner.paths.shim.clone();
        let volumes = self.inner.volumes.clone();
        let run_dir = self.run_dir(&id);
        let data_dir = self.data_dir(&id);
        let socket = self.shim_socket(&id);
        if let Some(parent) = socket.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| io(format!("create {}", parent.display()), e))?;
        }
        let pending: Vec<_> = std::mem::take(
            &mut *entry
                .pending_attach
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        let started = blocking(
            &format!("start {id}"),
            move || -> Result<berth_shim::Spawned> {
                std::fs::create_dir_all(&run_dir)
                    .map_err(|e| io(format!("create {}", run_dir.display()), e))?;
                let _ = std::fs::remove_file(run_dir.join("exit.json"));
                let _ = std::fs::remove_file(&socket);
                // Written again at every start, as Docker does (a lost or edited file is
                // repaired), so they need not be flushed to disk.
                crate::spec::write_etc_files(
                    &data_dir,
                    &record.config.hostname,
                    &networking.hosts,
                    &networking.resolv_conf,
                )?;
                let binds = super::volume_mounts::mount_all(&volumes, &record, &rootfs)?;
                let input = spec_input::for_record(&record, &rootfs, binds)?;
                let spec = crate::spec::build(&input)?;
                let bundle = run_dir.join("config.json");
                let data = serde_json::to_vec(&spec).expect("specs serialise");
                crate::durable::replace(&bundle, &data)
                    .map_err(|e| io(format!("write {}", bundle.display()), e))?;
                let config = &record.config;
                let spawned = berth_shim::spawn(
                    &shim,
                    &berth_shim::Options {
                        id: record.id.clone(),
                        bundle: run_dir.clone(),
                        runtime_root,
                        runtime: runtime_binary,
                        socket: socket.clone(),
                        exit_file: run_dir.join("exit.json"),
                        log: record.log.path.clone(),
                        log_max_size: record.log.max_size,
                        log_max_files: record.log.max_files,
                        tty: config.tty,
                        stdin: config.open_stdin,
                        stdin_once: config.stdin_once,
                        size: console_size(&record.host_config.console_size),
                    },
                )
                .map_err(start_error)?;
                let client = Client::new(&socket);
                for (streams, reply) in pending {
                    let _ = reply.send(
                        client
                            .attach(streams.stdin, streams.stdout, streams.stderr)
                            .map_err(|e| Error::Shim(e.to_string())),
                    );
                }
                let ports_forwarded = forwarded.recv().unwrap_or_else(|_| {
                    Err(Error::Network("the firewall reload did not finish".into()))
                });
                if let Err(e) = ports_forwarded {
                    abandon(&client, spawned.shim);
                    return Err(e);
                }
                if let Err(e) = client.start() {
                    abandon(&client, spawned.shim);
                    return Err(start_error(e));
                }
                Ok(spawned)
            },
        )
        .await?;
        let spawned = match started {
            Ok(spawned) => spawned,
            Err(e) => {
                let _ = self.inner.networks.detach(&id, &network_state).await;
                self.unmount_volumes(&entry.snapshot());
                let _ = self.inner.images.unmount_rootfs(id.clone()).await;
                return Err(self.start_failed(entry, e).await);
            }
        };
        {
            let mut record = entry.record();
            record.network = network_state;
            let state = &mut record.state;
            state.status = Status::Running;
            state.pid = spawned.pid;
            state.shim_pid = spawned.shim.id();
            state.exit_code = 0;
            state.error.clear();
            state.oom_killed = false;
            state.stopped_by_user = false;
            state.started_at = berth_shim::time::format(std::time::SystemTime::now());
            state.finished_at = super::record::ZERO_TIME.into();
            record.save_state(&self.data_dir(&id))?;
        }
        entry.notify(|g| {
            g.live = true;
            g.starts += 1;
        });
        self.publish("start", &id);
        self.monitor(entry.clone(), Some(spawned.shim));
        self.start_healthcheck(entry);
        Ok(())
    }

    /// Records why a start failed; with `--rm` the container goes, as dockerd does (`run --rm`
    /// waits for the removal even when the start failed). Returns the error.
    async fn start_failed(&self, entry: &Arc<Entry>, e: Error) -> Error {
        let code = match &e {
            Error::Start { code, .. } => *code,
            _ => 125,
        };
        let auto_remove = {
            let mut record = entry.record();
            record.state.error = e.to_string();
            record.state.exit_code = code.into();
            let _ = record.save_state(&self.data_dir(&entry.id));
            record.host_config.auto_remove
        };
        if auto_remove {
            entry.notify(|g| g.exit_code = code.into());
            let _ = self.remove_stopped(entry, true).await;
        }
        e
    }

    /// Builds the container's networking (or, sharing another container's namespace, only
    /// its /etc files).
    /// With `--network container:NAME`, `record`'s mode becomes that container's init's pid
    /// (the spec then names its namespace under /proc).
    async fn attach_network(
        &self,
        record: &mut super::record::ContainerRecord,
    ) -> Result<crate::networks::sandbox::Attached> {
        let spec = super::networking::record_spec(record)?;
        if let Some(target) = record.host_config.network_mode.strip_prefix("container:") {
            let other = self.find(target)?;
            let (pid, live) = {
                let other = other.record();
                (other.state.pid, other.state.status.is_live())
            };
            if !live || pid == 0 {
                return Err(Error::Conflict(format!(
                    "cannot join network namespace of a non running container: {target}"
                )));
            }
            record.host_config.network_mode = format!("container-pid:{pid}");
        }
        if super::networking::joins_another(&record.host_config) {
            return crate::networks::sandbox::shared_namespace_files(&spec);
        }
        self.inner.networks.attach(&spec).await
    }

    /// Takes down the networking `entry` ran with and forgets it.
    pub(super) async fn detach_network(&self, entry: &Arc<Entry>) {
        let state = std::mem::take(&mut entry.record().network);
        if state == Default::default() {
            return;
        }
        if let Err(e) = self.inner.networks.detach(&entry.id, &state).await {
            eprintln!("berthd: container {}: network teardown: {e}", entry.id);
        }
        let _ = entry.record().save_state(&self.data_dir(&entry.id));
    }

    /// Waits for the container's exit in the background, then records it.
    pub(super) fn monitor(&self, entry: Arc<Entry>, shim: Option<std::process::Child>) {
        let service = self.clone();
        tokio::spawn(async move {
            let status = service.wait_exit(&entry).await;
            if let Some(mut shim) = shim {
                let _ = blocking("reap the shim", move || shim.wait()).await;
            }
            service.exited(&entry, status).await;
        });
    }

    /// How the container ended, as its shim reports it once it has.
    pub(super) async fn wait_exit(&self, entry: &Arc<Entry>) -> ExitStatus {
        let socket = self.shim_socket(&entry.id);
        match shim_wait(&socket).await {
            Ok(status) => status,
            // The shim is gone: its exit file says how the container ended, if it could,
            // and what the shim would have removed (the runtime's state, the cgroup) goes.
            Err(_) => {
                self.delete_runtime_state(entry).await;
                let exit_file = self.run_dir(&entry.id).join("exit.json");
                berth_shim::read_exit_file(&exit_file)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| ExitStatus {
                        exit_code: 255,
                        finished_at: berth_shim::time::format(std::time::SystemTime::now()),
                        oom_killed: false,
                    })
            }
        }
    }

    /// Records an exit, then removes (`--rm`) or restarts the container as its policy says.
    pub(super) async fn exited(&self, entry: &Arc<Entry>, status: ExitStatus) {
        let id = entry.id.clone();
        let _ = self.inner.images.unmount_rootfs(id.clone()).await;
        self.unmount_volumes(&entry.snapshot());
        self.detach_network(entry).await;
        let _ = std::fs::remove_file(self.run_dir(&id).join("exit.json"));
        let (auto_remove, restart) = {
            let mut record = entry.record();
            let state = &mut record.state;
            state.status = Status::Exited;
            state.pid = 0;
            state.shim_pid = 0;
            state.exit_code = status.exit_code.into();
            state.oom_killed = status.oom_killed;
            state.finished_at = status.finished_at.clone();
            if let Some(health) = &mut state.health {
                health.status = "unhealthy".into();
            }
            let _ = record.save_state(&self.data_dir(&id));
            let restart = super::restart::should_restart(&record);
            (record.host_config.auto_remove, restart)
        };
        entry.notify(|g| {
            g.live = false;
            g.exits += 1;
            g.exit_code = status.exit_code.into();
        });
        self.publish_with("die", &id, &[("exitCode", status.exit_code.to_string())]);
        if auto_remove {
            let _op = entry.op.lock().await;
            let _ = self.remove_stopped(entry, true).await;
        } else if let Some(delay) = restart {
            self.schedule_restart(entry.clone(), delay);
        }
    }

    /// `POST /containers/{id}/stop?signal=&t=`.
    pub async fn stop(
        &self,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let entry = self.find(key)?;
        let _op = entry.op.lock().await;
        if !entry.record().state.status.is_live() {
            let restarting = entry.record().state.status == Status::Restarting;
            entry.record().state.stopped_by_user = true;
            if restarting {
                let mut record = entry.record();
                record.state.status = Status::Exited;
                let _ = record.save_state(&self.data_dir(&entry.id));
                return Ok(());
            }
            return Err(Error::NotModified(entry.id.clone(), "stopped"));
        }
        self.stop_locked(&entry, signal, timeout).await
    }

    pub(super) async fn stop_locked(
        &self,
        entry: &Arc<Entry>,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let (config_signal, config_timeout) = {
            let mut record = entry.record();
            record.state.stopped_by_user = true;
            let _ = record.save_state(&self.data_dir(&entry.id));
            (
                record.config.stop_signal.clone(),
                record.config.stop_timeout,
            )
        };
        let signal = signal
            .filter(|s| !s.is_empty())
            .unwrap_or(if config_signal.is_empty() {
                "SIGTERM".into()
            } else {
                config_signal
            });
        let signal = parse_signal(&signal)?;
        let timeout = timeout.or(config_timeout).unwrap_or(DEFAULT_STOP_TIMEOUT);
        let mut changes = entry.changes.subscribe();
        let exits = changes.borrow().exits;
        if !self.signal_live(entry, signal).await? {
            self.publish("stop", &entry.id);
            return Ok(());
        }
        if entry.record().state.status == Status::Paused {
            let _ = self.set_paused(entry, false).await;
        }
        let exited = async {
            let _ = changes.wait_for(|g| g.exits != exits).await;
        };
        let in_time = if timeout < 0 {
            exited.await;
            true
        } else {
            tokio::time::timeout(Duration::from_secs(timeout as u64), exited)
                .await
                .is_ok()
        };
        if !in_time {
            self.kill_and_wait(entry).await?;
        }
        self.publish("stop", &entry.id);
        Ok(())
    }

    /// SIGKILL, then wait for the exit to be recorded.
    pub(super) async fn kill_and_wait(&self, entry: &Arc<Entry>) -> Result<()> {
        let mut changes = entry.changes.subscribe();
        let exits = changes.borrow().exits;
        if !changes.borrow().live {
            return Ok(());
        }
        entry.record().state.stopped_by_user = true;
        if !self.signal_live(entry, 9).await? {
            return Ok(());
        }
        if entry.record().state.status == Status::Paused {
            let _ = self.set_paused(entry, false).await;
        }
        let _ = changes.wait_for(|g| g.exits != exits).await;
        Ok(())
    }

    /// `POST /containers/{id}/kill?signal=`.
    pub async fn kill(&self, key: &str, signal: Option<String>) -> Result<()> {
        let entry = self.find(key)?;
        let signal = parse_signal(
            signal
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("SIGKILL"),
        )?;
        if !entry.record().state.status.is_live() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                entry.id
            )));
        }
        if signal == 9 {
            let mut record = entry.record();
            record.state.stopped_by_user = true;
            let _ = record.save_state(&self.data_dir(&entry.id));
        }
        if !self.signal_live(&entry, signal).await? {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                entry.id
            )));
        }
        self.publish_with("kill", &entry.id, &[("signal", signal.to_string())]);
        Ok(())
    }

    /// Sends `signal` to a container recorded as live. Returns false when it ended on its own
    /// just before (the shim could not deliver the signal, and the monitor then records the
    /// exit): for the caller it has stopped, which is not an error.
    async fn signal_live(&self, entry: &Arc<Entry>, signal: i32) -> Result<bool> {
        let mut changes = entry.changes.subscribe();
        let exits = changes.borrow().exits;
        let Err(error) = self.signal(entry, signal).await else {
            return Ok(true);
        };
        let ended = async {
            changes
                .wait_for(|g| g.exits != exits || !g.live)
                .await
                .is_ok()
        };
        match tokio::time::timeout(EXIT_GRACE, ended).await {
            Ok(true) => Ok(false),
            _ => Err(error),
        }
    }

    async fn signal(&self, entry: &Arc<Entry>, signal: i32) -> Result<()> {
        let client = Client::new(&self.shim_socket(&entry.id));
        blocking("kill", move || client.kill(signal, false))
            .await?
            .map_err(|e| Error::Shim(e.to_string()))
    }

    /// `POST /containers/{id}/restart?t=&signal=`.
    pub async fn restart(
        &self,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let entry = self.find(key)?;
        let _op = entry.op.lock().await;
        if entry.record().state.status.is_live() {
            self.stop_locked(&entry, signal, timeout).await?;
        }
        self.start_locked(&entry).await?;
        self.publish("restart", &entry.id);
        Ok(())
    }

    /// `POST /containers/{id}/pause` and `/unpause`.
    pub async fn pause(&self, key: &str, paused: bool) -> Result<()> {
        let entry = self.find(key)?;
        let _op = entry.op.lock().await;
        let status = entry.record().state.status;
        match (status, paused) {
            (Status::Running, true) | (Status::Paused, false) => {}
            (Status::Paused, true) => {
                return Err(Error::Conflict(format!(
                    "Container {} is already paused",
                    entry.id
                )))
            }
            (Status::Running, false) => {
                return Err(Error::Conflict(format!(
                    "Container {} is not paused",
                    entry.id
                )))
            }
            _ => {
                return Err(Error::Conflict(format!(
                    "Container {} is not running",
                    entry.id
                )))
            }
        }
        self.set_paused(&entry, paused).await?;
        {
            let mut record = entry.record();
            record.state.status = if paused {
                Status::Paused
            } else {
                Status::Running
            };
            record.save_state(&self.data_dir(&entry.id))?;
        }
        self.publish(if paused { "pause" } else { "unpause" }, &entry.id);
        Ok(())
    }

    /// Removes what the runtime keeps of `entry` (its state, its cgroup), killing what is left
    /// in it: for a container whose shim died without doing so. Nothing to do is no error.
    async fn delete_runtime_state(&self, entry: &Arc<Entry>) {
        let Ok(runtime) = self.runtime_of(entry) else {
            return;
        };
        let root = self.runtime_root(&runtime);
        let id = entry.id.clone();
        let deleted = match runtime {
            super::Runtime::External { path, .. } => {
                // The runtime says so when it has no such container: nothing to clean.
                let _ = super::external::run(&path, &root, &["delete", "--force", &id]).await;
                Ok(())
            }
            super::Runtime::Builtin => blocking("delete the runtime state", move || {
                let root = berth_runtime::StateRoot::open(&root)?;
                berth_runtime::ops::delete(&root, &id, true)
            })
            .await
            .and_then(|r| r.map_err(Error::from)),
        };
        if let Err(e) = deleted {
            eprintln!(
                "berthd: container {}: removing its runtime state: {e}",
                entry.id
            );
        }
    }

    async fn set_paused(&self, entry: &Arc<Entry>, paused: bool) -> Result<()> {
        let runtime = self.runtime_of(entry)?;
        let root = self.runtime_root(&runtime);
        let id = entry.id.clone();
        if let super::Runtime::External { path, .. } = runtime {
            let verb = if paused { "pause" } else { "resume" };
            return super::external::run(&path, &root, &[verb, &id]).await;
        }
        blocking("pause", move || {
            let root = berth_runtime::StateRoot::open(&root)?;
            berth_runtime::ops::set_paused(&root, &id, paused)
        })
        .await?
        .map_err(Error::from)
    }

    /// `POST /containers/{id}/wait?condition=`: checks the container exists now and returns
    /// what resolves to its exit code when the condition is met (the API sends its headers in
    /// between, as the docker CLI expects).
    pub fn wait(
        &self,
        key: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = i64> + Send + 'static> {
        let entry = self.find(key)?;
        let mut changes = entry.changes.subscribe();
        let now = *changes.borrow();
        let last_code = entry.record().state.exit_code;
        Ok(async move {
            let done = match condition {
                WaitCondition::NotRunning if !now.live => return last_code,
                WaitCondition::NotRunning | WaitCondition::NextExit => {
                    changes
                        .wait_for(|g| g.exits != now.exits || g.removed)
                        .await
                }
                WaitCondition::Removed => changes.wait_for(|g| g.removed).await,
            };
            let code = done.map(|g| g.exit_code).ok();
            // Without a value the container's entry is gone (removed): its last known code.
            code.unwrap_or_else(|| changes.borrow().exit_code)
        })
    }

    /// `POST /containers/{id}/resize?h=&w=`.
    pub async fn resize(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let entry = self.find(key)?;
        if !entry.record().state.status.is_live() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                entry.id
            )));
        }
        let client = Client::new(&self.shim_socket(&entry.id));
        blocking("resize", move || client.resize(height, width))
            .await?
            .map_err(|e| Error::Shim(e.to_string()))
    }
}

/// Ends a shim whose container could not be started: the container is killed, the shim given a
/// moment to clean up and exit, then killed itself; either way it is reaped.
fn abandon(client: &Client, mut shim: std::process::Child) {
    let _ = client.kill(9, true);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = shim.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = shim.kill();
    let _ = shim.wait();
}

/// Asks the shim on `socket` to answer when the container exits.
pub(super) async fn shim_wait(socket: &std::path::Path) -> std::io::Result<ExitStatus> {
    let mut stream = tokio::net::UnixStream::connect(socket).await?;
    stream.write_all(b"{\"op\":\"wait\"}\n").await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    serde_json::from_str(&line).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("shim {}: {e}: {line:?}", socket.display()),
        )
    })
}

fn console_size(size: &[u32; 2]) -> Option<(u16, u16)> {
    match size {
        [0, 0] => None,
        [h, w] => Some((
            (*h).min(u16::MAX as u32) as u16,
            (*w).min(u16::MAX as u32) as u16,
        )),
    }
}

/// A start failure as docker reports it; the CLI turns "not found" into 127 and "permission
/// denied" into 126, so the code follows the same words.
fn start_error(error: berth_shim::Error) -> Error {
    // The words docker's tools look for, as Go prints them.
    let message = go_wording(&format!("failed to create task for container: {error}"));
    let code = berth_api::error::start_failure_code(&message);
    Error::Start { message, code }
}

/// System error texts as Go prints them (lower case, no "(os error N)"): docker's tools match
/// on "no such file or directory", "permission denied" and "is a directory".
fn go_wording(message: &str) -> String {
    let mut text = message.to_string();
    for (rust, go) in [
        ("No such file or directory", "no such file or directory"),
        ("Permission denied", "permission denied"),
        ("Is a directory", "is a directory"),
    ] {
        for code in [" (os error 2)", " (os error 13)", " (os error 21)", ""] {
            text = text.replace(&format!("{rust}{code}"), go);
        }
    }
    text
}

/// `SIGTERM`, `TERM`, `15` → 15.
pub(super) fn parse_signal(text: &str) -> Result<i32> {
    berth_runtime::ops::parse_signal(text)
        .map(|s| s as i32)
        .map_err(|_| Error::InvalidParameter {
            what: "signal".into(),
            reason: format!("invalid signal: {text}"),
        })
}
