//! One small glob engine for both users: shell patterns in `${VAR#pattern}` (where `*` crosses
//! `/`) and `.dockerignore` patterns (where it does not, and `**` spans directories).
//!
//! Matching is a memoised walk over (token, character) pairs, so hostile patterns such as
//! `*a*a*a*a*b` cost at most tokens × characters steps instead of exponential backtracking.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// This exact character.
    Lit(char),
    /// Any run of characters; `/` only when `slash` is true.
    Star { slash: bool },
    /// Exactly one character; `/` only when `slash` is true.
    One { slash: bool },
    /// A bracket expression such as `[a-z]` or `[^0-9]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` in the middle of a `.dockerignore` pattern: nothing, or anything ending in `/`.
    AnyDirs,
}

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// Parses a bracket expression whose `[` was just consumed from `chars` at `*pos`, with `esc` as
/// the escape character inside it; `^` negates it, and `!` too when `bang` (shell patterns).
/// Returns `BadPattern` when it is never closed or a range is reversed.
pub(crate) fn class(
    chars: &[char],
    pos: &mut usize,
    esc: char,
    bang: bool,
) -> Result<Token, BadPattern> {
    let mut negated = false;
    if chars.get(*pos) == Some(&'^') || (bang && chars.get(*pos) == Some(&'!')) {
        negated = true;
        *pos += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = chars.get(*pos) else {
            return Err(BadPattern);
        };
        *pos += 1;
        if c == ']' && !first {
            break;
        }
        first = false;
        let lo = if c == esc {
            *chars.get(*pos).ok_or(BadPattern).inspect(|_| *pos += 1)?
        } else {
            c
        };
        let mut hi = lo;
        if chars.get(*pos) == Some(&'-') && chars.get(*pos + 1).is_some_and(|&n| n != ']') {
            *pos += 1;
            let c = chars[*pos];
            *pos += 1;
            hi = if c == esc {
                *chars.get(*pos).ok_or(BadPattern).inspect(|_| *pos += 1)?
            } else {
                c
            };
            if hi < lo {
                return Err(BadPattern);
            }
        }
        ranges.push((lo, hi));
    }
    Ok(Token::Class { negated, ranges })
}

/// Whether `tokens` match the whole of `text`.
pub(crate) fn matches(tokens: &[Token], text: &[char]) -> bool {
    let width = text.len() + 1;
    let mut failed = vec![false; (tokens.len() + 1) * width];
    walk(tokens, text, 0, 0, &mut failed, width)
}

fn walk(
    tokens: &[Token],
    text: &[char],
    mut t: usize,
    mut i: usize,
    failed: &mut [bool],
    width: usize,
) -> bool {
    // Single-character tokens advance in a loop; only stars recurse, so the depth is bounded by
    // the number of stars, not by the length of the text.
    let (start_t, start_i) = (t, i);
    let ok = loop {
        if failed[t * width + i] {
            break false;
        }
        match tokens.get(t) {
            None => break i == text.len(),
            Some(Token::Star { slash }) => {
                let mut j = i;
                break loop {
                    if walk(tokens, text, t + 1, j, failed, width) {
                        break true;
                    }
                    match text.get(j) {
                        Some('/') if !slash => break false,
                        Some(_) => j += 1,
                        None => break false,
                    }
                };
            }
            Some(Token::AnyDirs) => {
                break walk(tokens, text, t + 1, i, failed, width)
                    || (i..text.len()).any(|j| {
                        text[j] == '/' && walk(tokens, text, t + 1, j + 1, failed, width)
                    });
            }
            Some(tok) => {
                if !text.get(i).is_some_and(|&c| one(tok, c)) {
                    break false;
                }
                t += 1;
                i += 1;
            }
        }
    };
    if !ok {
        failed[start_t * width + start_i] = true;
        failed[t * width + i] = true;
    }
    ok
}

fn one(tok: &Token, c: char) -> bool {
    match tok {
        Token::Lit(l) => *l == c,
        Token::One { slash } => *slash || c != '/',
        // As in the regular expressions moby compiles patterns to, a class may match `/`.
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        Token::Star { .. } | Token::AnyDirs => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Token> {
        let chars: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < chars.len() {
            let c = chars[pos];
            pos += 1;
            out.push(match c {
                '*' => Token::Star { slash: true },
                '?' => Token::One { slash: true },
                '[' => class(&chars, &mut pos, '\\', true).unwrap(),
                c => Token::Lit(c),
            });
        }
        out
    }

    fn m(p: &str, s: &str) -> bool {
        matches(&toks(p), &s.chars().collect::<Vec<_>>())
    }

    #[test]
    fn stars_classes_and_pathological_patterns() {
        assert!(m("a*c", "abbbc"));
        assert!(m("*", ""));
        assert!(!m("a?c", "ac"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("[!a-c]x", "dx"));
        assert!(m("[]]", "]"));
        let long = "a".repeat(2000);
        assert!(!m("*a*a*a*a*a*a*a*b", &long), "must not blow up");
    }

    #[test]
    fn bad_classes_are_refused() {
        for p in ["[", "[a", "[z-a]", "[\\"] {
            let chars: Vec<char> = p.chars().collect();
            let mut pos = 1;
            assert_eq!(class(&chars, &mut pos, '\\', true), Err(BadPattern), "{p}");
        }
    }
}
