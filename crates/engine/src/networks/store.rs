//! What berthd keeps of its networks: `<data-root>/networks/networks.json`, one list written
//! durably (temp file, fsync, rename) on every create and remove.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_network::ipam::Subnet;
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::error::{Error, Result};

/// How a network connects its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge with a veth per container.
    Bridge,
    /// The host's own network namespace (the predefined `host` network).
    Host,
    /// A namespace with only loopback (the predefined `none` network).
    Null,
}

impl Driver {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    pub driver: Driver,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The bridge device (empty for `host` and `none`).
    pub bridge: String,
    /// The subnets with their gateways, as IPAM settled them.
    pub subnets: Vec<Subnet>,
    pub internal: bool,
    pub ipv6: bool,
    pub attachable: bool,
    /// Driver options as given (`-o`).
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// `bridge`, `host` and `none`: made by the daemon, never removed.
    pub predefined: bool,
}

impl NetworkRecord {
    /// Whether containers on it get the embedded DNS server (user-defined bridges only, as
    /// in Docker: the default bridge resolves no container names).
    pub fn has_embedded_dns(&self) -> bool {
        self.driver == Driver::Bridge && !self.predefined
    }

    /// The MTU given with `-o com.docker.network.driver.mtu=N`.
    pub fn mtu(&self) -> Option<u32> {
        self.options
            .get("com.docker.network.driver.mtu")
            .and_then(|v| v.parse().ok())
    }

    /// Whether outbound traffic is masqueraded
    /// (`com.docker.network.bridge.enable_ip_masquerade`, on unless set to false).
    pub fn masquerade(&self) -> bool {
        self.options
            .get("com.docker.network.bridge.enable_ip_masquerade")
            .is_none_or(|v| v != "false")
    }
}

/// The networks file of a data root.
#[derive(Debug)]
pub struct NetworkStore {
    path: PathBuf,
}

impl NetworkStore {
    /// The store under `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<NetworkStore> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            context: format!("create {}", dir.display()),
            source: e,
        })?;
        Ok(NetworkStore {
            path: dir.join("networks.json"),
        })
    }

    /// The networks saved, none if the file does not exist yet.
    pub fn load(&self) -> Result<Vec<NetworkRecord>> {
        let data = match std::fs::read(&self.path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Io {
                    context: format!("read {}", self.path.display()),
                    source: e,
                })
            }
        };
        serde_json::from_slice(&data).map_err(|e| Error::Io {
            context: format!("parse {}", self.path.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Replaces the saved networks with `networks`, durably.
    pub fn save(&self, networks: &[NetworkRecord]) -> Result<()> {
        let data = serde_json::to_vec_pretty(networks).expect("network records serialise");
        durable::write(&self.path, &data).map_err(|e| Error::Io {
            context: format!("save {}", self.path.display()),
            source: e,
        })
    }
}
