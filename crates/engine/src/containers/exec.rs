//! `docker exec`: processes started in a running container through the runtime binary
//! (`berth-runtime exec --process FILE`), their streams relayed over the client's hijacked
//! connection, their exit codes kept for `GET /exec/{id}/json`.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use berth_api::exec::{ExecConfig, ExecInspect, ProcessConfig};
use oci_spec::runtime::{Process, Spec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;

use super::{io, names, ContainerService};
use crate::error::{Error, Result};

/// Exec instances by id.
#[derive(Default)]
pub struct Execs(HashMap<String, Arc<ExecInstance>>);

/// One exec instance.
pub struct ExecInstance {
    id: String,
    container: String,
    config: ExecConfig,
    state: Mutex<ExecState>,
}

#[derive(Default, Clone)]
struct ExecState {
    started: bool,
    running: bool,
    pid: u32,
    exit_code: Option<i64>,
    /// The master of the terminal a `-t` exec's runtime runs on, for resizes.
    terminal: Option<Arc<std::fs::File>>,
}

/// How `exec_start` is asked to run: detached, or attached to the client's connection.
pub enum ExecStart<S> {
    Detached,
    Attached(S),
}

impl ContainerService {
    fn execs(&self) -> std::sync::MutexGuard<'_, Execs> {
        self.inner.execs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The exec instances of container `id`, for inspect.
    pub(super) fn exec_ids(&self, id: &str) -> Vec<String> {
        self.execs()
            .0
            .values()
            .filter(|e| e.container == id)
            .map(|e| e.id.clone())
            .collect()
    }

    /// `POST /containers/{id}/exec`: a new exec instance; the container must run.
    pub fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        let entry = self.find(key)?;
        if entry.record().state.status != super::record::Status::Running {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                entry.id
            )));
        }
        if config.cmd.is_empty() {
            return Err(Error::InvalidParameter {
                what: "exec config".into(),
                reason: "no exec command specified".into(),
            });
        }
        let id = names::new_id();
        let instance = Arc::new(ExecInstance {
            id: id.clone(),
            container: entry.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
        });
        self.execs().0.insert(id.clone(), instance);
        self.publish_with("exec_create", &entry.id, &[("execID", id.clone())]);
        Ok(id)
    }

    fn exec(&self, id: &str) -> Result<Arc<ExecInstance>> {
        self.execs()
            .0
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NoSuchExec(id.to_string()))
    }

    /// `RUNTIME --root R exec --process FILE ID`: runs the process FILE describes in the
    /// container, with the runtime it was created with (exec sessions and healthcheck probes).
    pub(super) fn runtime_exec(
        &self,
        process_file: &std::path::Path,
        entry: &super::table::Entry,
    ) -> Result<Command> {
        let runtime = self.runtime_of(entry)?;
        let binary = match &runtime {
            super::Runtime::Builtin => &self.inner.paths.runtime,
            super::Runtime::External { path, .. } => path,
        };
        let mut command = Command::new(binary);
        command
            .arg("--root")
            .arg(self.runtime_root(&runtime))
            .arg("exec")
            .arg("--process")
            .arg(process_file)
            .arg(&entry.id);
        Ok(command)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let exec = self.exec(id)?;
        let state = exec.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let config = &exec.config;
        Ok(ExecInspect {
            id: exec.id.clone(),
            running: state.running,
            exit_code: state.exit_code,
            process_config: ProcessConfig {
                privileged: config.privileged,
                user: config.user.clone(),
                tty: config.tty,
                entrypoint: config.cmd.first().cloned().unwrap_or_default(),
                arguments: config.cmd.iter().skip(1).cloned().collect(),
            },
            open_stdin: config.attach_stdin,
            open_stderr: config.attach_stderr,
            open_stdout: config.attach_stdout,
            can_remove: false,
            container_id: exec.container.clone(),
            detach_keys: config.detach_keys.clone(),
            pid: state.pid.into(),
        })
    }

    /// Whether exec `id` runs with a terminal.
    pub fn exec_tty(&self, id: &str) -> Result<bool> {
        Ok(self.exec(id)?.config.tty)
    }

    /// Checks exec `id` can start (exists, not started before); call before hijacking.
    pub fn exec_check(&self, id: &str) -> Result<()> {
        let exec = self.exec(id)?;
        if exec.state.lock().unwrap_or_else(|p| p.into_inner()).started {
            return Err(Error::Conflict(format!(
                "Exec {id} has already been started"
            )));
        }
        Ok(())
    }

    /// `POST /exec/{id}/resize?h=&w=`: resizes a running `-t` exec's terminal.
    pub fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let exec = self.exec(id)?;
        let (terminal, pid) = {
            let state = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            (state.terminal.clone(), state.pid)
        };
        let Some(terminal) = terminal else {
            return Err(Error::Conflict(format!(
                "Exec {id} is not running with a terminal"
            )));
        };
        berth_sys::set_window_size(terminal.as_ref(), height, width)
            .map_err(|e| io(format!("resize the terminal of exec {id}"), e))?;
        // The runtime is not in the terminal's session: tell it itself.
        if pid != 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGWINCH,
            );
        }
        Ok(())
    }

    /// `POST /exec/{id}/start`: runs the process; attached, relays its streams over `conn`
    /// (Docker's multiplexed framing unless it has a terminal) until it exits.
    pub async fn exec_start<S>(&self, id: &str, how: ExecStart<S>) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let exec = self.exec(id)?;
        {
            let mut state = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.started {
                return Err(Error::Conflict(format!(
                    "Exec {id} has already been started"
                )));
            }
            state.started = true;
            state.running = true;
        }
        let entry = self.find(&exec.container)?;
        let run_dir = self.run_dir(&entry.id);
        let rootfs = entry.record().rootfs.clone();
        let process_file = run_dir.join(format!("exec-{id}.json"));
        let config = exec.config.clone();
        let file = process_file.clone();
        super::blocking("exec", move || {
            write_process(&run_dir.join("config.json"), &rootfs, &config, &file)
        })
        .await??;
        let attached = matches!(how, ExecStart::Attached(_));
        let mut command = self.runtime_exec(&process_file, &entry)?;
        // A terminal exec's runtime runs on a terminal whose master berthd relays: runc and
        // crun run one in the foreground only then, and every runtime passes a resize of its
        // own terminal (SIGWINCH) on to the process's.
        let master = if exec.config.tty {
            Some(give_terminal(command.as_std_mut())?)
        } else {
            let piped = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
            command
                .stdin(piped(attached && exec.config.attach_stdin))
                .stdout(piped(attached))
                .stderr(piped(attached));
            None
        };
        let mut child = command
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| io(format!("run {:?}", command.as_std().get_program()), e))?;
        // Its copies of the terminal's slave end: the master reads end-of-file once the
        // runtime exits.
        drop(command);
        {
            let mut state = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            state.pid = child.id().unwrap_or(0);
            if let Some(master) = &master {
                let handle = master
                    .try_clone()
                    .map_err(|e| io("duplicate a terminal master".into(), e))?;
                state.terminal = Some(Arc::new(handle));
            }
        }
        let (stdin, stdout, stderr): (Option<Input>, Option<Output>, Option<Output>) = match master
        {
            Some(master) => {
                let reader = master
                    .try_clone()
                    .map_err(|e| io("duplicate a terminal master".into(), e))?;
                let input = exec
                    .config
                    .attach_stdin
                    .then(|| Box::new(tokio::fs::File::from_std(master)) as Input);
                let output = Box::new(tokio::fs::File::from_std(reader)) as Output;
                (input, Some(output), None)
            }
            None => (
                child.stdin.take().map(|s| Box::new(s) as Input),
                child.stdout.take().map(|s| Box::new(s) as Output),
                child.stderr.take().map(|s| Box::new(s) as Output),
            ),
        };
        self.publish_with("exec_start", &entry.id, &[("execID", id.to_string())]);
        let service = self.clone();
        let exec_done = exec.clone();
        let finish = async move {
            let status = child.wait().await;
            let _ = tokio::fs::remove_file(&process_file).await;
            let code = status.ok().and_then(|s| s.code()).unwrap_or(126) as i64;
            let mut state = exec_done.state.lock().unwrap_or_else(|p| p.into_inner());
            state.running = false;
            state.exit_code = Some(code);
            state.terminal = None;
            drop(state);
            service.publish_with(
                "exec_die",
                &exec_done.container,
                &[
                    ("execID", exec_done.id.clone()),
                    ("exitCode", code.to_string()),
                ],
            );
        };
        match how {
            ExecStart::Detached => {
                // A detached terminal's output goes nowhere, but must be read.
                if let Some(mut output) = stdout {
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut output, &mut tokio::io::sink()).await;
                    });
                }
                tokio::spawn(finish);
            }
            ExecStart::Attached(conn) => {
                let tty = exec.config.tty;
                let (reader, writer) = tokio::io::split(conn);
                let writer = relay(reader, writer, stdin, stdout, stderr, tty).await;
                // The client asks for the exit code when its stream ends: record it first.
                finish.await;
                let _ = writer.lock().await.shutdown().await;
            }
        }
        Ok(())
    }
}

/// Writes the process document for an exec: the container's own process (its capabilities,
/// rlimits, seccomp stay) with the exec's command, environment, user and directory.
pub(super) fn write_process(
    bundle_config: &std::path::Path,
    rootfs: &std::path::Path,
    config: &ExecConfig,
    out: &std::path::Path,
) -> Result<()> {
    let data = std::fs::read(bundle_config)
        .map_err(|e| io(format!("read {}", bundle_config.display()), e))?;
    let spec: Spec = serde_json::from_slice(&data).map_err(|e| Error::InvalidParameter {
        what: "bundle".into(),
        reason: e.to_string(),
    })?;
    let mut process: Process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(config.cmd.clone()));
    let mut env = process.env().clone().unwrap_or_default();
    for var in &config.env {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        env.retain(|old| old.split_once('=').map_or(old.as_str(), |(k, _)| k) != key);
        env.push(var.clone());
    }
    process.set_env(Some(env));
    if !config.working_dir.is_empty() {
        process.set_cwd(config.working_dir.clone().into());
    }
    if !config.user.is_empty() {
        let user = crate::spec::resolve_user(rootfs, &config.user, &[])?;
        process.set_user(user.to_oci());
    }
    process.set_terminal(Some(config.tty));
    let data = serde_json::to_vec(&process).expect("processes serialise");
    crate::durable::replace(out, &data).map_err(|e| io(format!("write {}", out.display()), e))
}

/// What an exec's input is written to: a pipe to the runtime, or a terminal's master.
type Input = Box<dyn AsyncWrite + Unpin + Send>;
/// What an exec's output is read from.
type Output = Box<dyn AsyncRead + Unpin + Send>;

/// Makes a new terminal the command's stdin, stdout and stderr; returns its master.
fn give_terminal(command: &mut std::process::Command) -> Result<std::fs::File> {
    let pty = nix::pty::openpty(None, None)
        .map_err(|e| io("open a terminal".into(), std::io::Error::from(e)))?;
    let slave = std::fs::File::from(pty.slave);
    let copy = || {
        slave
            .try_clone()
            .map_err(|e| io("duplicate a terminal".into(), e))
    };
    command.stdin(copy()?).stdout(copy()?).stderr(slave);
    Ok(std::fs::File::from(pty.master))
}

/// Docker's multiplexed frame header for `stream` (1 stdout, 2 stderr) and `len` bytes.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let len = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, len[0], len[1], len[2], len[3]]
}

/// Relays a process's pipes and a client connection until the output ends; returns the
/// client's writing half, still open.
async fn relay<R, W>(
    mut reader: R,
    writer: W,
    stdin: Option<Input>,
    stdout: Option<Output>,
    stderr: Option<Output>,
    tty: bool,
) -> Arc<tokio::sync::Mutex<W>>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let input = tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            let _ = tokio::io::copy(&mut reader, &mut stdin).await;
            let _ = stdin.shutdown().await;
        }
    });
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let pump = |source: Option<Output>, stream: u8| {
        let writer = writer.clone();
        async move {
            let Some(mut source) = source else { return };
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match source.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut out = writer.lock().await;
                let sent = if tty {
                    out.write_all(&buf[..n]).await
                } else {
                    match out.write_all(&frame_header(stream, n)).await {
                        Ok(()) => out.write_all(&buf[..n]).await,
                        Err(e) => Err(e),
                    }
                };
                if sent.is_err() || out.flush().await.is_err() {
                    return;
                }
            }
        }
    };
    let out = pump(stdout, 1);
    let err = pump(stderr, 2);
    tokio::join!(out, err);
    input.abort();
    writer
}
