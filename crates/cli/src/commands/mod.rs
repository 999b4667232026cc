//! One module per group of commands; each command is a function of the parsed flags.

pub mod auth;
pub mod build;
pub mod builder;
pub mod commit;
pub mod cp;
pub mod create_flags;
pub mod df;
pub mod events;
pub mod exec;
pub mod images;
pub mod lifecycle;
pub mod network;
pub mod ps;
pub mod run;
pub mod stats;
pub mod system;
pub mod system_prune;
pub mod transfer;
pub mod volume;

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{json, Value};

use crate::client::escape;
use crate::error::{Error, Result};
use crate::format::align;
use crate::template::Template;

/// Prints `rows` as `--format` asks: `json` (one object a line), a template (a `table` one
/// with a header row and aligned columns), or `default` (a table template) when not given.
/// A row's keys come out sorted, as docker marshals its rows (Go maps).
pub fn print_rows(
    format: Option<&str>,
    default: &str,
    rows: &[Value],
    header: fn(&str) -> Option<&'static str>,
) -> Result<()> {
    write_stdout(&render_rows(format, default, rows, header)?)
}

/// What [`print_rows`] prints.
pub fn render_rows(
    format: Option<&str>,
    default: &str,
    rows: &[Value],
    header: fn(&str) -> Option<&'static str>,
) -> Result<String> {
    let rows: Vec<Value> = rows.iter().map(with_sorted_keys).collect();
    let mut out = String::new();
    if format == Some("json") {
        for row in &rows {
            out.push_str(&row.to_string());
            out.push('\n');
        }
    } else {
        let template = Template::parse(format.filter(|f| !f.is_empty()).unwrap_or(default))?;
        let mut lines = Vec::with_capacity(rows.len() + 1);
        if template.table {
            lines.push(template.header(header));
        }
        for row in &rows {
            lines.push(template.render(row)?);
        }
        if template.table {
            out = align(&lines);
        } else {
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// `value` with every object's keys in sorted order, as docker marshals its rows (Go maps).
pub(crate) fn with_sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), with_sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(with_sorted_keys).collect()),
        other => other.clone(),
    }
}

/// `KEY=VALUE` flags (`-o`, `--label`) as a map; a label may have no value, anything else
/// without `=` is an error naming `what`.
pub fn key_value_flags(
    flags: &[String],
    what: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    flags
        .iter()
        .map(|flag| match flag.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None if what == "label" => Ok((flag.clone(), String::new())),
            None => Err(Error::Usage(format!(
                "invalid {what} {flag:?}: expected KEY=VALUE"
            ))),
        })
        .collect()
}

/// `GET {kind}/{name}` for each of `names`, printed as `inspect` prints (the daemon's JSON or
/// `format`); a missing one is reported with the daemon's words after the others print.
pub fn inspect_each(
    cx: &crate::Context,
    kind: &str,
    names: &[String],
    format: Option<&str>,
) -> Result<()> {
    let daemon = cx.daemon()?;
    let mut found = Vec::new();
    let mut missing = None;
    for name in names {
        match daemon.get_bytes(&format!("/{kind}/{}", escape(name))) {
            Ok(raw) => found.push(raw),
            Err(e @ Error::Daemon { status: 404, .. }) => missing = Some(e),
            Err(e) => return Err(e),
        }
    }
    images::print_inspected(&daemon, &found, format)?;
    missing.map_or(Ok(()), Err)
}

/// `--filter key=value` flags as the `filters` query value the API takes (escaped JSON).
pub fn filters_json(filters: &[String]) -> Result<String> {
    let mut map: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for filter in filters {
        let (key, value) = filter.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "bad format of filter (expected name=value): {filter}"
            ))
        })?;
        map.entry(key.to_string())
            .or_default()
            .insert(value.to_string(), true);
    }
    Ok(escape(&json!(map).to_string()))
}

/// What a prune prints, as docker prints it: `heading` and one line per removed object with a
/// blank line after them (nothing when none went), then the space reclaimed when the daemon
/// counts it.
pub fn prune_report(heading: &str, deleted: &[String], reclaimed: Option<u64>) -> String {
    let mut out = String::new();
    if !deleted.is_empty() {
        out.push_str(heading);
        out.push('\n');
        for name in deleted {
            out.push_str(name);
            out.push('\n');
        }
        out.push('\n');
    }
    if let Some(bytes) = reclaimed {
        out.push_str(&format!(
            "Total reclaimed space: {}\n",
            crate::format::human_size_4(bytes)
        ));
    }
    out
}

/// Writes `text` to stdout.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("stdout", e))
}

/// `sha256:0123456789abcdef…` → `0123456789ab`, as docker shows ids.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

/// An image name split as the Engine API wants it: the repository, then a tag or digest.
#[derive(Debug, PartialEq, Eq)]
pub struct NameParts {
    /// `busybox`, `127.0.0.1:5000/x/y`.
    pub repository: String,
    /// `latest`; `None` when neither a tag nor a digest is given.
    pub tag: Option<String>,
    /// `sha256:…`.
    pub digest: Option<String>,
}

/// Splits `name` (`repo[:tag][@digest]`); the daemon checks the rest of the grammar.
pub fn split_name(name: &str) -> Result<NameParts> {
    let (rest, digest) = match name.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.to_string())),
        None => (name, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match rest[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&rest[..at], Some(rest[at + 1..].to_string()))
        }
        None => (rest, None),
    };
    if repository.is_empty() || tag.as_deref() == Some("") || digest.as_deref() == Some("") {
        return Err(Error::Usage(format!("invalid reference format: {name:?}")));
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::Usage(format!(
            "invalid reference format: repository name must be lowercase: {name:?}"
        )));
    }
    Ok(NameParts {
        repository: repository.to_string(),
        tag,
        digest,
    })
}

/// The registry a repository lives on (`docker.io` when it names none).
pub fn domain_of(repository: &str) -> &str {
    match repository.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// `busybox` → `docker.io/library/busybox`, as docker prints pulled names.
pub fn canonical_repository(repository: &str) -> String {
    if domain_of(repository) != "docker.io" || repository.starts_with("docker.io/") {
        repository.to_string()
    } else if repository.contains('/') {
        format!("docker.io/{repository}")
    } else {
        format!("docker.io/library/{repository}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_repository_tag_and_digest() {
        let parts = split_name("127.0.0.1:5000/a/b:1.0").unwrap();
        assert_eq!(parts.repository, "127.0.0.1:5000/a/b");
        assert_eq!(parts.tag.as_deref(), Some("1.0"));
        let parts = split_name("localhost:5000/b@sha256:abc").unwrap();
        assert_eq!(
            (
                parts.repository.as_str(),
                parts.tag,
                parts.digest.as_deref()
            ),
            ("localhost:5000/b", None, Some("sha256:abc"))
        );
        assert!(split_name("Busybox").is_err());
        assert!(split_name("busybox:").is_err());
        assert!(split_name(":tag").is_err());
        assert_eq!(canonical_repository("busybox"), "docker.io/library/busybox");
        assert_eq!(canonical_repository("me/app"), "docker.io/me/app");
        assert_eq!(canonical_repository("127.0.0.1:5000/x"), "127.0.0.1:5000/x");
        assert_eq!(domain_of("localhost/x"), "localhost");
    }
}
