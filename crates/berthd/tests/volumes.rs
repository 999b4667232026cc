//! Volumes, bind mounts and tmpfs mounts through berthd, driven by the real docker CLI: what a
//! user sees in the container, in `volume ls` and in inspect, across removals and restarts.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testkit::archive::{busybox_image_layer, docker_archive_with_config, owned_layer_tar};
use berth_testkit::tempdir::TempDir;

mod common;
use common::Daemon;

/// Loads `name`: busybox plus `/data/seed.txt` (owner 1000:1001, mode 0640), with
/// `VOLUME /data` as an image's Dockerfile would declare it.
fn load_image_with_a_volume(daemon: &Daemon, name: &str) {
    let layer = owned_layer_tar(&[
        ("data/", 0o750, 1000, 1001, None),
        (
            "data/seed.txt",
            0o640,
            1000,
            1001,
            Some(b"from the image\n"),
        ),
    ]);
    let archive = daemon.dir.join("with-volume.tar");
    docker_archive_with_config(
        &archive,
        &[busybox_image_layer(), layer],
        Some(name),
        serde_json::json!({"Cmd": ["sh"], "Volumes": {"/data": {}}}),
    );
    daemon.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
}

fn volume_names(daemon: &Daemon) -> Vec<String> {
    daemon
        .docker_ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn failing(daemon: &Daemon, args: &[&str]) -> (i32, String) {
    let out = daemon.docker(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn named_volumes_keep_their_content_across_containers_and_daemon_restarts() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&["volume", "create", "data"]);
    daemon.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo hello > /d/f",
    ]);
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"]),
        "hello\n"
    );
    // A volume named at run that does not exist yet is made, and outlives `--rm`.
    daemon.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "made:/m",
        "busybox",
        "sh",
        "-c",
        "echo made > /m/f",
    ]);
    assert_eq!(volume_names(&daemon), ["data", "made"]);

    daemon.docker_ok(&[
        "run", "-d", "--name", "user", "-v", "data:/d", "busybox", "sleep", "1000",
    ]);
    let (_, err) = failing(&daemon, &["volume", "rm", "data"]);
    assert!(err.contains("volume is in use"), "{err}");

    daemon.kill_and_restart();
    // The running container still has it, and still holds it against removal.
    assert_eq!(
        daemon.docker_ok(&["exec", "user", "cat", "/d/f"]),
        "hello\n"
    );
    let (_, err) = failing(&daemon, &["volume", "rm", "data"]);
    assert!(err.contains("volume is in use"), "{err}");
    daemon.docker_ok(&["stop", "-t", "0", "user"]);
    // A stopped container still refers to its volume, as in Docker.
    let (_, err) = failing(&daemon, &["volume", "rm", "data"]);
    assert!(err.contains("volume is in use"), "{err}");
    daemon.docker_ok(&["rm", "user"]);
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "-v", "made:/m", "busybox", "cat", "/m/f"]),
        "made\n"
    );
    daemon.docker_ok(&["volume", "rm", "data", "made"]);
    assert!(volume_names(&daemon).is_empty());
}

#[test]
fn rm_v_and_auto_remove_take_anonymous_volumes_and_keep_named_ones() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    daemon.docker_ok(&[
        "run", "--rm", "-v", "/anon", "-v", "keep:/k", "busybox", "touch", "/anon/x", "/k/x",
    ]);
    assert_eq!(volume_names(&daemon), ["keep"]);

    daemon.docker_ok(&["create", "--name", "c1", "-v", "/anon", "busybox", "true"]);
    let mounts = daemon.inspect(
        "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Driver}} {{.RW}}{{end}}",
        "c1",
    );
    assert_eq!(mounts, "volume /anon local true");
    let anonymous = daemon.inspect("{{range .Mounts}}{{.Name}}{{end}}", "c1");
    assert_eq!(anonymous.len(), 64, "{anonymous}");
    let labels = daemon.docker_ok(&[
        "volume",
        "inspect",
        "--format",
        "{{json .Labels}}",
        &anonymous,
    ]);
    assert_eq!(labels.trim(), r#"{"com.docker.volume.anonymous":""}"#);
    daemon.docker_ok(&["rm", "c1"]);
    assert!(
        volume_names(&daemon).contains(&anonymous),
        "plain rm keeps it"
    );

    daemon.docker_ok(&[
        "create", "--name", "c2", "-v", "/anon", "-v", "keep:/k", "busybox", "true",
    ]);
    let second = daemon.inspect(
        "{{range .Mounts}}{{if ne .Name \"keep\"}}{{.Name}}{{end}}{{end}}",
        "c2",
    );
    daemon.docker_ok(&["rm", "-v", "c2"]);
    let left = volume_names(&daemon);
    assert!(!left.contains(&second), "rm -v removes {second}: {left:?}");
    assert!(left.contains(&"keep".to_string()) && left.contains(&anonymous));
}

#[test]
fn image_volume_content_is_copied_once_with_owners_and_modes() {
    let daemon = Daemon::start();
    load_image_with_a_volume(&daemon, "withvol:latest");
    // An anonymous volume for the image's VOLUME, filled from the image.
    assert_eq!(
        daemon.docker_ok(&[
            "run",
            "--rm",
            "withvol",
            "sh",
            "-c",
            "cat /data/seed.txt; stat -c '%u:%g %a' /data/seed.txt /data",
        ]),
        "from the image\n1000:1001 640\n1000:1001 750\n"
    );
    // A named volume is filled on its first use only.
    daemon.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/data",
        "withvol",
        "sh",
        "-c",
        "rm /data/seed.txt; echo mine > /data/own",
    ]);
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "-v", "vol:/data", "withvol", "ls", "/data"]),
        "own\n"
    );
    // nocopy, in both syntaxes, leaves a new volume empty.
    assert_eq!(
        daemon.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "fresh:/data:nocopy",
            "withvol",
            "ls",
            "-A",
            "/data"
        ]),
        ""
    );
    assert_eq!(
        daemon.docker_ok(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=fresh2,dst=/data,volume-nocopy",
            "withvol",
            "ls",
            "-A",
            "/data",
        ]),
        ""
    );
    // A bind over the VOLUME replaces it: no anonymous volume is made.
    let before = volume_names(&daemon).len();
    let host = TempDir::new("bind-over-volume");
    daemon.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data", host.path().display()),
        "withvol",
        "true",
    ]);
    assert_eq!(volume_names(&daemon).len(), before);
}

/// A directory on the host for binds, removed at the end.
fn host_dir(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    std::fs::write(dir.join("file"), "on the host\n").unwrap();
    dir
}

#[test]
fn binds_tmpfs_and_volumes_from_in_their_forms() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let host = host_dir("binds");
    let src = host.path().display().to_string();

    for mount in [
        vec!["-v".to_string(), format!("{src}:/b:ro")],
        vec![
            "--mount".to_string(),
            format!("type=bind,src={src},dst=/b,readonly"),
        ],
    ] {
        let mut args: Vec<&str> = vec!["run", "--rm"];
        args.extend(mount.iter().map(String::as_str));
        args.extend(["busybox", "sh", "-c", "cat /b/file; touch /b/new"]);
        let out = daemon.docker(&args);
        assert!(!out.status.success(), "{mount:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "on the host\n");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
            "{:?}",
            out
        );
    }
    assert!(!host.join("new").exists());
    daemon.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{src}:/b"),
        "busybox",
        "touch",
        "/b/new",
    ]);
    assert!(host.join("new").exists());

    // `-v` makes a missing host path; `--mount` refuses it.
    let missing = host.join("made/by/v");
    daemon.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "busybox",
        "true",
    ]);
    assert!(missing.is_dir());
    let absent = host.join("absent");
    let (code, err) = failing(
        &daemon,
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=bind,src={},dst=/m", absent.display()),
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 125);
    assert!(
        err.contains(&format!(
            "bind source path does not exist: {}",
            absent.display()
        )),
        "{err}"
    );

    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "binder",
        "--mount",
        &format!("type=bind,src={src},dst=/b"),
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        daemon.inspect("{{json .Mounts}}", "binder"),
        format!(
            r#"[{{"Type":"bind","Source":"{src}","Destination":"/b","Mode":"","RW":true,"Propagation":"rprivate"}},{{"Type":"tmpfs","Source":"","Destination":"/t","Mode":"","RW":true,"Propagation":""}}]"#
        )
    );
    assert_eq!(
        daemon.docker_ok(&[
            "exec",
            "binder",
            "sh",
            "-c",
            "stat -c %a /t; df -k /t | tail -1 | awk '{print $2}'"
        ]),
        "1770\n1024\n"
    );

    // --volumes-from takes another container's volumes and binds, read-only with :ro.
    daemon.docker_ok(&[
        "create",
        "--name",
        "source",
        "-v",
        "shared:/s",
        "-v",
        "/anon",
        "-v",
        &format!("{src}:/b"),
        "busybox",
        "true",
    ]);
    daemon.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "source",
        "busybox",
        "sh",
        "-c",
        "echo x > /s/x; echo y > /anon/y; cat /b/file",
    ]);
    let out = daemon.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "source:ro",
        "busybox",
        "sh",
        "-c",
        "cat /s/x /anon/y; touch /s/z",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\ny\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Read-only file system"));
    // The volume of `source` outlives the `--rm` of a container that took it.
    daemon.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "source",
        "busybox",
        "cat",
        "/anon/y",
    ]);
    let (_, err) = failing(
        &daemon,
        &["run", "--rm", "--volumes-from", "nosuch", "busybox", "true"],
    );
    assert!(err.contains("No such container: nosuch"), "{err}");
    // ps finds containers by a volume's name or a mount's destination.
    let by_volume = daemon.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "volume=shared",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(by_volume, "source\n");
    let by_destination =
        daemon.docker_ok(&["ps", "--filter", "volume=/t", "--format", "{{.Names}}"]);
    assert_eq!(by_destination, "binder\n");
    daemon.docker_ok(&["rm", "-f", "binder", "source"]);
}

#[test]
fn bad_volume_specs_are_refused_at_create_and_create_nothing() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    // Raw requests: the docker CLI turns relative paths into absolute ones before sending.
    for (spec, wanted) in [
        ("/srv:relative", "mount path must be absolute"),
        ("/srv:/a/..", "destination can't be '/'"),
        (
            "../etc:/d",
            "includes invalid characters for a local volume name",
        ),
    ] {
        let body =
            format!(r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"Binds":["{spec}"]}}}}"#);
        let (status, _, answer) = daemon.http("POST", "/containers/create", body.as_bytes());
        assert_eq!(status, 400, "{spec}: {answer}");
        assert!(answer.contains(wanted), "{spec}: {answer}");
    }
    assert!(daemon.docker_ok(&["ps", "-aq"]).is_empty());
}

#[test]
fn bad_mounts_get_clear_errors_and_create_nothing() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    for (args, wanted) in [
        (vec!["-v", "a:/b:ro:extra"], "invalid volume specification"),
        (vec!["-v", "/srv:/"], "destination can't be '/'"),
        (vec!["-v", "vol:/d:rx"], "invalid mode: rx"),
        (
            vec!["-v", "/tmp:/d", "--tmpfs", "/d"],
            "Duplicate mount point: /d",
        ),
        (
            vec!["--mount", "type=bind,src=relative,dst=/d"],
            "mount path must be absolute",
        ),
        (
            vec!["--mount", "type=volume,dst=/"],
            "destination can't be '/'",
        ),
        (
            vec!["--mount", "type=volume,dst=/d,volume-driver=nfs"],
            "plugin \"nfs\" not found",
        ),
        (
            vec![
                "--mount",
                "type=bind,src=/tmp,dst=/d,bind-propagation=sideways",
            ],
            "invalid propagation mode: sideways",
        ),
        (
            vec!["--volumes-from", "x:rx"],
            "invalid mode for volumes-from: rx",
        ),
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend(&args);
        all.extend(["busybox", "true"]);
        let (code, err) = failing(&daemon, &all);
        assert_eq!(code, 125, "{args:?}");
        assert!(err.contains(wanted), "{args:?}: {err}");
    }
    assert!(daemon.docker_ok(&["ps", "-aq"]).is_empty());
    assert!(volume_names(&daemon).is_empty(), "no volume was left made");
}

/// A tmpfs mounted at `path` for the test (made shared when asked), unmounted on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(path: &Path, shared: bool) -> HostMount {
        std::fs::create_dir_all(path).unwrap();
        run(&["mount", "-t", "tmpfs", "berth-test", path.to_str().unwrap()]);
        let mount = HostMount(path.to_path_buf());
        let propagation = if shared {
            "--make-shared"
        } else {
            "--make-private"
        };
        run(&["mount", propagation, path.to_str().unwrap()]);
        mount
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-R").arg(&self.0).status();
    }
}

fn run(argv: &[&str]) {
    let status = Command::new(argv[0]).args(&argv[1..]).status().unwrap();
    assert!(status.success(), "{argv:?}");
}

#[test]
fn bind_propagation_behaves_as_requested() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let dir = TempDir::new("propagation");
    let shared = HostMount::tmpfs(&dir.join("shared"), true);
    let private = HostMount::tmpfs(&dir.join("private"), false);
    let src = shared.0.display().to_string();
    for (name, mode) in [
        ("sees", "rshared"),
        ("slave", "rslave"),
        ("blind", "rprivate"),
    ] {
        daemon.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--mount",
            &format!("type=bind,src={src},dst=/s,bind-propagation={mode}"),
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    // A mount made on the host after the start reaches rshared and rslave binds only.
    let sub = HostMount::tmpfs(&shared.0.join("sub"), false);
    std::fs::write(sub.0.join("f"), "late\n").unwrap();
    assert_eq!(
        daemon.docker_ok(&["exec", "sees", "cat", "/s/sub/f"]),
        "late\n"
    );
    assert_eq!(
        daemon.docker_ok(&["exec", "slave", "cat", "/s/sub/f"]),
        "late\n"
    );
    let out = daemon.docker(&["exec", "blind", "cat", "/s/sub/f"]);
    assert!(
        !out.status.success(),
        "a private bind saw the host's new mount"
    );
    assert_eq!(
        daemon.inspect("{{range .Mounts}}{{.Propagation}}{{end}}", "sees"),
        "rshared"
    );
    // rshared over a private host mount would silently not propagate: refused.
    let (code, err) = failing(
        &daemon,
        &[
            "run",
            "--rm",
            "--mount",
            &format!(
                "type=bind,src={},dst=/p,bind-propagation=rshared",
                private.0.display()
            ),
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 125);
    assert!(err.contains("is not a shared mount"), "{err}");
    daemon.docker_ok(&["rm", "-f", "sees", "slave", "blind"]);
    drop(sub);
}

#[test]
fn cp_reaches_a_stopped_container_s_volumes_and_binds() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let host = host_dir("cp-binds");
    let src = host.path().display().to_string();
    daemon.docker_ok(&[
        "create",
        "--name",
        "stopped",
        "-v",
        "cpvol:/v",
        "-v",
        &format!("{src}:/b:ro"),
        "busybox",
        "true",
    ]);
    let input = TempDir::new("cp-input");
    std::fs::write(input.join("note"), "into the volume\n").unwrap();
    let note = input.join("note").display().to_string();
    daemon.docker_ok(&["cp", &note, "stopped:/v/"]);
    // The copy landed in the volume on the host, and a container mounting it reads it.
    let data = daemon.docker_ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "cpvol"]);
    let landed = std::path::Path::new(data.trim()).join("note");
    assert_eq!(
        std::fs::read_to_string(&landed).unwrap(),
        "into the volume\n"
    );
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "-v", "cpvol:/v", "busybox", "cat", "/v/note"]),
        "into the volume\n"
    );
    let out = input.join("from-bind");
    daemon.docker_ok(&["cp", "stopped:/b/file", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "on the host\n");
    let (_, err) = failing(&daemon, &["cp", &note, "stopped:/b/"]);
    assert!(err.contains("mounted volume is marked read-only"), "{err}");
    assert!(!host.join("note").exists(), "a read-only bind was written");
    daemon.docker_ok(&["rm", "stopped"]);
}
