//! The container commands against a real Engine API server (a private dockerd): `berth` and
//! `docker` run with the same arguments must show a user the same thing.

mod common;

use berth_testkit::engine::Outcome;
use berth_testkit::{busybox_layer, docker_archive, Engine, EngineOptions, LocalRegistry};
use common::{berth, berth_ok, berth_on_terminal, berth_with_stdin, busybox_in};

const IMAGE: &str = "berth-test/box:1";

/// A dockerd with a busybox image loaded as [`IMAGE`].
fn engine(test: &str) -> Engine {
    let engine = Engine::start(test, EngineOptions::default());
    let archive = engine.dir.join("box.tar");
    docker_archive(&archive, &[busybox_layer()], Some(IMAGE));
    engine.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    engine
}

/// What a user sees of a command: its exit code, stdout and stderr (without the daemon's
/// create warnings, which the docker CLI does not always print).
fn seen(out: &Outcome) -> (Option<i32>, String, String) {
    let stderr: String = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("WARNING: "))
        .map(|l| format!("{l}\n"))
        .collect();
    (out.code(), out.stdout.clone(), stderr)
}

/// `berth args` and `docker args` print the same; tables with ages are retried, as the two
/// commands can straddle a second.
fn same_output(engine: &Engine, args: &[&str]) -> String {
    let mut last = (String::new(), String::new());
    for _ in 0..3 {
        let ours = berth_ok(engine, args);
        let theirs = engine.docker_ok(args);
        if ours == theirs {
            return ours;
        }
        last = (ours, theirs);
    }
    panic!(
        "{args:?}: berth printed\n{}\ndocker printed\n{}",
        last.0, last.1
    );
}

#[test]
fn run_exec_logs_and_exit_codes_match_docker() {
    let engine = engine("cli-containers-run");
    let sh = ["/bin/busybox", "sh", "-c"];

    // Attached, with output on both streams and an exit code; --rm leaves nothing behind.
    let script = "echo out; echo err >&2; exit 3";
    let args = [&["run", "--rm", IMAGE][..], &sh, &[script]].concat();
    let ours = berth(&engine, &args);
    let theirs = engine.docker(&args);
    assert_eq!(seen(&ours), seen(&theirs), "{}", ours.describe());
    assert_eq!(seen(&ours), (Some(3), "out\n".into(), "err\n".into()));
    assert_eq!(berth_ok(&engine, &["ps", "-a", "-q"]), "");

    // stdin goes in with -i and its end reaches the container.
    let args = [
        "run",
        "--rm",
        "-i",
        IMAGE,
        "/bin/busybox",
        "tr",
        "a-z",
        "A-Z",
    ];
    let ours = berth_with_stdin(&engine, &args, b"hello\nworld\n");
    assert_eq!(
        seen(&ours),
        (Some(0), "HELLO\nWORLD\n".into(), String::new()),
        "{}",
        ours.describe()
    );

    // Docker's exit codes for a command that cannot be found, and for a missing image.
    let args = ["run", "--rm", IMAGE, "/no/such/command"];
    let ours = berth(&engine, &args);
    assert_eq!(ours.code(), Some(127), "{}", ours.describe());
    assert_eq!(ours.code(), engine.docker(&args).code());
    assert!(
        ours.stderr.contains("Error response from daemon: "),
        "{}",
        ours.describe()
    );
    let ours = berth(
        &engine,
        &["run", "--pull", "never", "berth-test/absent:1", "true"],
    );
    assert_eq!(ours.code(), Some(125), "{}", ours.describe());
    assert!(
        ours.stderr.contains("No such image: berth-test/absent:1"),
        "{}",
        ours.describe()
    );

    // Detached: the id, then ps shows the same table as docker's.
    let id = berth_ok(
        &engine,
        &[
            "run",
            "-d",
            "--name",
            "sleeper",
            "-e",
            "GREETING=hi",
            "-l",
            "team=a",
            IMAGE,
            "/bin/busybox",
            "sleep",
            "1000",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    engine.docker_ok(&[
        "run",
        "-d",
        "--name",
        "other",
        IMAGE,
        "/bin/busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; echo three",
    ]);
    engine.docker_ok(&["wait", "other"]);
    for args in [
        &["ps"][..],
        &["ps", "-a"],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-aq"],
        &["ps", "-l"],
        &[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}} {{.State}} {{.Command}}",
        ],
        &[
            "ps",
            "--filter",
            "label=team=a",
            "--format",
            "table {{.ID}}\t{{.Labels}}",
        ],
        &["container", "ls", "-a"],
    ] {
        same_output(&engine, args);
    }
    let table = berth_ok(&engine, &["ps"]);
    let header = table.lines().next().unwrap();
    for column in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.contains("Up "), "{table}");
    assert!(berth_ok(&engine, &["ps", "-a"]).contains("Exited (0) "));

    // Logs: each stream to its own fd, tail and timestamps as docker's.
    for args in [
        &["logs", "other"][..],
        &["logs", "--tail", "1", "other"],
        &["logs", "-t", "other"],
    ] {
        let ours = berth(&engine, args);
        assert_eq!(
            seen(&ours),
            seen(&engine.docker(args)),
            "{}",
            ours.describe()
        );
    }
    let logs = berth(&engine, &["logs", "other"]);
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("one\nthree\n", "two\n")
    );

    // Exec: output, environment, working directory, stdin and the exit code.
    let script = "echo $GREETING $EXTRA $(pwd); exit 5";
    let args = [
        "exec",
        "-e",
        "EXTRA=x",
        "-w",
        "/bin",
        "sleeper",
        "/bin/busybox",
        "sh",
        "-c",
        script,
    ];
    let ours = berth(&engine, &args);
    assert_eq!(
        seen(&ours),
        (Some(5), "hi x /bin\n".into(), String::new()),
        "{}",
        ours.describe()
    );
    assert_eq!(seen(&ours), seen(&engine.docker(&args)));
    let ours = berth_with_stdin(
        &engine,
        &["exec", "-i", "sleeper", "/bin/busybox", "wc", "-c"],
        b"12345",
    );
    assert_eq!(ours.stdout.trim(), "5", "{}", ours.describe());
    let ours = berth(&engine, &["exec", "sleeper", "/no/such/command"]);
    assert_eq!(
        ours.code(),
        engine
            .docker(&["exec", "sleeper", "/no/such/command"])
            .code()
    );
    assert_eq!(
        berth_ok(
            &engine,
            &["exec", "-d", "sleeper", "/bin/busybox", "mkdir", "/made"]
        ),
        ""
    );
    let poll = "for i in 1 2 3 4 5 6 7 8 9 10; do test -d /made && exit 0; sleep 0.2; done; exit 1";
    engine.docker_ok(&["exec", "sleeper", "/bin/busybox", "sh", "-c", poll]);

    // A terminal: -t gives the container a tty, and its output comes back raw.
    let ours = berth_on_terminal(
        &engine,
        &[
            "run",
            "--rm",
            "-t",
            IMAGE,
            "/bin/busybox",
            "sh",
            "-c",
            "tty; printf 'a\\nb\\n'",
        ],
    );
    assert!(ours.success(), "{}", ours.describe());
    assert!(ours.stdout.contains("/dev/pts/"), "{}", ours.describe());
    assert!(ours.stdout.contains("a\r\nb\r\n"), "{}", ours.describe());
}

#[test]
fn lifecycle_inspect_top_stats_and_prune_match_docker() {
    let engine = engine("cli-containers-lifecycle");

    // create, then start -a: the output and the exit code.
    let id = berth_ok(
        &engine,
        &[
            "create",
            "--name",
            "once",
            "--restart",
            "no",
            "-w",
            "/bin",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--health-cmd",
            "true",
            "--health-interval",
            "5s",
            IMAGE,
            "/bin/busybox",
            "sh",
            "-c",
            "echo started $(pwd); exit 4",
        ],
    );
    let inspected = engine.docker_ok(&["inspect", "--format", "{{.State.Status}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}}", "once"]);
    assert_eq!(inspected.trim(), "created 67108864 50 [CMD-SHELL true] 5s");
    let ours = berth(&engine, &["start", "-a", "once"]);
    assert_eq!(
        seen(&ours),
        (Some(4), "started /bin\n".into(), String::new()),
        "{}",
        ours.describe()
    );
    assert_eq!(berth_ok(&engine, &["wait", id.trim()]), "4\n");

    // inspect prints the daemon's JSON as docker does; --type and templates too.
    berth_ok(
        &engine,
        &[
            "run",
            "-d",
            "--name",
            "svc",
            IMAGE,
            "/bin/busybox",
            "sleep",
            "1000",
        ],
    );
    for args in [
        &["inspect", "svc"][..],
        &[
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.State.Status}} {{.Name}}",
            "svc",
        ],
        &["container", "inspect", "svc", "once"],
        &["inspect", "--format", "{{.Id}}", IMAGE],
    ] {
        same_output(&engine, args);
    }
    let missing = berth(&engine, &["inspect", "--type", "container", IMAGE]);
    assert_eq!(missing.code(), Some(1));
    assert_eq!(
        missing.stderr.trim(),
        format!("Error: No such container: {IMAGE}")
    );

    // top shows the same processes in the same columns.
    // (The default columns include CPU use, which changes between the two commands.)
    let top = same_output(&engine, &["top", "svc", "-o", "pid,args"]);
    assert!(top.starts_with("PID "), "{top}");
    assert!(top.contains("/bin/busybox sleep 1000"), "{top}");
    let header = berth_ok(&engine, &["top", "svc"]);
    assert!(header.starts_with("UID "), "{header}");

    // stats: docker's columns; the running container's pids.
    let stats = berth_ok(&engine, &["stats", "--no-stream", "svc"]);
    let docker_stats = engine.docker_ok(&["stats", "--no-stream", "svc"]);
    assert_eq!(
        stats.lines().next(),
        docker_stats.lines().next(),
        "{stats}\n{docker_stats}"
    );
    let row: Vec<&str> = stats
        .lines()
        .nth(1)
        .unwrap()
        .split("   ")
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        (row[1].trim(), row.last().unwrap().trim()),
        ("svc", "1"),
        "{stats}"
    );
    assert!(row[3].contains(" / "), "{stats}");

    // pause, unpause, update, rename, restart, kill: the names echoed, the state changed.
    let state = |name: &str| {
        engine
            .docker_ok(&["inspect", "--format", "{{.State.Status}}", name])
            .trim()
            .to_string()
    };
    assert_eq!(berth_ok(&engine, &["pause", "svc"]), "svc\n");
    assert_eq!(state("svc"), "paused");
    assert_eq!(berth_ok(&engine, &["unpause", "svc"]), "svc\n");
    assert_eq!(state("svc"), "running");
    assert_eq!(
        berth_ok(
            &engine,
            &[
                "update",
                "--memory",
                "32m",
                "--memory-swap",
                "64m",
                "--pids-limit",
                "20",
                "--restart",
                "on-failure:2",
                "svc"
            ]
        ),
        "svc\n"
    );
    let limits = engine.docker_ok(&["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "svc"]);
    assert_eq!(limits.trim(), "33554432 67108864 20 on-failure:2");
    berth_ok(&engine, &["rename", "svc", "renamed"]);
    assert_eq!(state("renamed"), "running");
    assert_eq!(
        berth_ok(&engine, &["restart", "-t", "0", "renamed"]),
        "renamed\n"
    );
    assert_eq!(state("renamed"), "running");
    assert_eq!(berth_ok(&engine, &["kill", "renamed"]), "renamed\n");
    assert_eq!(berth_ok(&engine, &["wait", "renamed"]), "137\n");
    let missing = berth(&engine, &["stop", "nothing-here"]);
    assert_eq!(missing.code(), Some(1));
    assert!(
        missing.stderr.contains("No such container: nothing-here"),
        "{}",
        missing.describe()
    );

    // rm -f a running one; prune the stopped ones with docker's report.
    berth_ok(
        &engine,
        &[
            "run",
            "-d",
            "--name",
            "doomed",
            IMAGE,
            "/bin/busybox",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(berth_ok(&engine, &["rm", "-f", "doomed"]), "doomed\n");
    let stopped = engine.docker_ok(&["ps", "-aq", "--no-trunc"]);
    let pruned = berth_ok(&engine, &["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    for id in stopped.lines() {
        assert!(pruned.contains(id), "{pruned}");
    }
    assert!(
        pruned.ends_with("Total reclaimed space: 0B\n")
            || pruned.contains("Total reclaimed space: "),
        "{pruned}"
    );
    assert_eq!(engine.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn run_pulls_a_missing_image_unless_told_not_to() {
    let registry = LocalRegistry::start();
    let name = busybox_in(&registry);
    let mut engine = Engine::start("cli-containers-pull", EngineOptions::default());
    engine.serve_registry(&registry.dir.join("storage"), &registry.address);

    let never = berth(
        &engine,
        &[
            "run",
            "--rm",
            "--pull",
            "never",
            &name,
            "/bin/busybox",
            "true",
        ],
    );
    assert_eq!(never.code(), Some(125), "{}", never.describe());
    assert!(
        never.stderr.contains("No such image"),
        "{}",
        never.describe()
    );

    let args = ["run", "--rm", &name, "/bin/busybox", "cat", "/etc/greeting"];
    let ours = berth(&engine, &args);
    assert!(ours.success(), "{}", ours.describe());
    assert_eq!(ours.stdout, "hi\n", "only the container's output on stdout");
    assert!(
        ours.stderr
            .starts_with(&format!("Unable to find image '{name}' locally\n")),
        "{}",
        ours.describe()
    );
    assert!(
        ours.stderr
            .contains(&format!("Status: Downloaded newer image for {name}")),
        "{}",
        ours.describe()
    );

    // Present now: no pull; -d prints only the id.
    let id = berth(&engine, &["run", "-d", &name, "/bin/busybox", "true"]);
    assert!(
        !id.stderr.contains("Unable to find image"),
        "{}",
        id.describe()
    );
    assert_eq!(id.stdout.trim().len(), 64, "{}", id.describe());
}
