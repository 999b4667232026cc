//! A tiny static program the integration tests run inside containers to report what a process
//! there can see and do. Subcommands print one line each.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Lists the open file descriptors of this process (without the one used to list them).
fn fds() {
    let mut fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| {
            // The directory stream's own descriptor no longer resolves once listing is done.
            Path::new(&format!("/proc/self/fd/{fd}")).exists()
                && std::fs::read_link(format!("/proc/self/fd/{fd}"))
                    .map(|t| {
                        t != Path::new("/proc/self/fd")
                            && !t.to_string_lossy().starts_with("/proc/")
                    })
                    .unwrap_or(true)
        })
        .collect();
    fds.sort();
    let list: Vec<String> = fds.iter().map(u32::to_string).collect();
    println!("{}", list.join(" "));
}

fn describe(result: std::io::Result<std::fs::File>) -> String {
    match result {
        Ok(_) => "opened".into(),
        Err(e) => format!(
            "refused: {}",
            e.raw_os_error().map(errno_name).unwrap_or("?")
        ),
    }
}

fn errno_name(code: i32) -> &'static str {
    match code {
        1 => "EPERM",
        2 => "ENOENT",
        13 => "EACCES",
        26 => "ETXTBSY",
        30 => "EROFS",
        _ => "other",
    }
}

/// Tries to open `path` for writing (without truncating) and says what happened.
fn open_write(path: &str) {
    println!("{}", describe(OpenOptions::new().write(true).open(path)));
}

/// The CVE-2019-5736 attack: hold an O_PATH handle on another process's executable, say so by
/// creating `TRIGGER.ready`, wait until `trigger` exists (that process has exited, so the file is no longer busy), then try to reopen
/// the handle for writing.
fn hold_exe(pid: &str, trigger: &str) {
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags(0o10000000) // O_PATH
        .open(format!("/proc/{pid}/exe"));
    let handle = match handle {
        Ok(h) => h,
        Err(e) => {
            println!("no handle: {e}");
            return;
        }
    };
    // Tell the test the handle is held before it makes the binary idle.
    let _ = std::fs::write(format!("{trigger}.ready"), "");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Path::new(trigger).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&handle);
    open_write(&format!("/proc/self/fd/{fd}"));
}

/// Answers every UDP datagram on `port` with `udp-` and the datagram, forever.
fn udp_echo(port: &str) {
    let socket = std::net::UdpSocket::bind(format!("0.0.0.0:{port}")).expect("bind the UDP port");
    let mut buffer = [0u8; 1500];
    loop {
        let (n, from) = socket.recv_from(&mut buffer).expect("receive");
        let mut reply = b"udp-".to_vec();
        reply.extend_from_slice(&buffer[..n]);
        let _ = socket.send_to(&reply, from);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["fds"] => fds(),
        ["open-write", path] => open_write(path),
        ["hold-exe", pid, trigger] => hold_exe(pid, trigger),
        ["udp-echo", port] => udp_echo(port),
        _ => {
            eprintln!(
                "usage: berth-probe fds | open-write PATH | hold-exe PID TRIGGER | udp-echo PORT"
            );
            std::process::exit(2);
        }
    }
}
