//! `login`, `logout`, and the `X-Registry-Auth` header pull and push send.

use std::io::{BufRead, IsTerminal, Read};

use base64::Engine as _;
use berth_distribution::credentials::{self, Credentials, DOCKER_HUB_KEY};
use clap::Args;

use crate::commands::write_stdout;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::Context;
use berth_api::auth_config::{AuthConfig, AuthResponse};

/// `berth login` flags.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// The registry (Docker Hub when not given)
    server: Option<String>,
}

/// `berth logout` arguments.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub when not given)
    server: Option<String>,
}

/// `https://host/v1/` or `host` → the registry domain credentials are kept under.
fn domain_of_server(server: Option<&str>) -> String {
    match server {
        None => "docker.io".into(),
        Some(server) => {
            let host = server
                .strip_prefix("https://")
                .or_else(|| server.strip_prefix("http://"))
                .unwrap_or(server);
            let host = host.split('/').next().unwrap_or(host);
            match host {
                "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
                other => other.to_string(),
            }
        }
    }
}

/// The address the daemon is told to log in to.
fn server_address(domain: &str) -> String {
    if domain == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// The `X-Registry-Auth` header value for a registry: stored credentials, else none (`{}`).
pub fn registry_auth(cx: &Context, domain: &str) -> Result<String> {
    let config = match credentials::get(&cx.config_dir, domain)? {
        Some(found) => AuthConfig {
            username: found.username,
            password: found.password,
            serveraddress: server_address(domain),
        },
        None => AuthConfig::default(),
    };
    let json = serde_json::to_vec(&config).expect("an auth config serializes");
    Ok(base64::engine::general_purpose::URL_SAFE.encode(json))
}

fn read_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("stdin", e))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Checks the credentials through the daemon, then stores them.
pub fn login(cx: &Context, args: &LoginArgs) -> Result<()> {
    if args.password.is_some() && args.password_stdin {
        return Err(Error::Usage(
            "--password and --password-stdin are mutually exclusive".into(),
        ));
    }
    if args.password_stdin && args.username.is_none() {
        return Err(Error::Usage(
            "Must provide --username with --password-stdin".into(),
        ));
    }
    let domain = domain_of_server(args.server.as_deref());
    let username = match &args.username {
        Some(user) => user.clone(),
        None => read_line("Username: ")?,
    };
    let password = if let Some(password) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        password.clone()
    } else if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::io("stdin", e))?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else if std::io::stdin().is_terminal() {
        // Reading it would echo it: docker turns echo off, berth does not know how yet.
        return Err(Error::Usage(
            "Password required: use --password-stdin (or -p)".into(),
        ));
    } else {
        read_line("Password: ")?
    };
    if username.is_empty() || password.is_empty() {
        return Err(Error::Refused(
            "Error: Cannot perform an interactive login from a non TTY device".into(),
        ));
    }
    let daemon = cx.daemon()?;
    let body = serde_json::to_vec(&AuthConfig {
        username: username.clone(),
        password: password.clone(),
        serveraddress: server_address(&domain),
    })
    .expect("an auth config serializes");
    let response = daemon.request("POST", "/auth", &[], Body::Json(body))?;
    let bytes = response
        .bytes()
        .map_err(|e| daemon.protocol(format!("POST /auth: {e}")))?;
    let answer: AuthResponse = serde_json::from_slice(&bytes)
        .map_err(|e| daemon.protocol(format!("POST /auth: unexpected answer: {e}")))?;
    // A registry that hands out an identity token wants it instead of the password.
    let secret = if answer.identity_token.is_empty() {
        password
    } else {
        answer.identity_token
    };
    credentials::store(
        &cx.config_dir,
        &domain,
        &Credentials {
            username,
            password: secret,
        },
    )?;
    let status = if answer.status.is_empty() {
        "Login Succeeded".to_string()
    } else {
        answer.status
    };
    write_stdout(&format!("{status}\n"))
}

/// Forgets the credentials of a registry.
pub fn logout(cx: &Context, args: &LogoutArgs) -> Result<()> {
    let domain = domain_of_server(args.server.as_deref());
    let shown = server_address(&domain);
    if credentials::erase(&cx.config_dir, &domain)? {
        write_stdout(&format!("Removing login credentials for {shown}\n"))
    } else {
        write_stdout(&format!("Not logged in to {shown}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_name_their_domain() {
        assert_eq!(domain_of_server(None), "docker.io");
        assert_eq!(
            domain_of_server(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(domain_of_server(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(server_address("docker.io"), DOCKER_HUB_KEY);
    }
}
