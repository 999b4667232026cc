//! Giving a node its meaning: each instruction's arguments and flags checked and typed, with
//! the messages of BuildKit's `instructions` package.

use super::ast::{
    Add, ArgDecl, Command, CommandLine, Copy, HealthConfig, Healthcheck, Instruction, KeyValue,
    Onbuild, Run, RunMount,
};
use super::duration::parse_duration;
use super::flags::{Flags, Kind};
use super::heredoc;
use super::mount::parse_mount;
use super::node::Node;

/// What a FROM line says: base, stage name, platform.
pub(crate) struct From {
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// Reads a FROM node.
pub(crate) fn from(node: &Node) -> Result<From, String> {
    let flags = Flags::parse(&node.flags, &[("platform", Kind::Str)])?;
    let a = &node.args;
    let name = match a.len() {
        1 => None,
        3 if a[1].eq_ignore_ascii_case("as") => {
            let name = a[2].to_ascii_lowercase();
            let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(format!("invalid name for build stage: {:?}, name can't start with a number or contain symbols", a[2]));
            }
            Some(name)
        }
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    Ok(From {
        base: a[0].clone(),
        name,
        platform: flags.string("platform"),
    })
}

/// Reads any instruction but FROM. `Err` carries Docker's message.
pub(crate) fn instruction(node: &Node) -> Result<Instruction, String> {
    let upper = node.cmd.to_ascii_uppercase();
    let no_flags = || Flags::parse(&node.flags, &[]);
    let args = &node.args;
    let exactly_one = |what: &str| -> Result<String, String> {
        no_flags()?;
        match args.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(format!("{what} requires exactly one argument")),
        }
    };
    let command = match upper.as_str() {
        "RUN" => run(node)?,
        "CMD" => {
            no_flags()?;
            Command::Cmd(command_line(node))
        }
        "ENTRYPOINT" => {
            no_flags()?;
            Command::Entrypoint(command_line(node))
        }
        "COPY" => copy(node)?,
        "ADD" => add(node)?,
        "ENV" => Command::Env {
            pairs: pairs(node, "ENV")?,
        },
        "LABEL" => Command::Label {
            pairs: pairs(node, "LABEL")?,
        },
        "ARG" => arg(node)?,
        "WORKDIR" => Command::Workdir {
            path: exactly_one("WORKDIR")?,
        },
        "USER" => Command::User {
            user: exactly_one("USER")?,
        },
        "STOPSIGNAL" => Command::Stopsignal {
            signal: exactly_one("STOPSIGNAL")?,
        },
        "MAINTAINER" => Command::Maintainer {
            name: exactly_one("MAINTAINER")?,
        },
        "EXPOSE" => {
            no_flags()?;
            at_least_one(args, "EXPOSE")?;
            Command::Expose {
                ports: args.clone(),
            }
        }
        "VOLUME" => {
            no_flags()?;
            at_least_one(args, "VOLUME")?;
            if args.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Command::Volume {
                paths: args.clone(),
            }
        }
        "SHELL" => {
            no_flags()?;
            at_least_one(args, "SHELL")?;
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Command::Shell {
                shell: args.clone(),
            }
        }
        "HEALTHCHECK" => Command::Healthcheck(healthcheck(node)?),
        "ONBUILD" => onbuild(node)?,
        _ => return Err(format!("unknown instruction: {}", node.cmd)),
    };
    Ok(Instruction {
        command,
        original: node.original.clone(),
        location: node.location,
    })
}

fn at_least_one(args: &[String], what: &str) -> Result<(), String> {
    if args.is_empty() {
        return Err(format!("{what} requires at least one argument"));
    }
    Ok(())
}

fn command_line(node: &Node) -> CommandLine {
    CommandLine {
        args: node.args.clone(),
        prepend_shell: !node.json,
        heredocs: node.heredocs.clone(),
    }
}

fn run(node: &Node) -> Result<Command, String> {
    let flags = Flags::parse(
        &node.flags,
        &[
            ("mount", Kind::Strings),
            ("network", Kind::Str),
            ("security", Kind::Str),
        ],
    )?;
    let mut mounts = Vec::new();
    for spec in flags.strings("mount") {
        // Values that use variables are parsed once expanded, at build time.
        let mount = if spec.contains('$') {
            None
        } else {
            Some(parse_mount(&spec, &|v| Ok(v.to_string()))?)
        };
        if let Some(from) = spec.split(',').find_map(|f| f.strip_prefix("from=")) {
            if from.find('$').is_some_and(|i| i + 1 != from.len()) {
                return Err(
                    "'from' doesn't support variable expansion, define alias stage instead".into(),
                );
            }
        }
        mounts.push(RunMount { spec, mount });
    }
    if let Some(n) = flags.string("network") {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(format!("unsupported network mode {n:?}"));
        }
    }
    if let Some(s) = flags.string("security") {
        if !matches!(s.as_str(), "sandbox" | "insecure") {
            return Err(format!("unsupported security mode {s:?}"));
        }
    }
    Ok(Command::Run(Run {
        command: command_line(node),
        mounts,
        network: flags.string("network"),
        security: flags.string("security"),
    }))
}

/// Sources, heredoc sources and destination of COPY and ADD.
fn sources(
    node: &Node,
    what: &str,
) -> Result<(Vec<String>, Vec<super::ast::Heredoc>, String), String> {
    let Some((dest, srcs)) = node.args.split_last().filter(|_| node.args.len() >= 2) else {
        return Err(format!("{what} requires at least two arguments, but only one was provided. Destination could not be determined"));
    };
    if !node.json && heredoc::parse_word(dest)?.is_some() {
        return Err(format!("{what} cannot accept a heredoc as a destination"));
    }
    let mut paths = Vec::new();
    let mut docs = Vec::new();
    for src in srcs {
        match if node.json {
            None
        } else {
            heredoc::parse_word(src)?
        } {
            Some(head) => {
                let body = node.heredocs.iter().find(|h| h.name == head.name);
                let mut doc = body.cloned().unwrap_or(super::ast::Heredoc {
                    name: head.name.clone(),
                    content: String::new(),
                    expand: head.expand,
                    chomp: head.chomp,
                    fd: head.fd,
                });
                (doc.expand, doc.chomp) = (head.expand, head.chomp);
                docs.push(doc);
            }
            None => paths.push(src.clone()),
        }
    }
    Ok((paths, docs, dest.clone()))
}

fn copy(node: &Node) -> Result<Command, String> {
    let flags = Flags::parse(
        &node.flags,
        &[
            ("chown", Kind::Str),
            ("from", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("exclude", Kind::Strings),
            ("parents", Kind::Bool),
        ],
    )?;
    let (sources, heredocs, dest) = sources(node, "COPY")?;
    let empty: std::collections::HashMap<String, String> = Default::default();
    let lexer = crate::expand::Lexer::new('\\');
    if flags
        .string("from")
        .is_some_and(|f| lexer.process_word(&f, &empty).as_ref() != Ok(&f))
    {
        return Err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into());
    }
    Ok(Command::Copy(Copy {
        sources,
        heredocs,
        dest,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.boolean("link").unwrap_or(false),
        parents: flags.boolean("parents").unwrap_or(false),
        exclude: flags.strings("exclude"),
    }))
}

fn add(node: &Node) -> Result<Command, String> {
    let flags = Flags::parse(
        &node.flags,
        &[
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::Str),
            ("unpack", Kind::Bool),
            ("exclude", Kind::Strings),
        ],
    )?;
    let (sources, heredocs, dest) = sources(node, "ADD")?;
    Ok(Command::Add(Add {
        sources,
        heredocs,
        dest,
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.boolean("link").unwrap_or(false),
        keep_git_dir: flags.boolean("keep-git-dir"),
        checksum: flags.string("checksum"),
        unpack: flags.boolean("unpack"),
        exclude: flags.strings("exclude"),
    }))
}

fn pairs(node: &Node, what: &str) -> Result<Vec<KeyValue>, String> {
    Flags::parse(&node.flags, &[])?;
    at_least_one(&node.args, what)?;
    if !node.args.len().is_multiple_of(2) {
        return Err(format!("Bad input to {what}, too many arguments"));
    }
    node.args
        .chunks(2)
        .map(|kv| {
            if kv[0].is_empty() {
                return Err(format!("{what} names can not be blank"));
            }
            Ok(KeyValue {
                key: kv[0].clone(),
                value: kv[1].clone(),
            })
        })
        .collect()
}

fn arg(node: &Node) -> Result<Command, String> {
    Flags::parse(&node.flags, &[])?;
    at_least_one(&node.args, "ARG")?;
    let args = node
        .args
        .iter()
        .map(|a| match a.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((n, v)) => Ok(ArgDecl {
                name: n.to_string(),
                default: Some(v.to_string()),
            }),
            None => Ok(ArgDecl {
                name: a.clone(),
                default: None,
            }),
        })
        .collect::<Result<_, _>>()?;
    Ok(Command::Arg { args })
}

fn healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let Some(first) = node.args.first() else {
        return Err("HEALTHCHECK requires at least one argument".into());
    };
    let typ = first.to_ascii_uppercase();
    let rest = &node.args[1..];
    if typ == "NONE" {
        Flags::parse(&node.flags, &[])?;
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let names = [
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ];
    let flags = Flags::parse(&node.flags, &names.map(|n| (n, Kind::Str)))?;
    if typ != "CMD" {
        return Err(format!("Unknown type {first:?} in HEALTHCHECK (try CMD)"));
    }
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let head = if node.json { "CMD" } else { "CMD-SHELL" };
    let interval = |name: &str| -> Result<i64, String> {
        let Some(v) = flags.string(name).filter(|v| !v.is_empty()) else {
            return Ok(0);
        };
        match parse_duration(&v)? {
            0 => Ok(0),
            d if d < 1_000_000 => Err(format!("Interval {name:?} cannot be less than 1ms")),
            d => Ok(d),
        }
    };
    let retries = match flags.string("retries").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => {
            let n: i32 = v
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            i64::from(n)
        }
    };
    Ok(Healthcheck::Cmd(HealthConfig {
        test: std::iter::once(head.to_string())
            .chain(rest.iter().cloned())
            .collect(),
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    }))
}

fn onbuild(node: &Node) -> Result<Command, String> {
    Flags::parse(&node.flags, &[])?;
    let Some(sub) = &node.sub else {
        return Err("ONBUILD requires at least one argument".into());
    };
    match sub.cmd.to_ascii_uppercase().as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        t @ ("MAINTAINER" | "FROM") => {
            return Err(format!("{t} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    let mut sub = (**sub).clone();
    sub.location = node.location;
    let trigger = instruction(&sub)?;
    Ok(Command::Onbuild(Onbuild {
        expression: sub.original.clone(),
        trigger: Box::new(trigger),
    }))
}
