//! `.dockerignore`: which files of the build context are not sent, with Docker's semantics
//! (the docker CLI's `ignorefile.ReadAll` and moby/patternmatcher).
//!
//! Paths given to [`Matcher`] are relative to the context root, `/`-separated, without a
//! leading `./` (e.g. `src/main.rs`).

mod pattern;

use crate::glob::{self, Token};

/// A `.dockerignore` pattern Docker refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A line holding only `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    BareExclusion,
    /// A pattern Go's `filepath.Match` refuses: a trailing `\\`, an unclosed `[`, a class
    /// bound that is empty, `-` or `]`, or a reversed range.
    #[error("syntax error in pattern: {0:?}")]
    BadPattern(String),
}

/// Reads a `.dockerignore` file into patterns: a leading BOM dropped, lines starting with `#`
/// skipped, blanks trimmed, empty lines skipped, each pattern cleaned (`./a//b/` → `a/b`) and a
/// leading `/` removed, a leading `!` kept.
pub fn read_patterns(contents: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(contents);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut cleaned = String::new();
        if !p.is_empty() {
            cleaned = pattern::clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

/// The patterns the docker CLI adds so that the Dockerfile and `.dockerignore` are always
/// sent, even when the user's patterns exclude them: `!.dockerignore` and `!<dockerfile>`
/// (the Dockerfile's path relative to the context, `/`-separated) when they would be excluded.
/// The builder needs both; a Dockerfile read from stdin is not in the context, so pass `None`.
pub fn keep_build_files(
    mut patterns: Vec<String>,
    dockerfile: Option<&str>,
) -> Result<Vec<String>, IgnoreError> {
    if Matcher::new(&patterns)?.excludes(".dockerignore") {
        patterns.push("!.dockerignore".into());
    }
    if let Some(df) = dockerfile {
        if Matcher::new(&patterns)?.excludes(df) {
            patterns.push(format!("!{df}"));
        }
    }
    Ok(patterns)
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    tokens: Vec<Token>,
}

/// Compiled `.dockerignore` patterns.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Compiles patterns as [`read_patterns`] returns them (each trimmed and cleaned again).
    pub fn new(patterns: &[String]) -> Result<Matcher, IgnoreError> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = pattern::clean(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(IgnoreError::BareExclusion);
                }
                p.remove(0);
            }
            let bad = |glob::BadPattern| IgnoreError::BadPattern(p.clone());
            pattern::validate(&p).map_err(bad)?;
            let tokens = pattern::compile(&p).map_err(bad)?;
            out.push(Pattern {
                text: p,
                exclusion,
                tokens,
            });
        }
        Ok(Matcher { patterns: out })
    }

    /// Reads and compiles a `.dockerignore` file.
    pub fn from_dockerignore(contents: &[u8]) -> Result<Matcher, IgnoreError> {
        Matcher::new(&read_patterns(contents))
    }

    /// Whether `path` is left out of the context: the last pattern that matches it or one of
    /// its parent directories decides, and a `!` pattern puts it back.
    pub fn excludes(&self, path: &str) -> bool {
        let text: Vec<char> = path.chars().collect();
        // The parents of `a/b/c` are `a` and `a/b`: prefixes ending just before a `/`.
        let parents: Vec<usize> = text
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == '/')
            .map(|(i, _)| i)
            .collect();
        let mut excluded = false;
        for p in &self.patterns {
            // An exclusion only matters for an excluded path, an inclusion for a kept one.
            if p.exclusion != excluded {
                continue;
            }
            let hit = glob::matches(&p.tokens, &text)
                || parents
                    .iter()
                    .any(|&end| glob::matches(&p.tokens, &text[..end]));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether some pattern starts with `!`.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether the walker must still descend into `dir`, which [`Matcher::excludes`], because
    /// an exception (`!pattern`) may re-include something below it. Each file found there is
    /// then judged by [`Matcher::excludes`]. Docker's walker descends when an exception's text
    /// starts with `dir/`; this also descends when an exception's leading elements match
    /// `dir`'s elements as globs or it contains `**` early enough (as BuildKit's context
    /// walker does), so no file an exception names is ever lost.
    pub fn must_walk(&self, dir: &str) -> bool {
        let dir_parts: Vec<&str> = dir.split('/').collect();
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            if format!("{}/", p.text).starts_with(&format!("{dir}/")) {
                return true;
            }
            let parts: Vec<&str> = p.text.split('/').collect();
            for (i, d) in dir_parts.iter().enumerate() {
                let Some(seg) = parts.get(i) else {
                    return false;
                };
                if seg.contains("**") {
                    return true;
                }
                let Ok(tokens) = pattern::compile(seg) else {
                    return true;
                };
                if !glob::matches(&tokens, &d.chars().collect::<Vec<_>>()) {
                    return false;
                }
            }
            parts.len() > dir_parts.len()
        })
    }
}
