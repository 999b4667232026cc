//! Recognising here-document words (`<<EOF`, `<<-"EOF"`, `3<<EOF`) on RUN, COPY and ADD lines.

use std::collections::HashMap;

use crate::expand::Lexer;

/// A heredoc introduced on an instruction line, before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    pub fd: Option<u32>,
}

/// Parses one word as a heredoc introducer: `^(\d*)<<(-?)([^<]*)$` with a single-word
/// delimiter. `Ok(None)` when the word is not one.
pub(crate) fn parse_word(word: &str) -> Result<Option<Head>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let empty: HashMap<String, String> = HashMap::new();
    let words = Lexer::keeping_unset('\\')
        .process_words(rest, &empty)
        .map_err(|e| e.to_string())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    // Any quoting of the delimiter turns expansion of the body off, as in sh.
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = quotes(name) == quotes(rest);
    let fd = if digits > 0 {
        word[..digits].parse().ok()
    } else {
        None
    };
    Ok(Some(Head {
        name: name.clone(),
        expand,
        chomp,
        fd,
    }))
}

/// Whether `text` is one here-document word and nothing else (`<<EOF`, `<<-"EOF"`), as a
/// `RUN <<EOF` line's command is: BuildKit then runs the body itself rather than passing the
/// line to the shell.
pub fn is_heredoc_word(text: &str) -> bool {
    matches!(parse_word(text), Ok(Some(_)))
}

/// The heredocs a line introduces, in order. Words are split the way the shell would (quotes
/// and `\` group), so `echo "<<EOF"` introduces nothing.
pub(crate) fn from_line(line: &str) -> Result<Vec<Head>, String> {
    let mut heads = Vec::new();
    for word in raw_words(line) {
        if let Some(h) = parse_word(&word)? {
            heads.push(h);
        }
    }
    Ok(heads)
}

/// Words split at unquoted, unescaped whitespace, quotes kept; a word that is (partly) quoted
/// cannot start a heredoc, so it is marked by keeping its leading quote. An unterminated
/// quote yields no words at all (BuildKit ignores the line's lexing error the same way).
fn raw_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut it = line.chars();
    while let Some(c) = it.next() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' {
                    word.extend(it.next());
                }
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                word.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == '\\' {
                    word.extend(it.next());
                }
            }
        }
    }
    if quote.is_some() {
        return Vec::new();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Removes leading tabs from every line (`<<-`).
pub(crate) fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, bool, bool, Option<u32>)> {
        from_line(line)
            .unwrap()
            .into_iter()
            .map(|h| (h.name, h.expand, h.chomp, h.fd))
            .collect()
    }

    #[test]
    fn delimiters_quoting_chomp_and_fds() {
        assert_eq!(names("RUN <<EOF"), [("EOF".into(), true, false, None)]);
        assert_eq!(
            names("RUN <<-'END' cat"),
            [("END".into(), false, true, None)]
        );
        assert_eq!(
            names(r#"RUN <<"A" 3<<B x"#),
            [
                ("A".into(), false, false, None),
                ("B".into(), true, false, Some(3))
            ]
        );
        assert_eq!(names(r#"RUN echo "<<EOF" '<<X'"#), []);
        assert_eq!(names("RUN cat <<<EOF"), []);
        assert_eq!(names("RUN echo a<<EOF"), []);
        assert_eq!(names("RUN echo 'unterminated <<EOF"), []);
    }

    #[test]
    fn a_lone_heredoc_word_is_told_from_a_command_line() {
        assert!(is_heredoc_word("<<EOF"));
        assert!(is_heredoc_word("<<-'END'"));
        assert!(!is_heredoc_word("<<EOF bash"));
        assert!(!is_heredoc_word("cat <<EOF"));
        assert!(!is_heredoc_word("<<"));
    }

    #[test]
    fn chomp_strips_only_leading_tabs() {
        assert_eq!(chomp("\t\ta\tb\n \tc\n\t"), "a\tb\n \tc\n");
    }
}
