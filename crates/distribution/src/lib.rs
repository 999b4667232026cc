//! The registry protocol (OCI distribution spec, Docker Registry HTTP API v2): pulling images
//! into berth's image store, pushing them from it, and logging in.

mod auth;
mod client;
pub mod credentials;
mod login;
mod pull;
mod push;
mod resume;
mod stream;
mod tls;

pub use auth::{parse_challenge, Challenge};
pub use client::{ClientConfig, Error, Registry, Result};
pub use credentials::Credentials;
pub use login::{login, logout};
pub use pull::{fetch, pull, record, Platform};
pub use push::{merge_pushed, push, upload};
