//! Who makes, starts and removes the container: berth-runtime as a library (the default, no
//! process started), or an external OCI runtime binary (`--runtime`).

use std::sync::Mutex;

use berth_runtime::cgroups::CgroupPath;
use berth_runtime::create::Created;
use berth_runtime::state::{ContainerRecord, StateRoot};
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::external::External;

/// The container as the shim watches it, whichever runtime made it.
pub(crate) struct Target {
    pub(crate) id: String,
    /// Its init, the shim's child.
    pub(crate) pid: i32,
    pub(crate) cgroup: CgroupPath,
}

/// The runtime behind one container.
pub(crate) enum Backend {
    /// berth-runtime in this process; `created` until `start` takes it.
    Library {
        root: StateRoot,
        record: Box<ContainerRecord>,
        created: Mutex<Option<Box<Created>>>,
    },
    /// A runc-compatible binary; `started` once `start` was asked for.
    External {
        runtime: External,
        started: Mutex<bool>,
    },
}

impl Backend {
    /// Lets the created container's init exec the container's process, once; `exited` says
    /// whether the init is already gone.
    pub(crate) fn start(&self, id: &str, exited: impl FnOnce() -> bool) -> Result<(), String> {
        let gone = || Err(format!("container {id} exited before it was started"));
        match self {
            Backend::Library { created, .. } => {
                let created = created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .ok_or_else(|| "already started".to_string())?;
                if exited() {
                    return gone();
                }
                berth_runtime::run::start_created(&created)
                    .map_err(|e| format!("start container {id}: {e}"))?;
                if let Err(e) = berth_runtime::ops::run_poststart(&created.record) {
                    eprintln!("berth-shim: container {id}: {e}");
                }
                Ok(())
            }
            Backend::External { runtime, started } => {
                let mut started = started.lock().unwrap_or_else(|e| e.into_inner());
                if *started {
                    return Err("already started".into());
                }
                *started = true;
                if exited() {
                    return gone();
                }
                runtime.start()
            }
        }
    }

    /// Removes what remains of the container once its init was reaped.
    pub(crate) fn destroy(&self, id: &str) {
        match self {
            Backend::Library { root, record, .. } => {
                if let Err(e) = berth_runtime::ops::destroy(root, record) {
                    eprintln!("berth-shim: clean up container {id}: {e}");
                }
            }
            Backend::External { runtime, .. } => runtime.delete(),
        }
    }

    /// Kills, reaps and removes a created container the shim cannot serve.
    pub(crate) fn abandon(&self, target: &Target) {
        let pid = Pid::from_raw(target.pid);
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        self.destroy(&target.id);
    }
}
