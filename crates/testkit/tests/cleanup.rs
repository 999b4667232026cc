//! The harness cleans up after a failing test: an engine's daemons, cgroups and directory are
//! gone after a panic, and a temp dir with a mount inside is detached, not emptied through it.

use std::fs;
use std::path::Path;
use std::process::Command;

use berth_testkit::{run, Engine, EngineOptions, TempDir};

fn mounted_under(dir: &Path) -> bool {
    berth_testkit::mounts::mounts()
        .iter()
        .any(|(point, _)| point.starts_with(dir))
}

#[test]
fn an_engine_of_a_failed_test_leaves_nothing_behind() {
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let engine = Engine::start("cleanup", EngineOptions::default());
        let pid: i32 = fs::read_to_string(engine.dir.join("docker/docker.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        *seen.lock().unwrap() = Some((engine.dir.clone(), engine.cgroup_parent.clone(), pid));
        panic!("the test fails with the engine running");
    });
    assert!(result.is_err());
    let (dir, cgroup_parent, dockerd) = seen.into_inner().unwrap().expect("the engine started");
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(
        !mounted_under(&dir),
        "something is still mounted under {}",
        dir.display()
    );
    assert!(
        !Path::new("/proc").join(dockerd.to_string()).exists(),
        "dockerd (pid {dockerd}) still runs"
    );
    for mount in berth_testkit::engine::cleanup::cgroup_mounts() {
        assert!(
            !mount.join(&cgroup_parent).exists(),
            "cgroup {cgroup_parent} left in {}",
            mount.display()
        );
    }
}

#[test]
fn a_temp_dir_detaches_its_mounts_instead_of_emptying_them() {
    let outside = TempDir::new("outside");
    fs::write(outside.join("keep"), "keep me").unwrap();
    let dir = TempDir::new("with-mount");
    let target = dir.join("bound");
    fs::create_dir(&target).unwrap();
    run(Command::new("mount")
        .arg("--bind")
        .arg(outside.path())
        .arg(&target));
    let path = dir.path().to_path_buf();
    drop(dir);
    assert!(!path.exists(), "{} is still there", path.display());
    assert!(!mounted_under(&path));
    assert_eq!(fs::read_to_string(outside.join("keep")).unwrap(), "keep me");
}
