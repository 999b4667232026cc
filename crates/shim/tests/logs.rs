//! Container output in the json-file log: streams, rotation, reading and following.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_shim::logfile::{self, LogEntry, ReadOptions};
use berth_shim::Stream;
use common::Setup;

fn text(entries: &[LogEntry]) -> Vec<(Stream, String, bool)> {
    entries
        .iter()
        .map(|e| {
            (
                e.stream,
                String::from_utf8_lossy(&e.line).into_owned(),
                e.partial,
            )
        })
        .collect()
}

#[test]
fn stdout_and_stderr_land_in_the_log_with_their_streams() {
    let script =
        "echo out1; echo err1 >&2; head -c 20000 /dev/zero | tr '\\0' x; echo; printf tail";
    let mut shim = Setup::new("shim-logstreams", script, false).spawn();
    let before = SystemTime::now();
    shim.client.start().unwrap();
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    let opts = shim.setup.opts.clone();
    let entries = logfile::read(&opts.log, 1, &ReadOptions::default()).unwrap();
    let got = text(&entries);
    let out: Vec<_> = got
        .iter()
        .filter(|e| e.0 == Stream::Stdout)
        .cloned()
        .collect();
    let long = "x".repeat(20000);
    assert_eq!(
        out,
        [
            (Stream::Stdout, "out1\n".to_string(), false),
            (Stream::Stdout, long[..16384].to_string(), true),
            (Stream::Stdout, format!("{}\n", &long[16384..]), false),
            (Stream::Stdout, "tail".to_string(), true),
        ]
    );
    let err: Vec<_> = got
        .iter()
        .filter(|e| e.0 == Stream::Stderr)
        .cloned()
        .collect();
    assert_eq!(err, [(Stream::Stderr, "err1\n".to_string(), false)]);
    assert!(entries
        .iter()
        .all(|e| e.time >= before && e.time <= SystemTime::now()));
    // The file itself is Docker's format.
    let file = std::fs::read_to_string(&opts.log).unwrap();
    let line = file.lines().find(|l| l.contains("out1")).unwrap();
    let first: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(first["log"], "out1\n");
    assert_eq!(first["stream"], "stdout");
    assert_eq!(first["time"].as_str().unwrap().len(), 30);
    assert_eq!(first.as_object().unwrap().len(), 3);
    // tail and since select entries.
    let last = logfile::read(
        &opts.log,
        1,
        &ReadOptions {
            tail: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(text(&last), [(Stream::Stdout, "tail".to_string(), true)]);
    let later = ReadOptions {
        since: Some(SystemTime::now()),
        ..Default::default()
    };
    assert!(logfile::read(&opts.log, 1, &later).unwrap().is_empty());
    shim.assert_cleaned_up();
}

/// The numbers in `entries`, which must be consecutive and end at `last`.
fn assert_consecutive_suffix(entries: &[LogEntry], last: u32) -> usize {
    let numbers: Vec<u32> = entries
        .iter()
        .map(|e| {
            let line = String::from_utf8_lossy(&e.line);
            line.trim_end()
                .parse()
                .unwrap_or_else(|_| panic!("{line:?}"))
        })
        .collect();
    let first = *numbers.first().expect("some entries");
    let expected: Vec<u32> = (first..=last).collect();
    assert_eq!(numbers, expected, "a gap or a duplicate");
    numbers.len()
}

#[test]
fn rotation_keeps_a_gapless_suffix_in_max_files() {
    let mut setup = Setup::new("shim-rotate", "seq 1 2000", false);
    setup.opts.log_max_size = 4096;
    setup.opts.log_max_files = 3;
    let mut shim = setup.spawn();
    shim.client.start().unwrap();
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    let opts = shim.setup.opts.clone();
    let entries = logfile::read(&opts.log, 3, &ReadOptions::default()).unwrap();
    let kept = assert_consecutive_suffix(&entries, 2000);
    assert!(kept < 2000, "rotation dropped nothing");
    assert!(kept > 60, "only {kept} lines kept");
    for n in 0..3 {
        let file = logfile::rotated(&opts.log, n);
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size <= 4096, "{} is {size} bytes", file.display());
    }
    assert!(!logfile::rotated(&opts.log, 3).exists());
    shim.assert_cleaned_up();
}

#[test]
fn follow_sees_new_lines_across_rotations() {
    let script = "i=0; while [ $i -lt 120 ]; do i=$((i+1)); echo $i; \
                  [ $((i % 10)) = 0 ] && sleep 0.03; done; true";
    let mut setup = Setup::new("shim-follow", script, false);
    setup.opts.log_max_size = 600;
    setup.opts.log_max_files = 10;
    let mut shim = setup.spawn();
    let opts = shim.setup.opts.clone();
    let done = Arc::new(AtomicBool::new(false));
    let follower = {
        let (log, done) = (opts.log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            logfile::follow(
                &log,
                10,
                &ReadOptions::default(),
                &|| !done.load(Ordering::SeqCst),
                &mut |e| {
                    seen.push(e);
                    true
                },
            )
            .map(|()| seen)
        })
    };
    std::thread::sleep(Duration::from_millis(60));
    shim.client.start().unwrap();
    assert_eq!(shim.client.wait().unwrap().exit_code, 0);
    done.store(true, Ordering::SeqCst);
    let seen = follower.join().unwrap().unwrap();
    assert_eq!(assert_consecutive_suffix(&seen, 120), 120);
    assert!(
        logfile::rotated(&opts.log, 1).exists(),
        "the log never rotated"
    );
    shim.assert_cleaned_up();
}

#[test]
fn follow_stops_when_emit_says_so() {
    let mut shim = Setup::new("shim-followstop", "seq 1 50", false).spawn();
    shim.client.start().unwrap();
    shim.client.wait().unwrap();
    let opts = shim.setup.opts.clone();
    let mut seen = 0;
    logfile::follow(&opts.log, 1, &ReadOptions::default(), &|| true, &mut |_| {
        seen += 1;
        seen < 5
    })
    .unwrap();
    assert_eq!(seen, 5);
    shim.assert_cleaned_up();
}
