//! Instruction flags (`--from=x`, `--link`, `--mount=…` repeated), checked against what each
//! instruction accepts, with BuildKit's messages.

use std::collections::HashMap;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--x`, `--x=true`, `--x=false`.
    Bool,
    /// `--x=value`, once.
    Str,
    /// `--x=value`, any number of times.
    Strings,
}

/// The flags given to one instruction.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: HashMap<&'static str, Vec<String>>,
}

impl Flags {
    /// Checks `args` (each `--name[=value]`) against `accepted`.
    pub(crate) fn parse(
        args: &[String],
        accepted: &[(&'static str, Kind)],
    ) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for arg in args {
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {arg}"));
            };
            if body.is_empty() {
                break;
            }
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(key, kind)) = accepted.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: {name}"));
            };
            let seen = flags.values.entry(key).or_default();
            if !seen.is_empty() && kind != Kind::Strings {
                return Err(format!("duplicate flag specified: {name}"));
            }
            let value = match (kind, value) {
                (Kind::Bool, Some("")) | (Kind::Str | Kind::Strings, None) => {
                    return Err(format!("missing a value on flag: {name}"));
                }
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => return Err(format!("expecting boolean value for flag {name}, not: {v}")),
                },
                (_, Some(v)) => v.to_string(),
            };
            seen.push(value);
        }
        Ok(flags)
    }

    /// The value of a string flag, if given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.first().cloned())
    }

    /// All values of a repeatable flag.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// A boolean flag: `None` when not given.
    pub(crate) fn boolean(&self, name: &str) -> Option<bool> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(|v| v == "true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Flags::parse(
            &args,
            &[
                ("link", Kind::Bool),
                ("from", Kind::Str),
                ("mount", Kind::Strings),
            ],
        )
    }

    #[test]
    fn values_and_docker_messages() {
        let f = parse(&["--link", "--from=", "--mount=a", "--mount=b"]).unwrap();
        assert_eq!(f.boolean("link"), Some(true));
        assert_eq!(f.string("from").as_deref(), Some(""));
        assert_eq!(f.strings("mount"), ["a", "b"]);
        assert_eq!(
            parse(&["--link=FALSE"]).unwrap().boolean("link"),
            Some(false)
        );
        assert_eq!(parse(&["--chown=1"]).unwrap_err(), "unknown flag: chown");
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            "missing a value on flag: from"
        );
        assert_eq!(
            parse(&["--link="]).unwrap_err(),
            "missing a value on flag: link"
        );
        assert_eq!(
            parse(&["--link=yes"]).unwrap_err(),
            "expecting boolean value for flag link, not: yes"
        );
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            "duplicate flag specified: from"
        );
    }
}
