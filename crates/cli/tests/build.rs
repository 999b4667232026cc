//! `berth build` against a real dockerd (its legacy builder answers `POST /build` as berthd
//! will): the same contexts built by `berth build` and `DOCKER_BUILDKIT=0 docker build` must
//! give the same images, files and errors.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_testkit::engine::{find_in_path, path_str, run_command_with_timeout, tool, Outcome};
use berth_testkit::{busybox_image_layer, docker_archive, Engine, EngineOptions, LocalRegistry};

const BASE: &str = "busybox:latest";

/// A dockerd with busybox loaded, or `None` (with the reason printed) where none can run.
fn engine(test: &str) -> Option<Engine> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping {test}: dockerd needs root");
        return None;
    }
    for needed in ["dockerd", "containerd", "docker"] {
        if find_in_path(needed).is_none() {
            eprintln!("skipping {test}: {needed} is not installed");
            return None;
        }
    }
    let engine = Engine::start(test, EngineOptions::default());
    let archive = engine.dir.join("busybox.tar");
    docker_archive(&archive, &[busybox_image_layer()], Some(BASE));
    engine.docker_ok(&["load", "-i", path_str(&archive)]);
    Some(engine)
}

/// [`engine`] and a context directory `ctx` in it holding `files` (see [`write_tree`]).
fn engine_with_context(test: &str, files: &[(&str, u32, &str)]) -> Option<(Engine, PathBuf)> {
    let engine = engine(test)?;
    let ctx = engine.dir.join("ctx");
    write_tree(&ctx, files);
    Some((engine, ctx))
}

/// Which command line to run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    Berth,
    Docker,
}

/// `berth build args` or `DOCKER_BUILDKIT=0 docker build args`, in `cwd`, with `stdin` and
/// `env`.
fn build(
    engine: &Engine,
    client: Client,
    cwd: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Outcome {
    let input = engine.dir.join(format!("stdin-{client:?}"));
    fs::write(&input, stdin.unwrap_or_default()).unwrap();
    let host = format!("unix://{}", path_str(&engine.docker_sock));
    let mut cmd = Command::new("sh");
    cmd.current_dir(cwd)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .env("BUILD_STDIN", &input)
        .args(["-c", "exec \"$0\" \"$@\" < \"$BUILD_STDIN\""]);
    match client {
        Client::Berth => {
            cmd.arg(env!("CARGO_BIN_EXE_berth"))
                .arg("-H")
                .arg(&host)
                .arg("--config")
                .arg(engine.dir.join("berth-config"));
        }
        Client::Docker => {
            cmd.env("DOCKER_CONFIG", engine.dir.join("docker-cli"))
                .env("DOCKER_BUILDKIT", "0")
                .arg(tool("docker"))
                .arg("-H")
                .arg(&host);
        }
    }
    cmd.arg("build").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command_with_timeout(&mut cmd, &engine.dir, Duration::from_secs(120))
}

fn build_ok(engine: &Engine, client: Client, cwd: &Path, args: &[&str]) -> String {
    let out = build(engine, client, cwd, args, None, &[]);
    assert!(out.success(), "{}", out.describe());
    out.stdout
}

/// Writes `files` (path, mode, contents) under `dir`; a path ending in `/` is a directory.
fn write_tree(dir: &Path, files: &[(&str, u32, &str)]) {
    for (path, mode, contents) in files {
        let at = dir.join(path.trim_end_matches('/'));
        if path.ends_with('/') {
            fs::create_dir_all(&at).unwrap();
        } else {
            fs::create_dir_all(at.parent().unwrap()).unwrap();
            fs::write(&at, contents).unwrap();
        }
        fs::set_permissions(&at, fs::Permissions::from_mode(*mode)).unwrap();
    }
}

/// The image's config, without what differs from build to build.
fn config(engine: &Engine, image: &str) -> serde_json::Value {
    let raw = engine.docker_ok(&["inspect", "--format", "{{json .Config}}", image]);
    let mut config: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let map = config.as_object_mut().unwrap();
    map.remove("Image");
    map.remove("Hostname");
    config
}

/// Every file under `dir` in the image: name, mode, owner, size, type, and a checksum.
fn files(engine: &Engine, image: &str, dir: &str) -> String {
    let script = format!(
        "cd {dir} && find . | sort | while read f; do \
         stat -c '%n %a %u:%g %s %F' \"$f\"; \
         if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then md5sum \"$f\"; fi; \
         if [ -L \"$f\" ]; then readlink \"$f\"; fi; done"
    );
    engine.docker_ok(&["run", "--rm", "--entrypoint", "sh", image, "-c", &script])
}

const DOCKERFILE: &str = "\
FROM busybox AS base
ARG GREETING=hello
ARG FROM_ENV
ENV GREETING=$GREETING FROM_ENV=$FROM_ENV PATH=/usr/local/bin:/bin
RUN echo \"$GREETING\" > /greeting
FROM base AS final
WORKDIR /ctx
COPY . /ctx/
LABEL stage=final
USER 0:0
EXPOSE 8080/tcp
ENTRYPOINT [\"sh\", \"-c\"]
CMD [\"cat /greeting\"]
";

/// A context with modes, links, nested directories and a `.dockerignore` with exceptions
/// and `**`.
fn rich_context(dir: &Path) {
    write_tree(
        dir,
        &[
            ("Dockerfile", 0o644, DOCKERFILE),
            (
                ".dockerignore",
                0o644,
                "# comment\nlogs\n!logs/keep/*.log\n**/*.tmp\nsecret*\n!secret-but-public\n",
            ),
            ("app/run.sh", 0o755, "#!/bin/sh\necho run\n"),
            ("app/conf/a.conf", 0o600, "a=1\n"),
            ("app/conf/b.tmp", 0o644, "tmp\n"),
            ("deep/x/y/z.tmp", 0o644, "tmp\n"),
            ("deep/x/y/kept", 0o640, "kept\n"),
            ("logs/a.log", 0o644, "a\n"),
            ("logs/keep/b.log", 0o644, "b\n"),
            ("logs/keep/c.txt", 0o644, "c\n"),
            ("secret.key", 0o600, "nope\n"),
            ("secret-but-public", 0o644, "yes\n"),
            ("sticky/", 0o1777, ""),
            ("top.txt", 0o751, "top\n"),
        ],
    );
    std::os::unix::fs::symlink("../../../../etc/passwd", dir.join("app/escape")).unwrap();
    std::os::unix::fs::symlink("run.sh", dir.join("app/alias")).unwrap();
    fs::hard_link(dir.join("app/run.sh"), dir.join("app/run-again.sh")).unwrap();
}

#[test]
fn build_gives_docker_s_image_config_and_files() {
    let Some(engine) = engine("cli-build") else {
        return;
    };
    let ctx = engine.dir.join("rich");
    rich_context(&ctx);
    let common = [
        "--no-cache",
        "--build-arg",
        "GREETING=hi there",
        "--build-arg",
        "FROM_ENV",
        "--label",
        "org.example.a=1",
        "--label",
        "empty",
    ];
    let env = [("FROM_ENV", "from the environment")];
    let mut ours_args = common.to_vec();
    ours_args.extend(["-t", "ours:1", "-t", "ours:2", "."]);
    let ours = build(&engine, Client::Berth, &ctx, &ours_args, None, &env);
    assert!(ours.success(), "{}", ours.describe());
    assert!(
        ours.stdout.contains(" : FROM busybox AS base\n"),
        "{}",
        ours.stdout
    );
    assert!(
        ours.stdout.contains("Successfully tagged ours:2\n"),
        "{}",
        ours.stdout
    );
    // Piped: no progress line, as the brief of `berth build` wants.
    assert!(
        !ours.stdout.contains("Sending build context"),
        "{}",
        ours.stdout
    );
    let mut theirs_args = common.to_vec();
    theirs_args.extend(["-t", "theirs:1", "."]);
    let theirs = build(&engine, Client::Docker, &ctx, &theirs_args, None, &env);
    assert!(theirs.success(), "{}", theirs.describe());

    let config_ours = config(&engine, "ours:1");
    assert_eq!(config_ours, config(&engine, "theirs:1"));
    assert_eq!(config_ours["Labels"]["org.example.a"], "1");
    assert_eq!(config_ours["Labels"]["empty"], "");
    assert_eq!(config_ours["WorkingDir"], "/ctx");
    let env_list = config_ours["Env"].to_string();
    assert!(env_list.contains("GREETING=hi there"), "{env_list}");
    assert!(
        env_list.contains("FROM_ENV=from the environment"),
        "{env_list}"
    );

    let listing = files(&engine, "ours:1", "/ctx");
    assert_eq!(listing, files(&engine, "theirs:1", "/ctx"));
    for kept in [
        "./logs/keep/b.log",
        "./secret-but-public",
        "./deep/x/y/kept",
        "./app/escape",
    ] {
        assert!(
            listing.contains(&format!("{kept} ")),
            "{kept} missing:\n{listing}"
        );
    }
    for left in ["a.log", "c.txt", ".tmp", "secret.key"] {
        assert!(!listing.contains(left), "{left} sent:\n{listing}");
    }
    assert!(listing.contains("./sticky 1777 0:0"), "{listing}");
    assert!(
        listing.contains("./top.txt 751 0:0 4 regular file"),
        "{listing}"
    );

    // The same context, cached: docker finds every layer berth made, so the archives match
    // (names, modes, owners, links and contents).
    let id = build_ok(
        &engine,
        Client::Berth,
        &ctx,
        &["-q", "--label", "cached=1", "."],
    );
    let again = build_ok(
        &engine,
        Client::Docker,
        &ctx,
        &["-q", "--label", "cached=1", "."],
    );
    assert_eq!(id, again);

    // --target stops at the named stage.
    let target = build_ok(
        &engine,
        Client::Berth,
        &ctx,
        &["--target", "base", "-t", "base:1", "."],
    );
    assert!(target.contains(" : RUN echo"), "{target}");
    assert!(!target.contains("WORKDIR"), "{target}");
    assert_eq!(
        engine.docker_ok(&["run", "--rm", "base:1", "cat", "/greeting"]),
        "hello\n"
    );
    // `berth image build` is the same command.
    let via_group = Command::new(env!("CARGO_BIN_EXE_berth"))
        .current_dir(&ctx)
        .args(["-H", &format!("unix://{}", path_str(&engine.docker_sock))])
        .args(["image", "build", "-q", "--label", "cached=1", "."])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&via_group.stdout), id);
}

/// Both clients, same arguments and stdin: both succeed; returns (ours, theirs) stdout.
fn both_ok(engine: &Engine, cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> (String, String) {
    let ours = build(engine, Client::Berth, cwd, args, stdin, &[]);
    assert!(ours.success(), "{}", ours.describe());
    let theirs = build(engine, Client::Docker, cwd, args, stdin, &[]);
    assert!(theirs.success(), "{}", theirs.describe());
    (ours.stdout, theirs.stdout)
}

/// The id `-q` printed.
fn quiet_id(stdout: &str) -> String {
    let id = stdout.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{stdout:?}");
    id
}

const LIST_CONTEXT: &str = "FROM busybox\nCOPY . /ctx/\nRUN find /ctx | sort > /listing\n";

#[test]
fn dockerfiles_from_elsewhere_and_contexts_from_stdin() {
    let Some(engine) = engine("cli-build-files") else {
        return;
    };
    let ctx = engine.dir.join("ctx");
    write_tree(
        &ctx,
        &[
            ("data.txt", 0o644, "data\n"),
            ("sub/Dockerfile.dev", 0o644, LIST_CONTEXT),
            (".dockerignore", 0o644, "ignored\n"),
            ("ignored", 0o644, "no\n"),
        ],
    );
    let outside = engine.dir.join("Dockerfile.outside");
    fs::write(&outside, LIST_CONTEXT).unwrap();
    let listing = |id: &str| engine.docker_ok(&["run", "--rm", id, "cat", "/listing"]);

    // -f inside the context, relative to the working directory.
    let (ours, theirs) = both_ok(
        &engine,
        &ctx,
        &["-q", "--no-cache", "-f", "sub/Dockerfile.dev", "."],
        None,
    );
    assert_eq!(listing(&quiet_id(&ours)), listing(&quiet_id(&theirs)));
    assert!(listing(&quiet_id(&ours)).contains("/ctx/sub/Dockerfile.dev\n"));

    // A .dockerignore that excludes the Dockerfile does not keep it from the builder.
    fs::write(ctx.join(".dockerignore"), "ignored\nsub\n").unwrap();
    let (ours, theirs) = both_ok(
        &engine,
        &ctx,
        &["-q", "--no-cache", "-f", "sub/Dockerfile.dev", "."],
        None,
    );
    let hidden = listing(&quiet_id(&ours));
    assert_eq!(hidden, listing(&quiet_id(&theirs)));
    // The daemon read it, then took it out of the context as .dockerignore asks.
    assert_eq!(
        hidden,
        "/ctx\n/ctx/.dockerignore\n/ctx/data.txt\n/ctx/sub\n"
    );
    fs::write(ctx.join(".dockerignore"), "ignored\n").unwrap();

    // -f outside the context: sent under a random name that .dockerignore hides.
    let outside_arg = path_str(&outside);
    let (ours, theirs) = both_ok(
        &engine,
        &ctx,
        &["-q", "--no-cache", "-f", outside_arg, "."],
        None,
    );
    let seen = listing(&quiet_id(&ours));
    assert_eq!(seen, listing(&quiet_id(&theirs)));
    assert_eq!(
        seen,
        "/ctx\n/ctx/.dockerignore\n/ctx/data.txt\n/ctx/sub\n/ctx/sub/Dockerfile.dev\n"
    );

    // -f -: the Dockerfile on stdin, the context a directory.
    let (ours, theirs) = both_ok(
        &engine,
        &ctx,
        &["-q", "--no-cache", "-f", "-", "."],
        Some(LIST_CONTEXT.as_bytes()),
    );
    assert_eq!(listing(&quiet_id(&ours)), seen);
    assert_eq!(listing(&quiet_id(&theirs)), seen);

    // `-`: a tar on stdin, plain or gzip, sent as is (its .dockerignore is the daemon's
    // business); then a Dockerfile alone.
    let tar = engine.dir.join("ctx.tar");
    berth_testkit::run(
        Command::new("tar")
            .arg("-C")
            .arg(&ctx)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    let tar_bytes = fs::read(&tar).unwrap();
    let (ours, theirs) = both_ok(
        &engine,
        &ctx,
        &["-q", "--no-cache", "-f", "sub/Dockerfile.dev", "-"],
        Some(&tar_bytes),
    );
    assert_eq!(listing(&quiet_id(&ours)), listing(&quiet_id(&theirs)));
    berth_testkit::run(Command::new("gzip").arg("-k").arg(&tar));
    let gz = fs::read(engine.dir.join("ctx.tar.gz")).unwrap();
    let (ours, _) = both_ok(
        &engine,
        &ctx,
        &["-q", "-f", "sub/Dockerfile.dev", "-"],
        Some(&gz),
    );
    assert!(listing(&quiet_id(&ours)).contains("/ctx/data.txt\n"));
    let alone = "FROM busybox\nRUN echo alone > /alone\n";
    let (ours, theirs) = both_ok(&engine, &ctx, &["-t", "alone", "-"], Some(alone.as_bytes()));
    assert!(
        ours.contains("Successfully tagged alone:latest\n"),
        "{ours}"
    );
    assert!(
        theirs.contains("Successfully tagged alone:latest\n"),
        "{theirs}"
    );
    assert_eq!(
        engine.docker_ok(&["run", "--rm", "alone", "cat", "/alone"]),
        "alone\n"
    );
}

#[test]
fn quiet_iidfile_and_outputs() {
    let Some((engine, ctx)) = engine_with_context(
        "cli-build-out",
        &[
            (
                "Dockerfile",
                0o644,
                "FROM busybox\nCOPY f /f\nRUN mkdir -p /d && echo made > /d/made && chmod 700 /d\n",
            ),
            ("f", 0o640, "from the context\n"),
        ],
    ) else {
        return;
    };
    let ours_iid = engine.dir.join("ours.iid");
    let theirs_iid = engine.dir.join("theirs.iid");
    fs::write(&ours_iid, "stale").unwrap();
    let ours = build_ok(
        &engine,
        Client::Berth,
        &ctx,
        &["--iidfile", path_str(&ours_iid), "."],
    );
    assert!(ours.contains("Successfully built "), "{ours}");
    build_ok(
        &engine,
        Client::Docker,
        &ctx,
        &["--iidfile", path_str(&theirs_iid), "."],
    );
    let iid = fs::read_to_string(&ours_iid).unwrap();
    assert_eq!(iid, fs::read_to_string(&theirs_iid).unwrap());
    assert!(
        iid.starts_with("sha256:") && !iid.ends_with('\n'),
        "{iid:?}"
    );

    // On a terminal, the context's upload is counted as docker counts it.
    let shown = common::berth_on_terminal(&engine, &["build", path_str(&ctx)]);
    assert!(shown.success(), "{}", shown.describe());
    assert!(
        shown
            .stdout
            .contains("Sending build context to Docker daemon  3.072kB"),
        "{}",
        shown.describe()
    );

    // -q prints only the id; with --iidfile the file holds what -q printed, newline included,
    // as docker writes it.
    let (ours, theirs) = both_ok(
        &engine,
        &ctx,
        &["-q", "--iidfile", path_str(&ours_iid), "."],
        None,
    );
    assert_eq!(ours, format!("{iid}\n"));
    assert_eq!(ours, theirs);
    assert_eq!(fs::read_to_string(&ours_iid).unwrap(), ours);

    // --output: the image's files, unpacked or as a tar.
    let local = engine.dir.join("out-local");
    let tar = engine.dir.join("out.tar");
    let out = build_ok(
        &engine,
        Client::Berth,
        &ctx,
        &[
            "-q",
            "--output",
            &format!("type=local,dest={}", path_str(&local)),
            "-o",
            &format!("type=tar,dest={}", path_str(&tar)),
            ".",
        ],
    );
    assert_eq!(out, format!("{iid}\n"));
    assert_eq!(
        fs::read_to_string(local.join("f")).unwrap(),
        "from the context\n"
    );
    assert_eq!(fs::read_to_string(local.join("d/made")).unwrap(), "made\n");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&local.join("f")), 0o640);
    assert_eq!(mode(&local.join("d")), 0o700);
    assert!(fs::symlink_metadata(local.join("bin/sh"))
        .unwrap()
        .file_type()
        .is_symlink());
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(fs::File::open(&tar).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name == "f" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            assert_eq!(text, "from the context\n");
        }
        names.push(name);
    }
    for wanted in ["f", "d/made", "bin/busybox"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} not in {names:?}"
        );
    }
    // A tar on stdout: the build's messages go to stderr.
    let piped_tar = engine.dir.join("piped.tar");
    let mut cmd = Command::new("sh");
    cmd.current_dir(&ctx)
        .env("PIPED_TAR", &piped_tar)
        .args(["-c", "exec \"$0\" \"$@\" > \"$PIPED_TAR\""])
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &format!("unix://{}", path_str(&engine.docker_sock))])
        .args(["build", "-o", "-", "."]);
    let piped = run_command_with_timeout(&mut cmd, &engine.dir, Duration::from_secs(120));
    assert!(piped.success(), "{}", piped.describe());
    assert!(
        piped.stderr.contains("Successfully built "),
        "{}",
        piped.describe()
    );
    let mut archive = tar::Archive::new(fs::File::open(&piped_tar).unwrap());
    let piped_names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(piped_names.iter().any(|n| n == "d/made"), "{piped_names:?}");
    // The container made for the export is gone.
    assert_eq!(engine.docker_ok(&["ps", "-aq"]), "");
}

/// `berth build args` and docker's fail alike: same exit code, and `message` on stderr.
fn fails_alike(engine: &Engine, cwd: &Path, args: &[&str], code: i32, message: &str) {
    for client in [Client::Berth, Client::Docker] {
        let out = build(engine, client, cwd, args, None, &[]);
        assert_eq!(out.code(), Some(code), "{}", out.describe());
        assert!(out.stderr.contains(message), "{}", out.describe());
    }
}

#[test]
fn failures_give_docker_s_codes_and_messages() {
    let Some((engine, ctx)) = engine_with_context(
        "cli-build-fail",
        &[
            (
                "Dockerfile",
                0o644,
                "FROM busybox\nRUN echo before; exit 3\n",
            ),
            ("false.Dockerfile", 0o644, "FROM busybox\nRUN false\n"),
        ],
    ) else {
        return;
    };
    fails_alike(
        &engine,
        &ctx,
        &["."],
        3,
        "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3",
    );
    fails_alike(
        &engine,
        &ctx,
        &["-f", "false.Dockerfile", "."],
        1,
        "The command '/bin/sh -c false' returned a non-zero code: 1",
    );
    // -q: the build's output goes to stderr when it fails.
    let quiet = build(&engine, Client::Berth, &ctx, &["-q", "."], None, &[]);
    assert_eq!(quiet.code(), Some(3), "{}", quiet.describe());
    assert_eq!(quiet.stdout, "");
    assert!(
        quiet.stderr.contains("Step 2/2 : RUN echo before; exit 3"),
        "{}",
        quiet.describe()
    );
    assert!(quiet.stderr.contains("before\n"), "{}", quiet.describe());

    fails_alike(&engine, &ctx, &["-t", "Bad:x", "."], 125, "invalid argument \"Bad:x\" for \"-t, --tag\" flag: invalid reference format: repository name (library/Bad) must be lowercase");
    fails_alike(
        &engine,
        &ctx,
        &["-t", "a:b:c", "."],
        125,
        "for \"-t, --tag\" flag: invalid reference format",
    );
    let missing = format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}/nope: no such file or directory", path_str(&ctx));
    fails_alike(&engine, &ctx, &["-f", "nope", "."], 1, &missing);
    fails_alike(
        &engine,
        &ctx,
        &["/nonexistent/ctx"],
        1,
        "unable to prepare context: path \"/nonexistent/ctx\" not found",
    );
    fails_alike(
        &engine,
        &ctx,
        &["-f", "-", "-"],
        1,
        "invalid argument: can't use stdin for both build context and dockerfile",
    );
    fails_alike(
        &engine,
        &ctx,
        &["--build-arg", "=x", "."],
        125,
        "invalid argument \"=x\" for \"--build-arg\" flag: invalid environment variable: =x",
    );
    fails_alike(&engine, &ctx, &[], 1, "build' requires 1 argument");
    // A Dockerfile error from the daemon.
    fs::write(ctx.join("bad.Dockerfile"), "FROM busybox\nNOPE x\n").unwrap();
    let ours = build(
        &engine,
        Client::Berth,
        &ctx,
        &["-f", "bad.Dockerfile", "."],
        None,
        &[],
    );
    let theirs = build(
        &engine,
        Client::Docker,
        &ctx,
        &["-f", "bad.Dockerfile", "."],
        None,
        &[],
    );
    assert_eq!(
        ours.code(),
        theirs.code(),
        "{}\n{}",
        ours.describe(),
        theirs.describe()
    );
    let last = |s: &str| s.trim_end().lines().last().unwrap_or("").to_string();
    assert_eq!(last(&ours.stderr), last(&theirs.stderr));
}

/// A 50 MB context is streamed: berth's peak memory stays far below the context's size.
#[test]
fn large_contexts_stream() {
    let Some(engine) = engine("cli-build-big") else {
        return;
    };
    let Some(time) = find_in_path("time").filter(|p| p.starts_with("/usr/bin")) else {
        eprintln!("skipping the memory measurement: /usr/bin/time is not installed");
        return;
    };
    let ctx = engine.dir.join("big");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY blob /blob\nRUN md5sum /blob > /sum\n",
    )
    .unwrap();
    let blob: Vec<u8> = (0..50u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(ctx.join("blob"), &blob).unwrap();
    let report = engine.dir.join("time.txt");
    let mut cmd = Command::new(time);
    cmd.current_dir(&ctx)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &format!("unix://{}", path_str(&engine.docker_sock))])
        .args(["build", "-q", "-t", "big", "."]);
    let out = run_command_with_timeout(&mut cmd, &engine.dir, Duration::from_secs(180));
    assert!(out.success(), "{}", out.describe());
    let peak_kb: u64 = fs::read_to_string(&report)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("berth build of a 50 MiB context: peak RSS {peak_kb} kB");
    assert!(
        peak_kb < 30 * 1024,
        "berth held the context in memory: {peak_kb} kB"
    );
    // A daemon that refuses the build before reading the context: its words, not a broken
    // pipe.
    fails_alike(
        &engine,
        &ctx,
        &["--isolation", "hyperv", "."],
        1,
        "Error response from daemon: Unsupported isolation: \"hyperv\"",
    );
    let sum = engine.docker_ok(&["run", "--rm", "big", "cat", "/sum"]);
    let ours = String::from_utf8(
        Command::new("md5sum")
            .arg(ctx.join("blob"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        sum.split_whitespace().next(),
        ours.split_whitespace().next()
    );
}

/// A base image on a registry that wants a password: the builder pulls it with the
/// credentials `berth login` stored (sent as `X-Registry-Config`).
#[test]
fn base_images_are_pulled_with_stored_credentials() {
    let Some(engine) = engine("cli-build-auth") else {
        return;
    };
    let registry = LocalRegistry::start();
    let name = common::busybox_in(&registry);
    let _served = common::serve_with_password(&engine, &registry, "bob", "b1lder");
    let ctx = engine.dir.join("ctx");
    write_tree(
        &ctx,
        &[(
            "Dockerfile",
            0o644,
            &format!(
                "FROM {name}\nRUN [\"/bin/busybox\", \"cp\", \"/etc/greeting\", \"/copied\"]\n"
            ),
        )],
    );
    let denied = build(&engine, Client::Berth, &ctx, &["."], None, &[]);
    assert_eq!(denied.code(), Some(1), "{}", denied.describe());
    let login = common::berth_with_stdin(
        &engine,
        &["login", "-u", "bob", "--password-stdin", &registry.address],
        b"b1lder\n",
    );
    assert!(login.success(), "{}", login.describe());
    build_ok(&engine, Client::Berth, &ctx, &["-t", "pulled", "."]);
    assert_eq!(
        engine.docker_ok(&["run", "--rm", "pulled", "/bin/busybox", "cat", "/copied"]),
        "hi\n"
    );
}
