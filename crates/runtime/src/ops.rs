//! Operations on existing containers: start, state, kill, delete, pause, resume, ps, update,
//! and stats.

use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{process_is_alive, ContainerRecord, StateRoot, Status, EXEC_FIFO};

/// Starts a created container: releases its init from the exec FIFO, then runs poststart hooks.
pub fn start(root: &StateRoot, id: &str) -> Result<()> {
    let record = root.load(id)?;
    let status = root.status(&record);
    if status != Status::Created {
        return Err(Error::WrongState {
            id: id.into(),
            status: status.as_str(),
            action: "start it",
        });
    }
    let fifo = root.dir(id).join(EXEC_FIFO);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => {
                Error::Init(format!("container {id}'s init is not waiting to start"))
            }
            _ => Error::Io {
                context: format!("open {}", fifo.display()),
                source: e,
            },
        })?;
    std::io::Write::write_all(&mut &file, &[0]).context(|| format!("write {}", fifo.display()))?;
    drop(file);
    std::fs::remove_file(&fifo).context(|| format!("remove {}", fifo.display()))?;
    run_poststart(&record)
}

/// Runs poststart hooks; a failure is reported but the container keeps running, per the spec.
pub fn run_poststart(record: &ContainerRecord) -> Result<()> {
    let Some(poststart) = record
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().clone())
    else {
        return Ok(());
    };
    let state = serde_json::to_vec(&record.document(Status::Running)).unwrap_or_default();
    hooks::run_all("poststart", &poststart, &state)
}

/// The OCI state document of a container, as JSON.
pub fn state(root: &StateRoot, id: &str) -> Result<String> {
    let record = root.load(id)?;
    let status = root.status(&record);
    serde_json::to_string_pretty(&record.document(status))
        .map_err(|e| Error::InvalidSpec(format!("serialise state: {e}")))
}

/// Parses a signal given as a name (`KILL`, `SIGKILL`) or number (`9`).
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad = || Error::InvalidArgument(format!("unknown signal {text:?}"));
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// Sends `signal` to the container's init, or with `all` to every process in its cgroup.
pub fn kill_container(root: &StateRoot, id: &str, signal: Signal, all: bool) -> Result<()> {
    let record = root.load(id)?;
    let status = root.status(&record);
    if status == Status::Stopped && !all {
        return Err(Error::WrongState {
            id: id.into(),
            status: "stopped",
            action: "signal it",
        });
    }
    if all {
        return record.cgroup.signal_all(signal);
    }
    kill(Pid::from_raw(record.pid), signal)
        .context(|| format!("signal {signal} to container {id}"))?;
    if record.cgroup.is_frozen() && signal == Signal::SIGKILL {
        record.cgroup.set_frozen(false)?;
    }
    Ok(())
}

/// Deletes a container: refuses a running one unless `force`, kills what remains, runs
/// poststop hooks, and removes the cgroup and the record.
pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let record = match root.load(id) {
        Err(Error::NotFound(_)) if force => return Ok(()),
        other => other?,
    };
    let status = root.status(&record);
    match status {
        Status::Running | Status::Paused if !force => {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.as_str(),
                action: "delete it without --force",
            })
        }
        Status::Stopped => {}
        _ => {
            record.cgroup.signal_all(Signal::SIGKILL)?;
            let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
            wait_gone(&record)?;
        }
    }
    destroy(root, &record)
}

/// Removes what remains of a stopped container, running poststop hooks first. Processes left in
/// the cgroup (a container without its own pid namespace) are killed.
pub fn destroy(root: &StateRoot, record: &ContainerRecord) -> Result<()> {
    if !record.cgroup.pids()?.is_empty() {
        record.cgroup.signal_all(Signal::SIGKILL)?;
    }
    let hook_result = match record
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().clone())
    {
        Some(poststop) => {
            let state = serde_json::to_vec(&record.document(Status::Stopped)).unwrap_or_default();
            hooks::run_all("poststop", &poststop, &state)
        }
        None => Ok(()),
    };
    let cgroup_result = record.cgroup.destroy();
    root.remove(&record.id)?;
    hook_result.and(cgroup_result)
}

/// Waits until the init is gone (or a zombie nobody here can reap).
fn wait_gone(record: &ContainerRecord) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut delay = Duration::from_micros(100);
    while process_is_alive(record.pid, record.pid_start_time) || !record.cgroup.pids()?.is_empty() {
        if Instant::now() > deadline {
            return Err(Error::Init(format!(
                "container {} did not die after SIGKILL",
                record.id
            )));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
        let _ = record.cgroup.signal_all(Signal::SIGKILL);
    }
    Ok(())
}

/// Freezes (`pause`) or thaws (`resume`) every process of the container.
pub fn set_paused(root: &StateRoot, id: &str, paused: bool) -> Result<()> {
    let record = root.load(id)?;
    let status = root.status(&record);
    let (expected, action) = if paused {
        (Status::Running, "pause it")
    } else {
        (Status::Paused, "resume it")
    };
    if status != expected {
        return Err(Error::WrongState {
            id: id.into(),
            status: status.as_str(),
            action,
        });
    }
    record.cgroup.set_frozen(paused)
}

/// The pids of every process in the container.
pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<i32>> {
    root.load(id)?.cgroup.pids()
}

/// Changes the resource limits of a running container and records them.
pub fn update(root: &StateRoot, id: &str, resources: &LinuxResources) -> Result<()> {
    let mut record = root.load(id)?;
    let status = root.status(&record);
    if status == Status::Stopped {
        return Err(Error::WrongState {
            id: id.into(),
            status: "stopped",
            action: "update it",
        });
    }
    record.cgroup.apply(resources)?;
    let mut merged = record
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    merge_resources(&mut merged, resources);
    if let Some(linux) = record.spec.linux_mut() {
        linux.set_resources(Some(merged));
    }
    root.save(&record)
}

fn merge_resources(into: &mut LinuxResources, from: &LinuxResources) {
    if from.memory().is_some() {
        into.set_memory(*from.memory());
    }
    if from.cpu().is_some() {
        into.set_cpu(from.cpu().clone());
    }
    if from.pids().is_some() {
        into.set_pids(*from.pids());
    }
    if from.block_io().is_some() {
        into.set_block_io(from.block_io().clone());
    }
    if from.hugepage_limits().is_some() {
        into.set_hugepage_limits(from.hugepage_limits().clone());
    }
    if from.unified().is_some() {
        into.set_unified(from.unified().clone());
    }
}

/// One `events --stats` document.
pub fn stats_json(root: &StateRoot, id: &str) -> Result<String> {
    let record = root.load(id)?;
    if root.status(&record) == Status::Stopped {
        return Err(Error::WrongState {
            id: id.into(),
            status: "stopped",
            action: "read its stats",
        });
    }
    let event = serde_json::json!({ "type": "stats", "id": id, "data": record.cgroup.stats() });
    Ok(event.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
