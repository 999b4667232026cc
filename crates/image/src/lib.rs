//! berth's images: a content-addressed blob store, image references, and unpacking layers into
//! directories safely (layer contents are hostile input).

pub mod digest;
pub mod error;
pub mod layer;
pub mod reference;
pub mod store;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use store::BlobStore;
