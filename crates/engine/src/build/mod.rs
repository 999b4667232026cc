//! `docker build` as dockerd's legacy builder runs it (`DOCKER_BUILDKIT=0`): the context
//! arrives as a tar, the Dockerfile's stages that the target needs run (independent ones at
//! the same time), every instruction yields an image (a RUN or COPY through a container
//! committed as a layer, the others as a configuration change with an `empty_layer` history
//! entry), and a content-based [`cache`] lets an unchanged step reuse the image it made before.
//!
//! Cached images are ordinary untagged images: `image prune` may remove them, and a cache
//! entry whose image is gone is dropped when it is next looked up (so the cache never
//! resurrects or pins an image); `builder prune` empties the index and removes the untagged
//! images it held.

mod cache;
mod cache_mounts;
mod context;
mod context_dir;
mod copy;
mod dir_copy;
mod download;
mod files;
mod heredoc;
mod index;
mod interrupted;
mod link;
mod metadata;
mod parallel;
mod run_mounts;
mod scoped;
mod spool;
mod stage;
mod steps;
mod stubs;
mod usage;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_build::expand::{expand_from, Lexer};
use berth_build::parser::{Command, Dockerfile, StageRef};
use berth_image::{Digest, Reference};
use tokio::sync::mpsc::UnboundedSender;

pub use cache::CacheEntry;

use crate::containers::ContainerService;
use crate::images::ImageService;
use cache::Cache;
use cache_mounts::CacheMounts;

/// What `POST /build` asks for besides the context.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `dockerfile`: the Dockerfile's path in the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// `t`: the names the final image gets.
    pub tags: Vec<Reference>,
    /// `buildargs`: a `None` value takes the variable from the client's environment, which
    /// the CLI has already done; such an argument counts as unset.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `labels`: added to the final image.
    pub labels: BTreeMap<String, String>,
    /// `nocache`: run every step.
    pub no_cache: bool,
    /// `pull`: pull base images even when present.
    pub pull: bool,
    /// `target`: the stage to build (the last one when empty).
    pub target: String,
    /// `networkmode`: the network of RUN containers (`default` when empty).
    pub network_mode: String,
    /// `--secret`s by id, for `RUN --mount=type=secret` (see [`berth_api::build_secrets`]).
    pub secrets: BTreeMap<String, Secret>,
}

/// A build secret's value: held in memory for the build, never printed (its `Debug` says
/// only how long it is), never part of a cache key or a layer.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// Its value.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// What a build reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Text for the user (`Step 1/3 : FROM busybox\n`, a RUN's output).
    Stream(String),
    /// The id of the image built, before the final lines.
    ImageId(Digest),
}

/// Where a build's output goes; a client that went away does not stop the build.
pub type Sink = UnboundedSender<Output>;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile, an argument or the context is not usable; Docker's words.
    #[error("{0}")]
    Invalid(String),
    /// A RUN exited non-zero.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    CommandFailed { command: String, code: i64 },
    /// An engine operation failed.
    #[error(transparent)]
    Engine(#[from] crate::Error),
    /// Reading the context or writing a build's files failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl BuildError {
    /// The `errorDetail.code` dockerd reports: a RUN's exit code, else 1.
    pub fn code(&self) -> i64 {
        match self {
            BuildError::CommandFailed { code, .. } => *code,
            _ => 1,
        }
    }
}

impl From<berth_image::Error> for BuildError {
    fn from(e: berth_image::Error) -> Self {
        BuildError::Engine(e.into())
    }
}

type BuildResult<T> = std::result::Result<T, BuildError>;

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// Builds images from Dockerfiles over the container and image services of one data root.
#[derive(Clone)]
pub struct BuildService {
    containers: ContainerService,
    images: ImageService,
    /// `<data_root>/build`: the cache index, the cache mounts and, while builds run, their
    /// copies' tars and the context directories their RUNs bind.
    root: PathBuf,
    /// `<exec_root>/build`: while a RUN runs, the files of its secrets and heredoc script.
    exec_root: PathBuf,
    cache: Arc<Mutex<Cache>>,
    cache_mounts: Arc<CacheMounts>,
    copies: Arc<copy::CopyMemo>,
    markers: interrupted::Markers,
}

impl BuildService {
    /// The builder of `data_root`: its cache index is `<data_root>/build/cache.json`, its
    /// cache mounts are under `<data_root>/build/cache-mounts`.
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        containers: ContainerService,
        images: ImageService,
    ) -> crate::Result<Self> {
        let root = data_root.join("build");
        let cache = Cache::open(&root)?;
        // Files of builds a crash interrupted (copies' tars, context directories RUNs bound).
        let _ = std::fs::remove_dir_all(root.join("tmp"));
        let exec_root = exec_root.join("build");
        let _ = std::fs::remove_dir_all(&exec_root);
        let mounts_dir = root.join("cache-mounts");
        let cache_mounts =
            CacheMounts::open(mounts_dir.clone()).map_err(|source| crate::Error::Io {
                context: format!("open the cache mounts in {}", mounts_dir.display()),
                source,
            })?;
        Ok(BuildService {
            containers,
            images,
            markers: interrupted::Markers::new(&root),
            root,
            exec_root,
            cache: Arc::new(Mutex::new(cache)),
            cache_mounts: Arc::new(cache_mounts),
            copies: Default::default(),
        })
    }

    /// `POST /build`: builds the Dockerfile of the context tar read from `context` (plain or
    /// compressed), reporting on `out`; returns the final image's id once it is tagged.
    pub async fn build(
        &self,
        context: impl Read + Send + 'static,
        options: BuildOptions,
        out: Sink,
    ) -> BuildResult<Digest> {
        let context = context::Context::receive(&self.root.join("tmp"), context).await?;
        let result = self.build_from(&context, options, &out).await;
        // Usage statistics are not worth a failed build.
        let _ = self.cache().save_usage();
        result
    }

    async fn build_from(
        &self,
        context: &context::Context,
        options: BuildOptions,
        out: &Sink,
    ) -> BuildResult<Digest> {
        let name = if options.dockerfile.is_empty() {
            "Dockerfile"
        } else {
            options.dockerfile.as_str()
        };
        let source = context.dockerfile(name)?;
        let dockerfile = berth_build::parse(name, &source)
            .map_err(|e| BuildError::Invalid(format!("failed to parse dockerfile: {e}")))?;
        let mut run = stage::Run::new(self, &dockerfile, context, &options, out.clone());
        run.source_date_epoch = metadata::source_date_epoch(&options.build_args)?;
        let plan = plan(&dockerfile, &options, &run.global_args()?)?;
        let built = parallel::build_stages(&mut run, &plan, out).await?;
        let last = plan.last().map(|p| p.index);
        let id = last
            .and_then(|i| built[i].clone())
            .ok_or_else(|| BuildError::Invalid("the Dockerfile has no stage to build".into()))?;
        let unused = run.unused_args();
        if !unused.is_empty() {
            let _ = out.send(Output::Stream(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                unused.join(" ")
            )));
        }
        let _ = out.send(Output::ImageId(id.clone()));
        let _ = out.send(Output::Stream(format!(
            "Successfully built {}\n",
            id.short()
        )));
        for tag in &options.tags {
            self.images.tag(id.to_string(), tag.clone()).await?;
            let _ = out.send(Output::Stream(format!(
                "Successfully tagged {}\n",
                tag.familiar()
            )));
        }
        Ok(id)
    }

    /// The cache's entries.
    pub fn cache_entries(&self) -> Vec<CacheEntry> {
        self.cache().entries()
    }

    /// The images a build made along the way (those its cache holds, and the base of
    /// `FROM scratch`), which `docker images` shows only with `--all`, as dockerd hides the
    /// intermediate images of its legacy builder.
    pub fn intermediate_images(&self) -> std::collections::HashSet<String> {
        let mut ids: std::collections::HashSet<String> = self
            .cache_entries()
            .into_iter()
            .map(|e| e.image.to_string())
            .collect();
        ids.insert(crate::images::scratch_id().to_string());
        ids
    }

    /// The cache's entries (with their sizes, see [`usage`]) and cache mounts as
    /// `GET /system/df` lists them.
    pub async fn cache_records(
        &self,
    ) -> crate::Result<Vec<berth_api::disk_usage::BuildCacheRecord>> {
        let layers = self.images.image_layers().await?;
        let mut named = std::collections::HashSet::new();
        for image in self.images.list().await? {
            if image.repo_tags.is_empty() && image.repo_digests.is_empty() {
                continue;
            }
            let id: Digest = image.id.parse()?;
            named.extend(
                layers
                    .get(&id)
                    .into_iter()
                    .flatten()
                    .map(|(c, _)| c.clone()),
            );
        }
        let mut records = usage::records(self.cache_entries(), &layers, &named);
        let time = |secs: u64| berth_image::time::format(secs as i64);
        records.extend(self.cache_mounts.records().into_iter().map(|m| {
            berth_api::disk_usage::BuildCacheRecord {
                id: m.name,
                r#type: "exec.cachemount".into(),
                description: format!("cached mount {}", m.meta.id),
                in_use: m.in_use,
                shared: true,
                size: m.size as i64,
                created_at: time(m.meta.created),
                last_used_at: Some(time(m.last_used)),
                usage_count: 0,
            }
        }));
        Ok(records)
    }

    /// `POST /build/prune`: empties the cache, removes the untagged images it held and the
    /// cache mounts no RUN uses. Returns the ids of what was removed and the bytes freed (the
    /// layers that went with the images, and the cache mounts).
    pub async fn prune_cache(&self) -> crate::Result<(Vec<String>, u64)> {
        let before = self.images.image_layers().await?;
        let mounts = self
            .cache_mounts
            .prune()
            .map_err(|source| crate::Error::Io {
                context: "remove the build's cache mounts".into(),
                source,
            })?;
        let mounts_size: u64 = mounts.iter().map(|m| m.size).sum();
        let entries = self.cache().clear()?;
        let mut removed = Vec::new();
        for entry in entries {
            if let Ok(image) = self.images.inspect(entry.image.to_string()).await {
                if image.repo_tags.is_empty() {
                    // An image a container uses stays; the entry is gone either way.
                    let _ = self.images.remove(entry.image.to_string(), false).await;
                }
            }
            removed.push(entry.id);
        }
        removed.extend(mounts.into_iter().map(|m| m.name));
        let after = self.images.image_layers().await?;
        Ok((removed, usage::freed(&before, &after) + mounts_size))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A stage used before it was built: the plan orders stages, so this is a bug.
fn plan_error(index: usize) -> BuildError {
    BuildError::Invalid(format!("stage {index} was needed before it was built"))
}

/// A stage to build, with how many steps it counts.
#[derive(Debug, Clone)]
struct Planned {
    index: usize,
    /// Its base image (expanded FROM word).
    base: String,
    steps: usize,
    /// The stages it starts from or copies from.
    needs: Vec<usize>,
}

/// The stages the target needs, in Dockerfile order.
fn plan(
    dockerfile: &Dockerfile,
    options: &BuildOptions,
    global_args: &dyn berth_build::expand::Env,
) -> BuildResult<Vec<Planned>> {
    if dockerfile.stages.is_empty() {
        return Err(BuildError::Invalid(
            "the Dockerfile has no stage to build".into(),
        ));
    }
    let target = if options.target.is_empty() {
        dockerfile.stages.len() - 1
    } else {
        dockerfile.stage_by_name(&options.target).ok_or_else(|| {
            BuildError::Invalid(format!(
                "failed to reach build target {} in Dockerfile",
                options.target
            ))
        })?
    };
    let lexer = Lexer::new(dockerfile.directives.escape);
    let mut bases = Vec::new();
    for stage in &dockerfile.stages {
        let (base, _) = expand_from(stage, &lexer, global_args)
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        bases.push(base);
    }
    let mut needed = vec![false; dockerfile.stages.len()];
    let mut needs: Vec<Vec<usize>> = vec![Vec::new(); dockerfile.stages.len()];
    let mut todo = vec![target];
    while let Some(index) = todo.pop() {
        if std::mem::replace(&mut needed[index], true) {
            continue;
        }
        let mut refs = vec![dockerfile.base_of(index, &bases[index])];
        for instruction in &dockerfile.stages[index].instructions {
            let froms = match &instruction.command {
                Command::Copy(copy) => copy.from.iter().cloned().collect(),
                Command::Run(run) => run_mounts::mount_sources(run),
                _ => Vec::new(),
            };
            for from in froms {
                refs.push(dockerfile.copy_source(&from).map_err(BuildError::Invalid)?);
            }
        }
        for reference in refs {
            if let StageRef::Stage(i) = reference {
                if i >= index {
                    return Err(BuildError::Invalid(format!(
                        "stage {} refers to itself or a later stage",
                        index
                    )));
                }
                todo.push(i);
                needs[index].push(i);
            }
        }
    }
    Ok(needed
        .iter()
        .enumerate()
        .filter(|(_, n)| **n)
        .map(|(index, _)| Planned {
            index,
            base: bases[index].clone(),
            steps: 1 + dockerfile.stages[index].instructions.len(),
            needs: std::mem::take(&mut needs[index]),
        })
        .collect())
}
