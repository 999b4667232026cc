//! `pull`, `push`, `save` and `load`: the commands that stream images through the daemon.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::client::escape;
use crate::commands::auth::registry_auth;
use crate::commands::{canonical_repository, domain_of, split_name, write_stdout};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::progress;
use crate::Context;

/// `berth pull` flags.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    name: String,
}

/// Pulls an image through the daemon, showing its progress.
pub fn pull(cx: &Context, args: &PullArgs) -> Result<()> {
    let parts = split_name(&args.name)?;
    let reference = match (&parts.digest, &parts.tag) {
        (Some(digest), _) => digest.clone(),
        (None, Some(tag)) => tag.clone(),
        (None, None) => {
            if !args.quiet {
                write_stdout("Using default tag: latest\n")?;
            }
            "latest".to_string()
        }
    };
    let daemon = cx.daemon()?;
    let mut path = format!(
        "/images/create?fromImage={}&tag={}",
        escape(&parts.repository),
        escape(&reference)
    );
    if let Some(platform) = &args.platform {
        path.push_str(&format!("&platform={}", escape(platform)));
    }
    let auth = registry_auth(cx, domain_of(&parts.repository))?;
    let response = daemon.request("POST", &path, &[("X-Registry-Auth", auth)], Body::Empty)?;
    let mut body = response.body;
    progress::render(&mut body, args.quiet)?;
    let separator = if parts.digest.is_some() { '@' } else { ':' };
    write_stdout(&format!(
        "{}{separator}{reference}\n",
        canonical_repository(&parts.repository)
    ))
}

/// `berth push` flags.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG]
    name: String,
}

/// Pushes an image (all its tags when none is given) through the daemon.
pub fn push(cx: &Context, args: &PushArgs) -> Result<()> {
    let parts = split_name(&args.name)?;
    if parts.digest.is_some() {
        return Err(Error::Usage(format!(
            "cannot push a digest reference: {:?}",
            args.name
        )));
    }
    let daemon = cx.daemon()?;
    let path = format!(
        "/images/{}/push?tag={}",
        escape(&parts.repository),
        escape(parts.tag.as_deref().unwrap_or(""))
    );
    let auth = registry_auth(cx, domain_of(&parts.repository))?;
    let response = daemon.request("POST", &path, &[("X-Registry-Auth", auth)], Body::Empty)?;
    let mut body = response.body;
    progress::render(&mut body, args.quiet)?;
    if args.quiet {
        write_stdout(&format!("{}\n", args.name))?;
    }
    Ok(())
}

/// `berth save` flags.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Images to save
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// Writes `path` through `write` (given the new file) so that a crash or a failure leaves
/// either the old file or the whole new one: a temp file beside it, synced, renamed over it.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{} names no file", path.display())))?;
    let temp = dir.join(format!(
        ".{}.berth-save-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let failed = |e: io::Error| Error::io(format!("writing {}", path.display()), e);
    let result = File::create(&temp).map_err(failed).and_then(|mut file| {
        write(&mut file)?;
        file.sync_all().map_err(failed)?;
        fs::rename(&temp, path).map_err(failed)?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(failed)
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Streams the images as a docker-save archive to `-o` or a non-terminal stdout.
pub fn save(cx: &Context, args: &SaveArgs) -> Result<()> {
    if args.output.is_none() && io::stdout().is_terminal() {
        return Err(Error::Refused(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let daemon = cx.daemon()?;
    let names: Vec<String> = args
        .images
        .iter()
        .map(|n| format!("names={}", escape(n)))
        .collect();
    let path = format!("/images/get?{}", names.join("&"));
    let mut response = daemon.request("GET", &path, &[], Body::Empty)?;
    write_output(args.output.as_deref(), &mut response.body)
}

/// Writes an archive streamed from the daemon to `output` (atomically) or to stdout.
pub(crate) fn write_output(output: Option<&Path>, from: &mut dyn io::Read) -> Result<()> {
    match output {
        Some(output) => write_atomically(output, |file| {
            io::copy(from, file)
                .map(drop)
                .map_err(|e| Error::io(format!("writing {}", output.display()), e))
        }),
        None => {
            let mut stdout = io::stdout().lock();
            io::copy(from, &mut stdout)
                .and_then(|_| stdout.flush())
                .map(|_| ())
                .map_err(|e| Error::io("writing the archive to stdout", e))
        }
    }
}

/// `berth load` flags.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

/// Sends an archive (from `-i` or stdin) to the daemon and prints what it loaded.
pub fn load(cx: &Context, args: &LoadArgs) -> Result<()> {
    let mut input: Box<dyn io::Read> = match &args.input {
        Some(path) => Box::new(
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?,
        ),
        None if io::stdin().is_terminal() => {
            return Err(Error::Refused(
                "requested load from stdin, but stdin is empty".into(),
            ))
        }
        None => Box::new(io::stdin().lock()),
    };
    let len = match &args.input {
        Some(path) => Some(
            fs::metadata(path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
                .len(),
        ),
        None => None,
    };
    let daemon = cx.daemon()?;
    let path = format!("/images/load?quiet={}", u8::from(args.quiet));
    let response = daemon.request(
        "POST",
        &path,
        &[],
        Body::Stream {
            content_type: "application/x-tar",
            len,
            reader: &mut input,
        },
    )?;
    let mut body = response.body;
    progress::render(&mut body, false)?;
    Ok(())
}
