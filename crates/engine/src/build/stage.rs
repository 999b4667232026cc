//! Running a stage: FROM, then each instruction as a step that yields an image, found in the
//! cache or made (RUN in a container, COPY/ADD unpacked into one, the rest as a
//! configuration change).

use std::collections::BTreeMap;

use berth_api::containers::{ContainerConfig, ContainerCreateRequest, HostConfig};
use berth_build::expand::{expand_instruction, Lexer};
use berth_build::parser::{Command, Dockerfile, Instruction, StageRef};
use berth_image::commit::CommitOptions;
use berth_image::inspect::ContainerConfig as ImageConfig;
use berth_image::{Digest, Reference};
use serde_json::json;

use super::context::Context;
use super::interrupted;
use super::metadata::{self, StageState};
use super::{
    plan_error, BuildError, BuildOptions, BuildResult, BuildService, Output, Planned, Sink,
};

/// Proxy variables every build accepts without an ARG; kept out of the history.
const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// One build's progress through its stages.
pub(super) struct Run<'a> {
    pub(super) service: &'a BuildService,
    pub(super) dockerfile: &'a Dockerfile,
    pub(super) context: &'a Context,
    pub(super) options: &'a BuildOptions,
    out: Sink,
    lexer: Lexer,
    /// How many steps the build counts, for `Step k/N`.
    pub(super) total_steps: usize,
    step: usize,
    globals: Vec<(String, String)>,
    /// The names ARG instructions declared.
    declared: std::collections::HashSet<String>,
    /// Step containers being removed; see [`Run::removals_done`].
    removals: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The build's `SOURCE_DATE_EPOCH` (see [`metadata::source_date_epoch`]).
    pub(super) source_date_epoch: Option<i64>,
    /// When the current step was announced.
    step_started: std::time::Instant,
    /// The marker token of each step container not removed yet (see [`super::interrupted`]).
    step_markers: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// A stage between two steps.
pub(super) struct Current {
    pub image: Digest,
    pub config: ImageConfig,
    pub state: StageState,
    /// ARGs declared in the stage, with their values.
    pub args: Vec<(String, String)>,
}

impl<'a> Run<'a> {
    /// A build of `dockerfile` from `context`.
    pub(super) fn new(
        service: &'a BuildService,
        dockerfile: &'a Dockerfile,
        context: &'a Context,
        options: &'a BuildOptions,
        out: Sink,
    ) -> Self {
        Run {
            service,
            dockerfile,
            context,
            options,
            out,
            lexer: Lexer::new(dockerfile.directives.escape),
            total_steps: 0,
            step: 0,
            globals: Vec::new(),
            declared: Default::default(),
            removals: Default::default(),
            source_date_epoch: None,
            step_started: std::time::Instant::now(),
            step_markers: Default::default(),
        }
    }

    /// A run of one stage of the same build, reporting on `out`, numbering its steps from
    /// `step + 1`.
    pub(super) fn for_stage(&self, out: Sink, step: usize) -> Run<'a> {
        Run {
            service: self.service,
            dockerfile: self.dockerfile,
            context: self.context,
            options: self.options,
            out,
            lexer: Lexer::new(self.dockerfile.directives.escape),
            total_steps: self.total_steps,
            step,
            globals: self.globals.clone(),
            declared: Default::default(),
            removals: Default::default(),
            source_date_epoch: self.source_date_epoch,
            step_started: std::time::Instant::now(),
            step_markers: Default::default(),
        }
    }

    /// The names the run's ARG instructions declared.
    pub(super) fn into_declared(self) -> std::collections::HashSet<String> {
        self.declared
    }

    /// Counts `names` as declared (by another stage's run).
    pub(super) fn declared_elsewhere(&mut self, names: std::collections::HashSet<String>) {
        self.declared.extend(names);
    }

    /// The ARGs before the first FROM, with the build's values.
    pub(super) fn global_args(&mut self) -> BuildResult<Vec<(String, String)>> {
        let mut globals: Vec<(String, String)> = Vec::new();
        for instruction in &self.dockerfile.global_args {
            let expanded = expand_instruction(instruction, &self.lexer, &globals)
                .map_err(|e| BuildError::Invalid(e.to_string()))?;
            if let Command::Arg { args } = expanded.command {
                for arg in args {
                    self.declared.insert(arg.name.clone());
                    if let Some(value) = self.build_arg(&arg.name).or(arg.default) {
                        globals.push((arg.name, value));
                    }
                }
            }
        }
        self.globals = globals.clone();
        Ok(globals)
    }

    /// The build args no ARG declared (the proxy variables need none), for dockerd's warning.
    pub(super) fn unused_args(&self) -> Vec<String> {
        self.options
            .build_args
            .keys()
            .filter(|k| {
                !self.declared.contains(*k)
                    && !PROXY_ARGS.contains(&k.as_str())
                    && *k != metadata::SOURCE_DATE_EPOCH
            })
            .cloned()
            .collect()
    }

    fn build_arg(&self, name: &str) -> Option<String> {
        self.options.build_args.get(name).cloned().flatten()
    }

    pub(super) fn say(&self, text: impl Into<String>) {
        let _ = self.out.send(Output::Stream(text.into()));
    }

    fn announce(&mut self, original: &str) {
        self.step += 1;
        self.step_started = std::time::Instant::now();
        self.say(format!(
            "Step {}/{} : {}\n",
            self.step, self.total_steps, original
        ));
    }

    /// Builds stage `planned`, earlier stages' images being in `built`; `labels` (the
    /// build's `--label`s) end the final stage. Returns the stage's image.
    pub(super) async fn stage(
        &mut self,
        planned: &Planned,
        built: &[Option<Digest>],
        labels: Option<&BTreeMap<String, String>>,
    ) -> BuildResult<Digest> {
        let stage = &self.dockerfile.stages[planned.index];
        self.announce(&stage.original);
        let (image, config) = match self.dockerfile.base_of(planned.index, &planned.base) {
            StageRef::Stage(i) => {
                let id = built[i].clone().ok_or_else(|| plan_error(i))?;
                let config = self.service.images.for_container(id.to_string()).await?;
                (id, config.config)
            }
            StageRef::Image(name) => self.base_image(&name).await?,
        };
        self.say(format!(" ---> {}\n", image.short()));
        let mut config = config;
        let mut current = Current {
            image,
            state: StageState::from_base(&mut config),
            config,
            args: Vec::new(),
        };
        let triggers = current.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            self.say(format!("# Executing {} build trigger(s)\n", triggers.len()));
            for trigger in &triggers {
                let instruction = parse_line(trigger)?;
                self.execute(&mut current, &instruction, built).await?;
            }
        }
        let mut instructions: Vec<Instruction> = stage.instructions.clone();
        if let Some(labels) = labels.filter(|l| !l.is_empty()) {
            let line: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
                .collect();
            instructions.push(parse_line(&format!("LABEL {}", line.join(" ")))?);
        }
        for instruction in &instructions {
            self.announce(&instruction.original);
            self.execute(&mut current, instruction, built).await?;
        }
        Ok(current.image)
    }

    /// The image `name`, pulled when missing or when the build asks to.
    pub(super) async fn base_image(&self, name: &str) -> BuildResult<(Digest, ImageConfig)> {
        let images = &self.service.images;
        if name.eq_ignore_ascii_case("scratch") {
            let id = images.scratch().await?;
            return Ok((id, ImageConfig::default()));
        }
        let local = images.for_container(name.to_string()).await;
        if let (Ok(found), false) = (&local, self.options.pull) {
            return Ok((found.id.clone(), found.config.clone()));
        }
        let reference: Reference = name
            .parse()
            .map_err(|e| BuildError::Invalid(format!("invalid reference format: {name}: {e}")))?;
        let (progress, _ignored) = tokio::sync::mpsc::unbounded_channel();
        self.say(format!("Pulling {}\n", reference.familiar()));
        images
            .pull(reference.clone(), Default::default(), None, progress)
            .await?;
        let found = images.for_container(reference.to_string()).await?;
        Ok((found.id, found.config))
    }

    /// Runs one instruction of the stage `current` is at.
    async fn execute(
        &mut self,
        current: &mut Current,
        instruction: &Instruction,
        built: &[Option<Digest>],
    ) -> BuildResult<()> {
        let mut env: Vec<(String, String)> = current.args.clone();
        for var in current.config.env.iter().flatten() {
            let (k, v) = var.split_once('=').unwrap_or((var, ""));
            env.push((k.to_string(), v.to_string()));
        }
        let expanded = expand_instruction(instruction, &self.lexer, &env)
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        match &expanded.command {
            Command::Run(run) => self.run_step(current, run, built).await,
            Command::Copy(_) | Command::Add(_) => {
                self.copy_step(current, &expanded.command, built).await
            }
            command => {
                if let Command::Arg { args } = command {
                    for arg in args {
                        self.declared.insert(arg.name.clone());
                        let global = self
                            .globals
                            .iter()
                            .rev()
                            .find(|(k, _)| *k == arg.name)
                            .map(|(_, v)| v.clone());
                        let value = self.build_arg(&arg.name).or(arg.default.clone()).or(global);
                        current.args.retain(|(k, _)| *k != arg.name);
                        if let Some(value) = value {
                            current.args.push((arg.name.clone(), value));
                        }
                    }
                }
                let mut config = current.config.clone();
                let comment = metadata::apply(&mut config, &mut current.state, command)?
                    .expect("RUN, COPY and ADD are handled above");
                let spacing = if matches!(command, Command::Workdir { .. }) {
                    " "
                } else {
                    "  "
                };
                let created_by =
                    format!("{} #(nop){spacing}{comment}", current.state.shell.join(" "));
                current.config = config;
                if matches!(command, Command::Workdir { .. }) {
                    return self.workdir_step(current, created_by).await;
                }
                self.metadata_step(current, created_by).await
            }
        }
    }

    /// A step that changes only the configuration.
    async fn metadata_step(&self, current: &mut Current, created_by: String) -> BuildResult<()> {
        let key = self.key(current, &created_by, &json!(null));
        if self.cached(current, &key).await? {
            return Ok(());
        }
        let id = self
            .service
            .images
            .derive(self.commit_options(current, String::new(), created_by.clone()))
            .await?;
        self.made(current, &key, id, created_by)
    }

    pub(super) fn commit_options(
        &self,
        current: &Current,
        container: String,
        created_by: String,
    ) -> CommitOptions {
        CommitOptions {
            container,
            parent: current.image.clone(),
            config: current.config.clone(),
            author: current.state.author.clone(),
            comment: String::new(),
            created_by,
            source_date_epoch: self.source_date_epoch,
        }
    }

    /// The cache key of a step: the parent image, the history line, the configuration (which
    /// holds the environment) and what else the result depends on.
    pub(super) fn key(
        &self,
        current: &Current,
        created_by: &str,
        extra: &serde_json::Value,
    ) -> Digest {
        let mut text = json!({
            "parent": current.image.to_string(),
            "created_by": created_by,
            "config": current.config,
            "args": current.args,
            "extra": extra,
        });
        // The epoch stamps the image, so images of other epochs (or none) do not match.
        if let Some(epoch) = self.source_date_epoch {
            text["source_date_epoch"] = json!(epoch);
        }
        berth_image::digest::sha256(text.to_string().as_bytes())
    }

    /// Takes the step's image from the cache if it is there (and still exists).
    pub(super) async fn cached(&self, current: &mut Current, key: &Digest) -> BuildResult<bool> {
        if self.options.no_cache {
            return Ok(false);
        }
        let Some(image) = self.service.cache().lookup(key) else {
            return Ok(false);
        };
        match self.service.images.for_container(image.to_string()).await {
            Ok(found) => {
                self.say(" ---> Using cache\n");
                self.say(format!(" ---> {}\n", found.id.short()));
                current.image = found.id;
                current.config = found.config;
                Ok(true)
            }
            Err(_) => {
                self.service.cache().forget(key)?;
                Ok(false)
            }
        }
    }

    /// Records the step's new image.
    pub(super) fn made(
        &self,
        current: &mut Current,
        key: &Digest,
        image: Digest,
        created_by: String,
    ) -> BuildResult<()> {
        self.service
            .cache()
            .insert(key, image.clone(), created_by)?;
        // A plain `stream` line before the step's ` ---> <id>`: the docker CLI prints stream
        // text as it comes, so `DOCKER_BUILDKIT=0 docker build` shows it too, and scripts
        // that take the last ` ---> <hex id>` of a step, or match `Running in <id>`, still
        // find what they look for ("Done" is not hex).
        self.say(format!(
            " ---> Done in {:.2}s\n",
            self.step_started.elapsed().as_secs_f64()
        ));
        self.say(format!(" ---> {}\n", image.short()));
        current.image = image;
        Ok(())
    }

    /// Creates the container of a RUN or COPY step on the current image, with `host`'s
    /// mounts and network (the build's network when it names none); the caller removes it.
    pub(super) async fn create_container(
        &self,
        current: &Current,
        cmd: Vec<String>,
        env: Vec<String>,
        host: HostConfig,
    ) -> BuildResult<String> {
        let token = self.service.markers.mark()?;
        let mut request = ContainerCreateRequest {
            config: ContainerConfig {
                image: current.image.to_string(),
                cmd,
                entrypoint: Some(vec![String::new()]),
                env,
                labels: [(interrupted::STEP_LABEL.to_string(), token.clone())].into(),
                ..Default::default()
            },
            host_config: host,
            ..Default::default()
        };
        if request.host_config.network_mode.is_empty() {
            request.host_config.network_mode = match self.options.network_mode.as_str() {
                "" | "default" => String::new(),
                mode => mode.to_string(),
            };
        }
        match self.service.containers.create(None, request).await {
            Ok((id, _)) => {
                self.markers().insert(id.clone(), token);
                Ok(id)
            }
            Err(e) => {
                self.service.markers.unmark(&token);
                Err(e.into())
            }
        }
    }

    /// Starts removing a step's container, reporting (not failing on) a removal that fails;
    /// the container's marker goes with it (or stays, for the next start to remove it). The
    /// next steps do not wait for it: unmounting a container's overlay flushes the whole file
    /// system below it to disk, which can take longer than the step took.
    pub(super) async fn remove_container(&self, id: &str) {
        let (containers, id) = (self.service.containers.clone(), id.to_string());
        let token = self.markers().remove(&id);
        let markers = self.service.markers.clone();
        let removal = tokio::spawn(async move {
            if let Err(e) = containers.remove(&id, true, true).await {
                eprintln!("berthd: build: removing intermediate container {id}: {e}");
                return;
            }
            if let Some(token) = token {
                markers.unmark(&token);
            }
        });
        self.removals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(removal);
    }

    /// Waits for the step containers' removals: a build leaves none behind when it ends.
    pub(super) async fn removals_done(&self) {
        let removals =
            std::mem::take(&mut *self.removals.lock().unwrap_or_else(|p| p.into_inner()));
        for removal in removals {
            let _ = removal.await;
        }
    }

    fn markers(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        self.step_markers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The build args a RUN sees and records: declared, with a value, not overridden by ENV.
    pub(super) fn run_args(&self, current: &Current) -> Vec<String> {
        let env_keys: Vec<&str> = current
            .config
            .env
            .iter()
            .flatten()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        let mut args: Vec<String> = current
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        args.sort();
        args
    }

    /// The proxy variables given as build args, which RUN sees without an ARG.
    pub(super) fn proxy_env(&self, current: &Current) -> Vec<String> {
        PROXY_ARGS
            .iter()
            .filter(|name| !current.args.iter().any(|(k, _)| k == *name))
            .filter_map(|name| self.build_arg(name).map(|v| format!("{name}={v}")))
            .collect()
    }
}

/// One instruction parsed on its own (an ONBUILD trigger, the `--label` step).
fn parse_line(line: &str) -> BuildResult<Instruction> {
    let file = format!("FROM scratch\n{line}\n");
    let mut parsed = berth_build::parse("Dockerfile", file.as_bytes())
        .map_err(|e| BuildError::Invalid(format!("failed to parse {line:?}: {e}")))?;
    parsed
        .stages
        .pop()
        .and_then(|mut s| s.instructions.pop())
        .ok_or_else(|| BuildError::Invalid(format!("failed to parse {line:?}")))
}

/// A word double-quoted for a Dockerfile line.
fn quote(word: &str) -> String {
    format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
}
