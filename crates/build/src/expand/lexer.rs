//! The word lexer Docker applies to instruction arguments (BuildKit's `shell.Lex`): quotes,
//! the escape token, and `$VAR` / `${VAR…}` substitution with the POSIX modifiers.

use super::pattern::{replace, trim_prefix, trim_suffix};
use super::{Env, ExpandError};

/// Expands and unquotes words as Docker's builder does. `escape` is the Dockerfile's escape
/// token (`\` unless `# escape=` changed it).
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
    skip_unset: bool,
    quotes: bool,
}

impl Lexer {
    /// A lexer with the given escape token that replaces unset variables by the empty string.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            skip_unset: false,
            quotes: true,
        }
    }

    /// The lexer for the body of a COPY/ADD heredoc whose delimiter was not quoted: `$VAR`
    /// and `\` work, quotes are ordinary characters.
    pub fn heredoc() -> Self {
        Lexer {
            escape: '\\',
            skip_unset: false,
            quotes: false,
        }
    }

    /// A lexer that leaves references to unset variables as written (`$X`, `${X:-y}`), as the
    /// parser does when it only needs to split words.
    pub fn keeping_unset(escape: char) -> Self {
        Lexer {
            escape,
            skip_unset: true,
            quotes: true,
        }
    }

    /// Expands `word` as one word: quotes removed, escapes applied, variables substituted;
    /// whitespace, even unquoted, stays inside the result.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ExpandError> {
        self.run(word, env).map(|(s, _)| s)
    }

    /// Expands `word` and splits the result into words at unquoted whitespace, including
    /// whitespace that came from a variable's value.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
        self.run(word, env).map(|(_, w)| w)
    }

    fn run(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>), ExpandError> {
        let mut sc = Scanner {
            chars: word.chars().collect(),
            pos: 0,
            lex: *self,
            env,
        };
        sc.until(None, false).map_err(|message| ExpandError {
            word: word.to_string(),
            message,
        })
    }
}

/// Words being assembled: unquoted whitespace separates them, quoted text never does.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn push(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.push_raw(c);
        }
    }

    fn push_raw(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Scanner<'a> {
    chars: Vec<char>,
    pos: usize,
    lex: Lexer,
    env: &'a dyn Env,
}

type Res<T> = Result<T, String>;

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    /// Reads up to `stop` (consumed) or the end. In `raw` mode (the pattern and replacement
    /// of `${VAR#…}`, `${VAR/…/…}`) an escaped character is kept as `\x`, so that a pattern can
    /// tell a literal `\*` from the glob `*`; quoted text and variable values are used as they
    /// are, glob characters included, as BuildKit does.
    fn until(&mut self, stop: Option<char>, raw: bool) -> Res<(String, Vec<String>)> {
        let mut out = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((out, words.finish()));
            }
            match c {
                '$' => {
                    let v = self.dollar()?;
                    v.chars().for_each(|c| words.push(c));
                    out.push_str(&v);
                }
                '\'' | '"' if self.lex.quotes => {
                    let v = if c == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted()?
                    };
                    words.in_word = true;
                    words.word.push_str(&v);
                    out.push_str(&v);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lex.escape {
                        let Some(e) = self.next() else { break };
                        words.push_raw(e);
                        if raw {
                            out.push('\\');
                        }
                        out.push(e);
                    } else {
                        words.push(c);
                        out.push(c);
                    }
                }
            }
        }
        match stop {
            Some(s) => Err(format!(
                "unexpected end of statement while looking for matching {s}"
            )),
            None => Ok((out, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Res<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Res<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.lex.escape {
                        match self.peek() {
                            None => continue,
                            // Only these can be escaped inside double quotes, as in sh.
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                self.pos += 1;
                                out.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.lookup(name)
    }

    fn dollar(&mut self) -> Res<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let Some(op) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let value = self.lookup(&name);
        match op {
            '}' => Ok(match value {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let (colon, op) = if op == ':' {
                    match self.next() {
                        Some(o @ ('+' | '-' | '?')) => (true, o),
                        Some(o) => {
                            return Err(format!("unsupported modifier (:{o}) in substitution"))
                        }
                        None => return Err("syntax error: missing '}'".into()),
                    }
                } else {
                    (false, op)
                };
                let pattern = op == '#' || op == '%';
                let (word, _) = self.until(Some('}'), pattern).map_err(|e| {
                    if self.peek().is_none() {
                        "syntax error: missing '}'".to_string()
                    } else {
                        e
                    }
                })?;
                if value.is_none() && self.lex.skip_unset {
                    let c = if colon { ":" } else { "" };
                    return Ok(format!("${{{name}{c}{op}{word}}}"));
                }
                let unset = value.is_none() || (colon && value.as_deref() == Some(""));
                Ok(match op {
                    '-' if unset => word,
                    '-' => value.unwrap_or_default(),
                    '+' if unset => String::new(),
                    '+' => word,
                    '?' if value.is_none() => {
                        let m = if word.is_empty() {
                            "is not allowed to be unset"
                        } else {
                            &word
                        };
                        return Err(format!("{name}: {m}"));
                    }
                    '?' if unset => {
                        let m = if word.is_empty() {
                            "is not allowed to be empty"
                        } else {
                            &word
                        };
                        return Err(format!("{name}: {m}"));
                    }
                    '?' => value.unwrap_or_default(),
                    _ => {
                        let (greedy, pat) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        let value = value.unwrap_or_default();
                        let trimmed = if op == '#' {
                            trim_prefix(pat, &value, greedy)
                        } else {
                            trim_suffix(pat, &value, greedy)
                        };
                        trimmed.map_err(|()| format!("invalid pattern ({word}) in substitution"))?
                    }
                })
            }
            '/' => {
                let all = self.peek() == Some('/');
                self.pos += usize::from(all);
                let missing = |sc: &Self, e: String, what: &str| {
                    if sc.peek().is_none() {
                        format!("syntax error: missing '{what}' in ${{}}")
                    } else {
                        e
                    }
                };
                let (pattern, _) = self
                    .until(Some('/'), true)
                    .map_err(|e| missing(self, e, "/"))?;
                let (replacement, _) = self
                    .until(Some('}'), true)
                    .map_err(|e| missing(self, e, "}"))?;
                match value {
                    None if self.lex.skip_unset => {
                        let slashes = if all { "//" } else { "/" };
                        Ok(format!("${{{name}{slashes}{pattern}/{replacement}}}"))
                    }
                    None => Ok(String::new()),
                    Some(v) => replace(&pattern, &v, &replacement, all)
                        .map_err(|()| format!("invalid pattern ({pattern}) in substitution")),
                }
            }
            o => Err(format!("unsupported modifier ({o}) in substitution")),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}
