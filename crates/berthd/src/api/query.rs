//! Query strings as the docker CLI sends them: repeated keys (`names=a&names=b`), booleans as
//! `1`/`true`/`0`/`false`, and `filters` as JSON.

use std::collections::BTreeMap;

use super::error::ApiError;

/// The decoded pairs of a query string, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes `raw` (without the `?`); a bad percent escape or non-UTF-8 value is a 400.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(key)?, decode(value)?));
        }
        Ok(Query(pairs))
    }

    /// The last value of `key`, if given and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean parameter; absent is false.
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(false),
            Some("1" | "true" | "True" | "TRUE") => Ok(true),
            Some("0" | "false" | "False" | "FALSE") => Ok(false),
            Some(other) => Err(ApiError::invalid(format!(
                "invalid boolean value {other:?} for query parameter {key:?}"
            ))),
        }
    }

    /// The `filters` parameter: `{"key":["v"]}` or the older `{"key":{"v":true}}`.
    pub fn filters(&self) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let Some(raw) = self.get("filters") else {
            return Ok(BTreeMap::new());
        };
        let bad = |e: String| ApiError::invalid(format!("invalid filters {raw:?}: {e}"));
        let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("not an object".into()))?;
        let mut out = BTreeMap::new();
        for (key, values) in object {
            let list = match values {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>(),
                serde_json::Value::Object(map) => Some(map.keys().cloned().collect()),
                _ => None,
            }
            .ok_or_else(|| bad(format!("filter {key:?} is not a list of strings")))?;
            out.insert(key.clone(), list);
        }
        Ok(out)
    }
}

/// Percent-decodes one query component (`+` is a space).
fn decode(raw: &str) -> Result<String, ApiError> {
    let bad = || ApiError::invalid(format!("malformed query component {raw:?}"));
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Percent-decodes a path (no `+` rule); used for image names in paths.
pub fn decode_path(raw: &str) -> Result<String, ApiError> {
    decode(&raw.replace('+', "%2B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_escapes_and_flags() {
        let q = Query::parse(Some("names=a%2Fb%3A1&names=c&force=1&quiet=false")).unwrap();
        assert_eq!(q.all("names"), ["a/b:1", "c"]);
        assert!(q.flag("force").unwrap());
        assert!(!q.flag("quiet").unwrap());
        assert!(!q.flag("absent").unwrap());
        assert!(Query::parse(Some("force=maybe"))
            .unwrap()
            .flag("force")
            .is_err());
    }

    #[test]
    fn hostile_queries_are_400() {
        for raw in ["a=%", "a=%zz", "a=%ff%fe", "filters=%7B"] {
            let result = Query::parse(Some(raw)).and_then(|q| q.filters().map(drop));
            assert_eq!(result.unwrap_err().kind.status(), 400, "{raw}");
        }
    }

    #[test]
    fn both_filter_forms() {
        let new = Query::parse(Some("filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D")).unwrap();
        assert_eq!(new.filters().unwrap()["dangling"], ["false"]);
        let old = Query::parse(Some(r#"filters={"dangling":{"true":true}}"#)).unwrap();
        assert_eq!(old.filters().unwrap()["dangling"], ["true"]);
    }

    #[test]
    fn path_plus_stays_plus() {
        assert_eq!(decode_path("a+b%2Fc").unwrap(), "a+b/c");
    }
}
