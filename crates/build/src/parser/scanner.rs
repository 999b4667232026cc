//! From text to logical lines ("nodes"): parser directives, comments, line continuations and
//! heredoc bodies, following BuildKit's `parser.Parse` line by line.

use super::ast::{Directives, Heredoc, Location, Warning};
use super::heredoc;
use super::node::{node_from_line, Node};

/// An error before a position is attached: message, line, column.
pub(crate) type Located = (String, usize, usize);

/// Reads the parser directives at the top of `lines`.
pub(crate) fn directives(lines: &[&str]) -> Result<Directives, Located> {
    let mut d = Directives {
        syntax: None,
        escape: '\\',
        check: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = trim_newline(raw).trim_start();
        let Some(body) = line.strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive(body.trim_start()) else {
            break;
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            break;
        }
        if seen.contains(&key) {
            return Err((
                format!("only one {key} parser directive can be used"),
                i + 1,
                1,
            ));
        }
        match key.as_str() {
            "escape" => {
                d.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err((
                            format!("invalid escape token '{value}' does not match ` or \\"),
                            i + 1,
                            1,
                        ))
                    }
                }
            }
            "syntax" => d.syntax = Some(value.to_string()),
            _ => d.check = Some(value.to_string()),
        }
        seen.push(key);
    }
    Ok(d)
}

/// `name = value` with a name of `[a-zA-Z][a-zA-Z0-9]*`; the value trimmed and non-empty.
fn directive(s: &str) -> Option<(&str, &str)> {
    let name_len = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    let name = &s[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = s[name_len..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((name, value))
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(raw: &str) -> bool {
    trim_newline(raw).trim_start().starts_with('#')
}

/// Removes a trailing escape token (followed only by spaces and tabs, and not itself preceded
/// by the escape token). True when the line does not continue.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        // A doubled escape token is an escaped escape, not a continuation.
        Some(head) if !head.ends_with(escape) => (head, false),
        _ => (line, true),
    }
}

/// Splits the file into logical lines, reading heredoc bodies where RUN, COPY and ADD
/// introduce them.
pub(crate) fn nodes(
    lines: &[&str],
    escape: char,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Node>, Located> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = trim_newline(lines[i]);
        i += 1;
        let start = i;
        let first = raw.trim_start();
        let column = raw.chars().count() - first.chars().count() + 1;
        let first = if first.starts_with('#') { "" } else { first };
        let (text, mut end_of_line) = trim_continuation(first, escape);
        if end_of_line && text.is_empty() {
            continue;
        }
        let mut line = text.to_string();
        let mut empty_continuation = false;
        while !end_of_line && i < lines.len() {
            let raw = lines[i];
            i += 1;
            if is_comment(raw) {
                continue;
            }
            let next = trim_newline(raw);
            if next.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (text, eol) = trim_continuation(next, escape);
            end_of_line = eol;
            line.push_str(text);
        }
        if empty_continuation {
            warnings.push(Warning {
                line: i,
                message: format!("Empty continuation line found in: {line}"),
            });
        }
        let mut node = node_from_line(&line, escape).map_err(|m| (m, start, column))?;
        if node.can_contain_heredoc() && line.contains("<<") {
            for head in heredoc::from_line(&line).map_err(|m| (m, start, column))? {
                let mut content = String::new();
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let candidate = trim_newline(raw);
                    let candidate = if head.chomp {
                        candidate.trim_start_matches('\t')
                    } else {
                        candidate
                    };
                    if candidate == head.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(("unterminated heredoc".into(), start, column));
                }
                if head.chomp {
                    content = heredoc::chomp(&content);
                }
                node.heredocs.push(Heredoc {
                    name: head.name,
                    content,
                    expand: head.expand,
                    chomp: head.chomp,
                    fd: head.fd,
                });
            }
        }
        node.location = Location {
            start_line: start,
            end_line: i,
            column,
        };
        out.push(node);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        s.split_inclusive('\n').collect()
    }

    #[test]
    fn directives_only_at_the_top() {
        let d = directives(&split(
            "# syntax = docker/dockerfile:1\n#ESCAPE=`\nFROM x\n",
        ))
        .unwrap();
        assert_eq!(
            (d.syntax.as_deref(), d.escape),
            (Some("docker/dockerfile:1"), '`')
        );
        let d = directives(&split("# a comment\n# escape=`\n")).unwrap();
        assert_eq!(d.escape, '\\', "a directive after a comment is a comment");
        let d = directives(&split("\n# escape=`\n")).unwrap();
        assert_eq!(
            d.escape, '\\',
            "a directive after an empty line is a comment"
        );
        let d = directives(&split("# unknown=1\n# escape=`\n")).unwrap();
        assert_eq!(d.escape, '\\', "an unknown directive ends the directives");
        assert_eq!(
            directives(&split("# escape=x\n")).unwrap_err().0,
            "invalid escape token 'x' does not match ` or \\"
        );
        assert_eq!(
            directives(&split("#syntax=a\n#syntax=b\n")).unwrap_err(),
            ("only one syntax parser directive can be used".into(), 2, 1)
        );
    }

    #[test]
    fn continuation_token_only_before_trailing_blanks() {
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", false));
        assert_eq!(trim_continuation("a \\ x", '\\'), ("a \\ x", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(
            trim_continuation("a\\\\", '\\'),
            ("a\\\\", true),
            "an escaped escape ends the line"
        );
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
    }
}
