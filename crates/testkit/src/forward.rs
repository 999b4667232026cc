//! A TCP address of the test's own network namespace made reachable at the same address inside
//! another one: a daemon in its own namespace pulls from a registry (or a token server) that
//! the test started on its 127.0.0.1. A [`Gate`] can hold the answers back after their first
//! bytes, to catch a transfer under way.

use std::fs::File;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

/// Listens on `address` inside a namespace and connects each connection to `address` outside;
/// stops listening on drop (connections under way run to their end).
pub struct Forward {
    address: String,
    listener: Arc<TcpListener>,
    accepting: Option<JoinHandle<()>>,
    /// Opened on drop, so no copy waits at it for ever.
    gate: Option<Gate>,
}

/// Holds back what the far side sends once `passed` bytes of it (over all connections) went
/// through, until [`Gate::open`].
#[derive(Clone)]
pub struct Gate {
    state: Arc<(Mutex<GateState>, Condvar)>,
}

struct GateState {
    open: bool,
    /// Bytes still let through while closed.
    allowance: u64,
    /// Copies waiting at the gate.
    held: usize,
}

impl Gate {
    /// A closed gate that lets `passed` bytes through first.
    pub fn closed_after(passed: u64) -> Gate {
        Gate {
            state: Arc::new((
                Mutex::new(GateState {
                    open: false,
                    allowance: passed,
                    held: 0,
                }),
                Condvar::new(),
            )),
        }
    }

    /// Lets everything through from now on.
    pub fn open(&self) {
        let (state, changed) = &*self.state;
        state.lock().unwrap_or_else(|e| e.into_inner()).open = true;
        changed.notify_all();
    }

    /// Waits (up to `limit`) until a transfer is held at the gate; whether one is.
    pub fn wait_until_holding(&self, limit: Duration) -> bool {
        let (state, changed) = &*self.state;
        let deadline = Instant::now() + limit;
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        while guard.held == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// How much of `want` bytes may go now; waits while the gate is closed and its
    /// allowance spent.
    fn pass(&self, want: u64) -> u64 {
        let (state, changed) = &*self.state;
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        if !guard.open && guard.allowance == 0 {
            guard.held += 1;
            changed.notify_all();
            while !guard.open {
                guard = changed.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            guard.held -= 1;
        }
        if guard.open {
            return want;
        }
        let granted = want.min(guard.allowance);
        guard.allowance -= granted;
        granted
    }
}

impl Forward {
    /// Starts forwarding `address` (`IP:PORT`) from the namespace bind-mounted on `netns`.
    pub fn start(netns: &Path, address: &str) -> Forward {
        Forward::start_gated(netns, address, None)
    }

    /// As [`Forward::start`], what comes back from `address` passing through `gate`.
    pub fn start_gated(netns: &Path, address: &str, gate: Option<Gate>) -> Forward {
        let listener =
            Arc::new(listen_in(netns, address).unwrap_or_else(|e| {
                panic!("cannot listen on {address} in {}: {e}", netns.display())
            }));
        let accepting = {
            let (listener, address) = (Arc::clone(&listener), address.to_string());
            let gate = gate.clone();
            std::thread::spawn(move || accept_loop(&listener, &address, gate.as_ref()))
        };
        Forward {
            address: address.to_string(),
            listener,
            accepting: Some(accepting),
            gate,
        }
    }
}

/// A socket bound in the namespace stays there: only the thread binding it enters it.
fn listen_in(netns: &Path, address: &str) -> io::Result<TcpListener> {
    let netns = File::open(netns)?;
    let address = address.to_string();
    std::thread::spawn(move || {
        setns(&netns, CloneFlags::CLONE_NEWNET)?;
        TcpListener::bind(&address)
    })
    .join()
    .expect("the thread entering the namespace panicked")
}

/// Runs in the test's namespace, so that connections it opens reach the test's addresses.
fn accept_loop(listener: &TcpListener, address: &str, gate: Option<&Gate>) {
    // Ends when the listener is shut down (or fails).
    for inside in listener.incoming() {
        let Ok(inside) = inside else { return };
        // Refused outside: closing the inside connection says so to the client.
        let Ok(outside) = TcpStream::connect(address) else {
            continue;
        };
        for (from, to, gate) in [(&inside, &outside, None), (&outside, &inside, gate)] {
            let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                continue;
            };
            let gate = gate.cloned();
            std::thread::spawn(move || {
                let _ = match gate {
                    None => io::copy(&mut from, &mut to).map(drop),
                    Some(gate) => copy_through(&mut from, &mut to, &gate),
                };
                let _ = to.shutdown(Shutdown::Write);
            });
        }
    }
}

/// Copies `from` to `to` as `gate` lets it.
fn copy_through(from: &mut TcpStream, to: &mut TcpStream, gate: &Gate) -> io::Result<()> {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut sent = 0;
        while sent < n {
            let granted = gate.pass((n - sent) as u64) as usize;
            to.write_all(&buf[sent..sent + granted])?;
            sent += granted;
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Some(gate) = &self.gate {
            gate.open();
        }
        // shutdown(2) on a listening socket wakes the blocked accept(2) with an error.
        if let Err(e) =
            nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Read)
        {
            eprintln!("cannot stop forwarding {}: {e}", self.address);
            return;
        }
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}
