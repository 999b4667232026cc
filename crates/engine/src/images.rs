//! The image service: one data root's [`ImageStore`] and [`Snapshotter`] behind a mutex, each
//! operation run on tokio's blocking pool so the API's event loop never waits on disk or
//! network.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_distribution::{ClientConfig, Credentials, Platform, Registry};
use berth_image::inspect::{
    self, ContainerConfig, HistoryResponseItem, ImageInspect, ImageSummary, LayerSizes,
};
use berth_image::layer::Compression;
use berth_image::lock::DataLock;
use berth_image::progress::Event;
use berth_image::snapshot::Snapshotter;
use berth_image::{BlobStore, Digest, ImageStore, Reference, Removal};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Error, Result};
use crate::task::blocking;

/// Where progress events of a pull, push or load go; dropped events (a client that went away)
/// do not stop the operation.
pub type Progress = UnboundedSender<Event>;

/// What `prune` removed and how many bytes of blobs and snapshots that freed.
#[derive(Debug)]
pub struct PruneReport {
    pub removals: Vec<Removal>,
    pub space_reclaimed: u64,
}

/// What a pull brought.
#[derive(Debug)]
pub struct Pulled {
    /// The image id.
    pub id: Digest,
    /// The manifest (or index) digest it was pulled as, when the registry told one.
    pub digest: Option<String>,
    /// The name pointed at this image already: Docker's "Image is up to date".
    pub up_to_date: bool,
}

struct State {
    store: ImageStore,
    sizes: LayerSizes,
}

/// Whether a container uses an image (it may then not be removed without force).
pub type InUse = Arc<dyn Fn(&Digest) -> bool + Send + Sync>;

/// What a new container needs of its image.
#[derive(Debug, Clone)]
pub struct ImageForContainer {
    pub id: Digest,
    /// The image's default run configuration (entrypoint, cmd, env, user, working dir, …).
    pub config: ContainerConfig,
}

struct Inner {
    images_root: PathBuf,
    snapshots_root: PathBuf,
    /// The store's blobs (content-addressed files: written and read without its records).
    blobs: BlobStore,
    /// Unpacked layers and containers' root file systems (its driver probed once).
    snapshots: Snapshotter,
    /// Per-operation registry configuration directories live here.
    auth_root: PathBuf,
    registry: ClientConfig,
    state: Mutex<State>,
    next_auth: AtomicU64,
    in_use: Mutex<Option<InUse>>,
}

/// The images of one data root; cheap to clone, shared by all requests.
#[derive(Clone)]
pub struct ImageService {
    inner: Arc<Inner>,
}

/// A registry configuration directory holding one operation's credentials; removed on drop.
struct AuthDir(PathBuf);

impl Drop for AuthDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl ImageService {
    /// Opens the images under `<data_root>/image` and snapshots under `<data_root>/snapshots`;
    /// registry credentials given per operation are kept under `exec_root` while it runs.
    /// `registry` supplies insecure registries and the certificates directory; its credential
    /// store is never read (credentials come with each request, as Docker's do).
    /// The caller has the data root to itself (berthd locks it first): what writers killed
    /// with a daemon left (ingest files, unfinished snapshots) is removed, as no one will
    /// finish it.
    pub fn open(data_root: &Path, exec_root: &Path, registry: ClientConfig) -> Result<Self> {
        let images_root = data_root.join("image");
        let snapshots_root = data_root.join("snapshots");
        let _lock = DataLock::writer(&images_root)?;
        let store = ImageStore::open(&images_root)?;
        let snapshots = Snapshotter::open(&snapshots_root)?;
        store.blobs().clean_ingest()?;
        berth_image::gc::remove_unfinished_snapshots(&snapshots_root)?;
        let auth_root = exec_root.join("registry-auth");
        let _ = std::fs::remove_dir_all(&auth_root);
        create_private_dir(&auth_root)?;
        Ok(ImageService {
            inner: Arc::new(Inner {
                images_root,
                snapshots_root,
                blobs: store.blobs().clone(),
                snapshots,
                auth_root,
                registry,
                state: Mutex::new(State {
                    store,
                    sizes: LayerSizes::default(),
                }),
                next_auth: AtomicU64::new(0),
                in_use: Mutex::new(None),
            }),
        })
    }

    /// The storage driver the snapshots use (`overlay2` or `vfs`), as `docker info` shows it.
    pub async fn driver(&self) -> Result<String> {
        self.run("driver", |inner, _| {
            Ok(match inner.snapshots.driver()? {
                berth_image::snapshot::Driver::Overlay => "overlay2",
                _ => "vfs",
            }
            .to_string())
        })
        .await
    }

    /// How many images there are.
    pub async fn count(&self) -> Result<usize> {
        self.run("count", |_, state| Ok(state.store.records().count()))
            .await
    }

    /// `GET /images/json`.
    pub async fn list(&self) -> Result<Vec<ImageSummary>> {
        self.run("list", |_, state| {
            let State { store, sizes, .. } = state;
            Ok(inspect::summaries(store, sizes)?)
        })
        .await
    }

    /// `GET /images/{name}/json`.
    pub async fn inspect(&self, name: String) -> Result<ImageInspect> {
        self.run("inspect", move |_, state| {
            let State { store, sizes, .. } = state;
            Ok(inspect::inspect(store, &name, sizes)?)
        })
        .await
    }

    /// `GET /images/{name}/history`.
    pub async fn history(&self, name: String) -> Result<Vec<HistoryResponseItem>> {
        self.run("history", move |_, state| {
            let State { store, sizes, .. } = state;
            Ok(inspect::history(store, &name, sizes)?)
        })
        .await
    }

    /// `POST /images/{name}/tag`: points `target` at the image `source`.
    pub async fn tag(&self, source: String, target: Reference) -> Result<Digest> {
        self.run_writing("tag", move |_, state| {
            Ok(state.store.tag(&source, &target)?)
        })
        .await
    }

    /// `DELETE /images/{name}`: what was untagged and deleted.
    pub async fn remove(&self, name: String, force: bool) -> Result<Vec<Removal>> {
        self.run_writing("remove", move |inner, state| {
            let in_use = inner.in_use_check();
            Ok(state.store.remove(&name, force, &*in_use)?)
        })
        .await
    }

    /// `POST /images/prune`: removes dangling images (all unused ones with `all`), then
    /// collects the blobs and snapshots nothing refers to any more.
    pub async fn prune(&self, all: bool) -> Result<PruneReport> {
        let removals = self
            .run_writing("prune", move |inner, state| {
                let in_use = inner.in_use_check();
                Ok(state.store.prune(all, &*in_use)?)
            })
            .await?;
        // Collection takes the data root's lock exclusively, waiting for every writer (a
        // pull, a commit) to record what it added: never while holding the store, which those
        // writers take last.
        let inner = self.inner.clone();
        let report = blocking("collect", move || {
            berth_image::gc::collect(&inner.images_root, &inner.snapshots_root, &[])
        })
        .await??;
        Ok(PruneReport {
            removals,
            space_reclaimed: report.bytes_freed,
        })
    }

    /// `POST /images/create?fromImage=`: pulls `reference` and unpacks its layers.
    pub async fn pull(
        &self,
        reference: Reference,
        platform: Platform,
        credentials: Option<Credentials>,
        progress: Progress,
    ) -> Result<Pulled> {
        // The store's records are locked only to record the image at the end: listing,
        // inspecting and running other images go on while the layers come.
        self.run_long("pull", move |inner| {
            let (config, _dir) = inner.config_with(reference.domain(), credentials)?;
            let observer = |event: Event| {
                let _ = progress.send(event);
            };
            let fetched = berth_distribution::fetch(
                &inner.blobs,
                &inner.snapshots,
                &reference,
                &platform,
                &config,
                &observer,
            )?;
            let mut state = lock(&inner.state);
            let before = state
                .store
                .get(&reference.to_string())
                .map(|record| record.id.clone());
            let record = berth_distribution::record(&mut state.store, fetched, &reference)?;
            let wanted = format!("{}@", reference.repository());
            let digest = record
                .repo_digests
                .iter()
                .find(|d| d.starts_with(&wanted))
                .and_then(|d| d.split_once('@'))
                .map(|(_, digest)| digest.to_string());
            Ok(Pulled {
                up_to_date: before.as_ref() == Some(&record.id),
                id: record.id,
                digest,
            })
        })
        .await
    }

    /// `POST /images/{name}/push`: pushes the image named `reference` with gzip layers and
    /// returns the manifest digest.
    pub async fn push(
        &self,
        reference: Reference,
        credentials: Option<Credentials>,
        progress: Progress,
    ) -> Result<Digest> {
        // The store's records are locked only to read the image and record the push: other
        // image operations go on while the layers go up.
        self.run_long("push", move |inner| {
            let record = lock(&inner.state)
                .store
                .get(&reference.to_string())
                .cloned()
                .ok_or_else(|| berth_image::Error::ImageNotFound(reference.familiar()))?;
            let (config, _dir) = inner.config_with(reference.domain(), credentials)?;
            let observer = |event: Event| {
                let _ = progress.send(event);
            };
            let (digest, pushed) = berth_distribution::upload(
                &inner.blobs,
                record,
                &reference,
                &config,
                Compression::Gzip,
                &observer,
            )?;
            if let Some(pushed) = pushed {
                let mut state = lock(&inner.state);
                let current = state.store.get(&pushed.id.to_string()).cloned();
                // An image removed while it was pushed stays removed.
                if let Some(merged) = berth_distribution::merge_pushed(current, pushed, &reference)
                {
                    state.store.add(merged, &[])?;
                }
            }
            Ok(digest)
        })
        .await
    }

    /// Tells image removal which images containers use.
    pub fn set_in_use(&self, check: InUse) {
        *self.inner.in_use.lock().unwrap_or_else(|p| p.into_inner()) = Some(check);
    }

    /// The image `name` (a reference or an id) as a container needs it.
    pub async fn for_container(&self, name: String) -> Result<ImageForContainer> {
        self.run("resolve image", move |_, state| {
            let State { store, sizes, .. } = state;
            let image = inspect::inspect(store, &name, sizes)?;
            let id: Digest = image.id.parse()?;
            Ok(ImageForContainer {
                id,
                config: image.config.unwrap_or_default(),
            })
        })
        .await
    }

    /// Makes container `container`'s root file system from image `image` and returns its path.
    /// The store's records are held only to read the image: unpacking its layers (after a
    /// commit or a build) or copying them (the copy driver) holds up no other operation.
    pub async fn create_rootfs(&self, image: Digest, container: String) -> Result<PathBuf> {
        self.run_long("create container rootfs", move |inner| {
            let record = lock(&inner.state)
                .store
                .get(&image.to_string())
                .ok_or_else(|| berth_image::Error::ImageNotFound(image.to_string()))?
                .clone();
            let snapshots = &inner.snapshots;
            let rootfs = snapshots.create_container(&inner.blobs, &record, &container)?;
            // An image removed while its layers were being unpacked: the container is not
            // made from it (it is not registered yet, so removal could not see it).
            if lock(&inner.state).store.get(&image.to_string()).is_none() {
                snapshots.remove_container(&container)?;
                return Err(berth_image::Error::ImageNotFound(image.to_string()).into());
            }
            Ok(rootfs)
        })
        .await
    }

    /// Container `id`'s root file system, mounted.
    pub async fn mount_rootfs(&self, id: String) -> Result<PathBuf> {
        self.run("mount container rootfs", move |inner, _| {
            Ok(inner.snapshots.mount_container(&id)?)
        })
        .await
    }

    /// Unmounts container `id`'s root file system (its changes stay).
    pub async fn unmount_rootfs(&self, id: String) -> Result<()> {
        self.run("unmount container rootfs", move |inner, _| {
            Ok(inner.snapshots.unmount_container(&id)?)
        })
        .await
    }

    /// The ids of every container root file system.
    pub async fn rootfs_ids(&self) -> Result<Vec<String>> {
        self.run("list container rootfs", move |inner, _| {
            Ok(inner
                .snapshots
                .containers()?
                .into_iter()
                .map(|snapshot| snapshot.id)
                .collect())
        })
        .await
    }

    /// Removes container `id`'s root file system and its changes, without holding the store's
    /// records (a large one takes a while to delete; its own record says how it was made).
    pub async fn remove_rootfs(&self, id: String) -> Result<()> {
        self.run_long("remove container rootfs", move |inner| {
            Ok(inner.snapshots.remove_container(&id)?)
        })
        .await
    }

    /// `POST /auth`: whether the registry at `server` accepts `credentials`.
    pub async fn check_auth(&self, server: String, credentials: Credentials) -> Result<()> {
        let inner = self.inner.clone();
        blocking("auth", move || {
            let registry = Registry::with_credentials(&server, &inner.registry, Some(credentials))?;
            Ok(registry.check_auth()?)
        })
        .await?
    }

    /// `POST /images/load`: loads every image of the archive read from `input` and unpacks
    /// its layers. Returns the ids with their names.
    pub async fn load(
        &self,
        input: impl Read + Send + 'static,
        progress: Progress,
    ) -> Result<Vec<(Digest, Vec<Reference>)>> {
        // Read into the blobs as fast as the client sends, and unpacked before the images are
        // recorded: other image operations go on meanwhile.
        self.run_long("load", move |inner| {
            let observer = |event: Event| {
                let _ = progress.send(event);
            };
            let images = berth_image::archive::read(&inner.blobs, input)?;
            berth_image::archive::unpack(&inner.blobs, &inner.snapshots, &images, &observer)?;
            let mut state = lock(&inner.state);
            Ok(berth_image::archive::record(&mut state.store, images)?)
        })
        .await
    }

    /// Checks that every one of `names` is an image, so a save can fail before it streams.
    pub async fn require(&self, names: Vec<String>) -> Result<()> {
        self.run("save", move |_, state| {
            for name in &names {
                if state.store.get(name).is_none() {
                    return Err(berth_image::Error::ImageNotFound(name.clone()).into());
                }
            }
            Ok(())
        })
        .await
    }

    /// `GET /images/get`: writes a docker-save archive of `names` to `out`.
    pub async fn save(&self, names: Vec<String>, out: impl Write + Send + 'static) -> Result<()> {
        // The archive goes out as fast as the client reads it: from a copy of the records,
        // so a slow reader holds up no other image operation. The data root's lock keeps a
        // collection from removing the blobs meanwhile.
        self.run_long("save", move |inner| {
            let store = lock(&inner.state).store.clone();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            Ok(berth_image::save::save(
                &store,
                &names,
                berth_image::save::Format::Docker,
                out,
            )?)
        })
        .await
    }

    /// How the images share their layers, for `GET /system/df`.
    pub async fn layers_usage(&self) -> Result<berth_image::usage::LayersUsage> {
        self.run("disk usage", |_, state| {
            let State { store, sizes, .. } = state;
            Ok(berth_image::usage::layers_usage(store, sizes)?)
        })
        .await
    }

    /// Each image's layers, bottom first, as chain ids with their sizes (see
    /// [`berth_image::usage::image_layers`]).
    pub async fn image_layers(&self) -> Result<HashMap<Digest, berth_image::usage::Layers>> {
        self.run("image layers", |_, state| {
            let State { store, sizes, .. } = state;
            Ok(berth_image::usage::image_layers(store, sizes)?
                .into_iter()
                .collect())
        })
        .await
    }

    /// `POST /images/create?fromSrc=-`: stores the root file system tar read from `input`
    /// (plain or compressed) as a one-layer image shaped by `changes`, names it `reference`
    /// if given, and returns its id. Nothing is named or kept if the input is not a tar.
    pub async fn import(
        &self,
        input: impl Read + Send + 'static,
        reference: Option<Reference>,
        changes: Vec<String>,
        message: String,
    ) -> Result<Digest> {
        // The tar is read while the store's records stay free for other operations.
        self.run_long("import", move |inner| {
            let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
            let record =
                berth_image::rootfs_tar::import_blobs(&inner.blobs, input, &changes, &message)?;
            let id = record.id.clone();
            let mut state = lock(&inner.state);
            state.store.add(record, &[])?;
            if let Some(reference) = reference {
                state.store.tag(&id.to_string(), &reference)?;
            }
            Ok(id)
        })
        .await
    }

    /// The bytes container `id` wrote over its image (`SizeRw`). Measured without holding the
    /// store, so a large container does not hold up pulls and removals meanwhile.
    pub async fn container_size(&self, id: String) -> Result<u64> {
        let inner = self.inner.clone();
        blocking("container size", move || {
            Ok(inner.snapshots.container_size(&id)?)
        })
        .await?
    }

    /// The image side of `POST /commit`: the container's changes become a layer over its
    /// image, with `options`' config and history; named `reference` if given. The layer is
    /// written without holding the store, so other image operations are not held up by it.
    pub async fn commit(
        &self,
        options: berth_image::commit::CommitOptions,
        reference: Option<Reference>,
    ) -> Result<Digest> {
        self.run_long("commit", move |inner| {
            let diff_id =
                berth_image::commit::write_layer(&inner.blobs, &inner.snapshots, &options)?;
            let names: Vec<Reference> = reference.into_iter().collect();
            let mut state = lock(&inner.state);
            Ok(berth_image::commit::add_image(
                &mut state.store,
                &options,
                diff_id,
                &names,
            )?)
        })
        .await
    }

    /// A new image of `options.parent` with `options.config` and one more history entry
    /// (`empty_layer`): a build step that changes only the configuration. `options.container`
    /// is recorded as is and need not exist.
    pub async fn derive(&self, options: berth_image::commit::CommitOptions) -> Result<Digest> {
        self.run_writing("derive image", move |_, state| {
            let empty: Digest = berth_image::commit::EMPTY_LAYER.parse()?;
            Ok(berth_image::commit::add_image(
                &mut state.store,
                &options,
                empty,
                &[],
            )?)
        })
        .await
    }

    /// A new image of `options.parent` whose one new layer is the uncompressed layer tar at
    /// `layer` (`COPY --link`'s files), stored as is: the same files give the same layer on
    /// any parent.
    pub async fn add_layer(
        &self,
        options: berth_image::commit::CommitOptions,
        layer: PathBuf,
    ) -> Result<Digest> {
        self.run_long("add layer", move |inner| {
            let mut file = std::fs::File::open(&layer).map_err(|source| Error::Io {
                context: format!("open {}", layer.display()),
                source,
            })?;
            let (diff_id, _) = inner.blobs.put_stream(&mut file)?;
            Ok(berth_image::commit::add_image(
                &mut lock(&inner.state).store,
                &options,
                diff_id,
                &[],
            )?)
        })
        .await
    }

    /// The image without layers or configuration that a build's `FROM scratch` starts from
    /// (always the same id: its config has no time stamp).
    pub async fn scratch(&self) -> Result<Digest> {
        self.run_writing("scratch image", move |_, state| {
            let id = state.store.blobs().put_new(&scratch_config())?;
            if state.store.get(&id.to_string()).is_none() {
                let record = berth_image::ImageRecord {
                    id: id.clone(),
                    layers: Vec::new(),
                    diff_ids: Vec::new(),
                    repo_digests: Vec::new(),
                };
                state.store.add(record, &[])?;
            }
            Ok(id)
        })
        .await
    }

    /// `GET /containers/{id}/changes`: what container `id` changed in its root file system.
    pub async fn container_changes(
        &self,
        id: String,
    ) -> Result<Vec<berth_image::fs_changes::Change>> {
        self.run("container changes", move |inner, _| {
            Ok(inner.snapshots.container_changes(&id)?)
        })
        .await
    }

    /// As [`ImageService::run`] for work that adds or removes: the data root's lock is taken
    /// (shared) before the store, as every long operation takes them, so that waiting for a
    /// collection to end never holds the store meanwhile.
    async fn run_writing<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Inner, &mut State) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.run_long(operation, move |inner| work(inner, &mut lock(&inner.state)))
            .await
    }

    /// Runs `work` on the blocking pool with the data root's lock (shared, so no collection
    /// removes what it adds until it is recorded) but not the store's records: it takes
    /// those itself, briefly, so other image operations go on while it works.
    async fn run_long<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        blocking(operation, move || {
            let _lock = DataLock::writer(&inner.images_root)?;
            work(&inner)
        })
        .await?
    }

    /// Runs `work` with the store locked, on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Inner, &mut State) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        blocking(operation, move || {
            let mut state = lock(&inner.state);
            work(&inner, &mut state)
        })
        .await?
    }
}

impl Inner {
    /// The registry configuration for one operation: `credentials` for `domain` if given,
    /// stored in a private directory that lives as long as the returned guard.
    fn in_use_check(&self) -> InUse {
        self.in_use
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| Arc::new(|_| false))
    }

    fn config_with(
        &self,
        domain: &str,
        credentials: Option<Credentials>,
    ) -> Result<(ClientConfig, AuthDir)> {
        let n = self.next_auth.fetch_add(1, Ordering::Relaxed);
        let dir = AuthDir(self.auth_root.join(n.to_string()));
        create_private_dir(&dir.0)?;
        if let Some(credentials) = credentials {
            berth_distribution::credentials::store(&dir.0, domain, &credentials)?;
        }
        let config = ClientConfig {
            config_dir: Some(dir.0.clone()),
            ..self.registry.clone()
        };
        Ok((config, dir))
    }
}

/// The config of [`ImageService::scratch`]'s image.
fn scratch_config() -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": berth_distribution::Platform::default().architecture,
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [] },
    });
    serde_json::to_vec(&config).expect("JSON values serialise")
}

/// The id of [`ImageService::scratch`]'s image.
pub fn scratch_id() -> Digest {
    berth_image::digest::sha256(&scratch_config())
}

fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| {
            berth_image::Error::Io {
                context: format!("create {}", path.display()),
                source,
            }
            .into()
        })
}

/// A panic in an earlier operation leaves the store as its last successful write left it on
/// disk; the in-memory copy is reused as is.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
