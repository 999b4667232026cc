//! `commit`, `export`, `import` and `diff`: a container's file system as an image, a tar, or
//! a list of changes, and a tar as an image.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;

use clap::{ArgAction, Args};
use serde::Deserialize;

use crate::client::escape;
use crate::commands::transfer::write_output;
use crate::commands::{split_name, write_stdout};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::progress;
use crate::Context;

/// `berth commit` flags.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "list")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    pause: bool,
    /// The container to commit
    container: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

/// `&changes=…` for each `--change`.
fn changes_query(changes: &[String]) -> String {
    changes
        .iter()
        .map(|c| format!("&changes={}", escape(c)))
        .collect()
}

/// The `repo` and `tag` a `REPOSITORY[:TAG]` argument sends (`latest` when only a repository
/// is named); a digest cannot be a new image's name.
fn repo_and_tag(reference: Option<&str>) -> Result<(String, String)> {
    let Some(reference) = reference else {
        return Ok((String::new(), String::new()));
    };
    let parts = split_name(reference)?;
    if parts.digest.is_some() {
        return Err(Error::Refused(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    Ok((
        parts.repository,
        parts.tag.unwrap_or_else(|| "latest".into()),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdResponse {
    id: String,
}

/// Makes an image of the container's changes and prints its id.
pub fn commit(cx: &Context, args: &CommitArgs) -> Result<()> {
    let (repo, tag) = repo_and_tag(args.reference.as_deref())?;
    let mut path = format!(
        "/commit?container={}&repo={}&tag={}&comment={}&author={}{}",
        escape(&args.container),
        escape(&repo),
        escape(&tag),
        escape(args.message.as_deref().unwrap_or("")),
        escape(args.author.as_deref().unwrap_or("")),
        changes_query(&args.change)
    );
    if !args.pause {
        path.push_str("&pause=0");
    }
    let response: IdResponse = cx.daemon()?.post_json(&path, None::<&()>)?;
    write_stdout(&format!("{}\n", response.id))
}

/// `berth export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The container to export
    container: String,
}

/// Streams the container's root file system as a tar to `-o` or a non-terminal stdout.
pub fn export(cx: &Context, args: &ExportArgs) -> Result<()> {
    if args.output.is_none() && io::stdout().is_terminal() {
        return Err(Error::Refused(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let path = format!("/containers/{}/export", escape(&args.container));
    let mut response = cx.daemon()?.request("GET", &path, &[], Body::Empty)?;
    write_output(args.output.as_deref(), &mut response.body)
}

/// `berth import` flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "list")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// file|URL|- (a URL is passed on to the daemon, which may refuse it)
    source: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

/// Sends a root file system tar (a file or stdin) to the daemon and prints the new image's id.
pub fn import(cx: &Context, args: &ImportArgs) -> Result<()> {
    if let Some(reference) = &args.reference {
        split_name(reference)?;
    }
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let mut input: Option<(Box<dyn Read>, Option<u64>)> = match args.source.as_str() {
        _ if is_url => None,
        "-" => Some((Box::new(io::stdin().lock()), None)),
        file => {
            let opened = File::open(file).map_err(|e| Error::io(format!("open {file}"), e))?;
            let len = opened
                .metadata()
                .map_err(|e| Error::io(format!("stat {file}"), e))?
                .len();
            Some((Box::new(opened), Some(len)))
        }
    };
    let source = if is_url { args.source.as_str() } else { "-" };
    let mut path = format!(
        "/images/create?fromSrc={}&repo={}&tag=&message={}{}",
        escape(source),
        escape(args.reference.as_deref().unwrap_or("")),
        escape(args.message.as_deref().unwrap_or("")),
        changes_query(&args.change)
    );
    if let Some(platform) = &args.platform {
        path.push_str(&format!("&platform={}", escape(platform)));
    }
    let body = match &mut input {
        Some((reader, len)) => Body::Stream {
            content_type: "application/x-tar",
            len: *len,
            reader,
        },
        None => Body::Empty,
    };
    let response = cx.daemon()?.request("POST", &path, &[], body)?;
    let mut body = response.body;
    progress::render(&mut body, false)?;
    Ok(())
}

/// `berth diff` flags.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The container to inspect
    container: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Change {
    path: String,
    kind: u8,
}

/// Prints the container's changes: `C` changed, `A` added, `D` deleted.
pub fn diff(cx: &Context, args: &DiffArgs) -> Result<()> {
    let path = format!("/containers/{}/changes", escape(&args.container));
    let changes: Option<Vec<Change>> = cx.daemon()?.get_json(&path)?;
    let mut out = String::new();
    for change in changes.unwrap_or_default() {
        let kind = match change.kind {
            0 => 'C',
            1 => 'A',
            2 => 'D',
            _ => '?',
        };
        out.push_str(&format!("{kind} {}\n", change.path));
    }
    write_stdout(&out)
}
