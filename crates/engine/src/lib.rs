//! The daemon's services for the Engine API to serve: [`images::ImageService`] (the images of a
//! data root: list, inspect, tag, remove, prune, pull, push, load, save),
//! [`containers::ContainerService`] (containers run under their shims), [`events::Events`], and
//! [`spec`], which turns a container's configuration into an OCI runtime spec.

pub mod build;
pub mod containers;
pub mod disk_usage;
mod durable;
pub mod error;
pub mod events;
pub mod images;
pub mod networks;
pub mod spec;
mod task;
pub mod volumes;

pub use error::{Error, Result};
pub use images::ImageService;
