//! `berth-init -- COMMAND [ARG…]`: the pid 1 berthd mounts into `--init` containers.
//!
//! A program that is not written to be pid 1 neither reaps the orphans re-parented to it (they
//! pile up as zombies) nor dies of SIGTERM (the kernel ignores signals pid 1 has no handler
//! for). berth-init runs the command as its child, forwards the usual signals to it, reaps every
//! process that ends, and exits with the command's status (128 + the signal number if a signal
//! killed it).

use std::ffi::OsString;
use std::process::{exit, Command};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::signal::{
    SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};
use signal_hook::iterator::Signals;

/// The signals passed on to the command.
const FORWARDED: [i32; 9] = [
    SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM,
];

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("usage: berth-init -- COMMAND [ARG...]");
        exit(2);
    }
    // Registered before the command starts: a signal arriving meanwhile is forwarded once it
    // runs. The handlers do not survive exec, so the command gets default dispositions.
    let mut signals = match Signals::new(FORWARDED) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("berth-init: cannot handle signals: {e}");
            exit(125);
        }
    };
    let child = match Command::new(&args[0]).args(&args[1..]).spawn() {
        Ok(child) => Pid::from_raw(child.id() as i32),
        Err(e) => {
            let program = args[0].to_string_lossy();
            eprintln!("berth-init: cannot run {program}: {e}");
            // Docker's codes: 127 not found, 126 found but not runnable.
            exit(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    std::thread::spawn(move || {
        for number in signals.forever() {
            if let Ok(signal) = Signal::try_from(number) {
                let _ = kill(child, signal);
            }
        }
    });
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => exit(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => exit(128 + signal as i32),
            // An orphan reaped, or a stop/continue report.
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                eprintln!("berth-init: wait: {e}");
                exit(125);
            }
        }
    }
}
