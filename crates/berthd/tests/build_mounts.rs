//! BuildKit's Dockerfile features on berthd's builder, driven by the docker CLI (which only
//! sends the context: `DOCKER_BUILDKIT=0`'s dockerd would refuse these, so the behaviour is
//! asserted directly): RUN and COPY heredocs, `RUN --mount` of caches, binds and tmpfs, and
//! `RUN --network`. Mount points a mount needed leave nothing in the image.

mod common;

use std::io::Read;

use berth_testkit::tempdir::TempDir;
use common::build::{build_ok, daemon, write};
use common::Daemon;

fn run(daemon: &Daemon, image: &str, script: &str) -> String {
    daemon.docker_ok(&["run", "--rm", image, "sh", "-c", script])
}

/// The paths in each layer `image` has on top of busybox's, as `docker save` writes them.
fn layers_above_base(daemon: &Daemon, image: &str) -> Vec<Vec<String>> {
    let dir = TempDir::new("build-mounts-save");
    let saved = dir.join("image.tar");
    daemon.docker_ok(&["save", "-o", saved.to_str().unwrap(), image]);
    let mut files = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    layers[1..]
        .iter()
        .map(|layer| {
            let bytes = &files[layer.as_str().unwrap()];
            tar::Archive::new(&bytes[..])
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn run_and_copy_heredocs_behave_as_in_buildkit() {
    let daemon = daemon();
    let ctx = TempDir::new("build-heredocs");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox
RUN <<EOF
echo one > /one
echo \"home=$HOME\" > /home-var
EOF
RUN <<'EOF'
#!/bin/sh
echo \"script $0\" > /script
EOF
RUN <<EOF cat > /from-stdin
stdin $HOME
EOF
RUN cat <<A > /a && cat <<-'B' > /b
alpha $HOME
A
\t\tbeta $HOME
\tB
COPY --chmod=755 <<EOF /usr/local/bin/hello
#!/bin/sh
echo hello from a heredoc
EOF
ARG WHO=builder
COPY <<one <<\"two\" /files/
first $WHO
one
second $WHO
two
",
    );
    build_ok(&daemon, &["-t", "docs", ctx.path().to_str().unwrap()]);
    assert_eq!(
        run(
            &daemon,
            "docs",
            "cat /one /home-var /script /from-stdin /a /b"
        ),
        "one\nhome=/root\nscript /dev/pipes/EOF\nstdin /root\nalpha /root\nbeta $HOME\n"
    );
    assert_eq!(
        daemon.docker_ok(&["run", "--rm", "docs", "hello"]),
        "hello from a heredoc\n"
    );
    assert_eq!(
        run(
            &daemon,
            "docs",
            "stat -c '%a %u' /usr/local/bin/hello /files/one /files/two && cat /files/one /files/two"
        ),
        "755 0\n664 0\n664 0\nfirst builder\nsecond $WHO\n"
    );
    let layers = layers_above_base(&daemon, "docs");
    assert!(
        layers.iter().flatten().all(|p| !p.contains("pipes")),
        "the script's mount point stays out of the image: {layers:?}"
    );
}

#[test]
fn a_cache_mount_persists_across_builds_until_builder_prune() {
    let daemon = daemon();
    let ctx = TempDir::new("build-cache-mount");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox AS seed
RUN mkdir /s && echo seeded > /s/file
FROM busybox
ARG N
RUN --mount=type=cache,target=/var/cache/app echo \"$N\" >> /var/cache/app/log && cat /var/cache/app/log > /seen
RUN --mount=type=cache,id=owned,target=/home/u/c,uid=1000,gid=1001,mode=0700 stat -c '%u %g %a' /home/u/c > /owner
RUN --mount=type=cache,from=seed,source=/s,target=/c cat /c/file > /seeded && echo \"$N\" >> /c/file
",
    );
    let dir = ctx.path().to_str().unwrap();
    build_ok(&daemon, &["-t", "c1", "--build-arg", "N=1", dir]);
    assert_eq!(
        run(&daemon, "c1", "cat /seen /owner /seeded"),
        "1\n1000 1001 700\nseeded\n"
    );
    // The seed stage comes from the build cache, so the seeded cache is the same one.
    build_ok(&daemon, &["-t", "c1b", "--build-arg", "N=5", dir]);
    assert_eq!(
        run(&daemon, "c1b", "cat /seen /seeded"),
        "1\n5\nseeded\n1\n",
        "caches keep what RUNs wrote to them"
    );
    build_ok(
        &daemon,
        &["--no-cache", "-t", "c2", "--build-arg", "N=2", dir],
    );
    assert_eq!(
        run(&daemon, "c2", "cat /seen /seeded"),
        "1\n5\n2\nseeded\n",
        "a cache outlives --no-cache; one seeded from a stage made again starts anew (as in BuildKit)"
    );
    assert_eq!(
        run(&daemon, "c2", "ls -d /var/cache/app /home/u 2>&1; true"),
        "ls: /var/cache/app: No such file or directory\nls: /home/u: No such file or directory\n",
        "the mount points stay out of the image"
    );
    let df = daemon.docker_ok(&["system", "df", "-v"]);
    assert!(df.contains("exec.cachemount"), "{df}");
    let pruned = daemon.docker_ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    build_ok(
        &daemon,
        &["--no-cache", "-t", "c3", "--build-arg", "N=3", dir],
    );
    assert_eq!(
        run(&daemon, "c3", "cat /seen"),
        "3\n",
        "pruned with the cache"
    );
}

#[test]
fn bind_and_tmpfs_mounts_are_readable_and_leave_nothing_behind() {
    let daemon = daemon();
    let ctx = TempDir::new("build-bind-mounts");
    write(ctx.path(), "data.txt", "from the context\n");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox AS tools
RUN mkdir -p /out && echo tool-output > /out/file
FROM busybox
RUN --mount=type=bind,from=tools,source=/out,target=/mnt/tools cat /mnt/tools/file > /copied && ! touch /mnt/tools/x 2>/dev/null
RUN --mount=type=bind,from=tools,source=/out,target=/mnt/rw,rw echo changed > /mnt/rw/file
RUN --mount=type=bind,from=tools,source=/out,target=/again cat /again/file > /again-seen
RUN --mount=type=bind,target=/ctx,rw cat /ctx/data.txt > /ctx-seen && echo changed > /ctx/data.txt
COPY data.txt /data-copied
RUN --mount=type=tmpfs,target=/scratch,size=1m df -k /scratch | tail -n 1 | awk '{print $2}' > /tmpfs-size && echo x > /scratch/x
RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /interfaces
USER 1000
RUN --mount=type=bind,target=/src cat /src/data.txt > /tmp/read-as-user
",
    );
    let dir = ctx.path().to_str().unwrap();
    build_ok(&daemon, &["-t", "binds", dir]);
    let again = build_ok(&daemon, &["-t", "binds", dir]);
    assert!(!again.contains("Running in"), "all from the cache: {again}");
    assert_eq!(
        run(
            &daemon,
            "binds",
            "cat /copied /again-seen /ctx-seen /data-copied /tmpfs-size /interfaces /tmp/read-as-user"
        ),
        "tool-output\ntool-output\nfrom the context\nfrom the context\n1024\nlo\nfrom the context\n"
    );
    let layers = layers_above_base(&daemon, "binds");
    let leaked: Vec<&String> = layers
        .iter()
        .flatten()
        .filter(|p| {
            let top = p
                .trim_start_matches("./")
                .split('/')
                .next()
                .unwrap_or_default();
            ["mnt", "again", "ctx", "scratch", "src"].contains(&top)
        })
        .collect();
    assert!(leaked.is_empty(), "mount points in the image: {leaked:?}");
    assert!(
        layers.iter().flatten().any(|p| p == "copied"),
        "the layers are read: {layers:?}"
    );

    // What a context bind mounts is part of the step's cache key.
    write(ctx.path(), "data.txt", "changed in the context\n");
    let changed = build_ok(&daemon, &["-t", "binds", dir]);
    assert_eq!(
        changed.matches("Running in").count(),
        4,
        "the context bind's RUN and the steps after it: {changed}"
    );
    assert_eq!(
        run(&daemon, "binds", "cat /ctx-seen /data-copied"),
        "changed in the context\nchanged in the context\n"
    );
}

#[test]
fn stages_built_at_the_same_time_share_cache_mounts_as_their_sharing_says() {
    let daemon = daemon();
    let ctx = TempDir::new("build-parallel-mounts");
    write(ctx.path(), "data.txt", "from the context\n");
    // Stages a and b start together: each holds its private cache, then the locked one, for
    // a second; `mkdir` fails if another RUN holds the same directory at that moment.
    let hold = |target: &str| format!("mkdir {target}/held && sleep 1 && rmdir {target}/held");
    let stage = |name: &str| {
        format!(
            "FROM busybox AS {name}
RUN --mount=type=cache,id=private,target=/p,sharing=private {}
RUN --mount=type=cache,id=locked,target=/c,sharing=locked {} && echo {name} >> /c/log
RUN --mount=type=cache,id=fresh,target=/f --mount=type=bind,target=/ctx cat /ctx/data.txt > /f/{name}
",
            hold("/p"),
            hold("/c")
        )
    };
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM busybox AS tools
RUN mkdir /out && echo tool-output > /out/file
{}{}FROM busybox
RUN --mount=type=bind,from=tools,source=/out,target=/t --mount=type=bind,from=a,source=/etc,target=/ea --mount=type=bind,from=b,source=/etc,target=/eb cat /t/file > /seen
RUN --mount=type=cache,id=locked,target=/c,sharing=locked --mount=type=cache,id=fresh,target=/f sort /c/log > /log && cat /f/a /f/b > /fresh
",
            stage("a"),
            stage("b")
        ),
    );
    let out = build_ok(&daemon, &["-t", "together", ctx.path().to_str().unwrap()]);
    let steps: Vec<&str> = out.lines().filter(|l| l.starts_with("Step ")).collect();
    assert_eq!(
        steps.len(),
        13,
        "stages named only by a mount's from= are built: {out}"
    );
    assert!(
        steps[12].starts_with("Step 13/13 : RUN --mount=type=cache,id=locked"),
        "{out}"
    );
    assert_eq!(
        run(&daemon, "together", "cat /seen /log /fresh"),
        "tool-output\na\nb\nfrom the context\nfrom the context\n"
    );
}
