//! The typed result of parsing a Dockerfile. Arguments are kept as written (quotes and `$VAR`
//! included) wherever Docker expands them later; see [`crate::expand`].

use serde::Serialize;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dockerfile {
    /// The parser directives found at the top.
    pub directives: Directives,
    /// `ARG` instructions before the first `FROM` (each a [`Command::Arg`]); they are visible
    /// to every `FROM` line, and inside a stage only after a bare `ARG name` re-declares them.
    pub global_args: Vec<Instruction>,
    /// The build stages, in order.
    pub stages: Vec<Stage>,
    /// Things Docker accepts but warns about (e.g. empty continuation lines).
    pub warnings: Vec<Warning>,
}

/// `# syntax=`, `# escape=` and `# check=` parser directives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directives {
    /// The frontend image named by `# syntax=`, if any (berth does not run frontends).
    pub syntax: Option<String>,
    /// The escape token: `\` by default, or `` ` ``.
    pub escape: char,
    /// The value of `# check=` (build check configuration), if any.
    pub check: Option<String>,
}

/// A warning with the line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// The warning, in Docker's words.
    pub message: String,
}

/// Where an instruction sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// First line (1-based).
    pub start_line: usize,
    /// Last line, including continuation lines and heredoc bodies.
    pub end_line: usize,
    /// Column (1-based, in characters) of the instruction's first character.
    pub column: usize,
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// The image or earlier stage it starts from, as written (expanded with the global ARGs).
    pub base: String,
    /// The stage name given with `AS`, lower-cased as Docker does.
    pub name: Option<String>,
    /// `--platform=`, as written.
    pub platform: Option<String>,
    /// The `FROM` line's text and position.
    pub original: String,
    /// Where the `FROM` line is.
    pub location: Location,
    /// The instructions of the stage, in order.
    pub instructions: Vec<Instruction>,
}

/// One instruction with its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instruction {
    /// What it says.
    pub command: Command,
    /// The logical line as Docker sees it: continuation lines joined, comments between them
    /// dropped, leading whitespace removed; without heredoc bodies (those are in `command`).
    pub original: String,
    /// Where it is.
    pub location: Location,
}

/// The instructions of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "UPPERCASE")]
pub enum Command {
    /// `RUN`.
    Run(Run),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Add),
    /// `ENV`: pairs in order.
    Env { pairs: Vec<KeyValue> },
    /// `ARG`: declarations in order.
    Arg { args: Vec<ArgDecl> },
    /// `WORKDIR`.
    Workdir { path: String },
    /// `USER`.
    User { user: String },
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `EXPOSE`: ports as written (`80`, `53/udp`, `$PORT`).
    Expose { ports: Vec<String> },
    /// `LABEL`: pairs in order.
    Label { pairs: Vec<KeyValue> },
    /// `VOLUME`: paths (JSON array or words).
    Volume { paths: Vec<String> },
    /// `STOPSIGNAL`.
    Stopsignal { signal: String },
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL`: always a JSON array.
    Shell { shell: Vec<String> },
    /// `ONBUILD`: a trigger recorded in the image, run by builds that start `FROM` it.
    Onbuild(Onbuild),
    /// `MAINTAINER` (deprecated, still accepted).
    Maintainer { name: String },
}

/// A command in exec (JSON) or shell form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandLine {
    /// Exec form: the argv. Shell form: one element, the command text as written.
    pub args: Vec<String>,
    /// Shell form: the builder runs it as `SHELL + [text]`.
    pub prepend_shell: bool,
    /// Heredocs introduced on the line, in order (RUN only).
    pub heredocs: Vec<Heredoc>,
}

/// A here-document (`<<EOF … EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, unquoted.
    pub name: String,
    /// The body, each line with its newline; with `<<-` leading tabs already removed.
    pub content: String,
    /// False when the delimiter was quoted: `$VAR` in the body stays as written.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped from the body and the terminator.
    pub chomp: bool,
    /// The file descriptor in `3<<EOF`, if one was given.
    pub fd: Option<u32>,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The command.
    pub command: CommandLine,
    /// `--mount=` options, in order.
    pub mounts: Vec<RunMount>,
    /// `--network=` (`default`, `none` or `host`).
    pub network: Option<String>,
    /// `--security=` (`sandbox` or `insecure`).
    pub security: Option<String>,
}

/// One `RUN --mount=` option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunMount {
    /// The spec as written.
    pub spec: String,
    /// The spec parsed; `None` when it uses variables, which must be expanded first
    /// ([`crate::expand::expand_instruction`] fills it in).
    pub mount: Option<Mount>,
}

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A directory from the context or another stage (read-only by default).
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file (or environment variable with `env=`).
    Secret,
    /// An SSH agent socket.
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheSharing {
    /// Used by all writers at once (the default).
    Shared,
    /// Each concurrent writer gets its own copy.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// A parsed `RUN --mount=` spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// `type=` (bind when absent).
    pub kind: MountType,
    /// `from=`: a stage or image to take `source` from.
    pub from: Option<String>,
    /// `source=` / `src=`.
    pub source: Option<String>,
    /// `target=` / `dst=` / `destination=`.
    pub target: Option<String>,
    /// `ro`/`rw` as given, or the type's default (bind, secret and ssh are read-only).
    pub readonly: bool,
    /// `id=`: the cache, secret or ssh id.
    pub id: Option<String>,
    /// `sharing=` (cache mounts; shared when absent).
    pub sharing: Option<CacheSharing>,
    /// `required` (secret and ssh mounts).
    pub required: bool,
    /// `mode=` (octal in the spec).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `size=` in bytes (tmpfs).
    pub size: Option<u64>,
    /// `env=`: expose a secret as this environment variable.
    pub env: Option<String>,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    /// Source paths as written (heredoc sources are in `heredocs`).
    pub sources: Vec<String>,
    /// Inline files given as `<<EOF` sources; each is written under its delimiter name.
    pub heredocs: Vec<Heredoc>,
    /// Destination as written.
    pub dest: String,
    /// `--from=`: a stage name, stage index or image.
    pub from: Option<String>,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude=` patterns.
    pub exclude: Vec<String>,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Add {
    /// Source paths or URLs as written.
    pub sources: Vec<String>,
    /// Inline files given as `<<EOF` sources.
    pub heredocs: Vec<Heredoc>,
    /// Destination as written.
    pub dest: String,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--keep-git-dir`, when given.
    pub keep_git_dir: Option<bool>,
    /// `--checksum=`.
    pub checksum: Option<String>,
    /// `--unpack`, when given.
    pub unpack: Option<bool>,
    /// `--exclude=` patterns.
    pub exclude: Vec<String>,
}

/// A `key=value` pair of ENV or LABEL; both as written until expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// The name.
    pub key: String,
    /// The value.
    pub value: String,
}

/// One name of an `ARG`, with its default if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default value, as written.
    pub default: Option<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [options] CMD …`.
    Cmd(HealthConfig),
}

/// A health check as the Engine API's `HealthConfig` holds it; durations in nanoseconds,
/// 0 meaning "inherit / default".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthConfig {
    /// `["CMD", argv…]` (exec form) or `["CMD-SHELL", text]` (shell form).
    pub test: Vec<String>,
    /// `--interval=`.
    pub interval: i64,
    /// `--timeout=`.
    pub timeout: i64,
    /// `--start-period=`.
    pub start_period: i64,
    /// `--start-interval=`.
    pub start_interval: i64,
    /// `--retries=`.
    pub retries: i64,
}

/// `ONBUILD`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Onbuild {
    /// The trigger's text, as stored in the image config's `OnBuild` list.
    pub expression: String,
    /// The trigger, parsed.
    pub trigger: Box<Instruction>,
}
