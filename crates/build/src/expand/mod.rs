//! Variable substitution in instruction arguments, as Docker's builder performs it.
//!
//! [`Lexer`] is the word lexer (quotes, escapes, `$VAR`, `${VAR:-x}`, `${VAR#glob}`…);
//! [`expand_instruction`] applies it to the arguments Docker expands — those of ADD, ARG, COPY,
//! ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and the `--mount` values of RUN —
//! and leaves RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK commands and ONBUILD triggers alone (the
//! shell, or the child build, expands those).

mod instruction;
mod lexer;
mod pattern;

use std::collections::{BTreeMap, HashMap};

pub use instruction::{expand_from, expand_instruction, expands};
pub use lexer::Lexer;

/// Where variables are looked up.
pub trait Env {
    /// The value of `name`, or `None` when it is unset (an empty value is set).
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Env for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// An ordered list such as a stage's environment: the last definition of a name wins.
impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// A word that could not be expanded, in Docker's words (`failed to process "${X": …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process \"{word}\": {message}")]
pub struct ExpandError {
    /// The word as written.
    pub word: String,
    /// What went wrong, e.g. `syntax error: missing '}'` or `X: is not allowed to be unset`.
    pub message: String,
}
