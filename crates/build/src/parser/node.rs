//! One logical line split into its parts by the per-instruction line parsers (BuildKit's
//! `dispatch` table): JSON or shell form, words, key/value pairs.

use super::ast::{Heredoc, Location};
use super::words::{parse_json, parse_words, split_command, split_ws, Json, NOT_STRING_ARRAY};

/// A logical line, split but not yet given meaning.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The instruction word as written.
    pub cmd: String,
    /// `--flag[=value]` words.
    pub flags: Vec<String>,
    /// The arguments: argv (JSON), `[text]` (shell form), words, or key, value, key, value…
    pub args: Vec<String>,
    /// The arguments were a JSON array.
    pub json: bool,
    /// ONBUILD's trigger.
    pub sub: Option<Box<Node>>,
    /// The logical line.
    pub original: String,
    /// Heredoc bodies, filled in by the scanner.
    pub heredocs: Vec<Heredoc>,
    /// Filled in by the scanner.
    pub location: Location,
}

impl Node {
    /// RUN, COPY and ADD in shell form may introduce heredocs.
    pub(crate) fn can_contain_heredoc(&self) -> bool {
        !self.json
            && matches!(
                self.cmd.to_ascii_lowercase().as_str(),
                "run" | "copy" | "add"
            )
    }
}

/// Splits `line` as the instruction it names would be split.
pub(crate) fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let (cmd, flags, rest) = split_command(line, escape);
    let mut node = Node {
        cmd,
        flags,
        args: Vec::new(),
        json: false,
        sub: None,
        original: line.to_string(),
        heredocs: Vec::new(),
        location: Location {
            start_line: 0,
            end_line: 0,
            column: 0,
        },
    };
    match node.cmd.to_ascii_lowercase().as_str() {
        "run" | "cmd" | "entrypoint" | "shell" => (node.args, node.json) = maybe_json(&rest)?,
        "add" | "copy" | "volume" => (node.args, node.json) = maybe_json_to_list(&rest)?,
        "expose" | "from" => node.args = whitespace_list(&rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => node.args = single(&rest),
        "arg" => node.args = parse_words(&rest, escape),
        "env" => node.args = name_val(&rest, "ENV", escape)?,
        "label" => node.args = name_val(&rest, "LABEL", escape)?,
        "healthcheck" => {
            let typ_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if typ_len > 0 {
                let (cmd, json) = maybe_json(rest[typ_len..].trim_start())?;
                node.args = std::iter::once(rest[..typ_len].to_string())
                    .chain(cmd)
                    .collect();
                node.json = json;
            }
        }
        "onbuild" if !rest.is_empty() => node.sub = Some(Box::new(node_from_line(&rest, escape)?)),
        _ => {}
    }
    Ok(node)
}

fn single(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.to_string()]
    }
}

fn whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_ws(rest, usize::MAX)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// JSON form when `rest` is a JSON array of strings, else one shell-form string.
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest) {
        Json::Strings(v) => Ok((v, true)),
        Json::NotStringArray => Err(NOT_STRING_ARRAY.into()),
        Json::Shell => Ok((vec![rest.to_string()], false)),
    }
}

/// JSON form, else whitespace-separated words.
fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest) {
        Json::Strings(v) => Ok((v, true)),
        Json::NotStringArray => Err(NOT_STRING_ARRAY.into()),
        Json::Shell => Ok((whitespace_list(rest), false)),
    }
}

/// ENV and LABEL: `name value` (legacy: the rest of the line is the value) or
/// `name=value …`; the result alternates names and values.
fn name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].to_string(), parts[1].to_string()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.push(k.to_string());
        out.push(v.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = node_from_line(r#"RUN ["echo", "hi"]"#, '\\').unwrap();
        assert_eq!(
            (n.args, n.json),
            (vec!["echo".to_string(), "hi".to_string()], true)
        );
        let n = node_from_line(r#"CMD ["echo", hi]"#, '\\').unwrap();
        assert_eq!(
            (n.args, n.json),
            (vec![r#"["echo", hi]"#.to_string()], false),
            "invalid JSON is shell form"
        );
        assert_eq!(
            node_from_line(r#"CMD ["a", 1]"#, '\\').unwrap_err(),
            NOT_STRING_ARRAY
        );
        let n = node_from_line("ENV A 1 2  3", '\\').unwrap();
        assert_eq!(n.args, ["A", "1 2  3"]);
        let n = node_from_line(r#"LABEL a="x y" b=2"#, '\\').unwrap();
        assert_eq!(n.args, ["a", "\"x y\"", "b", "2"]);
        assert_eq!(
            node_from_line("ENV A", '\\').unwrap_err(),
            "ENV must have two arguments"
        );
        assert_eq!(
            node_from_line("ENV a=1 b", '\\').unwrap_err(),
            "Syntax error - can't find = in \"b\". Must be of the form: name=value"
        );
        let n = node_from_line("HEALTHCHECK --interval=5s CMD  curl -f x", '\\').unwrap();
        assert_eq!(
            (n.flags, n.args),
            (
                vec!["--interval=5s".to_string()],
                vec!["CMD".to_string(), "curl -f x".to_string()]
            )
        );
    }
}
