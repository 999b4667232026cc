//! `RUN --mount=type=cache,target=/root/.cache,sharing=locked`: the CSV spec and its keys.

use super::ast::{CacheSharing, Mount, MountType};

/// Parses a mount spec after its values have been expanded (`expand` is applied to each value,
/// as BuildKit does at dispatch time).
pub fn parse_mount(
    spec: &str,
    expand: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Mount, String> {
    let fields = csv_fields(spec).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount {
        kind: MountType::Bind,
        from: None,
        source: None,
        target: None,
        readonly: false,
        id: None,
        sharing: None,
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
    };
    let mut ro_auto = true;
    let secretish = |m: &Mount| matches!(m.kind, MountType::Secret | MountType::Ssh);
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), expand(v)?),
            None => {
                match field.to_ascii_lowercase().as_str() {
                    "readonly" | "ro" => m.readonly = true,
                    "readwrite" | "rw" => m.readonly = false,
                    "required" if secretish(&m) => m.required = true,
                    "required" => {
                        return Err(format!(
                            "unexpected key 'required' for mount type '{}'",
                            name(m.kind)
                        ))
                    }
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
                ro_auto &= !matches!(
                    field.to_ascii_lowercase().as_str(),
                    "readonly" | "ro" | "readwrite" | "rw"
                );
                continue;
            }
        };
        let boolean =
            |v: &str| parse_bool(v).ok_or_else(|| format!("invalid value for {key}: {v}"));
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(format!("unsupported mount type {value:?}")),
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => (m.readonly, ro_auto) = (boolean(&value)?, false),
            "readwrite" | "rw" => (m.readonly, ro_auto) = (!boolean(&value)?, false),
            "required" if secretish(&m) => m.required = boolean(&value)?,
            "size" if m.kind == MountType::Tmpfs => {
                m.size = Some(
                    ram_in_bytes(&value)
                        .ok_or_else(|| format!("invalid value for size: {value}"))?,
                )
            }
            "required" | "size" => {
                return Err(format!(
                    "unexpected key '{key}' for mount type '{}'",
                    name(m.kind)
                ))
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => return Err(format!("unsupported sharing value {value:?}")),
                })
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => m.env = Some(value),
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    ) {
        for (set, what) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(format!(
                    "{what} not allowed for {:?} type mounts",
                    name(m.kind)
                ));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            name(m.kind)
        ));
    }
    Ok(m)
}

/// The spec's name for a mount type.
fn name(kind: MountType) -> &'static str {
    match kind {
        MountType::Bind => "bind",
        MountType::Cache => "cache",
        MountType::Tmpfs => "tmpfs",
        MountType::Secret => "secret",
        MountType::Ssh => "ssh",
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A size such as `64m`, `1.5g`, `512KiB` in bytes; units are powers of 1024 (go-units'
/// `RAMInBytes`).
fn ram_in_bytes(v: &str) -> Option<u64> {
    let num_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    if !v.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let number: f64 = v[..num_end].parse().ok()?;
    let unit = v[num_end..]
        .strip_prefix(' ')
        .unwrap_or(&v[num_end..])
        .to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let bytes = number * 2f64.powi(shift);
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// One CSV record (Go's `encoding/csv` rules): `"` quotes a field, `""` is a quote inside one.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    let mut column = 0usize;
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            column += 1;
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "extraneous or missing \" in quoted-field at column {column}"
                        ))
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
                column += 1;
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(format!(
                        "extraneous or missing \" in quoted-field at column {column}"
                    ))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(format!("bare \" in non-quoted-field at column {column}"))
                    }
                    Some(c) => field.push(c),
                }
                column += 1;
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(spec: &str) -> Result<Mount, String> {
        parse_mount(spec, &|v| Ok(v.to_string()))
    }

    #[test]
    fn defaults_per_type() {
        let m = mount("type=cache,target=/root/.cache,id=pip,sharing=locked,uid=1000,mode=0755")
            .unwrap();
        assert_eq!(
            (m.kind, m.readonly, m.sharing, m.uid, m.mode),
            (
                MountType::Cache,
                false,
                Some(CacheSharing::Locked),
                Some(1000),
                Some(0o755)
            )
        );
        let b = mount("target=/src,from=build,source=/out").unwrap();
        assert_eq!(
            (b.kind, b.readonly, b.from.as_deref()),
            (MountType::Bind, true, Some("build"))
        );
        assert!(!mount("type=bind,target=/x,rw").unwrap().readonly);
        assert!(
            mount("type=bind,target=/x,readwrite=false")
                .unwrap()
                .readonly
        );
        let t = mount("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!((t.size, t.readonly), (Some(64 << 20), false));
        let s = mount("type=secret,id=aws,required,env=AWS").unwrap();
        assert_eq!(
            (s.required, s.readonly, s.env.as_deref()),
            (true, true, Some("AWS"))
        );
        assert_eq!(
            mount(r#""target=/a,b",type=bind"#)
                .unwrap()
                .target
                .as_deref(),
            Some("/a,b")
        );
    }

    #[test]
    fn refused_specs_say_why() {
        for (spec, msg) in [
            ("type=nfs", "unsupported mount type \"nfs\""),
            (
                "type=bind,uid=1",
                "uid not allowed for \"bind\" type mounts",
            ),
            (
                "type=secret",
                "invalid secret mount. one of source, target required",
            ),
            (
                "type=secret,id=a,from=b",
                "secret mount should not have a from",
            ),
            (
                "type=bind,sharing=locked",
                "invalid cache sharing set for bind mount",
            ),
            (
                "type=cache,sharing=wide",
                "unsupported sharing value \"wide\"",
            ),
            ("type=cache,foo=bar", "unexpected key 'foo' in 'foo=bar'"),
            (
                "type=cache,required",
                "unexpected key 'required' for mount type 'cache'",
            ),
            ("target", "invalid field 'target' must be a key=value pair"),
            ("type=cache,mode=9", "invalid value 9 for mode"),
            ("type=tmpfs,size=lots", "invalid value for size: lots"),
            ("ro=maybe", "invalid value for ro: maybe"),
            (
                "a\"b",
                "failed to parse csv mounts: bare \" in non-quoted-field at column 1",
            ),
        ] {
            assert_eq!(mount(spec).unwrap_err(), msg, "{spec}");
        }
    }
}
