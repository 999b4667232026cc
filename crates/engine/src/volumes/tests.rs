//! The volume service on a real data root: metadata across reopening, use counting, local
//! driver mounts (tmpfs, bind) made and taken down, events, prune.

use std::collections::BTreeMap;

use berth_testkit::tempdir::TempDir;

use super::*;

fn request(name: &str, options: &[(&str, &str)], labels: &[(&str, &str)]) -> VolumeCreateRequest {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    VolumeCreateRequest {
        name: name.into(),
        driver: String::new(),
        driver_opts: map(options),
        labels: map(labels),
    }
}

fn fstype_at(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    berth_testkit::mounts::mounts()
        .into_iter()
        .find(|(m, _)| *m == path)
        .map(|(_, t)| t)
}

#[test]
fn a_volume_survives_reopening_and_shows_as_docker_does() {
    let dir = TempDir::new("vol-reopen");
    let root = dir.join("volumes");
    let service = VolumeService::open(&root, Events::default()).unwrap();
    let record = service
        .create(request("data", &[], &[("tier", "db")]))
        .unwrap();
    std::fs::write(service.mountpoint("data").join("f"), "kept").unwrap();
    drop(service);

    let service = VolumeService::open(&root, Events::default()).unwrap();
    assert_eq!(service.get("data").unwrap(), record);
    let view = service.view(&record);
    assert_eq!(
        view.mountpoint,
        root.join("data/_data").display().to_string()
    );
    assert_eq!(view.driver, "local");
    assert_eq!(view.scope, "local");
    assert_eq!(view.options, None);
    assert_eq!(view.labels.unwrap()["tier"], "db");
    assert_eq!(view.created_at.len(), "2024-05-01T10:00:00Z".len());
    assert!(berth_runtime::time::parse(&view.created_at).is_some());
    assert_eq!(
        std::fs::read_to_string(root.join("data/_data/f")).unwrap(),
        "kept"
    );
}

#[test]
fn creating_an_existing_name_returns_it_and_anonymous_names_are_hex() {
    let dir = TempDir::new("vol-names");
    let service = VolumeService::open(&dir.join("volumes"), Events::default()).unwrap();
    let first = service.create(request("web", &[], &[])).unwrap();
    let again = service.create(request("web", &[], &[("x", "y")])).unwrap();
    assert_eq!(first, again);
    let anonymous = service.create(request("", &[], &[])).unwrap();
    assert_eq!(anonymous.name.len(), 64);
    assert!(anonymous.name.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(anonymous.is_anonymous());
    assert!(!first.is_anonymous());
}

#[test]
fn bad_names_and_options_create_nothing() {
    let dir = TempDir::new("vol-bad");
    let root = dir.join("volumes");
    let service = VolumeService::open(&root, Events::default()).unwrap();
    for name in ["a", "../x", "/abs", "a:b", "-x"] {
        let err = service.create(request(name, &[], &[])).unwrap_err();
        assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
    }
    let err = service
        .create(request("opts", &[("colour", "red")], &[]))
        .unwrap_err();
    assert!(err.to_string().contains("\"colour\""), "{err}");
    let mut other = request("drv", &[], &[]);
    other.driver = "nfs".into();
    assert!(service.create(other).is_err());
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    assert!(service.list(&VolumeFilters::default()).is_empty());
}

#[test]
fn a_volume_in_use_cannot_be_removed() {
    let dir = TempDir::new("vol-in-use");
    let service = VolumeService::open(&dir.join("volumes"), Events::default()).unwrap();
    service.create(request("busy", &[], &[])).unwrap();
    let data = service.mount("busy", "c1", "/data", true).unwrap();
    assert_eq!(data, service.mountpoint("busy"));
    let err = service.remove("busy", true).unwrap_err();
    assert!(matches!(err, Error::Conflict(_)));
    assert_eq!(err.to_string(), "remove busy: volume is in use - [c1]");
    let dangling = VolumeFilters {
        dangling: Some(true),
        ..VolumeFilters::default()
    };
    assert!(service.list(&dangling).is_empty());

    service.unmount("busy", "c1").unwrap();
    assert_eq!(service.list(&dangling).len(), 1);
    service.remove("busy", false).unwrap();
    assert!(!dir.join("volumes/busy").exists());
    let err = service.remove("busy", false).unwrap_err();
    assert_eq!(err.to_string(), "get busy: no such volume");
    service.remove("busy", true).unwrap();
}

#[test]
fn a_tmpfs_volume_is_mounted_while_used() {
    let dir = TempDir::new("vol-tmpfs");
    let service = VolumeService::open(&dir.join("volumes"), Events::default()).unwrap();
    service
        .create(request(
            "scratch",
            &[("type", "tmpfs"), ("o", "size=1m")],
            &[],
        ))
        .unwrap();
    let data = service.mountpoint("scratch");
    assert_eq!(
        fstype_at(&data),
        None,
        "nothing is mounted before first use"
    );
    service.mount("scratch", "c1", "/s", true).unwrap();
    service.mount("scratch", "c2", "/s", false).unwrap();
    assert_eq!(fstype_at(&data).as_deref(), Some("tmpfs"));
    std::fs::write(data.join("f"), "x").unwrap();
    service.unmount("scratch", "c1").unwrap();
    assert_eq!(
        fstype_at(&data).as_deref(),
        Some("tmpfs"),
        "c2 still uses it"
    );
    service.unmount("scratch", "c2").unwrap();
    assert_eq!(fstype_at(&data), None);
    assert!(!data.join("f").exists(), "tmpfs content goes with it");
    service.remove("scratch", false).unwrap();
}

#[test]
fn a_bind_volume_shows_the_device_and_removing_it_keeps_the_host_files() {
    let dir = TempDir::new("vol-bind");
    let host = dir.join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("keep"), "host file").unwrap();
    let service = VolumeService::open(&dir.join("volumes"), Events::default()).unwrap();
    let device = host.display().to_string();
    let record = service
        .create(request(
            "hostdir",
            &[("type", "none"), ("o", "bind"), ("device", &device)],
            &[],
        ))
        .unwrap();
    assert_eq!(service.view(&record).options.unwrap()["device"], device);
    let data = service.mount("hostdir", "c1", "/h", true).unwrap();
    assert_eq!(
        std::fs::read_to_string(data.join("keep")).unwrap(),
        "host file"
    );
    service.unmount("hostdir", "c1").unwrap();
    service.remove("hostdir", false).unwrap();
    assert_eq!(
        std::fs::read_to_string(host.join("keep")).unwrap(),
        "host file"
    );
}

#[test]
fn a_stopped_container_still_holds_its_volume() {
    let dir = TempDir::new("vol-reference");
    let service = VolumeService::open(&dir.join("volumes"), Events::default()).unwrap();
    service.create(request("kept", &[], &[])).unwrap();
    assert!(matches!(
        service.reference("missing", "c1"),
        Err(Error::NoSuchVolume(_))
    ));
    service.reference("kept", "c1").unwrap();
    service.mount("kept", "c1", "/k", true).unwrap();
    service.unmount("kept", "c1").unwrap();
    let err = service.remove("kept", false).unwrap_err();
    assert_eq!(err.to_string(), "remove kept: volume is in use - [c1]");
    assert!(service
        .prune(&VolumeFilters {
            all: true,
            ..VolumeFilters::default()
        })
        .unwrap()
        .0
        .is_empty());
    service.release("kept", "c1");
    service.remove("kept", false).unwrap();
}

#[test]
fn a_mount_left_by_a_dead_daemon_stays_until_settled() {
    let dir = TempDir::new("vol-leftover");
    let root = dir.join("volumes");
    let service = VolumeService::open(&root, Events::default()).unwrap();
    service
        .create(request("t1", &[("type", "tmpfs")], &[]))
        .unwrap();
    service.mount("t1", "c1", "/t", true).unwrap();
    std::mem::forget(service);
    assert!(fstype_at(&root.join("t1/_data")).is_some());
    let service = VolumeService::open(&root, Events::default()).unwrap();
    std::fs::write(root.join("t1/_data/f"), "live").unwrap();
    service.mount("t1", "c1", "/t", true).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("t1/_data/f")).unwrap(),
        "live",
        "a restored container gets the tmpfs it had, not a new one"
    );
    service.settle().unwrap();
    assert!(fstype_at(&root.join("t1/_data")).is_some(), "c1 still runs");
    service.unmount("t1", "c1").unwrap();
    service.mount("t1", "c2", "/t", true).unwrap();
    std::mem::forget(service);
    let service = VolumeService::open(&root, Events::default()).unwrap();
    service.settle().unwrap();
    assert_eq!(fstype_at(&root.join("t1/_data")), None);
    assert!(service.users("t1").unwrap().is_empty());
}

#[test]
fn prune_removes_unused_anonymous_volumes_unless_all() {
    let dir = TempDir::new("vol-prune");
    let service = VolumeService::open(&dir.join("volumes"), Events::default()).unwrap();
    service.create(request("named", &[], &[])).unwrap();
    let unused = service.create(request("", &[], &[])).unwrap();
    let used = service.create(request("", &[], &[])).unwrap();
    service.mount(&used.name, "c1", "/u", true).unwrap();
    std::fs::write(service.mountpoint(&unused.name).join("f"), [0u8; 1000]).unwrap();

    let (removed, space) = service.prune(&VolumeFilters::default()).unwrap();
    assert_eq!(removed, vec![unused.name.clone()]);
    assert_eq!(space, 1000);

    let all = VolumeFilters {
        all: true,
        ..VolumeFilters::default()
    };
    let (removed, _) = service.prune(&all).unwrap();
    assert_eq!(removed, vec!["named".to_string()]);
    let left: Vec<String> = service
        .list(&VolumeFilters::default())
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(left, vec![used.name]);
}

#[tokio::test]
async fn volume_events_are_published() {
    let dir = TempDir::new("vol-events");
    let events = Events::default();
    let (_, mut live) = events.subscribe(None);
    let service = VolumeService::open(&dir.join("volumes"), events).unwrap();
    service.create(request("ev", &[], &[])).unwrap();
    service.mount("ev", "c1", "/e", false).unwrap();
    service.unmount("ev", "c1").unwrap();
    service.remove("ev", false).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let event = live.recv().await.unwrap();
        assert_eq!((event.kind, event.id.as_str()), ("volume", "ev"));
        assert_eq!(event.attributes["driver"], "local");
        seen.push(event);
    }
    let actions: Vec<&str> = seen.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "mount", "unmount", "destroy"]);
    assert_eq!(seen[1].attributes["container"], "c1");
    assert_eq!(seen[1].attributes["destination"], "/e");
    assert_eq!(seen[1].attributes["read/write"], "false");
}
