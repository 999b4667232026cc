//! Named network namespaces kept alive by a bind mount on a file, as `ip netns` and Docker do.
//!
//! A namespace created here outlives every process in it: the engine creates it before the
//! container, gives its path to the OCI runtime (`linux.namespaces[].path`), and removes it after
//! the container is gone. Work inside a namespace (netlink sockets, the embedded DNS server's
//! sockets) runs on a short-lived thread that joined it with `setns`, so the caller's own threads
//! never change namespace.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Errors of network namespace handling; each names the namespace file.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The namespace file could not be created, opened or removed.
    #[error("network namespace {path}: {action}")]
    Io {
        /// The namespace file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file exists but is not a network namespace.
    #[error("{path} is not a network namespace")]
    NotANamespace {
        /// The file that was opened.
        path: PathBuf,
    },
    /// A thread working inside the namespace panicked or could not be started.
    #[error("network namespace {path}: the thread working inside it failed")]
    Thread {
        /// The namespace file.
        path: PathBuf,
    },
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> NetnsError + 'a {
    move |source| NetnsError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn nix_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(nix::Error) -> NetnsError + 'a {
    move |e| NetnsError::Io {
        path: path.to_path_buf(),
        action,
        source: io::Error::from(e),
    }
}

/// An open network namespace, named by the file it is bind-mounted on.
#[derive(Debug)]
pub struct Netns {
    path: PathBuf,
    file: File,
}

impl Netns {
    /// Creates a new, empty network namespace (only `lo`, down) bind-mounted on `path`.
    ///
    /// `path` must not exist; its directory must. On failure nothing is left at `path`.
    pub fn create(path: &Path) -> Result<Netns, NetnsError> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io_err(path, "create the namespace file"))?;
        let bound = std::thread::scope(|s| {
            s.spawn(|| -> Result<(), NetnsError> {
                unshare(CloneFlags::CLONE_NEWNET).map_err(nix_err(path, "unshare"))?;
                mount(
                    Some("/proc/thread-self/ns/net"),
                    path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(nix_err(path, "bind-mount the namespace"))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(NetnsError::Thread {
                    path: path.to_path_buf(),
                })
            })
        });
        if let Err(e) = bound {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Netns::open(path)
    }

    /// Opens the network namespace bind-mounted on `path`.
    pub fn open(path: &Path) -> Result<Netns, NetnsError> {
        let file = File::open(path).map_err(io_err(path, "open"))?;
        let netns = Netns {
            path: path.to_path_buf(),
            file,
        };
        // Only joining tells a network namespace from any other file: setns refuses the rest.
        match netns.run(|| ()) {
            Ok(()) => Ok(netns),
            Err(NetnsError::Io { source, .. })
                if source.raw_os_error() == Some(nix::Error::EINVAL as i32) =>
            {
                Err(NetnsError::NotANamespace {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Unmounts (lazily) and unlinks the namespace file at `path`; succeeds if it is absent.
    ///
    /// The namespace itself vanishes once no process is in it and no file descriptor holds it.
    pub fn remove(path: &Path) -> Result<(), NetnsError> {
        match umount2(path, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point (a half-created namespace); ENOENT: already gone.
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(nix_err(path, "unmount")(e)),
        }
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(path, "remove the namespace file")(e)),
        }
    }

    /// Another handle on the same namespace.
    pub fn try_clone(&self) -> Result<Netns, NetnsError> {
        Ok(Netns {
            path: self.path.clone(),
            file: self
                .file
                .try_clone()
                .map_err(io_err(&self.path, "duplicate the handle"))?,
        })
    }

    /// The file the namespace is bind-mounted on: what the OCI runtime is given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a fresh thread that has joined this namespace, and returns its result.
    ///
    /// Sockets created by `f` stay in this namespace whichever thread uses them later.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        std::thread::scope(|s| {
            s.spawn(|| -> Result<T, NetnsError> {
                setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(nix_err(&self.path, "join"))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(NetnsError::Thread {
                    path: self.path.clone(),
                })
            })
        })
    }

    /// Binds a UDP socket on `addr` inside this namespace (e.g. the DNS server on 127.0.0.11:53).
    pub fn bind_udp(&self, addr: SocketAddr) -> Result<UdpSocket, NetnsError> {
        self.run(|| UdpSocket::bind(addr))?
            .map_err(io_err(&self.path, "bind a UDP socket"))
    }

    /// Binds and listens on a TCP socket on `addr` inside this namespace.
    pub fn bind_tcp(&self, addr: SocketAddr) -> Result<TcpListener, NetnsError> {
        self.run(|| TcpListener::bind(addr))?
            .map_err(io_err(&self.path, "bind a TCP socket"))
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
