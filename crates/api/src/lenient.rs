//! Reading JSON from any daemon or client: dockerd and the docker CLI write `null` where a list,
//! map or string is empty, which serde's `default` alone does not accept.

use serde::{Deserialize, Deserializer};

/// Deserialises `null` (as well as a missing field, with `#[serde(default)]`) as `T::default()`.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Shape {
        #[serde(deserialize_with = "super::null_as_default")]
        list: Vec<String>,
        #[serde(deserialize_with = "super::null_as_default")]
        text: String,
    }

    #[test]
    fn null_and_missing_read_as_empty_but_values_are_kept() {
        let nulls: Shape = serde_json::from_str(r#"{"list": null, "text": null}"#).unwrap();
        assert!(nulls.list.is_empty() && nulls.text.is_empty());
        let missing: Shape = serde_json::from_str("{}").unwrap();
        assert!(missing.list.is_empty() && missing.text.is_empty());
        let full: Shape = serde_json::from_str(r#"{"list": ["a"], "text": "t"}"#).unwrap();
        assert_eq!(
            (full.list, full.text.as_str()),
            (vec!["a".to_string()], "t")
        );
        assert!(serde_json::from_str::<Shape>(r#"{"list": "a"}"#).is_err());
    }
}
