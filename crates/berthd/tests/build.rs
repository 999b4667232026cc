//! `POST /build` driven by the real docker CLI's legacy builder (`DOCKER_BUILDKIT=0`): every
//! instruction, multi-stage builds and `--target`, the cache, a failing RUN, `.dockerignore`.

mod common;

use berth_testkit::tempdir::TempDir;
use common::build::{build, build_ok, daemon, write};

#[test]
fn every_instruction_shapes_the_image_as_dockers_legacy_builder_does() {
    let daemon = daemon();
    let ctx = TempDir::new("build-ctx");
    write(ctx.path(), "a.txt", "alpha\n");
    write(ctx.path(), "dir/b.txt", "beta\n");
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    archive
        .append_data(&mut header, "inside.txt", &b"gamma\n"[..])
        .unwrap();
    std::fs::write(ctx.join("archive.tar"), archive.into_inner().unwrap()).unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        r#"FROM busybox
MAINTAINER someone
LABEL org.example.kind=test
ENV GREETING=hello
ARG VERSION=1
WORKDIR /app
COPY a.txt ./
COPY --chown=1000:1000 --chmod=640 dir/ /data/
ADD archive.tar /unpacked/
RUN echo "$GREETING $VERSION" > /app/out && cat /app/out
WORKDIR /made/by/workdir
RUN test -d /made/by/workdir && [ "$(pwd)" = /made/by/workdir ]
WORKDIR /app
SHELL ["/bin/sh", "-ec"]
USER 1000
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/out /app/a.txt /data/b.txt /unpacked/inside.txt"]
"#,
    );
    let out = build_ok(
        &daemon,
        &[
            "-t",
            "built",
            "--build-arg",
            "VERSION=2",
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(out.contains("Step 1/22 : FROM busybox"), "{out}");
    assert!(out.contains("Step 22/22 : CMD"), "{out}");
    assert!(
        out.contains("hello 2\n"),
        "the RUN's output is streamed: {out}"
    );
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged built:latest"), "{out}");

    let run = daemon.docker_ok(&["run", "--rm", "built"]);
    assert_eq!(run, "hello 2\nalpha\nbeta\ngamma\n");
    let config = |field: &str| daemon.inspect(&format!("{{{{json .Config.{field}}}}}"), "built");
    assert!(
        config("Env").contains("\"GREETING=hello\""),
        "{}",
        config("Env")
    );
    assert_eq!(config("WorkingDir"), "\"/app\"");
    assert_eq!(config("User"), "\"1000\"");
    assert_eq!(config("Labels"), r#"{"org.example.kind":"test"}"#);
    assert_eq!(config("ExposedPorts"), r#"{"53/udp":{},"8080/tcp":{}}"#);
    assert_eq!(config("Volumes"), r#"{"/data":{}}"#);
    assert_eq!(config("StopSignal"), "\"SIGUSR1\"");
    assert_eq!(config("Entrypoint"), r#"["/bin/sh","-c"]"#);
    assert_eq!(config("OnBuild"), r#"["RUN echo triggered"]"#);
    assert_eq!(config("Shell"), r#"["/bin/sh","-ec"]"#);
    assert!(
        config("Healthcheck").contains("5000000000"),
        "{}",
        config("Healthcheck")
    );
    assert_eq!(daemon.inspect("{{.Author}}", "built"), "someone");
    let owner = daemon.docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "stat",
        "built",
        "-c",
        "%u:%g %a",
        "/data/b.txt",
    ]);
    assert_eq!(owner, "1000:1000 640\n");

    let history = daemon.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "built",
    ]);
    for expected in [
        r#"/bin/sh -ec #(nop)  CMD ["cat /app/out /app/a.txt /data/b.txt /unpacked/inside.txt"]"#,
        "/bin/sh -c #(nop) WORKDIR /app",
        "/bin/sh -c #(nop)  ENV GREETING=hello",
        "|1 VERSION=2 /bin/sh -c echo \"$GREETING $VERSION\" > /app/out && cat /app/out",
    ] {
        assert!(history.contains(expected), "{expected} not in\n{history}");
    }
    assert!(
        history.contains("/bin/sh -c #(nop) COPY file:"),
        "{history}"
    );

    // A child build runs the trigger.
    let child = TempDir::new("build-child");
    write(child.path(), "Dockerfile", "FROM built\nUSER 0\n");
    let out = build_ok(&daemon, &["-t", "child", child.path().to_str().unwrap()]);
    assert!(out.contains("triggered\n"), "{out}");
}

#[test]
fn the_cache_reuses_steps_until_a_copied_file_changes() {
    let daemon = daemon();
    let ctx = TempDir::new("build-cache");
    write(ctx.path(), "a.txt", "one\n");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN cat /a.txt\n",
    );
    let dir = ctx.path().to_str().unwrap();
    // A gzip context (`--compress`); an argument no ARG declares is reported.
    let first = build_ok(
        &daemon,
        &["--compress", "--build-arg", "UNUSED=1", "-t", "cached", dir],
    );
    assert!(
        first.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{first}"
    );
    assert_eq!(first.matches("Using cache").count(), 0, "{first}");
    let listed = |all: &[&str]| {
        let args = [&["images", "-q"], all].concat();
        daemon.docker_ok(&args).lines().count()
    };
    assert_eq!(listed(&[]), 2, "busybox and the build, not its steps");
    assert_eq!(
        listed(&["-a"]),
        4,
        "with the two steps' images before the last"
    );
    let id = daemon.inspect("{{.Id}}", "cached");

    // Rewriting a file with the same content changes only its mtime.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(ctx.path(), "a.txt", "one\n");
    let again = build_ok(&daemon, &["-t", "cached", dir]);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    assert!(!again.contains("Running in"), "nothing runs: {again}");
    assert_eq!(daemon.inspect("{{.Id}}", "cached"), id);
    let quiet = build_ok(&daemon, &["-q", dir]);
    assert_eq!(quiet.lines().next(), Some(id.as_str()), "{quiet}");
    assert!(!quiet.contains("Step"), "-q prints only the id: {quiet}");

    write(ctx.path(), "a.txt", "two\n");
    let changed = build_ok(&daemon, &["-t", "cached", dir]);
    assert_eq!(changed.matches("Using cache").count(), 1, "{changed}");
    assert!(
        changed.contains("two\n"),
        "the last RUN ran again: {changed}"
    );

    let fresh = build_ok(&daemon, &["--no-cache", "-t", "cached", dir]);
    assert_eq!(fresh.matches("Using cache").count(), 0, "{fresh}");
    assert_eq!(fresh.matches("Running in").count(), 2, "{fresh}");

    let df = daemon.docker_ok(&["system", "df", "-v"]);
    assert!(df.contains("Build cache usage"), "{df}");
    let pruned = daemon.docker_ok(&["builder", "prune", "-f"]);
    assert!(!pruned.is_empty());
    let after = build_ok(&daemon, &["-t", "cached", dir]);
    assert_eq!(after.matches("Using cache").count(), 0, "pruned: {after}");
}

#[test]
fn a_failing_run_reports_the_command_and_leaves_nothing_behind() {
    let daemon = daemon();
    let ctx = TempDir::new("build-fail");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nRUN echo before\nRUN echo oops && exit 3\nRUN echo never\n",
    );
    let mounts = daemon.mounts();
    let (ok, out) = build(&daemon, &[ctx.path().to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("Step 3/4 : RUN echo oops && exit 3"), "{out}");
    assert!(out.contains("oops\n"), "{out}");
    assert!(
        out.contains("The command '/bin/sh -c echo oops && exit 3' returned a non-zero code: 3"),
        "{out}"
    );
    assert!(!out.contains("never"), "{out}");
    assert_eq!(daemon.docker_ok(&["ps", "-a", "-q"]), "");
    assert_eq!(daemon.mounts(), mounts);

    let (ok, out) = build(
        &daemon,
        &["--target", "nowhere", ctx.path().to_str().unwrap()],
    );
    assert!(!ok);
    assert!(
        out.contains("failed to reach build target nowhere in Dockerfile"),
        "{out}"
    );
    write(ctx.path(), "Dockerfile", "FROM busybox\nFOO bar\n");
    let (ok, out) = build(&daemon, &[ctx.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("unknown instruction: FOO"), "{out}");
}

#[test]
fn multi_stage_builds_only_what_the_target_needs_and_ignores_what_dockerignore_lists() {
    let daemon = daemon();
    let ctx = TempDir::new("build-stages");
    write(ctx.path(), "kept.txt", "kept\n");
    write(ctx.path(), "secret.txt", "secret\n");
    write(ctx.path(), "logs/a.log", "a\n");
    write(ctx.path(), "logs/keep.log", "keep\n");
    write(
        ctx.path(),
        ".dockerignore",
        "secret.txt\nlogs\n!logs/keep.log\n",
    );
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox AS builder\nRUN echo built > /artifact\n\
         FROM busybox AS unused\nRUN echo SHOULD-NOT-RUN\n\
         FROM busybox\nCOPY --from=builder /artifact /artifact\nCOPY . /ctx/\n",
    );
    let dir = ctx.path().to_str().unwrap();
    let out = build_ok(&daemon, &["-t", "staged", dir]);
    assert!(!out.contains("SHOULD-NOT-RUN"), "{out}");
    assert!(out.contains("Step 5/5 : COPY . /ctx/"), "{out}");
    let listing = daemon.docker_ok(&[
        "run",
        "--rm",
        "staged",
        "sh",
        "-c",
        "cat /artifact; ls -A /ctx /ctx/logs",
    ]);
    let expected = "/ctx:\n.dockerignore\nDockerfile\nkept.txt\nlogs\n\n/ctx/logs:\nkeep.log\n";
    assert_eq!(listing, format!("built\n{expected}"));

    let target = build_ok(&daemon, &["--target", "builder", "-t", "first", dir]);
    assert!(target.contains("Step 2/2 : RUN echo built"), "{target}");

    // A raw context with the ignored file in it: the daemon applies .dockerignore itself.
    let mut tar = tar::Builder::new(Vec::new());
    for name in [
        "Dockerfile",
        ".dockerignore",
        "kept.txt",
        "secret.txt",
        "logs/a.log",
        "logs/keep.log",
    ] {
        tar.append_path_with_name(ctx.join(name), name).unwrap();
    }
    let body = tar.into_inner().unwrap();
    let (status, _, response) = daemon.http("POST", "/build?t=raw", &body);
    assert_eq!(status, 200, "{response}");
    assert!(response.contains(r#"{"aux":{"ID":"sha256:"#), "{response}");
    assert!(!response.contains("errorDetail"), "{response}");
    let listing = daemon.docker_ok(&["run", "--rm", "raw", "ls", "-A", "/ctx", "/ctx/logs"]);
    assert_eq!(listing, expected);
}

#[test]
fn a_scratch_stage_holds_only_what_is_copied_into_it() {
    let daemon = daemon();
    let ctx = TempDir::new("build-scratch");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox AS tools\nRUN echo from-tools > /x\n\
         FROM scratch\nCOPY --from=tools /bin/busybox /busybox\nCOPY --from=tools /x /x\n\
         CMD [\"/busybox\", \"cat\", \"/x\"]\n",
    );
    build_ok(&daemon, &["-t", "tiny", ctx.path().to_str().unwrap()]);
    assert_eq!(daemon.docker_ok(&["run", "--rm", "tiny"]), "from-tools\n");
    assert_eq!(daemon.inspect("{{len .RootFS.Layers}}", "tiny"), "2");
    let history = daemon.docker_ok(&["history", "-q", "--no-trunc", "tiny"]);
    assert_eq!(history.lines().count(), 3, "{history}");
}

#[test]
fn a_hostile_context_cannot_make_copy_read_outside_it() {
    let daemon = daemon();
    let context = |dockerfile: &str, extra: &dyn Fn(&mut Vec<u8>)| {
        let mut tar = Vec::new();
        berth_testkit::raw_tar_entry(
            &mut tar,
            "Dockerfile",
            tar::EntryType::Regular,
            "",
            dockerfile.as_bytes(),
        );
        berth_testkit::raw_tar_entry(
            &mut tar,
            "../../../escaped",
            tar::EntryType::Regular,
            "",
            b"inside\n",
        );
        berth_testkit::raw_tar_entry(&mut tar, "etc", tar::EntryType::Symlink, "/etc", b"");
        extra(&mut tar);
        tar.extend_from_slice(&[0; 1024]);
        tar
    };
    // `..` stops at the context's top, as unpacking it would; the link is copied as a link.
    let body = context("FROM busybox\nCOPY . /ctx/\n", &|_| {});
    let (status, _, response) = daemon.http("POST", "/build?t=confined", &body);
    assert_eq!(status, 200, "{response}");
    assert!(!response.contains("errorDetail"), "{response}");
    let listing = daemon.docker_ok(&[
        "run",
        "--rm",
        "confined",
        "sh",
        "-c",
        "cat /ctx/escaped; readlink /ctx/etc; ls -A /ctx",
    ]);
    assert_eq!(listing, "inside\n/etc\nDockerfile\nescaped\netc\n");

    // Through the link: refused, not read from the host's /etc.
    let body = context("FROM busybox\nCOPY etc/hostname /stolen\n", &|_| {});
    let (_, _, response) = daemon.http("POST", "/build?t=stolen", &body);
    assert!(
        response.contains("forbidden path etc/hostname: etc is a symbolic link"),
        "{response}"
    );
    // A hard link to a host file is not a file of the context.
    let body = context("FROM busybox\nCOPY shadow /stolen\n", &|tar| {
        berth_testkit::raw_tar_entry(tar, "shadow", tar::EntryType::Link, "/etc/shadow", b"");
    });
    let (_, _, response) = daemon.http("POST", "/build?t=stolen", &body);
    assert!(
        response.contains("shadow: a hard link to /etc/shadow, which is not a file of the context"),
        "{response}"
    );
    assert!(
        daemon.docker(&["image", "inspect", "stolen"]).status.code() != Some(0),
        "nothing was built"
    );
}

#[test]
fn independent_stages_build_at_the_same_time_and_print_in_order() {
    let daemon = daemon();
    let ctx = TempDir::new("build-parallel");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox AS a\nRUN sleep 2 && echo from-a > /a\n\
         FROM busybox AS b\nRUN sleep 2 && echo from-b > /b\n\
         FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    );
    let dir = ctx.path().to_str().unwrap();
    let started = std::time::Instant::now();
    let out = build_ok(&daemon, &["-t", "both", dir]);
    let took = started.elapsed();
    // One after the other, the two stages alone would take 4 s.
    assert!(
        took < std::time::Duration::from_millis(3500),
        "the stages ran one after the other: {took:?}\n{out}"
    );
    let steps: Vec<&str> = out.lines().filter(|l| l.starts_with("Step ")).collect();
    assert_eq!(
        steps,
        [
            "Step 1/7 : FROM busybox AS a",
            "Step 2/7 : RUN sleep 2 && echo from-a > /a",
            "Step 3/7 : FROM busybox AS b",
            "Step 4/7 : RUN sleep 2 && echo from-b > /b",
            "Step 5/7 : FROM busybox",
            "Step 6/7 : COPY --from=a /a /a",
            "Step 7/7 : COPY --from=b /b /b",
        ],
        "{out}"
    );
    // Each stage's lines together, in the Dockerfile's order.
    let (first, second) = out.split_once("Step 3/7").unwrap();
    assert_eq!(
        first.matches("Removed intermediate container").count(),
        1,
        "{out}"
    );
    assert_eq!(
        second.matches("Removed intermediate container").count(),
        1,
        "{out}"
    );
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "both", "cat", "/a", "/b"]),
        "from-a\nfrom-b\n"
    );

    // A stage that fails ends the output there, though the one beside it ran.
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox AS a\nRUN sleep 1 && echo failing && exit 3\n\
         FROM busybox AS b\nRUN echo beside\n\
         FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    );
    let (ok, out) = build(&daemon, &[dir]);
    assert!(!ok, "{out}");
    assert!(out.contains("failing\n"), "{out}");
    assert!(
        out.contains("The command '/bin/sh -c sleep 1 && echo failing && exit 3' returned a non-zero code: 3"),
        "{out}"
    );
    assert!(
        !out.contains("Step 3/7") && !out.contains("beside"),
        "{out}"
    );
    assert_eq!(daemon.docker_ok(&["ps", "-a", "-q"]), "");
}
