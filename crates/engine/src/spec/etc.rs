//! The /etc/hostname, /etc/hosts and /etc/resolv.conf a container gets: written by the daemon
//! in the container's own directory and bind-mounted read-write over the image's files.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// Resolvers Docker falls back to when the host has only local ones (unreachable from a
/// container's own network namespace).
const FALLBACK_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// Writes `path` atomically (a temp file renamed into place). Not flushed to disk: the daemon
/// writes these files again at every start of the container, as Docker does.
fn write_atomic(path: &Path, content: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(content.as_bytes())
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))
}

/// The hosts file: the loopback names, then `--add-host` entries (`name:ip`, the IP may be
/// IPv6 and so contain colons).
fn hosts(extra_hosts: &[String]) -> Result<String> {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for entry in extra_hosts {
        let (name, ip) = entry
            .split_once(['=', ':'])
            .ok_or_else(|| Error::invalid("extra host", format!("{entry:?} is not name:ip")))?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        if name.is_empty() || ip.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid(
                "extra host",
                format!("{entry:?}: {ip:?} is not an IP address"),
            ));
        }
        text.push_str(&format!("{ip}\t{name}\n"));
    }
    Ok(text)
}

/// resolv.conf: `--dns` servers if given, else the host's file without local nameservers
/// (and Google's resolvers if none are left), as Docker does.
fn resolv_conf(dns: &[String]) -> Result<String> {
    for server in dns {
        if server.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid(
                "dns",
                format!("{server:?} is not an IP address"),
            ));
        }
    }
    if !dns.is_empty() {
        return Ok(dns.iter().map(|s| format!("nameserver {s}\n")).collect());
    }
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let is_local = |line: &str| {
        line.split_whitespace().nth(1).is_some_and(|ip| {
            ip.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        })
    };
    let mut text: String = host
        .lines()
        .filter(|l| !(l.trim_start().starts_with("nameserver") && is_local(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    if !text
        .lines()
        .any(|l| l.trim_start().starts_with("nameserver"))
    {
        for server in FALLBACK_DNS {
            text.push_str(&format!("nameserver {server}\n"));
        }
    }
    Ok(text)
}

/// Writes hostname, hosts and resolv.conf into `dir` and returns them paired with where they
/// go in the container, ready for [`super::SpecInput::etc_files`]. (Docker's files name no
/// domain: /etc/hosts gains the container's name only with an address on a network.)
pub fn etc_files(
    dir: &Path,
    hostname: &str,
    extra_hosts: &[String],
    dns: &[String],
) -> Result<Vec<(PathBuf, String)>> {
    let files = [
        ("hostname", "/etc/hostname", format!("{hostname}\n")),
        ("hosts", "/etc/hosts", hosts(extra_hosts)?),
        ("resolv.conf", "/etc/resolv.conf", resolv_conf(dns)?),
    ];
    let mut out = Vec::new();
    for (name, target, content) in files {
        let path = dir.join(name);
        write_atomic(&path, &content)?;
        out.push((path, target.to_string()));
    }
    Ok(out)
}
