//! `images`, `inspect`, `history`, `tag`, `rmi` and `image prune`.

use std::io::{BufRead, Write};

use clap::{ArgAction, Args};
use serde_json::{json, Value};

use crate::client::escape;
use crate::commands::{print_rows, short_id, split_name, write_stdout};
use crate::error::{Error, Result};
use crate::format::{ago, created_at, human_size, now, rfc3339};
use crate::http::Body;
use crate::Context;
use berth_api::images_list::{DeleteResponseItem, HistoryItem, ImageListItem, ImagePruneResponse};

/// `berth images` flags.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided (dangling=, label=, reference=, before=,
    /// since=)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// Column names of image and history rows.
fn header(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "IMAGE ID",
        "Repository" => "REPOSITORY",
        "Tag" => "TAG",
        "Digest" => "DIGEST",
        "CreatedSince" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "CreatedBy" => "CREATED BY",
        "Size" => "SIZE",
        "Comment" => "COMMENT",
        "Containers" => "CONTAINERS",
        _ => return None,
    })
}

/// Column names of history rows: the id column is `IMAGE` there.
fn history_header(field: &str) -> Option<&'static str> {
    match field {
        "ID" => Some("IMAGE"),
        other => header(other),
    }
}

/// One row per repository and tag of each image, as `docker images` shows them.
fn image_rows(images: &[ImageListItem], no_trunc: bool) -> Vec<Value> {
    let now = now();
    let mut rows = Vec::new();
    for image in images {
        let id = if no_trunc {
            image.id.clone()
        } else {
            short_id(&image.id)
        };
        let row = |repository: &str, tag: &str, digest: &str| {
            json!({
                "Containers": "N/A",
                "CreatedAt": created_at(image.created),
                "CreatedSince": ago(image.created, now),
                "Digest": digest,
                "ID": id,
                "Repository": repository,
                "Size": human_size(image.size),
                "Tag": tag,
            })
        };
        let tags: Vec<&str> = image
            .repo_tags
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "<none>:<none>")
            .collect();
        let digests: Vec<&str> = image
            .repo_digests
            .iter()
            .map(String::as_str)
            .filter(|d| *d != "<none>@<none>")
            .collect();
        let digest_of = |repository: &str| {
            digests
                .iter()
                .filter_map(|d| d.split_once('@'))
                .find(|(repo, _)| *repo == repository)
                .map_or("<none>", |(_, digest)| digest)
        };
        let mut repositories_shown = Vec::new();
        for tag in &tags {
            let Some((repository, tag)) = tag.rsplit_once(':') else {
                continue;
            };
            repositories_shown.push(repository);
            rows.push(row(repository, tag, digest_of(repository)));
        }
        for digest in &digests {
            if let Some((repository, digest)) = digest.split_once('@') {
                if !repositories_shown.contains(&repository) {
                    repositories_shown.push(repository);
                    rows.push(row(repository, "<none>", digest));
                }
            }
        }
        if repositories_shown.is_empty() {
            rows.push(row("<none>", "<none>", "<none>"));
        }
    }
    rows
}

/// Lists the daemon's images.
pub fn list(cx: &Context, args: &ImagesArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let mut query = vec![];
    if args.all {
        query.push("all=1".to_string());
    }
    // A REPOSITORY[:TAG] argument is one more reference filter, as the docker CLI sends it.
    let mut filters = args.filter.clone();
    filters.extend(args.reference.iter().map(|r| format!("reference={r}")));
    if !filters.is_empty() {
        query.push(format!("filters={}", super::filters_json(&filters)?));
    }
    let path = format!("/images/json?{}", query.join("&"));
    let images: Vec<ImageListItem> = daemon.get_json(&path)?;
    let rows = image_rows(&images, args.no_trunc);
    let default = if args.quiet {
        "{{.ID}}"
    } else if args.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = if args.quiet {
        None
    } else {
        args.format.as_deref()
    };
    print_rows(format, default, &rows, header)
}

/// `berth inspect` / `berth image inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for specified type (container or image)
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// Objects to inspect
    #[arg(required = true, value_name = "NAME|ID")]
    images: Vec<String>,
}

/// The daemon's JSON text for `name` as `kind` (container or image; else whichever exists).
fn inspect_one(
    daemon: &crate::client::Daemon,
    name: &str,
    kind: Option<&str>,
    size: bool,
) -> Result<Option<Vec<u8>>> {
    let query = if size { "?size=1" } else { "" };
    let container = || daemon.get_bytes(&format!("/containers/{}/json{query}", escape(name)));
    let image = || daemon.get_bytes(&format!("/images/{}/json", escape(name)));
    let network = || daemon.get_bytes(&format!("/networks/{}", escape(name)));
    let missing = |e: &Error| matches!(e, Error::Daemon { status: 404, .. });
    let found = match kind {
        Some("container") => container(),
        Some("image") => image(),
        Some("network") => network(),
        Some(other) => {
            return Err(Error::Usage(format!(
                "{other:?} is not a valid value for --type"
            )))
        }
        None => match container() {
            Err(e) if missing(&e) => match image() {
                Err(e) if missing(&e) => network(),
                other => other,
            },
            other => other,
        },
    };
    match found {
        Err(e) if missing(&e) => Ok(None),
        other => other.map(Some),
    }
}

/// Prints inspected objects as docker does: the daemon's JSON in an indented array, or the
/// `--format` template applied to each.
pub fn print_inspected(
    daemon: &crate::client::Daemon,
    found: &[Vec<u8>],
    format: Option<&str>,
) -> Result<()> {
    let template = format
        .filter(|f| *f != "json" && !f.is_empty())
        .map(crate::template::Template::parse)
        .transpose()?;
    let mut out = String::new();
    match template {
        Some(template) => {
            for raw in found {
                let object: Value = serde_json::from_slice(raw)
                    .map_err(|e| daemon.protocol(format!("inspect: unexpected answer: {e}")))?;
                out.push_str(&template.render(&object)?);
                out.push('\n');
            }
        }
        None if found.is_empty() => out.push_str("[]\n"),
        None => {
            out.push('[');
            for (i, raw) in found.iter().enumerate() {
                out.push_str(if i == 0 { "\n    " } else { ",\n    " });
                crate::format::indent_json(raw, 1, &mut out);
            }
            out.push_str("\n]\n");
        }
    }
    write_stdout(&out)
}

/// Prints the daemon's JSON for each image (or the template applied to it).
pub fn inspect(cx: &Context, args: &InspectArgs, forced: Option<&str>) -> Result<()> {
    let daemon = cx.daemon()?;
    let kind = forced.or(args.kind.as_deref());
    let mut found = Vec::new();
    let mut missing = None;
    for name in &args.images {
        match inspect_one(&daemon, name, kind, args.size)? {
            Some(object) => found.push(object),
            None => {
                let what = match kind {
                    Some("container") => "container",
                    Some("image") => "image",
                    Some("network") => "network",
                    _ => "object",
                };
                missing = Some(Error::Refused(format!("Error: No such {what}: {name}")));
            }
        }
    }
    print_inspected(&daemon, &found, args.format.as_deref())?;
    missing.map_or(Ok(()), Err)
}

/// `berth history` flags.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// The image
    image: String,
}

/// Prints the steps that made an image, newest first.
pub fn history(cx: &Context, args: &HistoryArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let items: Vec<HistoryItem> =
        daemon.get_json(&format!("/images/{}/history", escape(&args.image)))?;
    let now = now();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let id = if args.no_trunc || item.id == "<missing>" {
                item.id.clone()
            } else {
                short_id(&item.id)
            };
            let created_by = item.created_by.replace('\t', " ");
            let created_by = if !args.no_trunc && created_by.chars().count() > 45 {
                format!("{}…", created_by.chars().take(44).collect::<String>())
            } else {
                created_by
            };
            let size = item.size.max(0) as u64;
            json!({
                "ID": id,
                "CreatedSince": if args.human { ago(item.created, now) } else { rfc3339(item.created) },
                "CreatedAt": rfc3339(item.created),
                "CreatedBy": created_by,
                "Size": if args.human { human_size(size) } else { size.to_string() },
                "Comment": item.comment,
            })
        })
        .collect();
    let (format, default) = if args.quiet {
        (None, "{{.ID}}")
    } else {
        (
            args.format.as_deref(),
            "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        )
    };
    print_rows(format, default, &rows, history_header)
}

/// `berth tag` arguments.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

/// Gives an image another name.
pub fn tag(cx: &Context, args: &TagArgs) -> Result<()> {
    let target = split_name(&args.target)?;
    if target.digest.is_some() {
        return Err(Error::Usage(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    let daemon = cx.daemon()?;
    let path = format!(
        "/images/{}/tag?repo={}&tag={}",
        escape(&args.source),
        escape(&target.repository),
        escape(target.tag.as_deref().unwrap_or("latest"))
    );
    daemon.request("POST", &path, &[], Body::Empty)?;
    Ok(())
}

/// `berth rmi` flags.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    /// Images to remove
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub(crate) fn deleted_lines(items: &[DeleteResponseItem], lower: bool) -> String {
    let mut out = String::new();
    for item in items {
        if let Some(name) = &item.untagged {
            out.push_str(&format!(
                "{}: {name}\n",
                if lower { "untagged" } else { "Untagged" }
            ));
        }
        if let Some(id) = &item.deleted {
            out.push_str(&format!(
                "{}: {id}\n",
                if lower { "deleted" } else { "Deleted" }
            ));
        }
    }
    out
}

/// Removes each image; a failure is reported and the others are still removed.
pub fn remove(cx: &Context, args: &RmiArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let mut last_error = None;
    for name in &args.images {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            escape(name),
            args.force,
            args.no_prune
        );
        let result = daemon
            .request("DELETE", &path, &[], Body::Empty)
            .and_then(|response| {
                let bytes = response
                    .bytes()
                    .map_err(|e| daemon.protocol(format!("DELETE /images/{name}: {e}")))?;
                serde_json::from_slice::<Vec<DeleteResponseItem>>(&bytes)
                    .map_err(|e| daemon.protocol(format!("DELETE /images/{name}: {e}")))
            });
        match result {
            Ok(items) => write_stdout(&deleted_lines(&items, false))?,
            Err(e) => {
                if let Some(previous) = last_error.replace(e) {
                    eprintln!("{previous}");
                }
            }
        }
    }
    last_error.map_or(Ok(()), Err)
}

/// `berth image prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Asks `question` on the terminal; anything but y/yes is no.
pub(crate) fn confirm(question: &str) -> Result<bool> {
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{question} [y/N] ")
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("stdout", e))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("stdin", e))?;
    // At the end of a piped stdin, nobody pressed enter: end the prompt's line.
    if answer.is_empty() {
        writeln!(stdout).map_err(|e| Error::io("stdout", e))?;
    }
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Removes dangling (with `-a`: all unused) images.
pub fn prune(cx: &Context, args: &PruneArgs) -> Result<()> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(&format!("{warning}\nAre you sure you want to continue?"))? {
        return Ok(());
    }
    let daemon = cx.daemon()?;
    let filters = json!({ "dangling": [if args.all { "false" } else { "true" }] }).to_string();
    let path = format!("/images/prune?filters={}", escape(&filters));
    let response = daemon.request("POST", &path, &[], Body::Empty)?;
    let bytes = response
        .bytes()
        .map_err(|e| daemon.protocol(format!("POST /images/prune: {e}")))?;
    let pruned: ImagePruneResponse = serde_json::from_slice(&bytes)
        .map_err(|e| daemon.protocol(format!("POST /images/prune: unexpected answer: {e}")))?;
    let mut out = String::new();
    let deleted = pruned.images_deleted;
    if !deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        out.push_str(&deleted_lines(&deleted, true));
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        crate::format::human_size_4(pruned.space_reclaimed)
    ));
    write_stdout(&out)
}
