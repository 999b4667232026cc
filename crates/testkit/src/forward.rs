//! A TCP address of the test's own network namespace made reachable at the same address inside
//! another one: a daemon in its own namespace pulls from a registry (or a token server) that
//! the test started on its 127.0.0.1.

use std::fs::File;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sched::{setns, CloneFlags};

/// Listens on `address` inside a namespace and connects each connection to `address` outside;
/// stops listening on drop (connections under way run to their end).
pub struct Forward {
    address: String,
    listener: Arc<TcpListener>,
    accepting: Option<JoinHandle<()>>,
}

impl Forward {
    /// Starts forwarding `address` (`IP:PORT`) from the namespace bind-mounted on `netns`.
    pub fn start(netns: &Path, address: &str) -> Forward {
        let listener =
            Arc::new(listen_in(netns, address).unwrap_or_else(|e| {
                panic!("cannot listen on {address} in {}: {e}", netns.display())
            }));
        let accepting = {
            let (listener, address) = (Arc::clone(&listener), address.to_string());
            std::thread::spawn(move || accept_loop(&listener, &address))
        };
        Forward {
            address: address.to_string(),
            listener,
            accepting: Some(accepting),
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
fn accept_loop(listener: &TcpListener, address: &str) {
    // Ends when the listener is shut down (or fails).
    for inside in listener.incoming() {
        let Ok(inside) = inside else { return };
        // Refused outside: closing the inside connection says so to the client.
        let Ok(outside) = TcpStream::connect(address) else {
            continue;
        };
        for (from, to) in [(&inside, &outside), (&outside, &inside)] {
            let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
            });
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
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
