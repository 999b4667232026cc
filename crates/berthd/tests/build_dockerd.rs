//! The same Dockerfile built by berthd and by a real dockerd's legacy builder: the images'
//! configurations, histories and files agree.

mod common;

use std::path::Path;
use std::process::Command;

use berth_testkit::tempdir::TempDir;
use berth_testkit::{busybox_image_layer, docker_archive, Engine, EngineOptions};
use common::Daemon;

const DOCKERFILE: &str = r#"FROM box:1
LABEL org.example.kind=compare
ENV GREETING=hello
ARG VERSION=1
WORKDIR /app
COPY a.txt ./
COPY dir/ /data/
RUN echo "$GREETING $VERSION" > /app/out
USER 1000
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGUSR1
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/out"]
"#;

/// `docker build` with the legacy builder against `socket`; panics if it fails.
fn build(socket: &Path, config: &Path, context: &Path) {
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["build", "-t", "compared", "--build-arg", "VERSION=2"])
        .arg(context)
        .output()
        .expect("run docker build");
    assert!(
        out.status.success(),
        "build against {} failed: {}{}",
        socket.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What is compared of the image `compared`, through `docker` (which runs a docker command).
fn observe(docker: &dyn Fn(&[&str]) -> String) -> Vec<String> {
    let mut seen = Vec::new();
    for field in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "Labels",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "OnBuild",
    ] {
        let format = format!("{field}={{{{json .Config.{field}}}}}");
        seen.push(docker(&["inspect", "-f", &format, "compared"]));
    }
    let history = docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "compared",
    ]);
    for line in history.lines() {
        // The copied files' hash is computed differently (dockerd hashes tar headers).
        let line = match line.split_once(" COPY ") {
            Some((head, tail)) => {
                let (_, dest) = tail.split_once(" in ").unwrap_or(("", tail));
                format!("{head} COPY <hash> in {dest}")
            }
            None => line.to_string(),
        };
        seen.push(line);
    }
    seen.push(docker(&[
        "run", "--rm", "--entrypoint", "sh", "compared", "-c",
        "cat /app/out /app/a.txt /data/b.txt; ls -ln /app /data | sed 's/ [A-Z][a-z][a-z] .*:.. / /'",
    ]));
    seen
}

#[test]
fn berthd_and_dockerd_build_the_same_image() {
    let ctx = TempDir::new("build-compare");
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(ctx.join("a.txt"), "alpha\n").unwrap();
    std::fs::create_dir(ctx.join("dir")).unwrap();
    std::fs::write(ctx.join("dir/b.txt"), "beta\n").unwrap();
    let archive = ctx.join("box.tar");
    docker_archive(&archive, &[busybox_image_layer()], Some("box:1"));
    let archive = archive.to_str().unwrap().to_string();

    let berth = Daemon::start();
    berth.docker_ok(&["load", "-i", &archive]);
    build(&berth.socket, &berth.dir.join("docker-config"), ctx.path());
    let ours = observe(&|args| berth.docker_ok(args));

    let engine = Engine::start("berthd-build-dockerd", EngineOptions::default());
    engine.docker_ok(&["load", "-i", &archive]);
    build(
        &engine.docker_sock,
        &engine.dir.join("docker-cli"),
        ctx.path(),
    );
    let theirs = observe(&|args| engine.docker_ok(args));

    assert_eq!(ours, theirs);
}
