//! berth's images: a content-addressed blob store, image references, and unpacking layers into
//! directories safely (layer contents are hostile input).

pub mod archive;
mod changes;
pub mod commit;
pub mod compress;
pub mod diff;
pub mod digest;
pub mod error;
pub mod extract;
pub mod fs_changes;
pub mod gc;
pub mod images;
pub mod inspect;
pub mod layer;
pub mod lock;
mod oci_layout;
pub mod progress;
pub mod reference;
mod regular_file;
pub mod rootfs;
pub mod rootfs_tar;
pub mod save;
pub mod snapshot;
pub mod store;
pub mod time;
pub mod tree_tar;
pub mod usage;

pub use digest::Digest;
pub use error::{Error, Result};
pub use images::{ImageRecord, ImageStore, Removal};
pub use reference::Reference;
pub use store::BlobStore;
