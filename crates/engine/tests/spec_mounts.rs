//! Binds, /etc files and `--init` from `spec::build`, seen from inside real containers.

mod spec_support;

use berth_engine::spec::{etc_paths, write_etc_files, Bind};
use spec_support::Bundle;

#[test]
fn etc_files_are_bind_mounted_read_write() {
    let b = Bundle::busybox("etc");
    let dir = b.dir.join("etc-files");
    std::fs::create_dir(&dir).unwrap();
    write_etc_files(
        &dir,
        "web1",
        "127.0.0.1\tlocalhost\n10.1.2.3\tdb\nfd00::1\tv6\n",
        "nameserver 192.0.2.53\n",
    )
    .unwrap();
    let files = etc_paths(&dir);
    let out = b.sh(
        "cat /etc/hostname; grep -E '^(127.0.0.1|10.1.2.3|fd00::1)' /etc/hosts; \
         cat /etc/resolv.conf; echo '10.9.9.9 extra' >> /etc/hosts",
        |i| {
            i.hostname = "web1".into();
            i.etc_files = files.clone();
        },
    );
    assert_eq!(
        out,
        "web1\n127.0.0.1\tlocalhost\n10.1.2.3\tdb\nfd00::1\tv6\nnameserver 192.0.2.53\n"
    );
    let hosts = std::fs::read_to_string(dir.join("hosts")).unwrap();
    assert!(hosts.ends_with("10.9.9.9 extra\n"), "{hosts}");
    // The write went to the daemon's file, not into the image's root.
    let in_root = std::fs::read_to_string(b.rootfs().join("etc/hosts")).unwrap_or_default();
    assert!(!in_root.contains("extra"), "{in_root}");
}

#[test]
fn binds_read_only_and_read_write() {
    let b = Bundle::busybox("binds");
    let data = b.dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("in"), "from host\n").unwrap();
    let bind = |dest: &str, read_only| Bind {
        source: data.clone(),
        destination: dest.into(),
        read_only,
        propagation: String::new(),
    };
    let out = b.sh(
        "cat /ro/in; echo x > /ro/out 2>/dev/null || echo ro-refused; echo from container > /rw/out",
        |i| i.binds = vec![bind("/ro", true), bind("/rw", false)],
    );
    assert_eq!(out, "from host\nro-refused\n");
    assert_eq!(
        std::fs::read_to_string(data.join("out")).unwrap(),
        "from container\n"
    );
    let mut input = b.input(&["true"]);
    input.binds = vec![bind("relative", false)];
    let err = berth_engine::spec::build(&input).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"relative\" is not an absolute path"),
        "{err}"
    );
}

#[test]
fn init_runs_the_command_as_its_child() {
    let b = Bundle::busybox("init");
    let tini = std::path::PathBuf::from("/usr/bin/tini-static");
    assert!(
        tini.exists(),
        "{} is missing (apt-get install tini)",
        tini.display()
    );
    let out = b.sh("echo $$; tr '\\0' ' ' < /proc/1/cmdline", |i| {
        i.init = Some(tini.clone())
    });
    let mut lines = out.lines();
    assert_ne!(lines.next(), Some("1"), "the command is pid 1: {out}");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("/sbin/docker-init -- sh -c"),
        "{out}"
    );
}

#[test]
fn tty_sets_term() {
    let b = Bundle::busybox("tty");
    let mut input = b.input(&["sh"]);
    input.tty = true;
    let spec = berth_engine::spec::build(&input).unwrap();
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.terminal(), Some(true));
    assert!(process
        .env()
        .as_ref()
        .unwrap()
        .contains(&"TERM=xterm".to_string()));
}
