//! The part of Go's text/template that `--format` needs: literal text, `{{.Field}}`,
//! `{{.A.B}}`, `{{.}}`, `{{json .X}}`, `{{upper .X}}`, `{{lower .X}}`, `{{len .X}}`,
//! `{{index .X 0}}`, `{{index .X "key"}}`, `{{join .X ","}}`, `{{range .X}}…{{end}}`
//! (with `$key, $value :=`), `{{if .X}}…{{else}}…{{end}}` (also `if not .X`, `if eq .X "a"`,
//! `if ne .X 1`), variables (`{{$v.Field}}`, `$` for
//! the root), the `\t`/`\n` escapes and the `table` prefix. Templates come from users: every
//! mistake is an error, never a panic.

mod funcs;

use serde_json::Value;

use crate::error::Error;
use funcs::{words, Func};

/// What an action names: a field path from `.`, or from a variable (`$` is the root).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// `None` for `.`, else the variable's name (`$`, `$v`).
    variable: Option<String>,
    /// Field names; empty for the value itself.
    path: Vec<String>,
    /// As written, for messages.
    source: String,
    /// 1-based column of the action, for messages as Go gives them.
    column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Action {
        func: Func,
        target: Target,
        /// The function's other arguments (`index`'s keys, `join`'s separator).
        args: Vec<Operand>,
    },
    Range {
        target: Target,
        /// `$k, $v :=` or `$v :=`: the names bound to each key (or index) and value.
        key: Option<String>,
        value: Option<String>,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    If {
        condition: Condition,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// What `{{if …}}` tests: a value's truth, its negation, or Go's `eq`/`ne` of two operands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Truthy(Target),
    Not(Target),
    Equal {
        negated: bool,
        left: Operand,
        right: Operand,
    },
}

/// An argument of `eq`/`ne`: a value from the data, or a quoted string or number literal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Field(Target),
    Literal(String),
}

/// A parsed `--format` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
    /// Whether it started with `table`: print a header row and align the columns.
    pub table: bool,
}

fn parse_error(column: usize, reason: impl std::fmt::Display) -> Error {
    Error::Usage(format!(
        "template parsing error: template: :1:{column}: {reason}"
    ))
}

/// A piece of the template's text: literal text or an action's inside, with its column.
enum Token<'a> {
    Text(&'a str),
    Action(&'a str, usize),
}

/// Splits `body` into text and actions.
fn tokens(body: &str) -> Result<Vec<Token<'_>>, Error> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Token::Text(&rest[..start]));
        }
        let column = offset + start + 1;
        let inner_start = start + 2;
        let end = rest[inner_start..]
            .find("}}")
            .ok_or_else(|| parse_error(column, "unclosed action"))?;
        out.push(Token::Action(&rest[inner_start..inner_start + end], column));
        let consumed = inner_start + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if rest.contains("}}") {
        return Err(parse_error(
            offset + 1,
            "unexpected \"}}\" outside an action",
        ));
    }
    if !rest.is_empty() {
        out.push(Token::Text(rest));
    }
    Ok(out)
}

/// How a list of nodes ended: at the end of the template, `{{else}}` or `{{end}}`.
#[derive(PartialEq)]
enum Stop {
    Eof,
    Else(usize),
    End(usize),
}

/// Nested `range`/`if` at most this deep: templates come from users.
const MAX_DEPTH: usize = 32;

/// Parses nodes until the end of the template, an `{{else}}` or an `{{end}}`.
fn parse_nodes(
    tokens: &mut std::vec::IntoIter<Token<'_>>,
    depth: usize,
) -> Result<(Vec<Node>, Stop), Error> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        let (inner, column) = match token {
            Token::Text(text) => {
                nodes.push(Node::Text(text.to_string()));
                continue;
            }
            Token::Action(inner, column) => (inner, column),
        };
        let words = words(inner, column)?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["end"] => return Ok((nodes, Stop::End(column))),
            ["else"] => return Ok((nodes, Stop::Else(column))),
            [keyword @ ("range" | "if"), rest @ ..] => {
                if depth >= MAX_DEPTH {
                    return Err(parse_error(column, "too deeply nested"));
                }
                let condition = match (*keyword, rest) {
                    ("if", ["not", arg]) => Some(Condition::Not(parse_target(arg, column)?)),
                    ("if", [op @ ("eq" | "ne"), left, right]) => Some(Condition::Equal {
                        negated: *op == "ne",
                        left: parse_operand(left, column)?,
                        right: parse_operand(right, column)?,
                    }),
                    _ => None,
                };
                let (key, value, arg) = match (*keyword, rest) {
                    _ if condition.is_some() => (None, None, "."),
                    (_, [arg]) => (None, None, *arg),
                    ("range", [v, ":=", arg]) => (None, Some(variable(v, column)?), *arg),
                    ("range", [k, v, ":=", arg]) => {
                        let k = k
                            .strip_suffix(',')
                            .ok_or_else(|| parse_error(column, "expected \"$k, $v :=\""))?;
                        (Some(variable(k, column)?), Some(variable(v, column)?), *arg)
                    }
                    _ => {
                        return Err(parse_error(
                            column,
                            format!("unsupported action {{{{{}}}}}", inner.trim()),
                        ))
                    }
                };
                let target = parse_target(arg, column)?;
                let (body, stop) = parse_nodes(tokens, depth + 1)?;
                let otherwise = match stop {
                    Stop::End(_) => Vec::new(),
                    Stop::Else(_) => match parse_nodes(tokens, depth + 1)? {
                        (otherwise, Stop::End(_)) => otherwise,
                        (_, Stop::Else(c)) => return Err(parse_error(c, "unexpected {{else}}")),
                        (_, Stop::Eof) => return Err(parse_error(column, "unexpected EOF")),
                    },
                    Stop::Eof => return Err(parse_error(column, "unexpected EOF")),
                };
                nodes.push(if *keyword == "range" {
                    Node::Range {
                        target,
                        key,
                        value,
                        body,
                        otherwise,
                    }
                } else {
                    Node::If {
                        condition: condition.unwrap_or(Condition::Truthy(target)),
                        body,
                        otherwise,
                    }
                });
            }
            _ => nodes.push(parse_action(inner, column)?),
        }
    }
    Ok((nodes, Stop::Eof))
}

/// `$name` (or `$`) as a variable's name.
fn variable(word: &str, column: usize) -> Result<String, Error> {
    let valid = word.starts_with('$') && word[1..].chars().all(|c| c.is_alphanumeric() || c == '_');
    if valid {
        Ok(word.to_string())
    } else {
        Err(parse_error(column, format!("bad variable {word:?}")))
    }
}

impl Template {
    /// Parses `text`; `table` at the start asks for a header row.
    pub fn parse(text: &str) -> Result<Template, Error> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start())
            }
            _ => (false, text),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut tokens = tokens(&body)?.into_iter();
        match parse_nodes(&mut tokens, 0)? {
            (nodes, Stop::Eof) => Ok(Template { nodes, table }),
            (_, Stop::Else(column)) => Err(parse_error(column, "unexpected {{else}}")),
            (_, Stop::End(column)) => Err(parse_error(column, "unexpected {{end}}")),
        }
    }

    /// Renders the template for one value; a field the value lacks is an error.
    pub fn render(&self, value: &Value) -> Result<String, Error> {
        let mut out = String::new();
        let mut scope = Scope {
            root: value,
            variables: Vec::new(),
        };
        render_nodes(&self.nodes, value, &mut scope, &mut out)?;
        Ok(out)
    }

    /// The header row of a `table` template: each action replaced by the column name
    /// `name` gives its last field (else the field in capitals).
    pub fn header(&self, name: impl Fn(&str) -> Option<&'static str>) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action { target, .. } => {
                    let field = target.path.last().map(String::as_str).unwrap_or("");
                    match name(field) {
                        Some(header) => out.push_str(header),
                        None => out.push_str(&field.to_uppercase()),
                    }
                }
                Node::Range { .. } | Node::If { .. } => {}
            }
        }
        out
    }
}

/// The values a template sees besides `.`: the root and the variables bound so far.
struct Scope<'a> {
    root: &'a Value,
    variables: Vec<(String, Value)>,
}

fn render_nodes(
    nodes: &[Node],
    dot: &Value,
    scope: &mut Scope<'_>,
    out: &mut String,
) -> Result<(), Error> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Action { func, target, args } => {
                let current = resolve(target, dot, scope)?;
                let args = args
                    .iter()
                    .map(|a| operand(a, dot, scope))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push_str(&func.apply(current, &args, target)?);
            }
            Node::If {
                condition,
                body,
                otherwise,
            } => {
                let chosen = if holds(condition, dot, scope)? {
                    body
                } else {
                    otherwise
                };
                render_nodes(chosen, dot, scope, out)?;
            }
            Node::Range {
                target,
                key,
                value,
                body,
                otherwise,
            } => {
                let items: Vec<(Value, Value)> = match resolve(target, dot, scope)? {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v))
                        .collect(),
                    // Go ranges over a map in the order of its keys.
                    Value::Object(map) => {
                        let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                        entries.sort_by(|a, b| a.0.cmp(&b.0));
                        entries
                            .into_iter()
                            .map(|(k, v)| (Value::String(k), v))
                            .collect()
                    }
                    other => {
                        return Err(Error::Usage(format!(
                            "template: :1:{}: executing \"\" at <{}>: range can't iterate over {}",
                            target.column,
                            target.source,
                            go_print(&other)
                        )))
                    }
                };
                if items.is_empty() {
                    render_nodes(otherwise, dot, scope, out)?;
                }
                for (k, v) in items {
                    let bound = scope.variables.len();
                    if let Some(name) = key {
                        scope.variables.push((name.clone(), k));
                    }
                    if let Some(name) = value {
                        scope.variables.push((name.clone(), v.clone()));
                    }
                    let rendered = render_nodes(body, &v, scope, out);
                    scope.variables.truncate(bound);
                    rendered?;
                }
            }
        }
    }
    Ok(())
}

/// The value of a function argument or `eq` operand.
fn operand(o: &Operand, dot: &Value, scope: &Scope<'_>) -> Result<Value, Error> {
    match o {
        Operand::Field(target) => resolve(target, dot, scope),
        Operand::Literal(text) => Ok(serde_json::from_str(text).unwrap_or(Value::Null)),
    }
}

/// Whether an `{{if}}` condition holds.
fn holds(condition: &Condition, dot: &Value, scope: &Scope<'_>) -> Result<bool, Error> {
    let operand = |o: &Operand| operand(o, dot, scope);
    Ok(match condition {
        Condition::Truthy(target) => truthy(&resolve(target, dot, scope)?),
        Condition::Not(target) => !truthy(&resolve(target, dot, scope)?),
        Condition::Equal {
            negated,
            left,
            right,
        } => {
            let (left, right) = (operand(left)?, operand(right)?);
            let equal = match (left.as_f64(), right.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => left == right,
            };
            equal != *negated
        }
    })
}

/// An `eq`/`ne` argument: `"text"` or a number as a literal, else a field or variable.
fn parse_operand(word: &str, column: usize) -> Result<Operand, Error> {
    let quoted = word.len() >= 2 && word.starts_with('"') && word.ends_with('"');
    if quoted || word.parse::<f64>().is_ok() {
        serde_json::from_str::<Value>(word)
            .map_err(|_| parse_error(column, format!("bad literal {word}")))?;
        return Ok(Operand::Literal(word.to_string()));
    }
    parse_target(word, column).map(Operand::Field)
}

/// Go's truth: false, 0, nil and empty strings, lists and maps are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// The value `target` names, from `.` or a variable.
fn resolve(target: &Target, dot: &Value, scope: &Scope<'_>) -> Result<Value, Error> {
    let start = match &target.variable {
        None => dot,
        Some(name) if name == "$" => scope.root,
        Some(name) => scope
            .variables
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "template: :1:{}: undefined variable \"{name}\"",
                    target.column
                ))
            })?,
    };
    let mut current = start;
    for field in &target.path {
        current = current.get(field.as_str()).ok_or_else(|| {
            Error::Usage(format!(
                "template: :1:{}: executing \"\" at <{}>: can't evaluate field {field}",
                target.column, target.source
            ))
        })?;
    }
    Ok(current.clone())
}

fn parse_action(inner: &str, column: usize) -> Result<Node, Error> {
    let words = words(inner, column)?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (func, arg, rest) = match words.as_slice() {
        [] => return Err(parse_error(column, "missing value for command")),
        [arg] if arg.starts_with('.') || arg.starts_with('$') => (Func::Print, *arg, &[][..]),
        [name, rest @ ..] => {
            let func = Func::named(name)
                .ok_or_else(|| parse_error(column, format!("function {name:?} not defined")))?;
            match rest {
                [] if func.takes_dot_alone() => (func, ".", &[][..]),
                [arg, rest @ ..] if func.arity().contains(&rest.len()) => (func, *arg, rest),
                _ => {
                    return Err(parse_error(
                        column,
                        format!("wrong number of args for {name}: {{{{{}}}}}", inner.trim()),
                    ))
                }
            }
        }
    };
    Ok(Node::Action {
        func,
        target: parse_target(arg, column)?,
        args: rest
            .iter()
            .map(|word| parse_operand(word, column))
            .collect::<Result<_, _>>()?,
    })
}

/// `.`, `.A.B`, `$`, `$v`, `$v.A`: where a value comes from.
fn parse_target(arg: &str, column: usize) -> Result<Target, Error> {
    let bad = || parse_error(column, format!("bad field {arg:?}"));
    let (variable, fields) = if let Some(rest) = arg.strip_prefix('$') {
        let (name, fields) = match rest.find('.') {
            Some(dot) => (&rest[..dot], &rest[dot..]),
            None => (rest, ""),
        };
        (Some(variable(&format!("${name}"), column)?), fields)
    } else {
        (None, arg)
    };
    let path = match fields {
        "" if variable.is_some() => Some(Vec::new()),
        "" => None,
        fields => parse_path(fields),
    }
    .ok_or_else(bad)?;
    Ok(Target {
        variable,
        path,
        source: arg.to_string(),
        column,
    })
}

/// `.` → no fields; `.A.B` → `A`, `B`; anything else is not a field path.
fn parse_path(arg: &str) -> Option<Vec<String>> {
    if arg == "." {
        return Some(Vec::new());
    }
    let rest = arg.strip_prefix('.')?;
    let fields: Vec<String> = rest.split('.').map(str::to_string).collect();
    let valid = |f: &String| {
        !f.is_empty()
            && f.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !f.starts_with(|c: char| c.is_ascii_digit())
    };
    fields.iter().all(valid).then_some(fields)
}

/// A value as Go's `fmt.Print` shows it: strings bare, lists `[a b]`, maps `map[k:v]`.
fn go_print(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_print).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            let mut items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect();
            items.sort();
            format!("map[{}]", items.join(" "))
        }
    }
}

#[cfg(test)]
mod tests;
