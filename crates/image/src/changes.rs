//! The Dockerfile instructions `docker import --change` and `docker commit --change` accept,
//! applied to an image's container config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
//! STOPSIGNAL, USER, VOLUME, WORKDIR.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::inspect::ContainerConfig;

fn bad(change: &str, reason: impl Into<String>) -> Error {
    Error::InvalidChange {
        change: change.to_string(),
        reason: reason.into(),
    }
}

/// Splits `KEY=VALUE KEY2="VALUE 2"` (or `KEY VALUE`, one pair) into pairs, with double
/// quotes and backslash escapes as the Dockerfile has them.
fn pairs(change: &str, args: &str) -> Result<Vec<(String, String)>> {
    let words = words(change, args)?;
    if words.len() == 2 && !words[0].contains('=') {
        return Ok(vec![(words[0].clone(), words[1].clone())]);
    }
    if words.is_empty() {
        return Err(bad(change, "needs KEY=VALUE"));
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad(change, format!("{w:?} is not KEY=VALUE"))),
        })
        .collect()
}

/// Splits on unquoted whitespace, removing quotes and escapes.
fn words(change: &str, args: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                let next = chars
                    .next()
                    .ok_or_else(|| bad(change, "ends in a backslash"))?;
                word.get_or_insert_with(String::new).push(next);
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => out.extend(word.take()),
            (c, _) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err(bad(change, "unterminated quote"));
    }
    out.extend(word);
    Ok(out)
}

/// A command in JSON form (`["a", "b"]`) or shell form (`a b` → `/bin/sh -c "a b"`).
fn command(change: &str, args: &str) -> Result<Vec<String>> {
    if args.starts_with('[') {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(args) {
            return Ok(list);
        }
    }
    if args.is_empty() {
        return Err(bad(change, "needs a command"));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), args.into()])
}

/// Applies one `--change` line to `config`.
pub fn apply(config: &mut ContainerConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instruction, args) = change
        .split_once(char::is_whitespace)
        .map_or((change, ""), |(i, a)| (i, a.trim()));
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(command(change, args)?),
        "ENTRYPOINT" => config.entrypoint = Some(command(change, args)?),
        "ENV" => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (key, value) in pairs(change, args)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                env.push(format!("{key}={value}"));
            }
        }
        "LABEL" => {
            let labels = config.labels.get_or_insert_with(Default::default);
            labels.extend(pairs(change, args)?);
        }
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(Default::default);
            for port in words(change, args)? {
                let (number, proto) = port.split_once('/').unwrap_or((&port, "tcp"));
                let valid_proto = matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp");
                if number.parse::<u16>().is_err() || !valid_proto {
                    return Err(bad(change, format!("invalid port {port:?}")));
                }
                ports.insert(
                    format!("{number}/{}", proto.to_ascii_lowercase()),
                    Value::Object(Default::default()),
                );
            }
        }
        "VOLUME" => {
            let list = match serde_json::from_str::<Vec<String>>(args) {
                Ok(list) => list,
                Err(_) => words(change, args)?,
            };
            let volumes = config.volumes.get_or_insert_with(Default::default);
            for volume in list {
                volumes.insert(volume, Value::Object(Default::default()));
            }
        }
        "USER" if !args.is_empty() => config.user = args.to_string(),
        "WORKDIR" if !args.is_empty() => {
            config.working_dir = if args.starts_with('/') || config.working_dir.is_empty() {
                args.to_string()
            } else {
                format!("{}/{args}", config.working_dir.trim_end_matches('/'))
            }
        }
        "ONBUILD" if !args.is_empty() => {
            let trigger = args.split_whitespace().next().unwrap_or("");
            if ["ONBUILD", "FROM", "MAINTAINER"].contains(&trigger.to_ascii_uppercase().as_str()) {
                return Err(bad(change, format!("{trigger} isn't allowed as an ONBUILD trigger")));
            }
            config.on_build.get_or_insert_with(Vec::new).push(args.to_string());
        }
        "STOPSIGNAL" if !args.is_empty() => config.stop_signal = Some(args.to_string()),
        "USER" | "WORKDIR" | "ONBUILD" | "STOPSIGNAL" => {
            return Err(bad(change, "needs an argument"))
        }
        _ => {
            return Err(bad(
                change,
                format!("{instruction} is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR"),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> ContainerConfig {
        let mut config = ContainerConfig::default();
        for c in changes {
            apply(&mut config, c).unwrap();
        }
        config
    }

    #[test]
    fn instructions_set_their_fields() {
        let c = applied(&[
            r#"CMD ["/bin/echo", "hi"]"#,
            "ENTRYPOINT exec me",
            r#"ENV A=1 B="two words""#,
            "ENV A 3",
            r#"LABEL org.x="y z" k=v"#,
            "EXPOSE 80 53/udp",
            "USER 1000:1000",
            "WORKDIR /srv",
            "WORKDIR app",
            "VOLUME /data",
            "ONBUILD RUN make",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(c.cmd.unwrap(), ["/bin/echo", "hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "exec me"]);
        assert_eq!(c.env.unwrap(), ["B=two words", "A=3"]);
        let labels = c.labels.unwrap();
        assert_eq!(
            (labels["org.x"].as_str(), labels["k"].as_str()),
            ("y z", "v")
        );
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp"]);
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.working_dir, "/srv/app");
        assert!(c.volumes.unwrap().contains_key("/data"));
        assert_eq!(c.on_build.unwrap(), ["RUN make"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    }

    #[test]
    fn bad_changes_name_themselves() {
        let mut config = ContainerConfig::default();
        for (change, reason) in [
            ("RUN rm -rf /", "RUN is not one of"),
            ("EXPOSE 99999", "invalid port"),
            ("ENV", "needs KEY=VALUE"),
            ("LABEL a=\"open", "unterminated quote"),
            ("USER", "needs an argument"),
            ("ONBUILD FROM x", "isn't allowed as an ONBUILD trigger"),
        ] {
            let err = apply(&mut config, change).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid change {change:?}")),
                "{err}"
            );
            assert!(err.contains(reason), "{err}");
        }
    }
}
