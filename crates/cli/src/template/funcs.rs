//! The functions a `--format` action may call, and the splitting of an action into words.

use std::ops::RangeInclusive;

use serde_json::Value;

use super::{go_print, parse_error, Target};
use crate::error::Error;

/// A function an action calls on its first argument (a field or variable), with its other
/// arguments (`index`'s keys, `join`'s separator) evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    /// No function: the value as Go prints it.
    Print,
    Json,
    Upper,
    Lower,
    Len,
    Index,
    Join,
}

/// `index` takes at most this many keys: templates come from users.
const MAX_KEYS: usize = 16;

impl Func {
    /// The function called `name` in a template.
    pub(super) fn named(name: &str) -> Option<Func> {
        Some(match name {
            "json" => Func::Json,
            "upper" => Func::Upper,
            "lower" => Func::Lower,
            "len" => Func::Len,
            "index" => Func::Index,
            "join" => Func::Join,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Print => "print",
            Func::Json => "json",
            Func::Upper => "upper",
            Func::Lower => "lower",
            Func::Len => "len",
            Func::Index => "index",
            Func::Join => "join",
        }
    }

    /// Whether `{{name}}` alone means `{{name .}}` (as the docker CLI's own functions do).
    pub(super) fn takes_dot_alone(self) -> bool {
        matches!(self, Func::Json | Func::Upper | Func::Lower)
    }

    /// How many arguments it takes after the first.
    pub(super) fn arity(self) -> RangeInclusive<usize> {
        match self {
            Func::Index => 1..=MAX_KEYS,
            Func::Join => 1..=1,
            _ => 0..=0,
        }
    }

    /// What the action prints for `value` and the other arguments `args`.
    pub(super) fn apply(
        self,
        value: Value,
        args: &[Value],
        target: &Target,
    ) -> Result<String, Error> {
        let failed = |reason: String| {
            Error::Usage(format!(
                "template: :1:{}: executing \"\" at <{} {}>: error calling {}: {reason}",
                target.column,
                self.name(),
                target.source,
                self.name()
            ))
        };
        Ok(match self {
            Func::Print => go_print(&value),
            Func::Json => value.to_string(),
            Func::Upper => go_print(&value).to_uppercase(),
            Func::Lower => go_print(&value).to_lowercase(),
            Func::Len => match &value {
                // Go's nil map or slice (a `null` in the JSON) has length 0.
                Value::Null => "0".to_string(),
                Value::Array(items) => items.len().to_string(),
                Value::Object(map) => map.len().to_string(),
                Value::String(text) => text.len().to_string(),
                other => return Err(failed(format!("len of {}", kind(other)))),
            },
            Func::Index => {
                let mut current = value;
                for key in args {
                    current = index(current, key).map_err(failed)?;
                }
                go_print(&current)
            }
            Func::Join => {
                let items = match &value {
                    Value::Null => &Vec::new(),
                    Value::Array(items) => items,
                    other => return Err(failed(format!("join of {}", kind(other)))),
                };
                let parts: Vec<String> = items.iter().map(go_print).collect();
                parts.join(&go_print(&args[0]))
            }
        })
    }
}

/// `value[key]` as Go's `index` gives it: a list by position, a map by key (a missing key,
/// or any key of a nil map such as an image's `Labels: null`, gives the empty string, the
/// zero value of Docker's string maps).
fn index(value: Value, key: &Value) -> Result<Value, String> {
    match (value, key) {
        (Value::Array(mut items), Value::Number(n)) => {
            let at = n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < items.len())
                .ok_or_else(|| format!("index out of range: {n}"))?;
            Ok(items.swap_remove(at))
        }
        (Value::Object(mut map), Value::String(name)) => {
            Ok(map.remove(name).unwrap_or(Value::String(String::new())))
        }
        (Value::Null, Value::String(_)) => Ok(Value::String(String::new())),
        (Value::Null, Value::Number(n)) => Err(format!("index out of range: {n}")),
        (value, key) => Err(format!("cannot index {} with {}", kind(&value), kind(key))),
    }
}

/// The kind of a value, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// The words of an action: split at white space, except inside a quoted string (which keeps
/// its quotes, and may hold `\"`).
pub(super) fn words(inner: &str, column: usize) -> Result<Vec<String>, Error> {
    let mut words = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            word.push(chars.next().expect("peeked"));
            loop {
                match chars.next() {
                    Some('\\') => {
                        word.push('\\');
                        let escaped = chars
                            .next()
                            .ok_or_else(|| parse_error(column, "unterminated quoted string"))?;
                        word.push(escaped);
                    }
                    Some('"') => {
                        word.push('"');
                        break;
                    }
                    Some(other) => word.push(other),
                    None => return Err(parse_error(column, "unterminated quoted string")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}
