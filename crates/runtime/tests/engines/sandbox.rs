//! The engines one test starts (berth-testkit's [`Engine`], with dockerd told about
//! berth-runtime), and the checks these tests make against them.

use super::*;

/// An [`Engine`] whose dockerd knows berth-runtime as `--runtime berth`.
pub(super) struct Sandbox(Engine);

impl std::ops::Deref for Sandbox {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.0
    }
}

impl std::ops::DerefMut for Sandbox {
    fn deref_mut(&mut self) -> &mut Engine {
        &mut self.0
    }
}

impl Sandbox {
    pub(super) fn new(test: &str) -> Sandbox {
        Sandbox(Engine::new(
            test,
            EngineOptions {
                add_runtime: Some(("berth".into(), PathBuf::from(RUNTIME))),
                keep_logs_in: Some(PathBuf::from(KEEP_LOGS_DIR)),
            },
        ))
    }

    pub(super) fn require_tools(&self, tools: &[&str]) {
        let missing: Vec<&str> = tools
            .iter()
            .copied()
            .filter(|t| find_in_path(t).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "required programs not found in PATH: {}; {INSTALL_HINT}",
            missing.join(", ")
        );
        assert!(
            Path::new(BUSYBOX).is_file(),
            "{BUSYBOX} not found (a static busybox builds the test image); {INSTALL_HINT}"
        );
    }

    pub(super) fn docker_str(&self, args: &[&str]) -> Outcome {
        self.docker(args)
    }

    pub(super) fn ctr_str(&self, args: &[&str]) -> Outcome {
        self.ctr(args)
    }

    /// `ctr run --rm` with berth-runtime as the runc binary; `source` is `--rootfs DIR` or an
    /// image reference.
    pub(super) fn ctr_run(&self, id: &str, source: &[&str], command: &[&str]) -> Outcome {
        let runc_root = self.dir.join("ctr-runc");
        let fifo_dir = self.dir.join("ctr-fifo");
        let cgroup = format!("/{}/{id}", self.cgroup_parent);
        let mut args: Vec<&str> = vec![
            "run",
            "--rm",
            "--runtime",
            "io.containerd.runc.v2",
            "--runc-binary",
            RUNTIME,
            "--runc-root",
            path_str(&runc_root),
            "--fifo-dir",
            path_str(&fifo_dir),
            "--cgroup",
            &cgroup,
        ];
        args.extend_from_slice(source);
        args.push(id);
        args.extend_from_slice(command);
        self.ctr(&args)
    }

    pub(super) fn check(&self, ok: bool, what: &str, out: &Outcome) {
        if !ok {
            self.fail(&format!("check failed: {what}\n{}", out.describe()));
        }
    }

    pub(super) fn check_msg(&self, ok: bool, what: &str) {
        if !ok {
            self.fail(&format!("check failed: {what}"));
        }
    }

    /// The runtime removes each container's cgroup on delete: nothing is left under the parent.
    pub(super) fn check_no_container_cgroups(&self) {
        let mut left = Vec::new();
        for mount in cgroup_mounts() {
            let parent = mount.join(&self.cgroup_parent);
            for child in list_dir(&parent) {
                if parent.join(&child).is_dir() {
                    left.push(parent.join(child).display().to_string());
                }
            }
        }
        self.check_msg(
            left.is_empty(),
            &format!("container cgroups removed after delete, found {left:?}"),
        );
    }
}
