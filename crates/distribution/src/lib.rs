//! The registry protocol (OCI distribution spec, Docker Registry HTTP API v2): pulling images
//! into berth's image store.

mod auth;
mod client;
mod pull;
mod stream;

pub use client::{ClientConfig, Error, Registry, Result};
pub use pull::{pull, Platform};
