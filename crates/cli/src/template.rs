//! The part of Go's text/template that `--format` needs: literal text, `{{.Field}}`,
//! `{{.A.B}}`, `{{.}}`, `{{json .X}}`, `{{upper .X}}`, `{{lower .X}}`, the `\t`/`\n` escapes
//! and the `table` prefix. Templates come from users: every mistake is an error, never a panic.

use serde_json::Value;

use crate::error::Error;

/// Functions a template may call on one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Print,
    Json,
    Upper,
    Lower,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Action {
        func: Func,
        /// Field names from the root; empty for `.`.
        path: Vec<String>,
        /// 1-based column of the action, for messages as Go gives them.
        column: usize,
        source: String,
    },
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
        let mut nodes = Vec::new();
        let mut rest = body.as_str();
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                nodes.push(Node::Text(rest[..start].to_string()));
            }
            let column = offset + start + 1;
            let inner_start = start + 2;
            let end = rest[inner_start..]
                .find("}}")
                .ok_or_else(|| parse_error(column, "unclosed action"))?;
            let inner = &rest[inner_start..inner_start + end];
            nodes.push(parse_action(inner, column)?);
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
            nodes.push(Node::Text(rest.to_string()));
        }
        Ok(Template { nodes, table })
    }

    /// Renders the template for one value; a field the value lacks is an error.
    pub fn render(&self, value: &Value) -> Result<String, Error> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action {
                    func,
                    path,
                    column,
                    source,
                } => {
                    let mut current = value;
                    for field in path {
                        current = current.get(field.as_str()).ok_or_else(|| {
                            Error::Usage(format!(
                                "template: :1:{column}: executing \"\" at <{source}>: can't evaluate field {field}"
                            ))
                        })?;
                    }
                    match func {
                        Func::Print => out.push_str(&go_print(current)),
                        Func::Json => out.push_str(&current.to_string()),
                        Func::Upper => out.push_str(&go_print(current).to_uppercase()),
                        Func::Lower => out.push_str(&go_print(current).to_lowercase()),
                    }
                }
            }
        }
        Ok(out)
    }

    /// The header row of a `table` template: each action replaced by the column name
    /// `name` gives its last field (else the field in capitals).
    pub fn header(&self, name: impl Fn(&str) -> Option<&'static str>) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action { path, .. } => {
                    let field = path.last().map(String::as_str).unwrap_or("");
                    match name(field) {
                        Some(header) => out.push_str(header),
                        None => out.push_str(&field.to_uppercase()),
                    }
                }
            }
        }
        out
    }
}

fn parse_action(inner: &str, column: usize) -> Result<Node, Error> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let (func, arg) = match words.as_slice() {
        [arg] if arg.starts_with('.') => (Func::Print, *arg),
        [name, arg] => {
            let func = match *name {
                "json" => Func::Json,
                "upper" => Func::Upper,
                "lower" => Func::Lower,
                other => {
                    return Err(parse_error(
                        column,
                        format!("function {other:?} not defined"),
                    ))
                }
            };
            (func, *arg)
        }
        ["json" | "upper" | "lower"] => (
            match words[0] {
                "json" => Func::Json,
                "upper" => Func::Upper,
                _ => Func::Lower,
            },
            ".",
        ),
        [] => return Err(parse_error(column, "missing value for command")),
        _ => {
            return Err(parse_error(
                column,
                format!("unsupported action {{{{{}}}}}", inner.trim()),
            ))
        }
    };
    let path = parse_path(arg).ok_or_else(|| parse_error(column, format!("bad field {arg:?}")))?;
    Ok(Node::Action {
        func,
        path,
        column,
        source: arg.to_string(),
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
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, value: &Value) -> Result<String, Error> {
        Template::parse(template)?.render(value)
    }

    #[test]
    fn fields_nested_fields_and_functions_render() {
        let v = json!({"Id": "sha256:ab", "Config": {"Cmd": ["sh", "-c"], "Env": null},
                        "Labels": {"b": "2", "a": "1"}, "Size": 42, "Name": "Busy"});
        assert_eq!(render("{{.Id}}", &v).unwrap(), "sha256:ab");
        assert_eq!(
            render("id={{ .Id }}\\t{{.Size}}\\n", &v).unwrap(),
            "id=sha256:ab\t42\n"
        );
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
        assert_eq!(render("{{.Config.Env}}", &v).unwrap(), "<nil>");
        assert_eq!(render("{{.Labels}}", &v).unwrap(), "map[a:1 b:2]");
        assert_eq!(
            render("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["sh","-c"]"#
        );
        assert_eq!(
            render("{{upper .Name}}/{{lower .Name}}", &v).unwrap(),
            "BUSY/busy"
        );
        let all = render("{{json .}}", &v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&all).unwrap(), v);
    }

    #[test]
    fn table_templates_have_a_header_row() {
        let t = Template::parse("table {{.Repository}}\\t{{.ID}}").unwrap();
        assert!(t.table);
        let header = t.header(|f| (f == "ID").then_some("IMAGE ID"));
        assert_eq!(header, "REPOSITORY\tIMAGE ID");
        assert!(!Template::parse("tablet {{.X}}").unwrap().table);
    }

    #[test]
    fn unknown_fields_are_errors_that_name_them() {
        let err = render("x {{.Nope}}", &json!({"Id": "a"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: :1:3: executing \"\" at <.Nope>: can't evaluate field Nope"
        );
        assert_eq!(err.exit_code(), 125);
        assert!(render("{{.Id.Deeper}}", &json!({"Id": "a"})).is_err());
    }

    #[test]
    fn hostile_templates_are_errors_not_panics() {
        for bad in [
            "{{",
            "{{.Id",
            "}}",
            "{{}}",
            "{{ }}",
            "{{foo .Id}}",
            "{{.Id .Id .Id}}",
            "{{Id}}",
            "{{..}}",
            "{{.a..b}}",
            "{{.1x}}",
            "{{.é\u{301}}}",
            "{{json}}}}",
            "{{{{.Id}}",
            "{{.Id}}{{",
            "{{\u{0}}}",
            "{{printf \"%s\" .Id}}",
            "{{.Id | json}}",
        ] {
            let result = render(bad, &json!({"Id": "a"}));
            assert!(result.is_err(), "{bad:?} rendered as {result:?}");
        }
        // Multi-byte text around actions keeps columns and slices on char boundaries.
        assert_eq!(render("é{{.Id}}ü", &json!({"Id": "ä"})).unwrap(), "éäü");
        let long = "{{.Id}}".repeat(10_000);
        assert_eq!(render(&long, &json!({"Id": "a"})).unwrap().len(), 10_000);
    }
}
