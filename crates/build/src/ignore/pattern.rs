//! One `.dockerignore` pattern compiled as moby/patternmatcher compiles it.

use crate::glob::{self, Token};

/// Go's `filepath.Clean` for `/`-separated paths: no `//`, no `.` elements, `..` resolved
/// lexically, no trailing `/`; `""` becomes `"."`.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&p) if p != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Refuses what Go's `filepath.Match` calls a bad pattern (moby checks every pattern with it):
/// a trailing `\`, an unclosed class, and a class with an empty, `-` or `]` bound (`[]a]`,
/// `[-x]`, `[x-]`, `[a-b-c]`; escape them as `[\]a]`, `[\-x]`).
pub(crate) fn validate(pattern: &str) -> Result<(), glob::BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    // One class bound starting at `i`; the index after it.
    let bound = |i: usize| match p.get(i) {
        None | Some('-') | Some(']') => Err(glob::BadPattern),
        Some('\\') if i + 1 < p.len() => Ok(i + 2),
        Some('\\') => Err(glob::BadPattern),
        Some(_) => Ok(i + 1),
    };
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 == p.len() => return Err(glob::BadPattern),
            '\\' => i += 2,
            '[' => {
                i += 1 + usize::from(p.get(i + 1) == Some(&'^'));
                let mut ranges = 0;
                loop {
                    if p.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    i = bound(i)?;
                    if p.get(i) == Some(&'-') {
                        i = bound(i + 1)?;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Compiles a cleaned pattern. `*` and `?` stay within one path element; `**` spans any number
/// of them (a trailing `**` matches everything below); `\` escapes; `[...]` is a class.
pub(crate) fn compile(pattern: &str) -> Result<Vec<Token>, glob::BadPattern> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(&c) = chars.get(pos) {
        pos += 1;
        match c {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                let slash = chars.get(pos) == Some(&'/');
                if slash {
                    pos += 1;
                }
                let rest = &chars[pos..];
                // moby treats a leading `**` before plain text as a suffix match: `**foo`
                // matches `xfoo`, while `**/foo` needs a `/` or nothing before `foo`.
                let suffix = pos == 2 && !rest.iter().any(|c| "*?[\\".contains(*c));
                out.push(if rest.is_empty() || (suffix && !slash) {
                    Token::Star { slash: true }
                } else {
                    Token::AnyDirs
                });
            }
            '*' => out.push(Token::Star { slash: false }),
            '?' => out.push(Token::One { slash: false }),
            '[' => out.push(glob::class(&chars, &mut pos, '\\', false)?),
            '\\' => match chars.get(pos) {
                Some(&n) => {
                    pos += 1;
                    out.push(Token::Lit(n));
                }
                None => out.push(Token::Lit('\\')),
            },
            c => out.push(Token::Lit(c)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_go_filepath_clean() {
        for (i, o) in [
            ("", "."),
            ("./a//b/", "a/b"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/./b/..", "a"),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }
}
