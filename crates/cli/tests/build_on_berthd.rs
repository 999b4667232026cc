//! `berth build` against berthd: a build, the instant rebuild from the cache, a one-file
//! change re-running only what follows it, and `builder prune` emptying the cache.

mod common;

use common::berthd::Berthd;

fn steps_run(output: &str) -> usize {
    output.matches(" ---> Running in ").count()
}

#[test]
fn builds_rebuild_from_the_cache_and_builder_prune_empties_it() {
    let daemon = Berthd::start("cli-build");
    daemon.load_busybox("busybox:latest");
    let context = daemon.dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN echo base > /base\nCOPY a /a\nRUN cat /base /a > /both\nCMD [\"cat\", \"/both\"]\n",
    )
    .unwrap();
    std::fs::write(context.join("a"), "first\n").unwrap();
    let dir = context.to_str().unwrap();

    let first = daemon.berth_ok(&["build", "-t", "app", dir]);
    assert_eq!(steps_run(&first), 2, "{first}");
    assert_eq!(daemon.berth_ok(&["run", "--rm", "app"]), "base\nfirst\n");

    let again = daemon.berth_ok(&["build", "-t", "app", dir]);
    assert_eq!(steps_run(&again), 0, "{again}");
    assert_eq!(again.matches("Using cache").count(), 4, "{again}");

    std::fs::write(context.join("a"), "second\n").unwrap();
    let changed = daemon.berth_ok(&["build", "-t", "app", dir]);
    assert_eq!(
        steps_run(&changed),
        1,
        "only the RUN after the COPY: {changed}"
    );
    assert_eq!(daemon.berth_ok(&["run", "--rm", "app"]), "base\nsecond\n");

    let pruned = daemon.berth_ok(&["builder", "prune", "-f"]);
    assert!(
        pruned.starts_with("Deleted build cache objects:\n"),
        "{pruned}"
    );
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(
        daemon.berth_ok(&["builder", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    let rebuilt = daemon.berth_ok(&["build", "-t", "app", dir]);
    assert_eq!(steps_run(&rebuilt), 2, "the cache is empty: {rebuilt}");
}
