//! `berth volume …` against berthd: create, ls, inspect, rm and prune print what `docker volume …`
//! with the same arguments prints against the same berthd.

mod common;

use common::berthd::{same, words, Berthd};

#[test]
fn create_ls_inspect_rm_and_prune_print_what_docker_prints() {
    let daemon = Berthd::start("cli-vol");
    assert_eq!(
        daemon.berth_ok(&words("volume create --label team=a data")),
        "data\n"
    );
    assert_eq!(daemon.docker_ok(&words("volume create other")), "other\n");
    let anonymous = daemon.berth_ok(&words("volume create"));
    assert_eq!(anonymous.trim().len(), 64, "{anonymous}");
    for line in [
        "volume ls",
        "volume ls -q",
        "volume ls --filter label=team=a",
        "volume ls --filter name=oth --format {{.Name}}:{{.Driver}}",
        "volume inspect data other",
        "volume inspect --format {{.Name}}={{.Mountpoint}} data",
        "volume inspect nowhere",
        "volume rm nowhere",
        "volume create bad/name",
    ] {
        same(&daemon, &words(line));
    }
    // Written data stays in the volume's directory.
    let mountpoint = daemon.berth_ok(&words("volume inspect --format {{.Mountpoint}} data"));
    assert!(
        std::path::Path::new(mountpoint.trim()).is_dir(),
        "{mountpoint}"
    );

    assert_eq!(daemon.berth_ok(&words("volume rm other")), "other\n");
    // Prune takes the anonymous volume only, unless -a.
    let pruned = daemon.berth_ok(&words("volume prune -f"));
    assert!(
        pruned.starts_with(&format!("Deleted Volumes:\n{}", anonymous)),
        "{pruned}"
    );
    same(&daemon, &words("volume ls -q"));
    // -a takes named ones too; both print the same report for the same work.
    let ours = daemon.berth_ok(&words("volume prune -f -a"));
    daemon.berth_ok(&words("volume create data"));
    let theirs = daemon.docker_ok(&words("volume prune -f -a"));
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        "Deleted Volumes:\ndata\n\nTotal reclaimed space: 0B\n"
    );
    assert_eq!(daemon.berth_ok(&words("volume ls -q")), "");
}

#[test]
fn run_and_create_send_the_mounts_docker_sends() {
    let daemon = Berthd::start("cli-mounts");
    daemon.load_busybox("busybox:latest");
    let flags = "-v named:/n:ro -v /anon --mount type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700 \
                 --mount type=volume,src=lab,dst=/l,volume-label=team=b,volume-nocopy \
                 --mount type=bind,src=/tmp,dst=/h,readonly,bind-propagation=private";
    let request = "{{json .HostConfig.Binds}} {{json .HostConfig.Mounts}} {{json .Config.Volumes}}";
    let mut ours = words("create --name ours");
    ours.extend(words(flags));
    ours.extend(["busybox", "true"]);
    daemon.berth_ok(&ours);
    let mut theirs = words("create --name theirs");
    theirs.extend(words(flags));
    theirs.extend(["busybox", "true"]);
    daemon.docker_ok(&theirs);
    assert_eq!(
        daemon.berth_ok(&["inspect", "--format", request, "ours"]),
        daemon.berth_ok(&["inspect", "--format", request, "theirs"])
    );
    assert_eq!(
        daemon.berth_ok(&["volume", "inspect", "--format", "{{json .Labels}}", "lab"]),
        "{\"team\":\"b\"}\n"
    );

    // --volumes-from with :ro, and rm -v taking the anonymous volume.
    let anonymous = daemon.berth_ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
        "ours",
    ]);
    let denied = daemon.berth(&words(
        "run --rm --volumes-from ours:ro busybox touch /anon/x",
    ));
    assert_eq!(denied.code(), Some(1), "{}", denied.describe());
    assert!(
        denied.stderr.contains("Read-only file system"),
        "{}",
        denied.describe()
    );
    daemon.berth_ok(&words("run --rm --volumes-from ours busybox touch /anon/x"));
    daemon.berth_ok(&words("rm -v ours"));
    let left = daemon.berth_ok(&words("volume ls -q"));
    assert!(!left.contains(anonymous.trim()), "{left}");
    assert!(left.contains("named") && left.contains("lab"), "{left}");
}
