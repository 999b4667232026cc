//! The Docker Engine API as berth speaks it: which versions, the shapes of requests and
//! responses, the error body and the JSON progress stream. Shared by the daemon (which serves
//! it) and the CLI (which calls it), so each shape exists once.
//!
//! Image views (`ImageSummary`, `ImageInspect`, `HistoryResponseItem`) are built by the image
//! crate in these shapes and re-exported here.

pub mod archive;
pub mod auth_config;
pub mod build_secrets;
pub mod container_inspect;
pub mod containers;
pub mod disk_usage;
pub mod error;
pub mod events;
pub mod exec;
pub mod host_config;
pub mod images_list;
pub mod lenient;
pub mod networks;
pub mod progress;
pub mod stats;
pub mod system;
pub mod version;
pub mod volumes;

pub use berth_image::inspect::{HistoryResponseItem, ImageInspect, ImageSummary};
pub use error::ErrorBody;
pub use progress::ProgressMessage;
pub use version::ApiVersion;
