//! load, save, import.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_image::progress::{Observer, Silent};
use berth_image::save::Format;
use berth_image::Reference;

use crate::progress::Display;
use crate::Root;

pub fn load(root: &mut Root, input: Option<&Path>, quiet: bool) -> Result<()> {
    let reader: Box<dyn Read> = match input {
        Some(path) => Box::new(BufReader::with_capacity(
            1 << 20,
            File::open(path).with_context(|| format!("open {}", path.display()))?,
        )),
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty: use -i FILE or a redirect");
            }
            Box::new(std::io::stdin().lock())
        }
    };
    let display = Display::new();
    let observer: &dyn Observer = if quiet { &Silent } else { &display };
    let loaded = berth_image::archive::load(&mut root.images, &root.snapshots, reader, observer)?;
    for (id, names) in loaded {
        if names.is_empty() {
            println!("Loaded image ID: {id}");
        }
        for name in names {
            println!("Loaded image: {}", name.familiar());
        }
    }
    Ok(())
}

pub fn save(root: &Root, images: &[String], output: Option<&Path>, format: &str) -> Result<()> {
    let format = match format {
        "docker" | "docker-archive" => Format::Docker,
        "oci" | "oci-archive" => Format::Oci,
        other => bail!("unknown format {other:?}: docker or oci"),
    };
    let names: Vec<&str> = images.iter().map(String::as_str).collect();
    match output {
        Some(path) => {
            // Written beside the target and renamed: a failed save leaves no half archive.
            let tmp = path.with_file_name(format!(
                ".{}.tmp-{}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            let result = (|| -> Result<()> {
                let file =
                    File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
                let mut out = BufWriter::with_capacity(1 << 20, file);
                berth_image::save::save(&root.images, &names, format, &mut out)?;
                let file = out.into_inner().context("flush the archive")?;
                file.sync_all().context("fsync the archive")?;
                std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            berth_image::save::save(&root.images, &names, format, &mut out)?;
            out.flush().context("write the archive")
        }
    }
}

pub fn import(
    root: &mut Root,
    file: &str,
    reference: Option<&str>,
    changes: &[String],
    message: &str,
) -> Result<()> {
    let reference: Option<Reference> = reference.map(str::parse).transpose()?;
    let input: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(BufReader::new(
            File::open(file).with_context(|| format!("open {file}"))?,
        ))
    };
    let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
    let id = berth_image::rootfs_tar::import(&mut root.images, input, &changes, message)?;
    if let Some(reference) = reference {
        root.images.tag(&id.to_string(), &reference)?;
    }
    println!("{id}");
    Ok(())
}
