//! Test support shared by berth's integration tests. Everything here starts or creates real
//! things (processes, files) and removes them on drop, also when a test fails.

pub mod archive;
pub mod registry;
pub mod tempdir;

pub use archive::{busybox_layer, docker_archive, random_layer};
pub use registry::LocalRegistry;
pub use tempdir::TempDir;
