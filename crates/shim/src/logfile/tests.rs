//! The writer and reader together, without a container.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use berth_testkit::TempDir;

fn numbers(entries: &[LogEntry]) -> Vec<u32> {
    entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.line).trim_end().parse().unwrap())
        .collect()
}

fn write_numbers(writer: &mut LogWriter, range: std::ops::RangeInclusive<u32>) {
    for n in range {
        let text = format!("{n}\n");
        writer
            .write(Stream::Stdout, SystemTime::now(), text.as_bytes())
            .unwrap();
    }
}

#[test]
fn a_single_file_log_starts_over_when_full() {
    let dir = TempDir::new("shim-log-single");
    let log = dir.join("log");
    let mut writer = LogWriter::open(&log, 500, 1).unwrap();
    write_numbers(&mut writer, 1..=100);
    assert!(!rotated(&log, 1).exists());
    assert!(std::fs::metadata(&log).unwrap().len() <= 500);
    let got = numbers(&read(&log, 1, &ReadOptions::default()).unwrap());
    assert_eq!(*got.last().unwrap(), 100);
    assert_eq!(got, (got[0]..=100).collect::<Vec<_>>());
}

#[test]
fn reopening_appends_and_counts_the_existing_size() {
    let dir = TempDir::new("shim-log-reopen");
    let log = dir.join("log");
    write_numbers(&mut LogWriter::open(&log, 0, 1).unwrap(), 1..=3);
    let mut writer = LogWriter::open(&log, 250, 2).unwrap();
    write_numbers(&mut writer, 4..=6);
    assert!(rotated(&log, 1).exists(), "the existing content counts");
    assert_eq!(
        numbers(&read(&log, 2, &ReadOptions::default()).unwrap()),
        [1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn torn_and_foreign_lines_are_skipped() {
    let dir = TempDir::new("shim-log-torn");
    let log = dir.join("log");
    write_numbers(&mut LogWriter::open(&log, 0, 1).unwrap(), 1..=2);
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(
        b"garbage\n{\"log\":\"x\\n\",\"stream\":\"stdin\",\"time\":\"2026-01-01T00:00:00Z\"}\n",
    )
    .unwrap();
    file.write_all(b"{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"yesterday\"}\n")
        .unwrap();
    drop(file);
    write_numbers(&mut LogWriter::open(&log, 0, 1).unwrap(), 3..=3);
    // A line still being written (no newline yet) is not an entry.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"{\"log\":\"4\\n\",\"str").unwrap();
    assert_eq!(
        numbers(&read(&log, 1, &ReadOptions::default()).unwrap()),
        [1, 2, 3]
    );
}

#[test]
fn since_until_and_tail_combine() {
    let dir = TempDir::new("shim-log-range");
    let log = dir.join("log");
    let mut writer = LogWriter::open(&log, 0, 1).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for n in 0..10u64 {
        let text = format!("{n}\n");
        writer
            .write(Stream::Stderr, t0 + Duration::from_secs(n), text.as_bytes())
            .unwrap();
    }
    let opts = ReadOptions {
        tail: Some(2),
        since: Some(t0 + Duration::from_secs(3)),
        until: Some(t0 + Duration::from_secs(6)),
    };
    let got = read(&log, 1, &opts).unwrap();
    assert_eq!(numbers(&got), [5, 6]);
    assert_eq!(got[0].time, t0 + Duration::from_secs(5));
    assert_eq!(got[0].stream, Stream::Stderr);
}

#[test]
fn follow_keeps_up_with_several_rotations_between_polls() {
    let dir = TempDir::new("shim-log-follow");
    let log = dir.join("log");
    let mut writer = LogWriter::open(&log, 400, 100).unwrap();
    write_numbers(&mut writer, 1..=10);
    let done = Arc::new(AtomicBool::new(false));
    let writing = {
        let done = done.clone();
        std::thread::spawn(move || {
            for n in 11..=500 {
                write_numbers(&mut writer, n..=n);
                if n % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut seen = Vec::new();
    follow(
        &log,
        100,
        &ReadOptions::default(),
        &|| !done.load(Ordering::SeqCst),
        &mut |e| {
            seen.push(e);
            true
        },
    )
    .unwrap();
    writing.join().unwrap();
    assert_eq!(numbers(&seen), (1..=500).collect::<Vec<_>>());
}
