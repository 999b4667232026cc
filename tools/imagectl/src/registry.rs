//! pull, push, login, logout.

use std::io::Read;

use anyhow::{bail, Result};
use berth_distribution::{ClientConfig, Platform};
use berth_image::layer::Compression;
use berth_image::progress::{Observer, Silent};
use berth_image::Reference;

use crate::progress::Display;
use crate::Root;

pub fn pull(
    root: &mut Root,
    name: &str,
    platform: Option<&str>,
    quiet: bool,
    config: &ClientConfig,
) -> Result<()> {
    let reference: Reference = name.parse()?;
    let platform: Platform = match platform {
        Some(p) => p.parse()?,
        None => Platform::default(),
    };
    let before = root
        .images
        .get(&reference.to_string())
        .map(|r| r.id.clone());
    let display = Display::new();
    if !quiet {
        if reference.tag().is_none() && reference.digest().is_none() {
            display.println("Using default tag: latest");
        }
        let tag = reference
            .digest()
            .map(ToString::to_string)
            .or_else(|| reference.tag().map(str::to_string))
            .unwrap_or_else(|| "latest".into());
        display.println(&format!("{tag}: Pulling from {}", reference.path()));
    }
    let observer: &dyn Observer = if quiet { &Silent } else { &display };
    let record = berth_distribution::pull(
        &mut root.images,
        &root.snapshots,
        &reference,
        &platform,
        config,
        observer,
    )?;
    if !quiet {
        if let Some(digest) = record.repo_digests.first().and_then(|d| d.split_once('@')) {
            display.println(&format!("Digest: {}", digest.1));
        }
        let status = if before.as_ref() == Some(&record.id) {
            format!("Status: Image is up to date for {}", reference.familiar())
        } else {
            format!(
                "Status: Downloaded newer image for {}",
                reference.familiar()
            )
        };
        display.println(&status);
    }
    println!("{reference}");
    Ok(())
}

pub fn push(
    root: &mut Root,
    name: &str,
    compression: &str,
    quiet: bool,
    config: &ClientConfig,
) -> Result<()> {
    let reference: Reference = name.parse()?;
    let compression = match compression {
        "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        other => bail!("unknown compression {other:?}: gzip or zstd"),
    };
    let display = Display::new();
    if !quiet {
        display.println(&format!(
            "The push refers to repository [{}]",
            reference.repository()
        ));
    }
    let observer: &dyn Observer = if quiet { &Silent } else { &display };
    let digest =
        berth_distribution::push(&mut root.images, &reference, config, compression, observer)?;
    let size = root
        .images
        .blobs()
        .path(&digest)
        .metadata()
        .map(|m| m.len());
    let tag = reference.tag().unwrap_or("latest");
    match size {
        Ok(size) if !quiet => println!("{tag}: digest: {digest} size: {size}"),
        _ if !quiet => println!("{tag}: digest: {digest}"),
        _ => println!("{reference}"),
    }
    Ok(())
}

pub fn login(
    server: &str,
    username: &str,
    password: Option<&str>,
    password_stdin: bool,
    config: &ClientConfig,
) -> Result<()> {
    let password = match (password, password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p.to_string(),
        (None, true) => {
            let mut p = String::new();
            std::io::stdin().read_to_string(&mut p)?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => bail!("a password is needed: --password or --password-stdin"),
    };
    berth_distribution::login(server, username, &password, config)?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(server: &str, config: &ClientConfig) -> Result<()> {
    if berth_distribution::logout(server, config)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(())
}
