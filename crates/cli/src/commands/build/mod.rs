//! `berth build`: the docker CLI's legacy builder client. The context (a directory with its
//! `.dockerignore` applied, a tar or a Dockerfile on stdin) is streamed to `POST /build` as a
//! chunked tar while it is written; the daemon's JSON messages are shown as they arrive.

mod auth;
mod context;
mod messages;
mod output;
mod query;
mod secrets;
mod tree;

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};

use crate::error::{Error, Result};
use crate::http::Body;
use crate::Context;

/// `berth build` flags: the docker CLI's, for the legacy builder.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long = "tag", value_name = "list")]
    tag: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short, long = "file", value_name = "string")]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    build_arg: Vec<String>,
    /// Set metadata for an image
    #[arg(long, value_name = "list")]
    label: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    iidfile: Option<PathBuf>,
    /// Set the target build stage to build
    #[arg(long, value_name = "string")]
    target: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string", default_value = "default")]
    network: String,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    platform: Option<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    force_rm: bool,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_name = "list")]
    add_host: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "strings", value_delimiter = ',')]
    cache_from: Vec<String>,
    /// Set the parent cgroup for the "RUN" instructions during build
    #[arg(long, value_name = "string")]
    cgroup_parent: Option<String>,
    /// Size of "/dev/shm"
    #[arg(long, value_name = "bytes")]
    shm_size: Option<String>,
    /// Memory limit
    #[arg(short, long, value_name = "bytes")]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, value_name = "bytes", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "int")]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    cpuset_mems: Option<String>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "int")]
    cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "int")]
    cpu_quota: Option<i64>,
    /// Security options
    #[arg(long = "security-opt", value_name = "strings")]
    security_opt: Vec<String>,
    /// Container isolation technology
    #[arg(long, value_name = "string")]
    isolation: Option<String>,
    /// Skip image verification (accepted, as docker does by default)
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    disable_content_trust: bool,
    /// Export the built image's files: type=local,dest=DIR or type=tar,dest=FILE (`-` for
    /// stdout); a bare DIR or `-` is short for those; type=oci,dest=FILE (`-` for stdout)
    /// writes the image as an OCI layout tar
    #[arg(short, long, value_name = "stringArray")]
    output: Vec<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long, value_name = "stringArray")]
    secret: Vec<String>,
    /// PATH | URL | -
    #[arg(value_name = "PATH | URL | -")]
    context: Option<String>,
}

/// Where the context comes from, as the docker CLI tells them apart.
enum Source {
    /// `-`: a tar (maybe compressed) or a Dockerfile on stdin.
    Stdin,
    /// A local directory.
    Directory(PathBuf),
    /// A URL the daemon fetches (`remote=`): an http(s) archive or Dockerfile, a git repository.
    Remote(String),
}

fn classify(context: &str) -> Result<Source> {
    if context == "-" {
        return Ok(Source::Stdin);
    }
    if Path::new(context).is_dir() {
        return Ok(Source::Directory(PathBuf::from(context)));
    }
    let is_url = context.starts_with("http://") || context.starts_with("https://");
    let is_git = context.starts_with("git://")
        || context.starts_with("git@")
        || context.starts_with("github.com/")
        || (is_url && (context.ends_with(".git") || context.contains(".git#")));
    if is_url || is_git {
        return Ok(Source::Remote(context.to_string()));
    }
    Err(Error::Refused(format!(
        "unable to prepare context: path {context:?} not found"
    )))
}

/// Builds an image from a context.
pub fn build(cx: &Context, args: &BuildArgs) -> Result<()> {
    let Some(context) = args.context.as_deref() else {
        return Err(Error::Coded {
            code: 1,
            message: "berth: 'berth build' requires 1 argument\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information".into(),
        });
    };
    let mut query = query::Query::from_args(args)?;
    let secrets = secrets::header(&args.secret)?;
    let outputs = output::parse_all(&args.output)?;
    if args.file.as_deref() == Some("-") && context == "-" {
        return Err(Error::Refused(
            "invalid argument: can't use stdin for both build context and dockerfile".into(),
        ));
    }
    if let Some(iidfile) = &args.iidfile {
        match std::fs::remove_file(iidfile) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(Error::io(
                    format!("Removing image ID file {}", iidfile.display()),
                    e,
                ))
            }
            _ => {}
        }
    }
    let prepared = match classify(context)? {
        Source::Remote(url) => {
            query.remote(&url, args.file.as_deref());
            None
        }
        Source::Stdin => {
            let (reader, dockerfile) = context::from_stdin(args.file.as_deref())?;
            query.dockerfile(&dockerfile);
            Some(reader)
        }
        Source::Directory(dir) => {
            let stdin_dockerfile = if args.file.as_deref() == Some("-") {
                let mut text = Vec::new();
                io::stdin()
                    .lock()
                    .read_to_end(&mut text)
                    .map_err(|e| Error::io("read the Dockerfile from stdin", e))?;
                Some(text)
            } else {
                None
            };
            let plan = context::plan_directory(&dir, args.file.as_deref(), stdin_dockerfile)?;
            query.dockerfile(&plan.dockerfile);
            Some(context::stream_directory(plan)?)
        }
    };
    let daemon = cx.daemon()?;
    let path = format!("/build?{}", query.encode());
    let mut headers = vec![("X-Registry-Config", auth::registry_config(&cx.config_dir)?)];
    headers.extend(secrets);
    let terminal = io::stdout().is_terminal() && !args.quiet;
    let response = match prepared {
        Some(reader) => {
            let mut sending = context::Sending::new(reader, terminal);
            let body = Body::Stream {
                content_type: "application/x-tar",
                len: None,
                reader: &mut sending,
            };
            let response = daemon.request("POST", &path, &headers, body);
            if let Some(failure) = sending.failure() {
                return Err(Error::Refused(failure));
            }
            sending.finish();
            response?
        }
        None => daemon.request(
            "POST",
            &path,
            &headers,
            Body::Stream {
                content_type: "application/x-tar",
                len: None,
                reader: &mut io::empty(),
            },
        )?,
    };
    let stdout_taken = outputs.iter().any(output::Output::to_stdout);
    let outcome = messages::show(response.body, args.quiet, stdout_taken)?;
    if args.quiet {
        if stdout_taken {
            eprint!("{}", outcome.quiet_id);
        } else {
            write_out(outcome.quiet_id.as_bytes())?;
        }
    }
    let image_id = if args.quiet {
        outcome.quiet_id.clone()
    } else {
        outcome.aux_id.clone().unwrap_or_default()
    };
    if let Some(iidfile) = &args.iidfile {
        if image_id.is_empty() {
            return Err(Error::Refused(format!(
                "Server did not provide an image ID. Cannot write {}",
                iidfile.display()
            )));
        }
        std::fs::write(iidfile, &image_id)
            .map_err(|e| Error::io(format!("write {}", iidfile.display()), e))?;
    }
    if !outputs.is_empty() {
        let id = image_id.trim();
        if id.is_empty() {
            return Err(Error::Refused(
                "the daemon did not say which image it built: nothing to export".into(),
            ));
        }
        for out in &outputs {
            output::export(&daemon, id, out)?;
        }
    }
    Ok(())
}

fn write_out(bytes: &[u8]) -> Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("stdout", e))
}
