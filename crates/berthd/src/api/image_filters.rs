//! The filters of `GET /images/json`: `reference` (a glob over familiar names, as
//! `docker images busybox` and docker-py's `images.list(name=…)` send), `dangling`, `label`,
//! and `before`/`since` (images made before or after a named one).

use std::collections::BTreeMap;

use berth_image::inspect::ImageSummary;

use super::error::ApiError;

/// The value of a `dangling` filter (`true`/`1`, `false`/`0`; the last one given counts).
pub fn dangling_filter(values: &[String]) -> Result<Option<bool>, ApiError> {
    let mut dangling = None;
    for value in values {
        dangling = Some(match value.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(ApiError::invalid(format!(
                    "invalid filter 'dangling={other}'"
                )))
            }
        });
    }
    Ok(dangling)
}

/// What the client's filters ask for.
#[derive(Debug, Default)]
pub struct ImageFilters {
    references: Vec<String>,
    dangling: Option<bool>,
    labels: Vec<(String, Option<String>)>,
    /// Images these are made after (`before`) or before (`since`) bound what is listed.
    before: Vec<String>,
    since: Vec<String>,
}

impl ImageFilters {
    /// Reads the decoded `filters` query parameter; unknown keys are refused by name.
    pub fn parse(filters: &BTreeMap<String, Vec<String>>) -> Result<Self, ApiError> {
        let mut parsed = ImageFilters::default();
        for (key, values) in filters {
            match key.as_str() {
                "reference" => parsed.references.extend(values.iter().cloned()),
                "dangling" => parsed.dangling = dangling_filter(values)?,
                "label" => parsed
                    .labels
                    .extend(values.iter().map(|v| match v.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (v.clone(), None),
                    })),
                "before" => parsed.before.extend(values.iter().cloned()),
                "since" => parsed.since.extend(values.iter().cloned()),
                other => {
                    return Err(ApiError::invalid(format!(
                        "image list filter {other:?} is not supported yet"
                    )))
                }
            }
        }
        Ok(parsed)
    }

    /// Keeps the images the filters select; with `reference`, each keeps only the tags that
    /// match (as dockerd answers). An image `before` or `since` names that is not in `images`
    /// is a 404.
    pub fn apply(&self, images: Vec<ImageSummary>) -> Result<Vec<ImageSummary>, ApiError> {
        let created = |name: &String| {
            // A name first, then an id or its prefix, as dockerd looks images up.
            images
                .iter()
                .find(|image| is_named(image, name))
                .or_else(|| images.iter().find(|image| has_id(image, name)))
                .map(|image| image.created)
                .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))
        };
        let before = self
            .before
            .iter()
            .map(created)
            .collect::<Result<Vec<_>, _>>()?;
        let since = self
            .since
            .iter()
            .map(created)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(images
            .into_iter()
            .filter(|image| before.iter().all(|&t| image.created < t))
            .filter(|image| since.iter().all(|&t| image.created > t))
            .filter_map(|mut image| {
                let dangling = image.repo_tags.is_empty();
                if self.dangling.is_some_and(|d| d != dangling) {
                    return None;
                }
                let labelled = self.labels.iter().all(|(key, value)| {
                    image
                        .labels
                        .get(key)
                        .is_some_and(|v| value.as_ref().is_none_or(|want| want == v))
                });
                if !labelled {
                    return None;
                }
                if !self.references.is_empty() {
                    image
                        .repo_tags
                        .retain(|tag| self.references.iter().any(|p| reference_matches(p, tag)));
                    if image.repo_tags.is_empty() {
                        return None;
                    }
                }
                Some(image)
            })
            .collect())
    }
}

/// Whether `image` is named `name` (a familiar reference, `latest` implied).
fn is_named(image: &ImageSummary, name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    let tagged = if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    };
    image.repo_tags.contains(&tagged)
}

/// Whether `id` is `image`'s id or a prefix of it (with or without `sha256:`).
fn has_id(image: &ImageSummary, id: &str) -> bool {
    let id = id.trim_start_matches("sha256:");
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_hexdigit())
        && image.id.trim_start_matches("sha256:").starts_with(id)
}

/// Whether the familiar `name:tag` matches `pattern`; a pattern without a tag also matches
/// the name alone (`busybox` matches `busybox:latest`).
fn reference_matches(pattern: &str, tag: &str) -> bool {
    if glob(pattern, tag) {
        return true;
    }
    let last = pattern.rsplit('/').next().unwrap_or(pattern);
    if last.contains(':') || last.contains('@') {
        return false;
    }
    let name_end = tag
        .rfind(':')
        .filter(|&i| !tag[i..].contains('/'))
        .unwrap_or(tag.len());
    glob(pattern, &tag[..name_end])
}

/// Go's `path.Match` without character classes: `*` is any run of characters but `/`, `?`
/// one character but `/`.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and how much of the text it had taken.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') if t[ti] != '/' => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some(&c) if c != '*' && c != '?' && c == t[ti] => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) if t[st] != '/' => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stop_at_slashes() {
        assert!(glob("busybox", "busybox"));
        assert!(glob("busy*", "busybox"));
        assert!(glob("b?sybox", "busybox"));
        assert!(glob("*", "busybox"));
        assert!(!glob("*", "library/busybox"));
        assert!(glob("*/busybox", "library/busybox"));
        assert!(!glob("busy", "busybox"));
        assert!(!glob("busybox", "busy"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }

    #[test]
    fn references_match_names_with_or_without_tags() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("busybox:1", "busybox:latest"));
        assert!(reference_matches(
            "localhost:5000/app",
            "localhost:5000/app:v1"
        ));
        assert!(!reference_matches(
            "localhost:5000",
            "localhost:5000/app:v1"
        ));
        assert!(reference_matches("my*", "mybox:v1"));
        assert!(!reference_matches("box", "mybox:v1"));
    }

    fn image(id: &str, tags: &[&str], labels: &[(&str, &str)]) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            parent_id: String::new(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            repo_digests: Vec::new(),
            // Made in the order of their ids' first letters.
            created: id.bytes().next().map_or(0, i64::from),
            size: 0,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn ids(filters: &[(&str, &[&str])], images: Vec<ImageSummary>) -> Vec<(String, Vec<String>)> {
        let map = filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        ImageFilters::parse(&map)
            .unwrap()
            .apply(images)
            .unwrap()
            .into_iter()
            .map(|i| (i.id, i.repo_tags))
            .collect()
    }

    #[test]
    fn filters_select_images_and_their_matching_tags() {
        let all = || {
            vec![
                image("a", &["busybox:latest", "mybox:v1"], &[("tier", "web")]),
                image("b", &[], &[]),
                image("c", &["alpine:3"], &[("tier", "db")]),
            ]
        };
        assert_eq!(
            ids(&[("reference", &["mybox"])], all()),
            vec![("a".to_string(), vec!["mybox:v1".to_string()])]
        );
        assert_eq!(ids(&[("dangling", &["true"])], all())[0].0, "b");
        assert_eq!(ids(&[("dangling", &["false"])], all()).len(), 2);
        assert_eq!(ids(&[("label", &["tier=db"])], all())[0].0, "c");
        assert_eq!(ids(&[("label", &["tier"])], all()).len(), 2);
        let names = |filters: &[(&str, &[&str])]| -> Vec<String> {
            ids(filters, all()).into_iter().map(|(id, _)| id).collect()
        };
        assert_eq!(names(&[("before", &["c"])]), ["a", "b"]);
        assert_eq!(names(&[("before", &["alpine:3"])]), ["a", "b"]);
        assert_eq!(names(&[("since", &["busybox"])]), ["b", "c"]);
        assert_eq!(
            names(&[("since", &["a"]), ("before", &["mybox:v1"])]),
            Vec::<String>::new()
        );
        assert_eq!(names(&[("since", &["a"]), ("before", &["c"])]), ["b"]);
        let missing = BTreeMap::from([("before".to_string(), vec!["nope".to_string()])]);
        let err = ImageFilters::parse(&missing)
            .unwrap()
            .apply(all())
            .unwrap_err();
        assert_eq!(err.message, "No such image: nope");
        assert_eq!(err.kind, berth_api::error::ErrorKind::NotFound);
        // A name is looked up before an id prefix: "c" is the image tagged c:latest, not the
        // one whose id starts with c.
        let named_like_an_id = || vec![image("a", &["c:latest"], &[]), image("c", &[], &[])];
        let filter = BTreeMap::from([("since".to_string(), vec!["c".to_string()])]);
        let found = ImageFilters::parse(&filter)
            .unwrap()
            .apply(named_like_an_id())
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "c");
        let unknown = BTreeMap::from([("until".to_string(), vec!["x".to_string()])]);
        assert!(ImageFilters::parse(&unknown).is_err());
    }
}
