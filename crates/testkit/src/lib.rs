//! Test support shared by berth's integration tests. Everything here starts or creates real
//! things (processes, files) and removes them on drop, also when a test fails.

pub mod archive;
pub mod daemon;
pub mod engine;
pub mod files;
pub mod forward;
pub mod leftovers;
pub mod loopfs;
pub mod mounts;
pub mod netns;
pub mod process;
pub mod registry;
pub mod tempdir;

pub use archive::{
    busybox_image_layer, busybox_layer, docker_archive, layer_tar, manifest_layer_digests, noise,
    random_layer, raw_tar_entry,
};
pub use engine::{Engine, EngineOptions};
pub use loopfs::LoopFs;
pub use netns::NetNs;
pub use process::run;
pub use registry::{make_ca, LocalRegistry, Options};
pub use tempdir::TempDir;
