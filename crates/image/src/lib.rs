//! berth's images: a content-addressed blob store, image references, and unpacking layers into
//! directories safely (layer contents are hostile input).

pub mod archive;
pub mod compress;
pub mod diff;
pub mod digest;
pub mod error;
pub mod gc;
pub mod images;
pub mod layer;
pub mod lock;
pub mod progress;
pub mod reference;
pub mod rootfs;
pub mod snapshot;
pub mod store;

pub use digest::Digest;
pub use error::{Error, Result};
pub use images::{ImageRecord, ImageStore};
pub use reference::Reference;
pub use store::BlobStore;
