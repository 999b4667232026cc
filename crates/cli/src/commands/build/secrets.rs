//! `--secret id=NAME[,src=PATH|,env=VAR][,type=file|env]`, as buildx reads it: a file's or
//! an environment variable's value, sent to the daemon in the request header of
//! [`berth_api::build_secrets`] (never in the context or the query).

use std::collections::BTreeMap;

use berth_api::build_secrets;

use crate::error::{Error, Result};

/// Where one secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub id: String,
    pub source: Source,
}

/// A file or an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(String),
    Env(String),
}

fn bad(value: &str, reason: impl std::fmt::Display) -> Error {
    Error::Usage(format!(
        "invalid argument {value:?} for \"--secret\" flag: {reason}"
    ))
}

/// Parses one `--secret` value. `has_env` says whether an environment variable is set (with
/// neither `src` nor `env`, the id names a variable if one is set, else a file).
pub fn parse(value: &str, has_env: &dyn Fn(&str) -> bool) -> Result<Spec> {
    let (mut id, mut file, mut env, mut kind) = (None, None, None, None);
    for field in value.split(',') {
        let Some((key, v)) = field.split_once('=') else {
            return Err(bad(
                value,
                format!("invalid field '{field}' must be a key=value pair"),
            ));
        };
        match key.to_ascii_lowercase().as_str() {
            "type" if v == "file" || v == "env" => kind = Some(v.to_string()),
            "type" => return Err(bad(value, format!("unsupported secret type {v:?}"))),
            "id" => id = Some(v.to_string()),
            "source" | "src" => file = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            _ => return Err(bad(value, format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    if kind.as_deref() == Some("env") && env.is_none() {
        env = file.take();
    }
    let id = match id.filter(|i| !i.is_empty()) {
        Some(id) => id,
        None => return Err(bad(value, "secret ID missing")),
    };
    let source = match (file, env) {
        (Some(_), Some(_)) => {
            return Err(bad(
                value,
                "a secret cannot come from both a file and a variable",
            ))
        }
        (Some(f), None) => Source::File(f),
        (None, Some(e)) => Source::Env(e),
        (None, None) if has_env(&id) => Source::Env(id.clone()),
        (None, None) => Source::File(id.clone()),
    };
    Ok(Spec { id, source })
}

/// The header carrying `values`' secrets, read from their files and variables; `None` when
/// there are none.
pub fn header(values: &[String]) -> Result<Option<(&'static str, String)>> {
    if values.is_empty() {
        return Ok(None);
    }
    let has_env = |name: &str| std::env::var_os(name).is_some();
    let mut secrets = BTreeMap::new();
    let mut total = 0;
    for value in values {
        let spec = parse(value, &has_env)?;
        let bytes = match &spec.source {
            Source::File(path) => std::fs::read(path)
                .map_err(|e| Error::io(format!("read secret {} from {path}", spec.id), e))?,
            Source::Env(name) => std::env::var_os(name)
                .map(std::os::unix::ffi::OsStringExt::into_vec)
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "secret {}: environment variable {name} is not set",
                        spec.id
                    ))
                })?,
        };
        total += bytes.len();
        secrets.insert(spec.id, bytes);
    }
    if total > build_secrets::MAX_TOTAL {
        return Err(Error::Refused(format!(
            "the build's secrets hold {total} bytes; berth sends at most {} bytes of secrets",
            build_secrets::MAX_TOTAL
        )));
    }
    Ok(Some((
        build_secrets::HEADER,
        build_secrets::encode(&secrets),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: &str) -> std::result::Result<Spec, String> {
        parse(value, &|name| name == "SET").map_err(|e| e.to_string())
    }

    #[test]
    fn forms_buildx_accepts() {
        let file = |id: &str, f: &str| Spec {
            id: id.into(),
            source: Source::File(f.into()),
        };
        let env = |id: &str, e: &str| Spec {
            id: id.into(),
            source: Source::Env(e.into()),
        };
        assert_eq!(spec("id=a,src=/x").unwrap(), file("a", "/x"));
        assert_eq!(spec("id=a,source=/x,type=file").unwrap(), file("a", "/x"));
        assert_eq!(spec("id=a,env=TOKEN").unwrap(), env("a", "TOKEN"));
        assert_eq!(spec("type=env,id=a,src=TOKEN").unwrap(), env("a", "TOKEN"));
        assert_eq!(spec("id=SET").unwrap(), env("SET", "SET"));
        assert_eq!(spec("id=unset").unwrap(), file("unset", "unset"));
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        for (value, message) in [
            (
                "mysecret",
                "invalid field 'mysecret' must be a key=value pair",
            ),
            ("src=/x", "secret ID missing"),
            ("id=a,type=ssh", "unsupported secret type \"ssh\""),
            ("id=a,color=red", "unexpected key 'color' in 'color=red'"),
            ("id=a,src=/x,env=Y", "both a file and a variable"),
        ] {
            let err = spec(value).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "invalid argument {value:?} for \"--secret\" flag: "
                )) && err.contains(message),
                "{value}: {err}"
            );
        }
    }
}
