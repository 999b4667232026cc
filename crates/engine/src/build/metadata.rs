//! The instructions that only change an image's configuration (ENV, LABEL, CMD, …): how
//! each changes it and the history comment dockerd's legacy builder records for it.

use berth_build::parser::{Command, CommandLine, Healthcheck};
use berth_image::inspect::ContainerConfig as ImageConfig;
use serde_json::{json, Value};

use super::{BuildError, BuildResult};

/// The build arg that makes a build reproducible, BuildKit's convention: every image and
/// history entry the build makes is dated at this epoch and its layers' modification times
/// are capped at it. It needs no ARG.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The build's `SOURCE_DATE_EPOCH` from its build args, if set (an empty value counts as
/// unset, as BuildKit reads it).
pub fn source_date_epoch(
    build_args: &std::collections::BTreeMap<String, Option<String>>,
) -> BuildResult<Option<i64>> {
    match build_args.get(SOURCE_DATE_EPOCH).cloned().flatten() {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => value
            .parse::<i64>()
            .ok()
            .filter(|secs| *secs >= 0)
            .map(Some)
            .ok_or_else(|| {
                BuildError::Invalid(format!(
                    "invalid SOURCE_DATE_EPOCH: {value:?} (want Unix seconds)"
                ))
            }),
    }
}

/// The `PATH` of a stage whose base image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a stage carries between instructions besides its image's configuration.
#[derive(Debug, Clone)]
pub struct StageState {
    /// SHELL, for shell-form commands.
    pub shell: Vec<String>,
    /// Whether this stage set CMD (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// MAINTAINER.
    pub author: String,
}

impl StageState {
    /// The state at a stage's FROM, from its base image's configuration, which gets the
    /// default `PATH` if it has none (as dockerd's builder gives it).
    pub fn from_base(config: &mut ImageConfig) -> Self {
        let env = config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        StageState {
            shell: config
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]),
            cmd_set: false,
            author: String::new(),
        }
    }

    /// The argv of a command line: exec form as is, shell form through SHELL.
    pub fn argv(&self, line: &CommandLine) -> Vec<String> {
        if line.prepend_shell {
            let mut argv = self.shell.clone();
            argv.push(line.args.join(" "));
            argv
        } else {
            line.args.clone()
        }
    }
}

/// A list as Go's `%q` prints a `[]string`: `["/bin/sh" "-c" "echo hi"]`.
pub fn go_quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).expect("strings serialise"))
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// Sets `key=value` in `env`, replacing an earlier value of `key`.
pub fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(old) => *old = entry,
        None => env.push(entry),
    }
}

/// Applies the configuration instruction `command` (already expanded) and returns its history
/// comment (`CMD ["sh"]`). `workdir` resolves a relative WORKDIR. None for an instruction
/// that is not a configuration change.
pub fn apply(
    config: &mut ImageConfig,
    state: &mut StageState,
    command: &Command,
) -> BuildResult<Option<String>> {
    Ok(Some(match command {
        Command::Env { pairs } => {
            let env = config.env.get_or_insert_with(Vec::new);
            let mut comment = "ENV".to_string();
            for pair in pairs {
                set_env(env, &pair.key, &pair.value);
                comment.push_str(&format!(" {}={}", pair.key, pair.value));
            }
            comment
        }
        Command::Label { pairs } => {
            let labels = config.labels.get_or_insert_with(Default::default);
            let mut comment = "LABEL".to_string();
            for pair in pairs {
                labels.insert(pair.key.clone(), pair.value.clone());
                comment.push_str(&format!(" {}={}", pair.key, pair.value));
            }
            comment
        }
        Command::Workdir { path } => {
            config.working_dir = resolve_workdir(&config.working_dir, path);
            format!("WORKDIR {}", config.working_dir)
        }
        Command::User { user } => {
            config.user = user.clone();
            format!("USER {user}")
        }
        Command::Cmd(line) => {
            let argv = state.argv(line);
            state.cmd_set = true;
            let comment = format!("CMD {}", go_quoted(&argv));
            config.cmd = Some(argv);
            comment
        }
        Command::Entrypoint(line) => {
            let argv = state.argv(line);
            if !state.cmd_set {
                config.cmd = None;
            }
            let comment = format!("ENTRYPOINT {}", go_quoted(&argv));
            config.entrypoint = Some(argv);
            comment
        }
        Command::Expose { ports } => {
            let exposed = config.exposed_ports.get_or_insert_with(Default::default);
            for port in ports {
                for key in port_keys(port)? {
                    exposed.insert(key, json!({}));
                }
            }
            // dockerd's history lists the ports as written, sorted as strings.
            let mut words = ports.clone();
            words.sort();
            format!("EXPOSE {}", words.join(" "))
        }
        Command::Volume { paths } => {
            let volumes = config.volumes.get_or_insert_with(Default::default);
            for path in paths {
                if path.trim().is_empty() {
                    return Err(BuildError::Invalid(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                volumes.insert(path.clone(), json!({}));
            }
            format!("VOLUME [{}]", paths.join(" "))
        }
        Command::Stopsignal { signal } => {
            config.stop_signal = Some(signal.clone());
            format!("STOPSIGNAL {signal}")
        }
        Command::Healthcheck(Healthcheck::None) => {
            config.healthcheck = Some(json!({"Test": ["NONE"]}));
            "HEALTHCHECK NONE".to_string()
        }
        Command::Healthcheck(Healthcheck::Cmd(check)) => {
            let mut value = json!({ "Test": check.test });
            for (key, ns) in [
                ("Interval", check.interval),
                ("Timeout", check.timeout),
                ("StartPeriod", check.start_period),
                ("StartInterval", check.start_interval),
                ("Retries", check.retries),
            ] {
                if ns != 0 {
                    value[key] = Value::from(ns);
                }
            }
            config.healthcheck = Some(value);
            format!("HEALTHCHECK {}", go_quoted(&check.test))
        }
        Command::Shell { shell } => {
            state.shell = shell.clone();
            config.shell = Some(shell.clone());
            format!("SHELL [{}]", shell.join(" "))
        }
        Command::Onbuild(onbuild) => {
            config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(onbuild.expression.clone());
            format!("ONBUILD {}", onbuild.expression)
        }
        Command::Maintainer { name } => {
            state.author = name.clone();
            format!("MAINTAINER {name}")
        }
        Command::Arg { args } => {
            let mut comment = "ARG".to_string();
            for arg in args {
                comment.push(' ');
                comment.push_str(&arg.name);
                if let Some(default) = &arg.default {
                    comment.push_str(&format!("={default}"));
                }
            }
            comment
        }
        Command::Run(_) | Command::Copy(_) | Command::Add(_) => return Ok(None),
    }))
}

/// `path` made absolute against the current working directory, cleaned.
pub fn resolve_workdir(current: &str, path: &str) -> String {
    if path.starts_with('/') {
        crate::containers::mount_plan::clean(path)
    } else {
        crate::containers::mount_plan::clean(&format!("{current}/{path}"))
    }
}

/// The `ExposedPorts` keys of an EXPOSE word: `80` → `80/tcp`, `53/udp`, `8000-8001`.
fn port_keys(word: &str) -> BuildResult<Vec<String>> {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let bad = || BuildError::Invalid(format!("invalid containerPort: {ports}"));
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
        None => (ports.parse::<u16>(), ports.parse::<u16>()),
    };
    let (start, end) = (start.map_err(|_| bad())?, end.map_err(|_| bad())?);
    if end < start {
        return Err(bad());
    }
    Ok((start..=end)
        .map(|p| format!("{p}/{}", proto.to_ascii_lowercase()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lists_are_quoted_as_go_prints_them() {
        assert_eq!(
            go_quoted(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
    }

    #[test]
    fn source_date_epoch_is_unix_seconds() {
        let args = |v: Option<&str>| {
            std::collections::BTreeMap::from([(SOURCE_DATE_EPOCH.to_string(), v.map(String::from))])
        };
        assert_eq!(
            source_date_epoch(&args(Some("1700000000"))).unwrap(),
            Some(1_700_000_000)
        );
        assert_eq!(source_date_epoch(&args(Some(""))).unwrap(), None);
        assert_eq!(source_date_epoch(&args(None)).unwrap(), None);
        assert_eq!(source_date_epoch(&Default::default()).unwrap(), None);
        for bad in ["yesterday", "-1", "1.5"] {
            let err = source_date_epoch(&args(Some(bad))).unwrap_err().to_string();
            assert!(err.contains("invalid SOURCE_DATE_EPOCH"), "{err}");
        }
    }

    #[test]
    fn workdirs_and_ports() {
        assert_eq!(resolve_workdir("/app", "sub/../x"), "/app/x");
        assert_eq!(resolve_workdir("", "app"), "/app");
        assert_eq!(resolve_workdir("/a", "/b/"), "/b");
        assert_eq!(port_keys("80").unwrap(), ["80/tcp"]);
        assert_eq!(port_keys("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(port_keys("8000-8001").unwrap(), ["8000/tcp", "8001/tcp"]);
        assert!(port_keys("http").is_err());
    }
}
