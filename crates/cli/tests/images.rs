//! The image commands against a real Engine API server (a private dockerd) and a real
//! registry served in its network namespace.

mod common;

use berth_testkit::{Engine, EngineOptions, LocalRegistry};
use common::{berth, berth_ok, berth_on_terminal, berth_with_stdin, busybox_in, scratch_file};

fn engine_with_registry(test: &str) -> (Engine, LocalRegistry, String) {
    let registry = LocalRegistry::start();
    let name = busybox_in(&registry);
    let mut engine = Engine::start(test, EngineOptions::default());
    engine.serve_registry(&registry.dir.join("storage"), &registry.address);
    (engine, registry, name)
}

#[test]
fn pull_list_inspect_history_tag_push() {
    let (engine, registry, name) = engine_with_registry("cli-images");

    let pulled = berth_ok(&engine, &["pull", &name]);
    let lines: Vec<&str> = pulled.lines().collect();
    assert_eq!(lines[0], "1: Pulling from berth-test/busybox", "{pulled}");
    assert!(
        lines.iter().any(|l| l.ends_with(": Pull complete")),
        "{pulled}"
    );
    assert!(
        !pulled.contains("Downloading"),
        "byte counts are not piped: {pulled}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Digest: sha256:")),
        "{pulled}"
    );
    assert!(
        lines.contains(&format!("Status: Downloaded newer image for {name}").as_str()),
        "{pulled}"
    );
    assert_eq!(lines.last(), Some(&name.as_str()));

    let id = engine.docker_ok(&["image", "inspect", "--format", "{{.Id}}", &name]);
    let id = id.trim();
    let repository = format!("{}/berth-test/busybox", registry.address);

    // The same table as docker's own CLI prints from the same daemon.
    for args in [
        &["images"][..],
        &["images", "--digests"],
        &["images", "--no-trunc"],
        &["history", &name],
        &["history", "--no-trunc", &name],
    ] {
        assert_eq!(berth_ok(&engine, args), engine.docker_ok(args), "{args:?}");
    }
    let table = berth_ok(&engine, &["images"]);
    let mut rows = table.lines();
    let header = rows.next().unwrap();
    assert!(header.starts_with("REPOSITORY"), "{table}");
    for column in ["TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(column), "{table}");
    }
    let row: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..3],
        &[repository.as_str(), "1", &id[7..19]],
        "{table}"
    );

    let formatted = berth_ok(&engine, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(formatted, format!("{name}\n"));
    assert_eq!(
        berth_ok(&engine, &["image", "ls", "-q"]),
        format!("{}\n", &id[7..19])
    );
    assert_eq!(
        berth_ok(&engine, &["images", "-q", "--no-trunc"]),
        format!("{id}\n")
    );
    let json = berth_ok(&engine, &["images", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(row["Repository"], repository.as_str());
    assert_eq!(row["Tag"], "1");
    let digests = berth_ok(&engine, &["images", "--digests"]);
    assert!(
        digests.lines().next().unwrap().contains("DIGEST"),
        "{digests}"
    );
    assert!(digests.contains("sha256:"), "{digests}");

    let bad = berth(&engine, &["images", "--format", "{{.Nope}}"]);
    assert_eq!(bad.code(), Some(125), "{}", bad.describe());
    assert!(
        bad.stderr.contains("can't evaluate field Nope"),
        "{}",
        bad.describe()
    );

    assert_eq!(
        berth_ok(&engine, &["inspect", "--format", "{{.Id}}", &name]),
        format!("{id}\n")
    );
    let inspected = berth_ok(&engine, &["image", "inspect", &name]);
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected[0]["RepoTags"][0], name.as_str());
    let missing = berth(&engine, &["image", "inspect", "no-such-image"]);
    assert_eq!(missing.code(), Some(1), "{}", missing.describe());
    assert!(missing.stderr.contains("No such image: no-such-image"));

    let history = berth_ok(&engine, &["history", &name]);
    let header = history.lines().next().unwrap();
    assert!(
        header.starts_with("IMAGE") && header.contains("CREATED BY"),
        "{history}"
    );
    assert!(history.contains(&id[7..19]), "{history}");
    let history_ids = berth_ok(&engine, &["history", "-q", "--no-trunc", &name]);
    assert_eq!(history_ids.lines().next(), Some(id));
    let raw = berth_ok(
        &engine,
        &["history", "-H=false", "--format", "{{.Size}}", &name],
    );
    let size: u64 = raw.lines().next().unwrap().parse().unwrap();
    assert!(size > 100_000, "{raw}");

    let copy = format!("{}/berth-test/copy:2", registry.address);
    assert_eq!(berth_ok(&engine, &["tag", &name, &copy]), "");
    let tags = berth_ok(
        &engine,
        &[
            "images",
            "--format",
            "{{.Tag}}",
            &repository.replace("busybox", "copy"),
        ],
    );
    assert_eq!(tags, "2\n");
    let pushed = berth_ok(&engine, &["push", &copy]);
    let digest = pushed
        .lines()
        .find_map(|l| l.strip_prefix("2: digest: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest line in {pushed}"));
    // Pushed again, the output reads as docker's own CLI prints it.
    let docker = engine.docker_ok(&["push", &copy]);
    assert_eq!(berth_ok(&engine, &["push", &copy]), docker);
    // The registry now has it: dockerd pulls it back after it is removed.
    let copy_repository = repository.replace("busybox", "copy");
    assert_eq!(
        berth_ok(&engine, &["rmi", &copy]),
        format!("Untagged: {copy}\nUntagged: {copy_repository}@{digest}\n")
    );
    assert!(berth_ok(&engine, &["pull", "-q", &copy]).ends_with(&format!("{copy}\n")));

    let absent = berth(&engine, &["rmi", "no-such-image:1"]);
    assert_eq!(absent.code(), Some(1), "{}", absent.describe());
    assert!(
        absent.stderr.starts_with("Error response from daemon: "),
        "{}",
        absent.describe()
    );
}

#[test]
fn save_load_rmi_and_prune() {
    let (engine, _registry, name) = engine_with_registry("cli-save-load");
    berth_ok(&engine, &["pull", "-q", &name]);
    let refused = berth_on_terminal(&engine, &["save", &name]);
    assert_eq!(refused.code(), Some(1), "{}", refused.describe());
    assert!(
        refused
            .stdout
            .contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{}",
        refused.describe()
    );
    let archive = scratch_file(&engine, "saved.tar");
    assert_eq!(
        berth_ok(&engine, &["save", "-o", archive.to_str().unwrap(), &name]),
        ""
    );
    assert!(std::fs::metadata(&archive).unwrap().len() > 100_000);

    let removed = berth_ok(&engine, &["rmi", "-f", &name]);
    assert!(
        removed.starts_with(&format!("Untagged: {name}\n")),
        "{removed}"
    );
    assert!(removed.contains("Deleted: sha256:"), "{removed}");
    assert_eq!(berth_ok(&engine, &["images", "-q"]), "");

    let loaded = berth_ok(&engine, &["load", "-i", archive.to_str().unwrap()]);
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    let listed = berth_ok(&engine, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(listed, format!("{name}\n"));

    let declined = berth_with_stdin(&engine, &["image", "prune", "-a"], b"n\n");
    assert!(declined.success(), "{}", declined.describe());
    assert!(
        declined.stdout.starts_with(
            "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] "
        ),
        "{}",
        declined.describe()
    );
    assert!(
        !declined.stdout.contains("Deleted"),
        "{}",
        declined.describe()
    );
    assert_eq!(
        berth_ok(&engine, &["images", "--format", "{{.Tag}}"]),
        "1\n"
    );

    let debug = berth(&engine, &["-D", "images", "-q"]);
    assert!(
        debug.stderr.contains("DEBU GET /v1.41/images/json"),
        "{}",
        debug.describe()
    );

    // From a pipe (a chunked request body), quietly.
    berth_ok(&engine, &["rmi", &name]);
    let piped = berth_with_stdin(&engine, &["load", "-q"], &std::fs::read(&archive).unwrap());
    assert!(piped.success(), "{}", piped.describe());
    assert_eq!(piped.stdout, format!("Loaded image: {name}\n"));

    let pruned = berth_ok(&engine, &["image", "prune", "-af"]);
    assert!(
        pruned.starts_with("Deleted Images:\nuntagged: "),
        "{pruned}"
    );
    assert!(pruned.contains("Total reclaimed space: "), "{pruned}");
    assert_eq!(berth_ok(&engine, &["images", "-q"]), "");

    // Piped pull output reads as docker's own CLI prints the same stream.
    let docker = engine.docker_ok(&["pull", &name]);
    berth_ok(&engine, &["rmi", &name]);
    // Whether dockerd reports these steps depends on timing.
    let steady = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !l.ends_with(": Download complete") && !l.ends_with(": Verifying Checksum"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        steady(&berth_ok(&engine, &["pull", &name])),
        steady(&docker)
    );

    // On a terminal, layers get progress bars; the summary lines are the same.
    berth_ok(&engine, &["rmi", &name]);
    let bars = berth_on_terminal(&engine, &["pull", &name]);
    assert!(bars.success(), "{}", bars.describe());
    assert!(
        bars.stdout.contains(": Pull complete"),
        "{}",
        bars.describe()
    );
    assert!(
        bars.stdout.contains("Digest: sha256:"),
        "{}",
        bars.describe()
    );
    assert!(
        bars.stdout.contains(&format!("{name}\r\n")),
        "{}",
        bars.describe()
    );
}
