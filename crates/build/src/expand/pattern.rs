//! `${VAR#pattern}` and `${VAR%pattern}`: removing the shortest or longest prefix or suffix
//! that a shell glob matches. In the pattern `\x` is the literal `x` (the lexer escapes quoted
//! and escaped characters that way before calling here).

use crate::glob::{self, Token};

fn compile(pattern: &str) -> Result<Vec<Token>, ()> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(&c) = chars.get(pos) {
        pos += 1;
        out.push(match c {
            '*' => Token::Star { slash: true },
            '?' => Token::One { slash: true },
            '[' => glob::class(&chars, &mut pos, '\\', true).map_err(|_| ())?,
            '\\' => match chars.get(pos) {
                Some(&n) => {
                    pos += 1;
                    Token::Lit(n)
                }
                None => Token::Lit('\\'),
            },
            c => Token::Lit(c),
        });
    }
    Ok(out)
}

/// `value` without the shortest (or, `greedy`, longest) prefix that `pattern` matches.
pub(crate) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, ()> {
    let tokens = compile(pattern)?;
    let chars: Vec<char> = value.chars().collect();
    let cut = |n: usize| glob::matches(&tokens, &chars[..n]);
    let found = if greedy {
        (0..=chars.len()).rev().find(|&n| cut(n))
    } else {
        (0..=chars.len()).find(|&n| cut(n))
    };
    Ok(found.map_or_else(|| value.to_string(), |n| chars[n..].iter().collect()))
}

/// `value` without the shortest (or, `greedy`, longest) suffix that `pattern` matches.
pub(crate) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, ()> {
    let tokens = compile(pattern)?;
    let chars: Vec<char> = value.chars().collect();
    let cut = |n: usize| glob::matches(&tokens, &chars[n..]);
    let found = if greedy {
        (0..=chars.len()).find(|&n| cut(n))
    } else {
        (0..=chars.len()).rev().find(|&n| cut(n))
    };
    Ok(found.map_or_else(|| value.to_string(), |n| chars[..n].iter().collect()))
}

/// `${VAR/pattern/replacement}` (first match) and `${VAR//pattern/replacement}` (every
/// match): at the leftmost position where `pattern` matches, its longest match is replaced.
/// An empty match right after a replaced one is skipped, as Go's `ReplaceAllString` does.
pub(crate) fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
) -> Result<String, ()> {
    let tokens = compile(pattern)?;
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut after_match = false;
    while i <= chars.len() {
        let longest = (i..=chars.len())
            .rev()
            .find(|&j| glob::matches(&tokens, &chars[i..j]));
        match longest {
            Some(j) if !(j == i && after_match) => {
                out.push_str(replacement);
                if !all {
                    out.extend(&chars[j..]);
                    return Ok(out);
                }
                after_match = j > i;
                if j == i {
                    out.extend(chars.get(i));
                    i += 1;
                } else {
                    i = j;
                }
            }
            _ => {
                after_match = false;
                out.extend(chars.get(i));
                i += 1;
            }
        }
    }
    Ok(out)
}
