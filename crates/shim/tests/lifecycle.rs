//! The shim with real containers: start, wait, attach, tty, kill, a dying spawner, bad requests.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_shim::{read_exit_file, Client, Status};
use common::{read_frames, stream_bytes, Setup};

#[test]
fn exit_code_reaches_wait_and_exit_file_then_everything_is_removed() {
    let mut shim = Setup::new("shim-exit", "exit 7", false).spawn();
    assert!(shim.pid() > 1);
    let mode = std::fs::metadata(&shim.setup.opts.socket)
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let state = shim.client.state().unwrap();
    assert_eq!(state.status, Status::Created);
    assert_eq!(state.pid as u32, shim.pid());
    assert_eq!(state.exit_code, None);
    shim.client.start().unwrap();
    let err = shim.client.start().unwrap_err().to_string();
    assert!(err.contains("already started"), "{err}");
    let exit = shim.client.wait().unwrap();
    assert_eq!(exit.exit_code, 7);
    assert!(!exit.oom_killed);
    let finished = berth_shim::time::parse(&exit.finished_at).expect("RFC 3339 finished_at");
    assert!(finished.elapsed().unwrap() < Duration::from_secs(30));
    assert!(exit.finished_at.ends_with('Z') && exit.finished_at.len() == 30);
    let opts = shim.setup.opts.clone();
    assert_eq!(read_exit_file(&opts.exit_file).unwrap(), Some(exit));
    shim.assert_cleaned_up();
}

#[test]
fn exit_file_is_written_when_nobody_waits() {
    let mut shim = Setup::new("shim-nowait", "exit 3", false).spawn();
    shim.client.start().unwrap();
    let exit_file = shim.setup.opts.exit_file.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = read_exit_file(&exit_file).unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit file appeared");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(exit.exit_code, 3);
    shim.assert_cleaned_up();
}

#[test]
fn attach_sees_both_streams_and_feeds_stdin_until_stdin_once_closes_it() {
    let mut setup = Setup::new("shim-attach", "cat; echo done >&2", false);
    setup.opts.stdin = true;
    setup.opts.stdin_once = true;
    let mut shim = setup.spawn();
    let mut conn = shim.client.attach(true, true, true).unwrap();
    // A second client that only wants stderr.
    let mut errs = shim.client.attach(false, false, true).unwrap();
    shim.client.start().unwrap();
    conn.write_all(b"hello\nworld").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let frames = read_frames(&mut conn);
    assert_eq!(stream_bytes(&frames, 1), "hello\nworld");
    assert_eq!(stream_bytes(&frames, 2), "done\n");
    let only_errs = read_frames(&mut errs);
    assert!(only_errs.iter().all(|(s, _)| *s == 2), "{only_errs:?}");
    assert_eq!(stream_bytes(&only_errs, 2), "done\n");
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    shim.assert_cleaned_up();
}

#[test]
fn tty_containers_get_a_terminal_and_raw_output() {
    let mut setup = Setup::new("shim-tty", "tty; stty size", true);
    setup.opts.size = Some((33, 101));
    let mut shim = setup.spawn();
    let mut conn = shim.client.attach(false, true, true).unwrap();
    shim.client.resize(40, 120).unwrap();
    shim.client.start().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    assert_eq!(out, "/dev/pts/0\r\n40 120\r\n");
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    let opts = shim.setup.opts.clone();
    let logged = berth_shim::logfile::read(&opts.log, 1, &Default::default()).unwrap();
    let text: Vec<_> = logged
        .iter()
        .map(|e| (e.stream, String::from_utf8_lossy(&e.line).into_owned()))
        .collect();
    assert_eq!(
        text,
        [
            (berth_shim::Stream::Stdout, "/dev/pts/0\r\n".to_string()),
            (berth_shim::Stream::Stdout, "40 120\r\n".to_string())
        ]
    );
    shim.assert_cleaned_up();
}

#[test]
fn resize_without_a_terminal_is_refused() {
    let shim = Setup::new("shim-noresize", "exit 0", false).spawn();
    let err = shim.client.resize(10, 10).unwrap_err().to_string();
    assert!(err.contains("has no terminal"), "{err}");
}

#[test]
fn kill_reports_128_plus_signal_and_a_handled_sigterm() {
    let mut killed = Setup::new("shim-kill9", "sleep 100", false).spawn();
    let mut termed = Setup::new(
        "shim-kill15",
        "trap 'exit 143' TERM; echo ready; while :; do sleep 0.02; done",
        false,
    )
    .spawn();
    let mut ready = termed.client.attach(false, true, false).unwrap();
    killed.client.start().unwrap();
    termed.client.start().unwrap();
    assert_eq!(killed.client.state().unwrap().status, Status::Running);
    killed.client.kill(9, false).unwrap();
    let exit = killed.client.wait().unwrap();
    assert_eq!(exit.exit_code, 137);
    killed.assert_cleaned_up();

    // SIGTERM only once the trap is set: the shell says so.
    let mut header = [0u8; 8 + 6];
    ready.read_exact(&mut header).unwrap();
    assert_eq!(&header[8..], b"ready\n");
    termed.client.kill(15, false).unwrap();
    assert_eq!(termed.client.wait().unwrap().exit_code, 143);
    termed.assert_cleaned_up();
}

#[test]
fn the_container_outlives_the_process_that_spawned_its_shim() {
    let setup = Setup::new("shim-orphan", "echo alive; exit 5", false);
    let opts = setup.opts.clone();
    let report = setup.dir.join("report");
    // A stand-in daemon: a shell that starts the shim and is then killed with SIGKILL.
    let mut daemon = Command::new("/bin/sh")
        .arg("-c")
        .arg("\"$@\" > \"$0\"")
        .arg(&report)
        .arg(&setup.shim)
        .args(["--id", &opts.id])
        // Paths relative to the spawner's working directory work too.
        .args([
            "--bundle",
            "bundle",
            "--runtime-root",
            "runtime",
            "--socket",
            "shim.sock",
        ])
        .args(["--exit-file", "exit.json", "--log", "container.log"])
        .current_dir(setup.dir.path())
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(setup.dir.join("shim.err")).unwrap())
        .spawn()
        .unwrap();
    let client = Client::new(&opts.socket);
    let _guard = OrphanGuard(&setup, client.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&report)
        .unwrap_or_default()
        .ends_with('\n')
    {
        assert!(Instant::now() < deadline, "the shim never reported");
        std::thread::sleep(Duration::from_millis(10));
    }
    let line: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let pid = line["pid"].as_i64().expect("a pid report");
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    assert_eq!(client.state().unwrap().pid as i64, pid);
    client.start().unwrap();
    // The container may be done, and its shim gone with the exit file written, before a wait
    // connects: the exit file then says how it ended.
    let exit = match client.wait() {
        Ok(exit) => exit,
        Err(_) => read_exit_file(&setup.dir.join("exit.json"))
            .unwrap()
            .expect("the exit file of a shim that finished"),
    };
    assert_eq!(exit.exit_code, 5);
    let logged = berth_shim::logfile::read(&opts.log, 1, &Default::default()).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].line, b"alive\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while opts.socket.exists() || opts.runtime_root.join(&opts.id).exists() {
        assert!(
            Instant::now() < deadline,
            "the orphaned shim did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills an orphaned shim's container if the test fails before it exits.
struct OrphanGuard<'a>(&'a Setup, Client);

impl Drop for OrphanGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for file in ["report", "shim.err"] {
                let text = std::fs::read_to_string(self.0.dir.join(file)).unwrap_or_default();
                eprintln!("{file}: {text}");
            }
        }
        if self.0.opts.socket.exists() {
            let _ = self.1.kill(9, true);
            let deadline = Instant::now() + Duration::from_secs(5);
            while (self.0.opts.socket.exists()
                || self.0.opts.runtime_root.join(&self.0.opts.id).exists())
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if let Ok(root) = berth_runtime::StateRoot::open(&self.0.opts.runtime_root) {
            let _ = berth_runtime::ops::delete(&root, &self.0.opts.id, true);
        }
    }
}

#[test]
fn garbage_requests_get_an_error_and_the_shim_keeps_serving() {
    let mut shim = Setup::new("shim-garbage", "exit 0", false).spawn();
    let socket = shim.setup.opts.socket.clone();
    for (request, named) in [
        ("not json\n", "not json"),
        ("{\"op\":\"explode\"}\n", "explode"),
        ("{\"op\":\"kill\",\"signal\":\"many\"}\n", "many"),
        ("{\"op\":\"kill\",\"signal\":0}\n", "invalid signal 0"),
    ] {
        let mut conn = UnixStream::connect(&socket).unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        let message = reply["error"].as_str().expect("an error reply");
        assert!(message.contains(named), "{message:?} should name {named:?}");
    }
    // A client that connects and goes away without a word.
    drop(UnixStream::connect(&socket).unwrap());
    assert_eq!(shim.client.state().unwrap().status, Status::Created);
    shim.client.start().unwrap();
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    shim.assert_cleaned_up();
}

#[test]
fn a_bundle_that_cannot_be_created_is_reported_and_leaves_nothing() {
    let setup = Setup::new("shim-badbundle", "exit 0", false);
    std::fs::remove_file(setup.opts.bundle.join("config.json")).unwrap();
    let err = berth_shim::spawn(&setup.shim, &setup.opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&setup.opts.id), "{err}");
    assert!(err.contains("config"), "{err}");
    assert!(!setup.opts.socket.exists());
    assert!(!setup.opts.runtime_root.join(&setup.opts.id).exists());
}

#[test]
fn a_client_that_does_not_read_cannot_stall_the_container_or_the_log() {
    const SIZE: usize = 12 << 20;
    let script = format!("head -c {SIZE} /dev/zero | tr '\\0' x");
    let mut shim = Setup::new("shim-slow", &script, false).spawn();
    let mut stalled = shim.client.attach(false, true, true).unwrap();
    shim.client.start().unwrap();
    let started = Instant::now();
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    assert!(started.elapsed() < Duration::from_secs(4));
    // The stalled client was dropped: its stream ends early.
    let frames = read_frames(&mut stalled);
    let received: usize = frames.iter().map(|(_, b)| b.len()).sum();
    assert!(received < SIZE, "the stalled client got everything");
    let opts = shim.setup.opts.clone();
    let logged = berth_shim::logfile::read(&opts.log, 1, &Default::default()).unwrap();
    assert_eq!(logged.iter().map(|e| e.line.len()).sum::<usize>(), SIZE);
    assert!(logged
        .iter()
        .all(|e| e.partial && e.line.iter().all(|&b| b == b'x')));
    shim.assert_cleaned_up();
}

#[test]
fn tty_stdin_once_ends_input_with_end_of_file() {
    let mut setup = Setup::new("shim-ttystdin", "cat; echo bye", true);
    setup.opts.stdin = true;
    setup.opts.stdin_once = true;
    let mut shim = setup.spawn();
    let mut conn = shim.client.attach(true, true, true).unwrap();
    shim.client.start().unwrap();
    conn.write_all(b"hi\n").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    // The terminal echoes the input, cat repeats it, and ^D ends cat.
    assert_eq!(out, "hi\r\nhi\r\nbye\r\n");
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    shim.assert_cleaned_up();
}

#[test]
fn every_pending_wait_is_answered_and_kill_all_reaches_every_process() {
    let mut shim = Setup::new("shim-waiters", "sleep 100 & sleep 100", false).spawn();
    shim.client.start().unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let client = shim.client.clone();
            std::thread::spawn(move || client.wait())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    shim.client.kill(9, true).unwrap();
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap().unwrap().exit_code, 137);
    }
    shim.assert_cleaned_up();
}

#[test]
fn an_oom_kill_is_recorded() {
    let setup = Setup::new(
        "shim-oom",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
        false,
    );
    setup.edit_config(|c| {
        c["linux"]["resources"]["memory"] = serde_json::json!({ "limit": 16 << 20 });
    });
    let mut shim = setup.spawn();
    shim.client.start().unwrap();
    let exit = shim.client.wait().unwrap();
    assert_eq!(exit.exit_code, 137);
    assert!(exit.oom_killed);
    shim.assert_cleaned_up();
}
