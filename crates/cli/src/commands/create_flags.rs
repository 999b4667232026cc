//! The flags of `create` and `run`, and the Engine API create body they make.

use std::collections::BTreeMap;

use berth_api::container_inspect::{EndpointIpamConfig, EndpointSettings};
use berth_api::containers::{
    BindOptions, ContainerConfig, ContainerCreateRequest, DeviceMapping, EmptyObject, HealthConfig,
    HostConfig, Mount, NetworkingConfig, PortBinding, RestartPolicy, TmpfsOptions, Ulimit,
    VolumeDriverConfig, VolumeOptions,
};
use berth_network::ports;
use clap::Args;

use crate::error::{Error, Result};

/// The flags `create` and `run` share.
#[derive(Debug, Args)]
pub struct CreateFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// Time between running the check during the start period
    #[arg(long = "health-start-interval")]
    health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Ulimit options
    #[arg(long)]
    ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Mount a tmpfs directory
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Set meta data on a container
    #[arg(short, long)]
    label: Vec<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    log_driver: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    stop_timeout: Option<i64>,
    /// Runtime to use for this container
    #[arg(long)]
    runtime: Option<String>,
    /// Sysctl options
    #[arg(long)]
    sysctl: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    device: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    group_add: Vec<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Bind mount a volume
    #[arg(short, long)]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    publish: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long)]
    expose: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// The image
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn usage(text: String) -> Error {
    Error::Usage(text)
}

/// `512m`, `1g`, `100k`, `42` (bytes) in bytes, binary units as docker reads them.
pub fn parse_bytes(text: &str) -> Result<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix('b')
        .filter(|s| !s.is_empty())
        .unwrap_or(&lower);
    let (number, unit) = match lower.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => lower.split_at(at),
        None => (lower, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(usage(format!("invalid size: {text:?}"))),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| usage(format!("invalid size: {text:?}")))?;
    Ok((value * (1u64 << shift) as f64) as i64)
}

/// A Go duration (`1m30s`, `500ms`, `2h`) in nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64> {
    let bad = || usage(format!("invalid duration {text:?}"));
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(total as i64)
}

/// `k=v` pairs into a map (`k` alone maps to an empty value).
fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (item.clone(), String::new()),
        })
        .collect()
}

/// `-e NAME` takes NAME from this environment; unset names are left out, as docker does.
fn env_entries(flags: &CreateFlags) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for file in &flags.env_file {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file.clone(), e))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            env.push(line.to_string());
        }
    }
    env.extend(flags.env.iter().cloned());
    Ok(env
        .into_iter()
        .filter_map(|entry| {
            if entry.contains('=') {
                Some(entry)
            } else {
                std::env::var(&entry)
                    .ok()
                    .map(|value| format!("{entry}={value}"))
            }
        })
        .collect())
}

fn restart_policy(text: &str) -> Result<RestartPolicy> {
    let (name, count) = match text.split_once(':') {
        Some((name, count)) => (
            name,
            count
                .parse()
                .map_err(|_| usage(format!("invalid restart policy {text:?}: bad retry count")))?,
        ),
        None => (text, 0),
    };
    if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure") {
        return Err(usage(format!("invalid restart policy {text:?}")));
    }
    if count != 0 && name != "on-failure" {
        return Err(usage(format!(
            "invalid restart policy {text:?}: maximum retry count can only be used with 'on-failure'"
        )));
    }
    Ok(RestartPolicy {
        name: name.to_string(),
        maximum_retry_count: count,
    })
}

fn ulimit(text: &str) -> Result<Ulimit> {
    let bad = || usage(format!("invalid ulimit {text:?}: want name=soft[:hard]"));
    let (name, limits) = text.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    Ok(Ulimit {
        name: name.to_string(),
        soft: soft.parse().map_err(|_| bad())?,
        hard: hard.parse().map_err(|_| bad())?,
    })
}

fn device(text: &str) -> DeviceMapping {
    let mut parts = text.splitn(3, ':');
    let host = parts.next().unwrap_or_default().to_string();
    let container = parts.next().unwrap_or(&host).to_string();
    let permissions = parts.next().unwrap_or("rwm").to_string();
    DeviceMapping {
        path_on_host: host,
        path_in_container: container,
        cgroup_permissions: permissions,
    }
}

/// The volume options of `mount`, made on first use with an empty driver config, as the
/// docker CLI makes them.
fn volume_options(mount: &mut Mount) -> &mut VolumeOptions {
    let options = mount
        .volume_options
        .get_or_insert_with(VolumeOptions::default);
    options
        .driver_config
        .get_or_insert_with(VolumeDriverConfig::default);
    options
}

/// `--mount type=bind,source=/a,target=/b,readonly` into a mount.
fn mount(text: &str) -> Result<Mount> {
    let mut mount = Mount {
        r#type: "volume".into(),
        ..Mount::default()
    };
    for field in text.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, "true"));
        match key {
            "type" => mount.r#type = value.to_string(),
            "source" | "src" => mount.source = value.to_string(),
            "target" | "destination" | "dst" => mount.target = value.to_string(),
            "readonly" | "ro" => mount.read_only = value != "false" && value != "0",
            "bind-propagation" => {
                mount
                    .bind_options
                    .get_or_insert_with(BindOptions::default)
                    .propagation = value.to_string()
            }
            "volume-nocopy" => volume_options(&mut mount).no_copy = value != "false",
            "volume-label" | "volume-opt" => {
                let (name, setting) = value.split_once('=').ok_or_else(|| {
                    usage(format!(
                        "invalid {key} in --mount {text:?}: {value:?} is not KEY=VALUE"
                    ))
                })?;
                let options = volume_options(&mut mount);
                let map = if key == "volume-label" {
                    &mut options.labels
                } else {
                    &mut options
                        .driver_config
                        .get_or_insert_with(VolumeDriverConfig::default)
                        .options
                };
                map.insert(name.to_string(), setting.to_string());
            }
            "volume-driver" => {
                volume_options(&mut mount)
                    .driver_config
                    .get_or_insert_with(VolumeDriverConfig::default)
                    .name = value.to_string()
            }
            "consistency" => mount.consistency = value.to_string(),
            "tmpfs-size" => {
                mount
                    .tmpfs_options
                    .get_or_insert_with(TmpfsOptions::default)
                    .size_bytes = parse_bytes(value)?
            }
            "tmpfs-mode" => {
                mount
                    .tmpfs_options
                    .get_or_insert_with(TmpfsOptions::default)
                    .mode = u32::from_str_radix(value, 8)
                    .map_err(|_| usage(format!("invalid tmpfs-mode in --mount {text:?}")))?
            }
            _ => return Err(usage(format!("unexpected key {key:?} in --mount {text:?}"))),
        }
    }
    if mount.target.is_empty() {
        return Err(usage(format!(
            "invalid --mount {text:?}: target is required"
        )));
    }
    Ok(mount)
}

impl CreateFlags {
    /// The create body these flags ask for; `attach` is false for `create` and `run -d`.
    pub fn request(&self, attach: bool) -> Result<ContainerCreateRequest> {
        let mut config = ContainerConfig {
            hostname: self.hostname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin: attach && self.interactive,
            attach_stdout: attach,
            attach_stderr: attach,
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: attach && self.interactive,
            env: env_entries(self)?,
            cmd: self.command.clone(),
            image: self.image.clone(),
            working_dir: self.workdir.clone().unwrap_or_default(),
            entrypoint: self.entrypoint.as_ref().map(|e| vec![e.clone()]),
            labels: key_values(&self.label),
            stop_signal: self.stop_signal.clone().unwrap_or_default(),
            stop_timeout: self.stop_timeout,
            ..ContainerConfig::default()
        };
        config.healthcheck = self.healthcheck()?;
        let mut host = HostConfig {
            network_mode: self.network.clone().unwrap_or_else(|| "default".into()),
            auto_remove: self.rm,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            publish_all_ports: self.publish_all,
            extra_hosts: self.add_host.clone(),
            group_add: self.group_add.clone(),
            privileged: self.privileged,
            readonly_rootfs: self.read_only,
            security_opt: self.security_opt.clone(),
            sysctls: key_values(&self.sysctl),
            runtime: self.runtime.clone().unwrap_or_default(),
            init: self.init.then_some(true),
            ..HostConfig::default()
        };
        host.log_config.r#type = self.log_driver.clone().unwrap_or_default();
        host.log_config.config = key_values(&self.log_opt);
        if let Some(policy) = &self.restart {
            host.restart_policy = restart_policy(policy)?;
        }
        if self.rm && !matches!(host.restart_policy.name.as_str(), "" | "no") {
            return Err(usage("Conflicting options: --restart and --rm".to_string()));
        }
        for tmpfs in &self.tmpfs {
            let (path, options) = tmpfs.split_once(':').unwrap_or((tmpfs, ""));
            host.tmpfs.insert(path.to_string(), options.to_string());
        }
        if let Some(size) = &self.shm_size {
            host.shm_size = parse_bytes(size)?;
        }
        let resources = &mut host.resources;
        if let Some(memory) = &self.memory {
            resources.memory = parse_bytes(memory)?;
        }
        if let Some(swap) = &self.memory_swap {
            resources.memory_swap = if swap == "-1" { -1 } else { parse_bytes(swap)? };
        }
        if let Some(cpus) = self.cpus {
            resources.nano_cpus = (cpus * 1e9).round() as i64;
        }
        resources.pids_limit = self.pids_limit;
        resources.oom_kill_disable = self.oom_kill_disable.then_some(true);
        resources.ulimits = self
            .ulimit
            .iter()
            .map(|u| ulimit(u))
            .collect::<Result<_>>()?;
        resources.devices = self.device.iter().map(|d| device(d)).collect();
        for volume in &self.volume {
            if volume.contains(':') {
                host.binds.push(volume.clone());
            } else {
                config.volumes.insert(volume.clone(), EmptyObject {});
            }
        }
        host.mounts = self.mount.iter().map(|m| mount(m)).collect::<Result<_>>()?;
        host.volumes_from = self.volumes_from.clone();
        // Docker's port syntax, ranges split into single ports, as docker's client does.
        for spec in &self.expose {
            for key in ports::parse_expose(spec).map_err(|e| usage(e.to_string()))? {
                config.exposed_ports.insert(key, EmptyObject {});
            }
        }
        for spec in &self.publish {
            for (key, binding) in ports::parse_publish(spec).map_err(|e| usage(e.to_string()))? {
                config.exposed_ports.insert(key.clone(), EmptyObject {});
                host.port_bindings
                    .entry(key)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: binding.host_ip,
                        host_port: binding.host_port,
                    });
            }
        }
        let networking_config = self.networking_config(&host.network_mode);
        Ok(ContainerCreateRequest {
            config,
            host_config: host,
            networking_config,
        })
    }

    /// The endpoint settings on the container's network (`--network-alias`, `--ip`, `--ip6`,
    /// `--mac-address`), as docker sends them: only when one of them is given.
    fn networking_config(&self, network_mode: &str) -> NetworkingConfig {
        let mut networking = NetworkingConfig::default();
        if self.network_alias.is_empty()
            && self.ip.is_none()
            && self.ip6.is_none()
            && self.mac_address.is_none()
        {
            return networking;
        }
        let ipam_config = (self.ip.is_some() || self.ip6.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: self.ip.clone().unwrap_or_default(),
            ipv6_address: self.ip6.clone().unwrap_or_default(),
            ..EndpointIpamConfig::default()
        });
        networking.endpoints_config.insert(
            network_mode.to_string(),
            EndpointSettings {
                ipam_config,
                aliases: self.network_alias.clone(),
                mac_address: self.mac_address.clone().unwrap_or_default(),
                ..EndpointSettings::default()
            },
        );
        networking
    }

    fn healthcheck(&self) -> Result<Option<HealthConfig>> {
        if self.no_healthcheck {
            if self.health_cmd.is_some() {
                return Err(usage(
                    "--no-healthcheck conflicts with --health-* options".to_string(),
                ));
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..HealthConfig::default()
            }));
        }
        let duration = |d: &Option<String>| d.as_deref().map(parse_duration).transpose();
        let health = HealthConfig {
            test: self
                .health_cmd
                .as_ref()
                .map(|cmd| vec!["CMD-SHELL".to_string(), cmd.clone()])
                .unwrap_or_default(),
            interval: duration(&self.health_interval)?.unwrap_or(0),
            timeout: duration(&self.health_timeout)?.unwrap_or(0),
            retries: self.health_retries.unwrap_or(0),
            start_period: duration(&self.health_start_period)?.unwrap_or(0),
            start_interval: duration(&self.health_start_interval)?.unwrap_or(0),
        };
        Ok((health != HealthConfig::default()).then_some(health))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_dockers() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("8MB").unwrap(), 8 << 20);
        assert!(parse_bytes("12x").is_err());
        assert_eq!(parse_duration("5s").unwrap(), 5_000_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("250ms").unwrap(), 250_000_000);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn policies_and_mounts_parse() {
        // (Port specs are berth-network's ports module, tested there.)
        assert_eq!(
            restart_policy("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert!(restart_policy("always:3").is_err());
        assert!(restart_policy("sometimes").is_err());
        let m = mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            (
                m.r#type.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("bind", "/a", "/b", true)
        );
        assert!(mount("type=bind,source=/a").is_err());
        assert_eq!(ulimit("nofile=1024:2048").unwrap().hard, 2048);
    }
}
