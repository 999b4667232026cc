//! The query of `POST /build`, from the flags as the docker CLI converts them: tags checked
//! as references, `--build-arg K` taking its value from the environment, maps sent as JSON.

use std::collections::BTreeMap;

use serde_json::json;

use super::BuildArgs;
use crate::client::escape;
use crate::commands::create_flags::parse_bytes;
use crate::commands::key_value_flags;
use crate::error::{Error, Result};

/// The query parameters, in order.
pub struct Query {
    pairs: Vec<(&'static str, String)>,
}

impl Query {
    /// The parameters the flags give (the Dockerfile and remote come later).
    pub fn from_args(args: &BuildArgs) -> Result<Query> {
        let mut q = Query { pairs: Vec::new() };
        for tag in &args.tag {
            validate_tag(tag)?;
            q.add("t", tag.clone());
        }
        for opt in &args.security_opt {
            q.add("securityopt", opt.clone());
        }
        for host in &args.add_host {
            if !host.contains(':') {
                return Err(flag_error(
                    host,
                    "--add-host",
                    &format!("bad format for add-host: {host:?}"),
                ));
            }
            q.add("extrahosts", host.clone());
        }
        if args.quiet {
            q.add("q", "1".into());
        }
        if args.no_cache {
            q.add("nocache", "1".into());
        }
        q.add("rm", if args.rm { "1" } else { "0" }.into());
        if args.force_rm {
            q.add("forcerm", "1".into());
        }
        if args.pull {
            q.add("pull", "1".into());
        }
        if let Some(isolation) = &args.isolation {
            q.add("isolation", isolation.clone());
        }
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        q.add("cpusetcpus", text(&args.cpuset_cpus));
        q.add("cpusetmems", text(&args.cpuset_mems));
        q.add("cpushares", args.cpu_shares.unwrap_or(0).to_string());
        q.add("cpuquota", args.cpu_quota.unwrap_or(0).to_string());
        q.add("cpuperiod", args.cpu_period.unwrap_or(0).to_string());
        q.add("memory", bytes(&args.memory, "-m, --memory")?.to_string());
        let swap = match args.memory_swap.as_deref() {
            Some("-1") => -1,
            _ => bytes(&args.memory_swap, "--memory-swap")?,
        };
        q.add("memswap", swap.to_string());
        q.add("cgroupparent", text(&args.cgroup_parent));
        q.add("shmsize", bytes(&args.shm_size, "--shm-size")?.to_string());
        q.add("networkmode", args.network.clone());
        q.add("buildargs", json!(build_args(&args.build_arg)?).to_string());
        q.add(
            "labels",
            json!(key_value_flags(&args.label, "label")?).to_string(),
        );
        q.add("cachefrom", json!(args.cache_from).to_string());
        if let Some(platform) = &args.platform {
            q.add("platform", platform.to_lowercase());
        }
        if let Some(target) = &args.target {
            q.add("target", target.clone());
        }
        q.add("version", "1".into());
        Ok(q)
    }

    fn add(&mut self, key: &'static str, value: String) {
        self.pairs.push((key, value));
    }

    /// The Dockerfile's path in the context.
    pub fn dockerfile(&mut self, path: &str) {
        self.add("dockerfile", path.to_string());
    }

    /// A context the daemon fetches itself, and the Dockerfile's path in it.
    pub fn remote(&mut self, url: &str, dockerfile: Option<&str>) {
        self.add("remote", url.to_string());
        if let Some(file) = dockerfile {
            self.dockerfile(file);
        }
    }

    /// `k=v&…`, escaped.
    pub fn encode(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn bytes(value: &Option<String>, flag: &str) -> Result<i64> {
    match value {
        None => Ok(0),
        Some(text) => parse_bytes(text).map_err(|_| {
            flag_error(
                text,
                flag,
                &format!("invalid size: {}", serde_json::json!(text)),
            )
        }),
    }
}

/// Docker's words for a flag value it refuses at parse time.
fn flag_error(value: &str, flag: &str, why: &str) -> Error {
    Error::Usage(format!(
        "invalid argument {value:?} for \"{flag}\" flag: {why}\nSee 'berth build --help'."
    ))
}

/// Checks `-t` as the docker CLI does (`reference.ParseNormalizedNamed`).
fn validate_tag(tag: &str) -> Result<()> {
    if tag.parse::<berth_image::Reference>().is_ok() {
        return Ok(());
    }
    let name = tag.split('@').next().unwrap_or(tag);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let repository = match name[last_slash..].rfind(':') {
        Some(i) => &name[..last_slash + i],
        None => name,
    };
    let why = if !repository.is_empty()
        && repository.bytes().any(|b| b.is_ascii_uppercase())
        && repository
            .to_lowercase()
            .parse::<berth_image::Reference>()
            .is_ok()
    {
        let familiar = if repository.contains('/') {
            repository.to_string()
        } else {
            format!("library/{repository}")
        };
        format!("invalid reference format: repository name ({familiar}) must be lowercase")
    } else {
        "invalid reference format".to_string()
    };
    Err(flag_error(tag, "-t, --tag", &why))
}

/// `--build-arg`: `K=V`, or `K` alone taking `$K` when it is set, else sent as null (the
/// Dockerfile's default applies).
fn build_args(flags: &[String]) -> Result<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    for flag in flags {
        match flag.split_once('=') {
            Some(("", _)) => {
                return Err(flag_error(
                    flag,
                    "--build-arg",
                    &format!("invalid environment variable: {flag}"),
                ))
            }
            Some((k, v)) => {
                out.insert(k.to_string(), Some(v.to_string()));
            }
            None if flag.is_empty() => {
                return Err(flag_error(
                    flag,
                    "--build-arg",
                    "invalid environment variable: ",
                ))
            }
            None => {
                out.insert(flag.clone(), std::env::var(flag).ok());
            }
        }
    }
    // As buildx does: a SOURCE_DATE_EPOCH in the environment is the build arg of that name
    // (which makes the build reproducible) unless a flag gives one.
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        out.entry("SOURCE_DATE_EPOCH".to_string())
            .or_insert(Some(epoch));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_with_dockers_words() {
        assert!(validate_tag("app").is_ok());
        assert!(validate_tag("127.0.0.1:5000/a/b:1.0").is_ok());
        let err = validate_tag("Bad:x").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid argument \"Bad:x\" for \"-t, --tag\" flag: invalid reference format: \
                 repository name (library/Bad) must be lowercase"
            ),
            "{err}"
        );
        let err = validate_tag("a:b:c").unwrap_err().to_string();
        assert!(err.contains("flag: invalid reference format\n"), "{err}");
    }

    #[test]
    fn build_args_take_the_environment_or_null() {
        std::env::set_var("BERTH_TEST_BUILD_ARG", "from-env");
        let args = build_args(&[
            "A=1".into(),
            "B=".into(),
            "BERTH_TEST_BUILD_ARG".into(),
            "BERTH_TEST_UNSET_ARG".into(),
        ])
        .unwrap();
        assert_eq!(
            json!(args).to_string(),
            r#"{"A":"1","B":"","BERTH_TEST_BUILD_ARG":"from-env","BERTH_TEST_UNSET_ARG":null}"#
        );
        assert!(build_args(&["=x".into()]).is_err());
    }
}
