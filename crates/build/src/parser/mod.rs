//! The Dockerfile parser: BuildKit's grammar (`frontend/dockerfile/parser` and `instructions`)
//! producing a typed [`Dockerfile`].

mod ast;
mod duration;
mod flags;
mod heredoc;
mod instructions;
mod mount;
mod node;
mod scanner;
mod stages;
mod words;

pub use ast::*;
pub use heredoc::is_heredoc_word;
pub use mount::parse_mount;
pub use stages::StageRef;

/// A Dockerfile that Docker would refuse, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    /// The file's name as given to [`parse`].
    pub file: String,
    /// 1-based line of the offending instruction (its first line) or directive.
    pub line: usize,
    /// 1-based column (in characters) of the instruction's first character.
    pub column: usize,
    /// Docker's message, e.g. `unknown instruction: FOO`.
    pub message: String,
}

impl ParseError {
    /// An error about the instruction at `location`, e.g. a failed expansion at build time.
    pub fn at(file: &str, location: Location, message: impl Into<String>) -> Self {
        ParseError {
            file: file.to_string(),
            line: location.start_line,
            column: location.column,
            message: message.into(),
        }
    }
}

/// Parses the Dockerfile `source`, read from `file` (the name is only used in errors).
///
/// Bytes that are not UTF-8 are replaced by U+FFFD; a leading byte-order mark is ignored.
pub fn parse(file: &str, source: &[u8]) -> Result<Dockerfile, ParseError> {
    let text = String::from_utf8_lossy(source);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let located = |(message, line, column): scanner::Located| ParseError {
        file: file.to_string(),
        line,
        column,
        message,
    };
    let directives = scanner::directives(&lines).map_err(located)?;
    let mut warnings = Vec::new();
    let nodes = scanner::nodes(&lines, directives.escape, &mut warnings).map_err(located)?;
    let at = |node: &node::Node| {
        let (line, column) = (node.location.start_line, node.location.column);
        move |message: String| located((message, line, column))
    };
    if nodes.is_empty() {
        return Err(located((
            "file with no instructions".into(),
            lines.len().max(1),
            1,
        )));
    }
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &nodes {
        if node.cmd.eq_ignore_ascii_case("from") {
            let from = instructions::from(node).map_err(at(node))?;
            stages.push(Stage {
                base: from.base,
                name: from.name,
                platform: from.platform,
                original: node.original.clone(),
                location: node.location,
                instructions: Vec::new(),
            });
            continue;
        }
        let instruction = instructions::instruction(node).map_err(at(node))?;
        match (stages.last_mut(), &instruction.command) {
            (Some(stage), _) => stage.instructions.push(instruction),
            (None, Command::Arg { .. }) => global_args.push(instruction),
            (None, _) => return Err(at(node)("no build stage in current context".into())),
        }
    }
    Ok(Dockerfile {
        directives,
        global_args,
        stages,
        warnings,
    })
}
