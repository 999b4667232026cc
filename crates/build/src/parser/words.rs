//! Splitting a logical line into instruction name, `--flags` and arguments, as BuildKit's
//! `splitCommand` and line parsers do. Quotes and escapes stay in the words: the builder's
//! lexer removes them when it expands the arguments.

/// BuildKit's `reWhitespace`: `[\t\v\f\r ]+` (not Unicode whitespace, not `\n`).
fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits at runs of `[\t\v\f\r ]`, at most `limit` pieces (the last keeps the rest).
pub(crate) fn split_ws(s: &str, limit: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while out.len() + 1 < limit {
        match rest.find(is_ws) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start_matches(is_ws);
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// The instruction word, its `--flags` (without quotes) and the rest of the line, trimmed.
pub(crate) fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let parts = split_ws(line.trim(), 2);
    let cmd = parts[0].to_string();
    match parts.get(1) {
        Some(rest) => {
            let (args, flags) = extract_flags(rest, escape);
            (cmd, flags, args.trim().to_string())
        }
        None => (cmd, Vec::new(), String::new()),
    }
}

/// Takes the leading words that start with `--` off `line`; a bare `--` ends them.
fn extract_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut it = line.char_indices().peekable();
    while let Some((pos, ch)) = it.next() {
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            if ch != '-' || it.peek().map(|&(_, c)| c) != Some('-') {
                return (&line[pos..], words);
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (&line[pos..], words);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    continue;
                }
                if ch == escape {
                    match it.next() {
                        Some((_, n)) => word.push(n),
                        None => continue,
                    }
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                    continue;
                }
                if ch == escape {
                    match it.next() {
                        Some((_, n)) => word.push(n),
                        None => phase = Phase::Word,
                    }
                    continue;
                }
                word.push(ch);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    ("", words)
}

/// Splits at unquoted whitespace, keeping quotes and escapes in the words (`parseWords`).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut blank_ok = false;
    let mut it = rest.chars().peekable();
    while let Some(ch) = it.next() {
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            }
            // Nothing can be escaped inside single quotes.
            if ch == escape && q != '\'' {
                match it.next() {
                    Some(n) => {
                        word.push(ch);
                        word.push(n);
                    }
                    None => quote = None,
                }
                continue;
            }
            word.push(ch);
            continue;
        }
        if !in_word {
            if ch.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        if ch.is_whitespace() {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            in_word = false;
            blank_ok = false;
            continue;
        }
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
        }
        if ch == escape {
            if let Some(n) = it.next() {
                word.push(ch);
                word.push(n);
            }
            continue;
        }
        word.push(ch);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// The outcome of reading an argument as a JSON array.
pub(crate) enum Json {
    /// A JSON array of strings: exec form.
    Strings(Vec<String>),
    /// Not a JSON array at all: shell form.
    Shell,
    /// A JSON array with something other than strings: an error in Docker.
    NotStringArray,
}

/// Reads `rest` as a JSON array of strings, as `parseJSON` does.
pub(crate) fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Json::Shell;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Err(_) => Json::Shell,
        Ok(values) => {
            let strings: Option<Vec<String>> = values
                .into_iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            strings.map_or(Json::NotStringArray, Json::Strings)
        }
    }
}

/// Docker's message for a JSON array holding something other than strings.
pub(crate) const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_the_first_plain_word_or_double_dash() {
        let (cmd, flags, rest) = split_command("COPY --from=build --chown=\"a b\" src dst", '\\');
        assert_eq!((cmd.as_str(), rest.as_str()), ("COPY", "src dst"));
        assert_eq!(flags, ["--from=build", "--chown=a b"]);
        let (_, flags, rest) = split_command("RUN --network=none -- --not-a-flag", '\\');
        assert_eq!(flags, ["--network=none"]);
        assert_eq!(rest, "--not-a-flag");
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="b c" d\ e 'f\ g'"#, '\\'),
            [r#"a="b c""#, r"d\ e", r"'f\ g'"]
        );
        assert_eq!(parse_words("x=\"\"", '\\'), ["x=\"\""]);
        assert_eq!(parse_words("a`  b", '`'), ["a` ", "b"]);
    }

    #[test]
    fn whitespace_split_is_limited() {
        assert_eq!(split_ws("a \t b  c", 2), ["a", "b  c"]);
        assert_eq!(split_ws("a", 2), ["a"]);
    }
}
