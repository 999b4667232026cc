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
