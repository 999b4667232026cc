//! A named network namespace for one test daemon, so that its bridges, veths, nftables table
//! and sysctls never touch the host's namespace or another test's. Commands enter it with
//! `nsenter --net` alone: unlike `ip netns exec`, that keeps them in the host's mount namespace
//! (and its /sys), where a daemon mounting container roots must stay.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::forward::Forward;
use crate::process::run;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where `ip netns` keeps the files namespaces are bind-mounted on.
const NETNS_DIR: &str = "/run/netns";

/// Keys of `ip -j` output that change without anything being set up or torn down.
const VOLATILE_KEYS: &[&str] = &[
    "ifindex",
    "stats",
    "stats64",
    "valid_life_time",
    "preferred_life_time",
    "expires",
    // Carrier and address-detection state: the kernel changes them on its own, a moment
    // after the last port leaves a bridge or a new address is added.
    "operstate",
    "tentative",
];

/// Link and route flags that only say whether a link has carrier right now.
const CARRIER_FLAGS: &[&str] = &["NO-CARRIER", "LOWER_UP", "linkdown"];

/// A namespace `/run/netns/berth-t-<pid>-<n>` with `lo` up; deleted on drop.
pub struct NetNs {
    name: String,
    path: PathBuf,
}

impl NetNs {
    /// Creates a fresh namespace (`ip netns add`) and brings its loopback up.
    pub fn new() -> NetNs {
        let name = loop {
            let candidate = format!(
                "berth-t-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            // One a crashed run left behind under a recycled pid is not ours to delete.
            if !Path::new(NETNS_DIR).join(&candidate).exists() {
                break candidate;
            }
        };
        // The first `ip netns add` on a machine makes /run/netns a shared mount; two doing it
        // at once could stack two mounts and hide each other's namespace files.
        let lock = std::env::temp_dir().join("berth-test-netns.lock");
        run(Command::new("flock")
            .arg(&lock)
            .args(["ip", "netns", "add", &name]));
        let netns = NetNs {
            path: Path::new(NETNS_DIR).join(&name),
            name,
        };
        run(&mut netns.command(["ip", "link", "set", "lo", "up"]));
        netns
    }

    /// The namespace's name (`ip -n NAME …`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file the namespace is bind-mounted on (`nsenter --net=PATH`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `argv` run inside the namespace (`nsenter --net=PATH -- argv…`), in the caller's mount
    /// namespace; more arguments, environment and stdio can be added to it.
    pub fn command<S: AsRef<OsStr>>(&self, argv: impl IntoIterator<Item = S>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", self.path.display()))
            .arg("--")
            .args(argv);
        command
    }

    /// Makes `address` (`127.0.0.1:PORT`) of the caller's namespace, e.g. a registry's,
    /// reachable at the same address inside this one, until the result is dropped.
    pub fn forward(&self, address: &str) -> Forward {
        Forward::start(&self.path, address)
    }

    /// As [`NetNs::forward`], what comes back passing through `gate`.
    pub fn forward_gated(&self, address: &str, gate: &crate::forward::Gate) -> Forward {
        Forward::start_gated(&self.path, address, Some(gate.clone()))
    }

    /// The namespace's links with their addresses, its IPv4 and IPv6 routes in every table
    /// (`ip -j`, counters, lifetimes, interface indexes and carrier state left out, entries
    /// sorted) and its
    /// nftables ruleset (`nft -s`: without counters): equal strings mean nothing was left
    /// set up in between.
    pub fn snapshot(&self) -> String {
        let mut snapshot = String::new();
        for (title, argv) in [
            ("links and addresses", &["ip", "-j", "addr", "show"][..]),
            (
                "IPv4 routes",
                &["ip", "-j", "-4", "route", "show", "table", "all"][..],
            ),
            (
                "IPv6 routes",
                &["ip", "-j", "-6", "route", "show", "table", "all"][..],
            ),
        ] {
            let out = run(&mut self.command(argv));
            let mut value: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{argv:?} in {}: not JSON ({e}): {}",
                    self.name,
                    String::from_utf8_lossy(&out.stdout)
                )
            });
            strip_volatile(&mut value);
            let mut entries: Vec<String> = match value {
                Value::Array(items) => items
                    .iter()
                    .filter(|entry| !is_link_local_route(entry))
                    .map(Value::to_string)
                    .collect(),
                other => vec![other.to_string()],
            };
            entries.sort();
            snapshot.push_str(&format!("# {title}\n"));
            for entry in entries {
                snapshot.push_str(&entry);
                snapshot.push('\n');
            }
        }
        let nft = run(&mut self.command(["nft", "-s", "list", "ruleset"]));
        snapshot.push_str("# nftables ruleset\n");
        snapshot.push_str(&String::from_utf8_lossy(&nft.stdout));
        snapshot
    }
}

impl Default for NetNs {
    fn default() -> NetNs {
        NetNs::new()
    }
}

/// Whether `entry` is a route to an IPv6 link-local address or prefix: the kernel adds and
/// removes those itself as a link gains and loses carrier (the addresses are compared).
fn is_link_local_route(entry: &Value) -> bool {
    entry
        .get("dst")
        .and_then(Value::as_str)
        .is_some_and(|dst| dst.starts_with("fe80:"))
}

/// Removes [`VOLATILE_KEYS`] and [`CARRIER_FLAGS`] from every object in `value`.
fn strip_volatile(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in VOLATILE_KEYS {
                map.remove(*key);
            }
            if let Some(Value::Array(flags)) = map.get_mut("flags") {
                flags.retain(|f| !f.as_str().is_some_and(|f| CARRIER_FLAGS.contains(&f)));
            }
            map.values_mut().for_each(strip_volatile);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Teardown goes on after a failure: it is reported, not a panic during a panic.
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cannot delete network namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("cannot run ip netns del {}: {e}", self.name),
        }
    }
}
