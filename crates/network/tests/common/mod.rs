//! What the kernel tests share: a private "host" (network and mount namespaces of the test's
//! own thread), containers as namespace files, snapshots of the host's network state, and
//! small TCP/UDP exchanges.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use berth_network::link::{self, Bridge, Endpoint, Netlink};
use berth_network::netns::Netns;
use berth_testkit::tempdir::TempDir;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// The test thread's private host: its own network and mount namespaces, `lo` up, and a
/// directory for namespace files. Everything in them vanishes with the test's process; the
/// guard still removes what it can on drop so that a failing test leaves nothing mounted.
pub struct Host {
    pub dir: TempDir,
    pub runtime: tokio::runtime::Runtime,
}

impl Host {
    pub fn new(name: &str) -> Host {
        unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).expect("unshare net+mount");
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make / rprivate");
        // Built after unshare so that its threads are in the private namespaces too.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let host = Host {
            dir: TempDir::new(&format!("net-{name}")),
            runtime,
        };
        host.block_on(async { Netlink::connect()?.set_up("lo").await })
            .expect("bring lo up");
        host
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// A new container namespace with `lo` up.
    pub fn container(&self, name: &str) -> Container {
        let path = self.dir.join(name);
        let netns = Netns::create(&path).expect("create netns");
        let container = Container { netns, path };
        self.block_on(async { Netlink::connect_in(&container.netns)?.set_up("lo").await })
            .expect("bring lo up in the container");
        container
    }

    /// Creates a bridge with the gateway address `gateway` (e.g. "10.51.0.1/24").
    pub fn bridge(&self, name: &str, gateway: &str) {
        let bridge = Bridge {
            name: name.to_owned(),
            mtu: None,
            addresses: vec![gateway.parse().unwrap()],
        };
        self.block_on(async { Netlink::connect()?.ensure_bridge(&bridge).await })
            .expect("ensure bridge");
    }

    /// The endpoint attaching `container` to `bridge` as eth0 with `address` (with prefix) and
    /// a default route via `gateway`.
    pub fn endpoint(
        &self,
        container: &Container,
        bridge: &str,
        address: &str,
        gateway: Option<&str>,
    ) -> Endpoint {
        Endpoint {
            host_name: host_name(container, bridge),
            bridge: bridge.to_owned(),
            name: "eth0".to_owned(),
            mac: None,
            mtu: None,
            addresses: vec![address.parse().unwrap()],
            gateways: gateway.map(|g| g.parse().unwrap()).into_iter().collect(),
            isolated: false,
        }
    }

    /// Adds `endpoint` to `container`.
    pub fn add(&self, container: &Container, endpoint: &Endpoint) {
        self.block_on(async {
            Netlink::connect()?
                .add_endpoint(endpoint, &container.netns)
                .await
        })
        .expect("add endpoint");
    }

    /// Attaches `container` to `bridge`; see [`Host::endpoint`].
    pub fn attach(
        &self,
        container: &Container,
        bridge: &str,
        address: &str,
        gateway: Option<&str>,
    ) {
        self.add(
            container,
            &self.endpoint(container, bridge, address, gateway),
        );
    }

    /// Removes what [`Host::attach`] added.
    pub fn detach(&self, container: &Container, bridge: &str) {
        self.block_on(async {
            Netlink::connect()?
                .remove_endpoint(&host_name(container, bridge))
                .await
        })
        .expect("remove endpoint");
    }
}

fn host_name(container: &Container, bridge: &str) -> String {
    link::host_veth_name(&format!("{}/{bridge}", container.path.display()))
}

/// A container's network namespace, removed on drop.
pub struct Container {
    pub netns: Netns,
    pub path: PathBuf,
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Err(e) = Netns::remove(&self.path) {
            eprintln!("{e}");
        }
    }
}

impl Container {
    /// A TCP server in this namespace on `addr` answering each connection with the peer's
    /// address, then echoing what it reads; returns its bound address.
    pub fn tcp_echo(&self, addr: &str) -> SocketAddr {
        let listener: TcpListener = self.netns.bind_tcp(addr.parse().unwrap()).expect("bind");
        let local = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let peer = stream.peer_addr().unwrap();
                let _ = writeln!(stream, "{}", peer.ip());
                let mut buf = [0u8; 64];
                if let Ok(n) = stream.read(&mut buf) {
                    let _ = stream.write_all(&buf[..n]);
                }
            }
        });
        local
    }

    /// A UDP server in this namespace on `addr` answering each datagram with "<peer ip> <data>".
    pub fn udp_echo(&self, addr: &str) -> SocketAddr {
        let socket: UdpSocket = self.netns.bind_udp(addr.parse().unwrap()).expect("bind");
        let local = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                let reply = format!("{} {}", peer.ip(), String::from_utf8_lossy(&buf[..n]));
                let _ = socket.send_to(reply.as_bytes(), peer);
            }
        });
        local
    }

    /// Connects from inside this namespace; see [`tcp_ask`].
    pub fn tcp_ask(&self, to: SocketAddr) -> Result<String, String> {
        self.netns.run(|| tcp_ask(to)).expect("run in netns")
    }

    /// Sends a datagram from inside this namespace; see [`udp_ask`].
    pub fn udp_ask(&self, to: SocketAddr) -> Result<String, String> {
        self.netns.run(|| udp_ask(to)).expect("run in netns")
    }

    /// Runs a command inside this namespace and returns its stdout.
    pub fn command(&self, program: &str, args: &[&str]) -> std::process::Output {
        self.netns
            .run(|| Command::new(program).args(args).output())
            .expect("run in netns")
            .expect("spawn")
    }
}

/// Connects to a [`Container::tcp_echo`] server, sends "hello" and returns the address the
/// server saw us from, or why it failed.
pub fn tcp_ask(to: SocketAddr) -> Result<String, String> {
    let mut stream =
        TcpStream::connect_timeout(&to, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream.write_all(b"hello").map_err(|e| e.to_string())?;
    let mut answer = String::new();
    let mut buf = [0u8; 128];
    while !answer.ends_with("hello") {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let (seen_from, echoed) = answer.split_once('\n').ok_or(answer.clone())?;
    if echoed != "hello" {
        return Err(format!("echoed {echoed:?}"));
    }
    Ok(seen_from.to_owned())
}

/// Sends "hello" to a [`Container::udp_echo`] server and returns the address it saw us from.
pub fn udp_ask(to: SocketAddr) -> Result<String, String> {
    let any: SocketAddr = match to.ip() {
        IpAddr::V4(_) => "0.0.0.0:0".parse().unwrap(),
        IpAddr::V6(_) => "[::]:0".parse().unwrap(),
    };
    let socket = UdpSocket::bind(any).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(b"hello", to).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 128];
    let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    match answer.split_once(' ') {
        Some((seen_from, "hello")) => Ok(seen_from.to_owned()),
        _ => Err(format!("answered {answer:?}")),
    }
}

/// The host's links, addresses, routes and nft ruleset, as the tools print them.
pub fn snapshot() -> String {
    let mut out = String::new();
    for args in [
        &["-j", "link"][..],
        &["-j", "addr"],
        &["-j", "route"],
        &["-j", "-6", "route"],
    ] {
        out.push_str(&run("ip", args));
        out.push('\n');
    }
    out.push_str(&run("nft", &["list", "ruleset"]));
    out
}

pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect(program);
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}
