//! `berth commit`, `export`, `import` and `diff` against berthd, with real containers; where it
//! means something, the docker CLI against the same berthd must see the same.

mod common;

use berth_testkit::archive::busybox_image_layer;
use berth_testkit::{docker_archive, Engine, EngineOptions};
use common::berthd::Berthd;

/// Adds, changes and deletes files (and directories) in a busybox container.
const CHANGES: &str = "echo new > /added; echo changed >> /etc/passwd; rm /etc/group; \
                       mkdir -p /d/e; echo x > /d/e/f";

fn is_image_id(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .and_then(|hex| hex.strip_suffix('\n'))
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `berth args` fails with exit code 1 and `message` on stderr; docker says the same.
fn refused_like_docker(daemon: &Berthd, args: &[&str], message: &str) {
    let ours = daemon.berth(args);
    assert_eq!(ours.code(), Some(1), "{}", ours.describe());
    assert!(ours.stderr.contains(message), "{}", ours.describe());
    let theirs = daemon.docker(args);
    assert_eq!(theirs.code(), Some(1), "{}", theirs.describe());
    assert!(theirs.stderr.contains(message), "{}", theirs.describe());
}

#[test]
fn commit_keeps_the_changes_the_config_and_the_history() {
    let daemon = Berthd::start("cli-cm");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&["run", "--name", "c1", "busybox", "sh", "-c", CHANGES]);

    let diff = daemon.berth_ok(&["diff", "c1"]);
    assert_eq!(
        diff,
        "A /added\nA /d\nA /d/e\nA /d/e/f\nC /etc\nD /etc/group\nC /etc/passwd\n"
    );
    assert_eq!(daemon.docker_ok(&["diff", "c1"]), diff);
    assert_eq!(daemon.berth_ok(&["container", "diff", "c1"]), diff);

    let id = daemon.berth_ok(&[
        "commit",
        "-a",
        "Ann <ann@example.com>",
        "-m",
        "why",
        "-c",
        "ENV A=1",
        "-c",
        r#"CMD ["cat", "/added"]"#,
        "-c",
        "WORKDIR /d",
        "c1",
        "img:1",
    ]);
    assert!(is_image_id(&id), "{id}");
    assert_eq!(
        daemon.berth_ok(&["inspect", "--format", "{{.Id}}", "img:1"]),
        id
    );
    assert_eq!(daemon.berth_ok(&["run", "--rm", "img:1"]), "new\n");
    let seen = daemon.berth_ok(&[
        "run",
        "--rm",
        "img:1",
        "sh",
        "-c",
        "pwd; echo $A; tail -n1 /etc/passwd; test -e /etc/group || echo gone; cat /d/e/f",
    ]);
    assert_eq!(seen, "/d\n1\nchanged\ngone\nx\n");
    let inspected = daemon.berth_ok(&[
        "inspect",
        "--format",
        "{{.Author}}|{{.Comment}}|{{.Config.WorkingDir}}",
        "img:1",
    ]);
    assert_eq!(inspected, "Ann <ann@example.com>|why|/d\n");
    let layers = daemon.docker_ok(&["inspect", "--format", "{{len .RootFS.Layers}}", "img:1"]);
    assert_eq!(layers, "2\n");
    let history = daemon.berth_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Comment}}|{{.CreatedBy}}",
        "img:1",
    ]);
    assert_eq!(
        history.lines().next(),
        Some(format!("why|sh -c {CHANGES}").as_str()),
        "{history}"
    );
    assert_eq!(
        history,
        daemon.docker_ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.Comment}}|{{.CreatedBy}}",
            "img:1"
        ])
    );

    // The docker CLI's commit against berthd.
    let id = daemon.docker_ok(&["commit", "-c", "ENV B=2", "-m", "m2", "c1", "img:2"]);
    assert!(is_image_id(&id), "{id}");
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "img:2", "sh", "-c", "echo $B; cat /added"]),
        "2\nnew\n"
    );
    let top = daemon.docker_ok(&["history", "--format", "{{.Comment}}", "img:2"]);
    assert_eq!(top.lines().next(), Some("m2"), "{top}");

    // No name: an image without one; no changes: no new layer.
    daemon.berth_ok(&["create", "--name", "fresh", "busybox", "true"]);
    let unnamed = daemon.berth_ok(&["container", "commit", "fresh"]);
    assert!(is_image_id(&unnamed), "{unnamed}");
    let layers = daemon.docker_ok(&[
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        unnamed.trim(),
    ]);
    assert_eq!(layers, "1\n");
}

#[test]
fn a_running_container_is_paused_for_its_commit_and_runs_on() {
    let daemon = Berthd::start("cli-cr");
    daemon.load_busybox("busybox:latest");
    let volume = daemon.dir.join("volume");
    std::fs::create_dir(&volume).unwrap();
    let bind = format!("{}:/data", volume.display());
    daemon.berth_ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo v > /data/v; echo 1 > /tmp/one; sleep 600",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while daemon.berth(&["exec", "live", "cat", "/tmp/one"]).stdout != "1\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the container wrote no file"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The volume's mount point is the container's change (Docker lists it too), not its files.
    let changes = "A /data\nC /tmp\nA /tmp/one\n";
    assert_eq!(daemon.berth_ok(&["diff", "live"]), changes);
    assert_eq!(daemon.docker_ok(&["diff", "live"]), changes);
    daemon.berth_ok(&["commit", "live", "live:1"]);
    daemon.berth_ok(&["commit", "--pause=false", "live", "live:2"]);
    let state = daemon.berth_ok(&["inspect", "--format", "{{.State.Status}}", "live"]);
    assert_eq!(state, "running\n");
    let tar = daemon.dir.join("live.tar");
    daemon.berth_ok(&["container", "export", "-o", tar.to_str().unwrap(), "live"]);
    let listed = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    let names = String::from_utf8(listed.stdout).unwrap();
    assert!(names.lines().any(|l| l == "tmp/one"), "{names}");
    // Volumes are not part of the container's file system, as in Docker.
    assert!(volume.join("v").exists());
    assert!(!names.lines().any(|l| l == "data/v"), "{names}");
    for image in ["live:1", "live:2"] {
        let out = daemon.berth_ok(&["run", "--rm", "--entrypoint", "cat", image, "/tmp/one"]);
        assert_eq!(out, "1\n", "{image}");
    }
    let events = daemon.berth_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!("{}", unix_now() + 1),
        "--filter",
        "container=live",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.lines().collect();
    let first_commit = actions.iter().position(|a| *a == "commit").unwrap();
    assert_eq!(
        &actions[first_commit - 1..=first_commit + 1],
        &["pause", "commit", "unpause"],
        "{events}"
    );
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Makes files of several kinds, owners and modes, and deletes one.
const SETUP: &str = "mkdir -p /srv/sub && echo a > /srv/f && chmod 640 /srv/f && chown 1:2 /srv/f \
    && ln -s /srv/f /srv/link && ln /srv/f /srv/hard && mkfifo /srv/pipe \
    && chmod 4755 /srv/sub && rm /bin/vi";

/// Lists every file with its mode, owner, type and link target (mount points left out).
const LIST: &str = "find / -xdev \
    | grep -v -e '^/proc' -e '^/sys' -e '^/dev' -e '^/etc/host' -e '^/etc/resolv' \
    | sort | xargs stat -c '%n %a %u %g %F %N'; [ /srv/f -ef /srv/hard ] && echo hard linked";

#[test]
fn export_then_import_gives_the_same_files() {
    let daemon = Berthd::start("cli-ex");
    daemon.load_busybox("busybox:latest");
    let script = format!("{SETUP} && {LIST}");
    let listing = daemon.berth_ok(&["run", "--name", "src", "busybox", "sh", "-c", &script]);
    for expected in [
        "/srv/f 640 1 2 regular file /srv/f",
        "/srv/link 777 0 0 symbolic link '/srv/link' -> '/srv/f'",
        "/srv/pipe 644 0 0 fifo /srv/pipe",
        "/srv/sub 4755 0 0 directory",
        "hard linked",
    ] {
        assert!(listing.contains(expected), "{expected}\n{listing}");
    }
    assert!(!listing.contains("/bin/vi "), "{listing}");

    let ours = daemon.dir.join("ours.tar");
    let theirs = daemon.dir.join("theirs.tar");
    daemon.berth_ok(&["export", "-o", ours.to_str().unwrap(), "src"]);
    daemon.docker_ok(&["export", "-o", theirs.to_str().unwrap(), "src"]);
    // The docker CLI gets the same archive from berthd.
    assert!(std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap());
    assert_eq!(
        daemon.berth_ok(&["inspect", "--format", "{{.State.Status}}", "src"]),
        "exited\n"
    );

    let id = daemon.berth_ok(&["import", "-m", "from src", ours.to_str().unwrap(), "imp:1"]);
    assert!(is_image_id(&id), "{id}");
    let tar = std::fs::read(&ours).unwrap();
    let piped = daemon.berth_with_stdin(&["image", "import", "-", "imp:2"], &tar);
    assert!(
        piped.success() && is_image_id(&piped.stdout),
        "{}",
        piped.describe()
    );
    let docker_id = daemon.docker_ok(&["import", theirs.to_str().unwrap(), "imp:3"]);
    assert!(is_image_id(&docker_id), "{docker_id}");
    let gzipped = daemon.dir.join("ours.tar.gz");
    let gzip = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -c {} > {}",
            ours.display(),
            gzipped.display()
        ))
        .status()
        .unwrap();
    assert!(gzip.success());
    daemon.berth_ok(&["import", gzipped.to_str().unwrap(), "imp:4"]);
    for image in ["imp:1", "imp:2", "imp:3", "imp:4"] {
        let again = daemon.berth_ok(&["run", "--rm", image, "sh", "-c", LIST]);
        assert_eq!(again, listing, "{image}");
    }
    let comment = daemon.berth_ok(&["history", "--format", "{{.Comment}}", "imp:1"]);
    assert_eq!(comment, "from src\n");

    let terminal = daemon.berth_on_terminal(&["export", "src"]);
    assert_eq!(terminal.code(), Some(1), "{}", terminal.describe());
    assert!(
        terminal
            .stdout
            .contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{}",
        terminal.describe()
    );
}

#[test]
fn bad_input_gets_clear_errors_and_leaves_the_images() {
    let daemon = Berthd::start("cli-cb");
    daemon.load_busybox("busybox:latest");
    daemon.berth_ok(&["run", "--name", "c1", "busybox", "true"]);
    let images = [
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ];
    let before = daemon.berth_ok(&images);

    refused_like_docker(
        &daemon,
        &["commit", "-c", "RUN rm -rf /", "c1", "bad:1"],
        "Error response from daemon: invalid change \"RUN rm -rf /\": RUN is not one of",
    );
    refused_like_docker(
        &daemon,
        &["commit", "nope", "bad:2"],
        "Error response from daemon: No such container: nope",
    );
    refused_like_docker(
        &daemon,
        &["diff", "nope"],
        "Error response from daemon: No such container: nope",
    );
    let out = daemon.dir.join("nope.tar");
    refused_like_docker(
        &daemon,
        &["export", "-o", out.to_str().unwrap(), "nope"],
        "Error response from daemon: No such container: nope",
    );
    assert!(!out.exists(), "a failed export left {}", out.display());

    let text = daemon.dir.join("notes.txt");
    std::fs::write(
        &text,
        "these are not the files you are looking for\n".repeat(30),
    )
    .unwrap();
    refused_like_docker(
        &daemon,
        &["import", text.to_str().unwrap(), "bad:3"],
        "the imported file is not a tar archive",
    );
    // Large enough that the client is still sending when the refusal comes: it must read
    // the refusal, not a reset connection.
    let tar = daemon.dir.join("empty.tar");
    std::fs::write(&tar, vec![0u8; 200 << 10]).unwrap();
    refused_like_docker(
        &daemon,
        &[
            "import",
            "-c",
            "FROM scratch",
            tar.to_str().unwrap(),
            "bad:4",
        ],
        "FROM is not one of",
    );
    refused_like_docker(
        &daemon,
        &["import", "http://127.0.0.1:9/rootfs.tar", "bad:5"],
        "import from \"http://127.0.0.1:9/rootfs.tar\" is not supported",
    );
    let digest = format!("bad@sha256:{}", "0".repeat(64));
    let named = daemon.berth(&["commit", "c1", &digest]);
    assert_eq!(named.code(), Some(1), "{}", named.describe());
    assert!(
        named
            .stderr
            .contains("refusing to create a tag with a digest reference"),
        "{}",
        named.describe()
    );

    assert_eq!(daemon.berth_ok(&images), before);
}

/// Entries of a tar as `tar -tv` lists them, sorted (the order is the writer's business).
fn tar_listing(path: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -tvf {}", path.display());
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn against_dockerd_berth_shows_what_docker_shows() {
    let engine = Engine::start("cli-commit-dockerd", EngineOptions::default());
    let archive = engine.dir.join("box.tar");
    docker_archive(&archive, &[busybox_image_layer()], Some("box:1"));
    engine.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    engine.docker_ok(&["run", "--name", "c1", "box:1", "sh", "-c", CHANGES]);

    // dockerd lists changes in no fixed order (Go map iteration): compare them sorted.
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let diff = common::berth_ok(&engine, &["diff", "c1"]);
    assert_eq!(
        sorted(diff.clone()),
        sorted(engine.docker_ok(&["diff", "c1"]))
    );
    assert!(
        diff.contains("A /added\n") && diff.contains("D /etc/group\n"),
        "{diff}"
    );

    let id = common::berth_ok(
        &engine,
        &["commit", "-m", "m", "-c", "ENV A=1", "c1", "x:1"],
    );
    assert!(is_image_id(&id), "{id}");
    let seen = engine.docker_ok(&["run", "--rm", "x:1", "sh", "-c", "echo $A; cat /added"]);
    assert_eq!(seen, "1\nnew\n");

    let (ours, theirs) = (engine.dir.join("ours.tar"), engine.dir.join("theirs.tar"));
    common::berth_ok(&engine, &["export", "-o", ours.to_str().unwrap(), "c1"]);
    engine.docker_ok(&["export", "-o", theirs.to_str().unwrap(), "c1"]);
    assert_eq!(tar_listing(&ours), tar_listing(&theirs));
    let imported = common::berth_ok(&engine, &["import", ours.to_str().unwrap(), "y:1"]);
    assert!(is_image_id(&imported), "{imported}");

    for args in [
        &["commit", "nope"][..],
        &["diff", "nope"],
        &["export", "-o", "x", "nope"],
    ] {
        let ours = common::berth(&engine, args);
        let theirs = engine.docker(args);
        assert_eq!(ours.code(), theirs.code(), "{}", ours.describe());
        assert_eq!(ours.stderr, theirs.stderr, "{}", ours.describe());
    }
}
