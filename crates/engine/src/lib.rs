//! The daemon's services. For now one: [`images::ImageService`], the images of a data root
//! (list, inspect, tag, remove, prune, pull, push, load, save) for the Engine API to serve.

pub mod error;
pub mod images;
pub mod spec;

pub use error::{Error, Result};
pub use images::ImageService;
