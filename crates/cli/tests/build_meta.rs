//! `berth build` against berthd: what a build records besides its files (reproducible images
//! with `SOURCE_DATE_EPOCH`, step timings, the cache's sizes) and how it exports them.

mod common;

use std::path::Path;
use std::time::Duration;

use berth_testkit::engine::run_command;
use common::berthd::Berthd;

const EPOCH: &str = "1700000000";

/// A berthd with busybox, and a context directory holding `dockerfile`.
fn start(test: &str, dockerfile: &str) -> (Berthd, std::path::PathBuf) {
    let daemon = Berthd::start(test);
    daemon.load_busybox("busybox:latest");
    let dir = daemon.dir.join("context");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    (daemon, dir)
}

/// Rewrites the context's file: same contents, a new modification time.
fn touch(dir: &Path) {
    std::fs::write(dir.join("a"), "from the context\n").unwrap();
}

/// `berth build -q args… dir`: the image id.
fn build_id(daemon: &Berthd, args: &[&str], dir: &Path) -> String {
    let mut all = vec!["build", "-q"];
    all.extend_from_slice(args);
    all.push(dir.to_str().unwrap());
    daemon.berth_ok(&all).trim().to_string()
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    // A build that makes files at build time (COPY from the context, RUN, WORKDIR).
    let (daemon, dir) = start(
        "cli-epoch",
        "FROM busybox\nCOPY a /app/a\nRUN echo made > /app/b && mkdir /app/d\nWORKDIR /w\nENV X=1\n",
    );
    touch(&dir);
    let arg = format!("SOURCE_DATE_EPOCH={EPOCH}");

    let first = build_id(&daemon, &["--build-arg", &arg], &dir);
    std::thread::sleep(Duration::from_millis(1100));
    touch(&dir);
    let second = build_id(&daemon, &["--no-cache", "--build-arg", &arg], &dir);
    assert_eq!(first, second, "the same input at the same epoch");

    // The CLI passes SOURCE_DATE_EPOCH from its environment as that build arg.
    std::thread::sleep(Duration::from_millis(1100));
    touch(&dir);
    let mut from_env = daemon.berth_command(&["build", "-q", "--no-cache", dir.to_str().unwrap()]);
    from_env.env("SOURCE_DATE_EPOCH", EPOCH);
    let out = run_command(&mut from_env, daemon.dir.path());
    assert!(out.success(), "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        first,
        "SOURCE_DATE_EPOCH from the environment"
    );

    let created = daemon.berth_ok(&["image", "inspect", "--format", "{{.Created}}", &first]);
    assert_eq!(created.trim(), "2023-11-14T22:13:20Z");
    let history = daemon.berth_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedAt}}",
        &first,
    ]);
    let lines: Vec<&str> = history.lines().collect();
    // The newest entries (the build's four steps) are dated at the epoch, not the base's.
    assert!(
        lines[..4]
            .iter()
            .all(|l| l.starts_with("2023-11-14T22:13:20")),
        "{history}"
    );
    assert!(!lines[4].starts_with("2023-11-14"), "{history}");
    // Files the build made (RUN's, COPY's, WORKDIR's) have the epoch as modification time.
    let mtimes = daemon.berth_ok(&[
        "run", "--rm", &first, "stat", "-c", "%Y %n", "/app/a", "/app/b", "/app/d", "/w",
    ]);
    assert_eq!(
        mtimes,
        format!("{EPOCH} /app/a\n{EPOCH} /app/b\n{EPOCH} /app/d\n{EPOCH} /w\n")
    );

    let plain = build_id(&daemon, &["--no-cache"], &dir);
    std::thread::sleep(Duration::from_millis(1100));
    let plain_again = build_id(&daemon, &["--no-cache"], &dir);
    assert_ne!(
        plain, plain_again,
        "without an epoch each build is dated when it ran"
    );
    assert_ne!(plain, first);

    let bad = daemon.berth(&[
        "build",
        "--build-arg",
        "SOURCE_DATE_EPOCH=soon",
        dir.to_str().unwrap(),
    ]);
    assert!(!bad.success(), "{}", bad.describe());
    assert!(
        bad.stderr.contains("invalid SOURCE_DATE_EPOCH: \"soon\""),
        "{}",
        bad.describe()
    );
}

/// The output's section for the step whose line contains `instruction`.
fn step<'a>(output: &'a str, instruction: &str) -> &'a str {
    output
        .split("Step ")
        .find(|s| s.lines().next().is_some_and(|l| l.contains(instruction)))
        .unwrap_or_else(|| panic!("no step {instruction} in {output}"))
}

/// The seconds of the step's ` ---> Done in 1.23s` line, if it has one.
fn took(section: &str) -> Option<f64> {
    section.lines().find_map(|l| {
        l.strip_prefix(" ---> Done in ")?
            .strip_suffix('s')?
            .parse()
            .ok()
    })
}

#[test]
fn steps_that_ran_say_how_long_they_took() {
    let (daemon, dir) = start(
        "cli-timing",
        "FROM busybox\nRUN sleep 0.3 && echo slept > /s\n",
    );
    let context = dir.to_str().unwrap();

    let first = daemon.berth_ok(&["build", context]);
    let run = step(&first, "RUN sleep");
    let seconds = took(run).unwrap_or_else(|| panic!("no timing: {first}"));
    assert!((0.3..30.0).contains(&seconds), "{first}");
    // The timing comes before the step's image id, which stays the step's last line.
    let last = run.lines().rfind(|l| l.starts_with(" ---> ")).unwrap();
    assert!(
        last.strip_prefix(" ---> ")
            .is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())),
        "{first}"
    );

    // The docker CLI prints the stream as it comes: its legacy builder client shows it too.
    let mut docker = std::process::Command::new("docker");
    docker
        .env_remove("DOCKER_HOST")
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", daemon.dir.join("docker-config"))
        .args(["-H", &daemon.host(), "build", "--no-cache", context]);
    let out = run_command(&mut docker, daemon.dir.path());
    assert!(out.success(), "{}", out.describe());
    assert!(
        took(step(&out.stdout, "RUN sleep")).is_some(),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Successfully built "), "{}", out.stdout);

    let cached = daemon.berth_ok(&["build", context]);
    let run = step(&cached, "RUN sleep");
    assert!(run.contains(" ---> Using cache\n"), "{cached}");
    assert_eq!(took(run), None, "a cache hit ran nothing: {cached}");
}

/// The `Build Cache` line of `system df`: size and reclaimable.
fn cache_usage(daemon: &Berthd) -> String {
    let df = daemon.berth_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}: {{.Size}} {{.Reclaimable}}",
    ]);
    df.lines()
        .find_map(|l| l.strip_prefix("Build Cache: "))
        .unwrap_or_else(|| panic!("no build cache line: {df}"))
        .to_string()
}

#[test]
fn the_build_cache_reports_its_size_and_what_pruning_reclaimed() {
    let (daemon, dir) = start(
        "cli-bcache",
        "FROM busybox\nRUN head -c 3000000 /dev/urandom > /big\nENV A=1\n",
    );
    let context = dir.to_str().unwrap();
    daemon.berth_ok(&["build", "-t", "kept", context]);
    // Every layer the cache holds is the tagged image's too: pruning would free nothing.
    assert_eq!(cache_usage(&daemon), "0B 0B");
    let verbose = daemon.berth_ok(&["system", "df", "-v"]);
    assert!(verbose.contains("\nBuild cache usage: 0B\n"), "{verbose}");
    let rows: Vec<Vec<&str>> = verbose
        .split("CACHE ID")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    // The RUN's layer (3 MB, the tagged image's too) and the ENV's (no layer of its own).
    assert_eq!(rows.len(), 2, "{verbose}");
    assert_eq!(
        (rows[0][2], rows[0].last().copied()),
        ("3.01MB", Some("true")),
        "{verbose}"
    );
    assert_eq!(
        (rows[1][2], rows[1].last().copied()),
        ("0B", Some("false")),
        "{verbose}"
    );

    daemon.berth_ok(&["rmi", "kept"]);
    let reclaimable = cache_usage(&daemon);
    assert_eq!(
        reclaimable, "3.005MB 3.005MB",
        "only the cache holds the RUN's layer now"
    );
    let pruned = daemon.berth_ok(&["builder", "prune", "-f"]);
    assert!(
        pruned.ends_with("\nTotal reclaimed space: 3.005MB\n"),
        "{pruned}"
    );
    assert_eq!(cache_usage(&daemon), "0B 0B");
    let images = daemon.berth_ok(&["images", "-a", "-q"]);
    assert_eq!(images.lines().count(), 1, "busybox only: {images}");
}

#[test]
fn output_type_oci_writes_an_image_layout_skopeo_reads() {
    let (daemon, dir) = start(
        "cli-oci-out",
        "FROM busybox\nRUN echo made > /made\nCMD [\"cat\", \"/made\"]\n",
    );
    let file = daemon.dir.join("image.oci.tar");
    let output = format!("type=oci,dest={}", file.display());
    let built = daemon.berth_ok(&["build", "-q", "--output", &output, dir.to_str().unwrap()]);
    let id = built.trim();

    let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(&file).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .filter(|n| !n.starts_with("blobs/sha256/") || n.ends_with('/'))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["blobs/", "blobs/sha256/", "index.json", "oci-layout"]
    );

    let archive = format!("oci-archive:{}", file.display());
    let mut skopeo = std::process::Command::new("skopeo");
    skopeo.args(["inspect", "--config", &archive]);
    let out = run_command(&mut skopeo, daemon.dir.path());
    assert!(out.success(), "{}", out.describe());
    let config: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["cat", "/made"]));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    // The config is the built image's: its digest is the image id.
    let mut raw = std::process::Command::new("skopeo");
    raw.args(["inspect", "--raw", &archive]);
    let out = run_command(&mut raw, daemon.dir.path());
    assert!(out.success(), "{}", out.describe());
    let manifest: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(manifest["config"]["digest"], id, "{manifest}");

    // To stdout: the same layout, and the id goes to stderr.
    let piped = daemon
        .berth_command(&["build", "-q", "--output", "type=oci", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(piped.status.success(), "{piped:?}");
    assert_eq!(String::from_utf8_lossy(&piped.stderr).trim(), id);
    assert!(
        piped.stdout == std::fs::read(&file).unwrap(),
        "the layout on stdout differs from the file's"
    );
}

/// Every file under `dirs` in `image`: name, mode, owner, size, type and checksum.
fn tree_of(daemon: &Berthd, image: &str, dirs: &str) -> String {
    let script = format!(
        "for d in {dirs}; do find $d | sort | while read f; do stat -c '%n %a %u:%g %s %F' \"$f\"; \
         if [ -f \"$f\" ]; then md5sum \"$f\"; fi; done; done"
    );
    daemon.berth_ok(&["run", "--rm", image, "sh", "-c", &script])
}

/// The diff ids of `image`'s layers.
fn layers(daemon: &Berthd, image: &str) -> Vec<String> {
    let raw = daemon.berth_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]);
    serde_json::from_str(&raw).unwrap()
}

#[test]
fn copy_link_gives_the_same_files_in_a_layer_of_their_own() {
    let steps = "COPY --link --chown=1000:1000 files /app/\nCOPY --link one /opt/deep/one\nADD --link one /opt/add/\n";
    let (daemon, dir) = start("cli-link", &format!("FROM busybox\n{steps}"));
    std::fs::create_dir_all(dir.join("files/sub")).unwrap();
    std::fs::write(dir.join("files/a"), "a\n").unwrap();
    std::fs::write(dir.join("files/sub/b"), "b\n").unwrap();
    std::fs::write(dir.join("one"), "1\n").unwrap();
    let context = dir.to_str().unwrap();
    daemon.berth_ok(&["build", "-t", "linked", context]);
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM busybox\n{}", steps.replace(" --link", "")),
    )
    .unwrap();
    daemon.berth_ok(&["build", "-t", "plain", context]);
    let linked = tree_of(&daemon, "linked", "/app /opt");
    assert!(
        linked.contains("/app/sub/b 644 1000:1000 2 regular file\n"),
        "{linked}"
    );
    assert_eq!(linked, tree_of(&daemon, "plain", "/app /opt"));

    // On another parent the linked copies make the very same layers.
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM busybox\nRUN echo other > /other\n{steps}"),
    )
    .unwrap();
    daemon.berth_ok(&["build", "-t", "rebased", context]);
    let (ours, theirs) = (layers(&daemon, "linked"), layers(&daemon, "rebased"));
    assert_eq!(ours.len() + 1, theirs.len());
    assert_eq!(
        ours[1..],
        theirs[2..],
        "the --link layers do not depend on the parent"
    );
    let plain = layers(&daemon, "plain");
    assert_ne!(
        plain[1..],
        ours[1..],
        "a plain COPY's layer is a diff against its parent"
    );
}
