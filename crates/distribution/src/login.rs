//! `login` and `logout`: credentials checked against the registry, then kept the docker CLI's
//! way (see [`crate::credentials`]).

use crate::client::{ClientConfig, Registry, Result};
use crate::credentials::{self, Credentials};

/// Checks `username`/`password` against the registry at `domain` (`GET /v2/` through the auth
/// flow) and, only if it accepts them, stores them for later pulls and pushes. A refusal is an
/// [`crate::Error::Unauthorized`] and stores nothing.
pub fn login(domain: &str, username: &str, password: &str, config: &ClientConfig) -> Result<()> {
    let credentials = Credentials {
        username: username.to_string(),
        password: password.to_string(),
    };
    let registry = Registry::with_credentials(domain, config, Some(credentials.clone()))?;
    registry.check_auth()?;
    credentials::store(&config.config_dir(), domain, &credentials)
}

/// Forgets the credentials stored for `domain`; returns whether there were any (the docker
/// CLI says "Not logged in" otherwise).
pub fn logout(domain: &str, config: &ClientConfig) -> Result<bool> {
    credentials::erase(&config.config_dir(), domain)
}
