//! Which arguments of which instructions Docker expands, and expanding them.

use super::{Env, ExpandError, Lexer};
use crate::parser::{parse_mount, Command, Instruction, KeyValue, RunMount, Stage};

/// Whether the builder substitutes variables in some argument of `command` (ADD, ARG, COPY,
/// ENV, EXPOSE, LABEL, RUN's `--mount` values, STOPSIGNAL, USER, VOLUME, WORKDIR). CMD,
/// ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD are stored as written, and a RUN
/// command line is left to the shell. FROM is expanded by [`expand_from`].
pub fn expands(command: &Command) -> bool {
    match command {
        Command::Run(r) => !r.mounts.is_empty(),
        Command::Copy(_)
        | Command::Add(_)
        | Command::Env { .. }
        | Command::Arg { .. }
        | Command::Workdir { .. }
        | Command::User { .. }
        | Command::Expose { .. }
        | Command::Label { .. }
        | Command::Volume { .. }
        | Command::Stopsignal { .. } => true,
        Command::Cmd(_)
        | Command::Entrypoint(_)
        | Command::Healthcheck(_)
        | Command::Shell { .. }
        | Command::Onbuild(_)
        | Command::Maintainer { .. } => false,
    }
}

/// A stage's base image and `--platform` with the global ARGs substituted.
pub fn expand_from(
    stage: &Stage,
    lexer: &Lexer,
    global_args: &dyn Env,
) -> Result<(String, Option<String>), ExpandError> {
    let base = lexer.process_word(&stage.base, global_args)?;
    let platform = stage
        .platform
        .as_deref()
        .map(|p| lexer.process_word(p, global_args))
        .transpose()?;
    Ok((base, platform))
}

/// `instruction` with its expandable arguments substituted from `env` (the stage's ENV and
/// declared ARGs): each argument is one word — quotes removed, escapes applied, whitespace
/// kept. `COPY --from` is not expanded: the parser refuses variables there, as BuildKit does. The bodies of COPY/ADD heredocs with an unquoted delimiter are expanded with
/// [`Lexer::heredoc`]; `RUN --mount` specs are parsed once expanded. `original` and the
/// location are kept, so a cache key can use either form.
pub fn expand_instruction(
    instruction: &Instruction,
    lexer: &Lexer,
    env: &dyn Env,
) -> Result<Instruction, ExpandError> {
    let word = |w: &String| lexer.process_word(w, env);
    let words = |ws: &[String]| ws.iter().map(word).collect::<Result<Vec<_>, _>>();
    let opt = |w: &Option<String>| w.as_ref().map(word).transpose();
    let pairs = |ps: &[KeyValue]| {
        ps.iter()
            .map(|p| {
                Ok(KeyValue {
                    key: word(&p.key)?,
                    value: word(&p.value)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let heredocs = |docs: &[crate::parser::Heredoc]| {
        docs.iter()
            .map(|d| {
                let mut d = d.clone();
                if d.expand {
                    d.content = Lexer::heredoc().process_word(&d.content, env)?;
                }
                Ok(d)
            })
            .collect::<Result<Vec<_>, ExpandError>>()
    };
    let mut out = instruction.clone();
    match &mut out.command {
        Command::Run(run) => {
            for m in &mut run.mounts {
                let expand = |v: &str| lexer.process_word(v, env).map_err(|e| e.to_string());
                let parsed = parse_mount(&m.spec, &expand).map_err(|message| ExpandError {
                    word: m.spec.clone(),
                    message,
                })?;
                *m = RunMount {
                    spec: m.spec.clone(),
                    mount: Some(parsed),
                };
            }
        }
        Command::Copy(c) => {
            c.sources = words(&c.sources)?;
            c.heredocs = heredocs(&c.heredocs)?;
            c.dest = word(&c.dest)?;
            c.chown = opt(&c.chown)?;
            c.chmod = opt(&c.chmod)?;
        }
        Command::Add(a) => {
            a.sources = words(&a.sources)?;
            a.heredocs = heredocs(&a.heredocs)?;
            a.dest = word(&a.dest)?;
            a.chown = opt(&a.chown)?;
            a.chmod = opt(&a.chmod)?;
            a.checksum = opt(&a.checksum)?;
        }
        Command::Env { pairs: p } | Command::Label { pairs: p } => *p = pairs(p)?,
        Command::Arg { args } => {
            for a in args {
                a.name = word(&a.name)?;
                a.default = opt(&a.default)?;
            }
        }
        Command::Workdir { path: w }
        | Command::User { user: w }
        | Command::Stopsignal { signal: w } => *w = word(w)?,
        Command::Expose { ports: v } | Command::Volume { paths: v } => *v = words(v)?,
        Command::Cmd(_)
        | Command::Entrypoint(_)
        | Command::Healthcheck(_)
        | Command::Shell { .. }
        | Command::Onbuild(_)
        | Command::Maintainer { .. } => {}
    }
    Ok(out)
}
