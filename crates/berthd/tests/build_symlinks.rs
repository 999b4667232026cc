//! `COPY --from` through symbolic links in the source stage (`/mylib -> usr/lib`): berthd
//! follows them inside the stage's root as dockerd's legacy builder does, and both give the
//! same files.

mod common;

use std::path::Path;

use berth_testkit::tempdir::TempDir;
use berth_testkit::{busybox_image_layer, docker_archive, Engine, EngineOptions};
use common::Daemon;

const DOCKERFILE: &str = r#"FROM box:1 AS src
RUN mkdir -p /usr/lib/app && echo lib > /usr/lib/app/x && ln -s usr/lib /mylib && ln -s /usr/lib/app /abs && ln -s x /usr/lib/app/link && ln -s ../../../../.. /usr/lib/up
FROM box:1
COPY --from=src /mylib/app/x /got/x
COPY --from=src /abs/x /got/y
COPY --from=src /mylib/app /got/dir/
COPY --from=src /mylib/up/abs/x /got/z
"#;

const LIST: &str =
    "cd /got && find . | sort | while read f; do stat -c '%n %F' \"$f\"; done; cat x y z";

/// `DOCKER_BUILDKIT=0 docker build -t linked` against `socket`, then what the image holds.
fn build_and_list(socket: &Path, config: &Path, context: &Path) -> String {
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CONFIG", config)
            .env_remove("DOCKER_HOST")
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(args)
            .output()
            .expect("run docker");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "docker {args:?} against {} failed: {text}{}",
            socket.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    docker(&["build", "-t", "linked", context.to_str().unwrap()]);
    docker(&["run", "--rm", "linked", "sh", "-c", LIST])
}

#[test]
fn copy_from_follows_links_inside_the_source_stage_as_dockerd_does() {
    let ctx = TempDir::new("build-links");
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    let archive = ctx.join("box.tar");
    docker_archive(&archive, &[busybox_image_layer()], Some("box:1"));
    let archive = archive.to_str().unwrap().to_string();
    std::fs::write(ctx.join(".dockerignore"), "box.tar\n").unwrap();

    let berth = Daemon::start();
    berth.docker_ok(&["load", "-i", &archive]);
    let ours = build_and_list(&berth.socket, &berth.dir.join("docker-config"), ctx.path());
    assert!(ours.ends_with("lib\nlib\nlib\n"), "{ours}");

    let engine = Engine::start("berthd-build-links", EngineOptions::default());
    engine.docker_ok(&["load", "-i", &archive]);
    let theirs = build_and_list(
        &engine.docker_sock,
        &engine.dir.join("docker-cli"),
        ctx.path(),
    );
    assert_eq!(ours, theirs);
}
