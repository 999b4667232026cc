//! The names the embedded DNS server answers for: per network, each endpoint's names
//! (container name, aliases, hostname, short id) and addresses.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

/// One endpoint's names and addresses on one network.
#[derive(Debug, Clone)]
struct Entry {
    /// Lower case, without a trailing dot.
    names: Vec<String>,
    /// The network's name, lower case: `name.<domain>` resolves too, and PTR answers with it.
    domain: String,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
}

/// The addresses a name has in a scope, already rotated for round-robin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    /// A records.
    pub ipv4: Vec<Ipv4Addr>,
    /// AAAA records.
    pub ipv6: Vec<Ipv6Addr>,
}

/// The DNS records of every network, shared (in an `Arc`) by the engine, which updates them
/// as containers join and leave networks, and every running [`super::DnsServer`].
#[derive(Debug, Default)]
pub struct Records {
    /// (network, endpoint) → entry.
    entries: RwLock<BTreeMap<(String, String), Entry>>,
    /// Advanced by every lookup with several answers, to rotate them.
    turn: AtomicUsize,
}

/// Lower case without the trailing dot: how names are compared.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Records {
    /// An empty set of records.
    pub fn new() -> Records {
        Records::default()
    }

    /// Adds (or replaces) `endpoint` on `network` (its id; `domain` is its name) with the
    /// names it answers to — container name first (PTR queries answer with it), then
    /// `--network-alias`es, hostname and the 12-character short id — and its addresses.
    pub fn add(
        &self,
        network: &str,
        domain: &str,
        endpoint: &str,
        names: &[String],
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
    ) {
        let mut unique: Vec<String> = Vec::new();
        for name in names.iter().map(|n| normalize(n)) {
            if !name.is_empty() && !unique.contains(&name) {
                unique.push(name);
            }
        }
        let names = unique;
        let entry = Entry {
            names,
            domain: normalize(domain),
            ipv4,
            ipv6,
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert((network.to_string(), endpoint.to_string()), entry);
    }

    /// Removes `endpoint` from `network`; nothing happens if it is not there.
    pub fn remove(&self, network: &str, endpoint: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(network.to_string(), endpoint.to_string()));
    }

    /// Removes every endpoint of `network`.
    pub fn remove_network(&self, network: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(n, _), _| n != network);
    }

    /// The addresses `name` (or `name.<network name>`) has on the networks of `scope`
    /// (case-insensitive), rotated by
    /// one more place at every call; `None` if no endpoint in scope has that name (then the
    /// query goes upstream). A name with no address of a family has an empty list for it.
    pub fn lookup(&self, scope: &[String], name: &str) -> Option<Addresses> {
        let name = normalize(name);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let mut found = false;
        let mut out = Addresses::default();
        for ((network, _), entry) in entries.iter() {
            // `web` or, as Docker also answers, `web.<network>`.
            let named = entry.names.contains(&name)
                || name
                    .strip_suffix(entry.domain.as_str())
                    .and_then(|n| n.strip_suffix('.'))
                    .is_some_and(|n| entry.names.iter().any(|e| e == n));
            if !scope.contains(network) || !named {
                continue;
            }
            found = true;
            out.ipv4
                .extend(entry.ipv4.filter(|ip| !out.ipv4.contains(ip)));
            out.ipv6
                .extend(entry.ipv6.filter(|ip| !out.ipv6.contains(ip)));
        }
        if !found {
            return None;
        }
        if out.ipv4.len() > 1 || out.ipv6.len() > 1 {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            if !out.ipv4.is_empty() {
                let n = turn % out.ipv4.len();
                out.ipv4.rotate_left(n);
            }
            if !out.ipv6.is_empty() {
                let n = turn % out.ipv6.len();
                out.ipv6.rotate_left(n);
            }
        }
        Some(out)
    }

    /// The name for `ip` on the networks of `scope`: the endpoint's first name, `.` and the
    /// network's name, as Docker answers PTR queries.
    pub fn reverse(&self, scope: &[String], ip: IpAddr) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.iter().find_map(|((network, _), entry)| {
            let has = match ip {
                IpAddr::V4(v4) => entry.ipv4 == Some(v4),
                IpAddr::V6(v6) => entry.ipv6 == Some(v6),
            };
            (has && scope.contains(network))
                .then(|| entry.names.first().map(|n| format!("{n}.{}", entry.domain)))
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lookups_honour_scope_case_and_rotate() {
        let records = Records::new();
        let v4 = |d| Some(Ipv4Addr::new(10, 0, 0, d));
        records.add("n1", "n1", "e1", &names(&["Web", "api"]), v4(2), None);
        records.add("n1", "n1", "e2", &names(&["web2", "api"]), v4(3), None);
        // Keyed by network id; the name is what queries use.
        records.add(
            "id2",
            "n2",
            "e3",
            &names(&["db"]),
            v4(4),
            "fd00::4".parse().ok(),
        );
        let n1 = names(&["n1"]);
        let both = names(&["n1", "id2"]);
        assert_eq!(records.lookup(&n1, "WEB.").unwrap().ipv4, [v4(2).unwrap()]);
        assert_eq!(records.lookup(&n1, "db"), None);
        assert_eq!(
            records.lookup(&both, "db.n2.").unwrap().ipv4,
            [v4(4).unwrap()]
        );
        assert_eq!(records.lookup(&both, "db.n1"), None);
        assert_eq!(records.lookup(&both, "dbn2"), None);
        assert_eq!(records.lookup(&both, "db.id2"), None);
        let db = records.lookup(&both, "db").unwrap();
        assert_eq!(db.ipv6, ["fd00::4".parse::<Ipv6Addr>().unwrap()]);
        let first = records.lookup(&n1, "api").unwrap().ipv4;
        let second = records.lookup(&n1, "api").unwrap().ipv4;
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], second[0]);
        assert!(records.lookup(&n1, "web2").unwrap().ipv6.is_empty());
        assert_eq!(
            records.reverse(&n1, "10.0.0.2".parse().unwrap()).as_deref(),
            Some("web.n1")
        );
        assert_eq!(records.reverse(&n1, "10.0.0.4".parse().unwrap()), None);
        assert_eq!(
            records
                .reverse(&both, "10.0.0.4".parse().unwrap())
                .as_deref(),
            Some("db.n2")
        );
        records.remove("n1", "e1");
        assert_eq!(records.lookup(&n1, "web"), None);
        records.remove_network("id2");
        assert_eq!(records.lookup(&both, "db"), None);
    }
}
