//! images, tag, rmi, prune, inspect, history, verify, gc.

use std::path::Path;

use anyhow::{ensure, Result};
use berth_image::digest::Digest;
use berth_image::inspect::{self, LayerSizes};
use berth_image::Reference;

use crate::Root;
use berth_cli::format::{ago, human_size, now};

/// No container runs without the daemon: nothing holds an image here.
fn unused(_: &Digest) -> bool {
    false
}

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

pub fn images(root: &Root, quiet: bool, no_trunc: bool) -> Result<()> {
    let mut sizes = LayerSizes::default();
    let summaries = inspect::summaries(&root.images, &mut sizes)?;
    if quiet {
        for s in &summaries {
            println!("{}", short_id(&s.id, no_trunc));
        }
        return Ok(());
    }
    let now = now();
    let mut rows = vec![[
        "REPOSITORY".to_string(),
        "TAG".into(),
        "IMAGE ID".into(),
        "CREATED".into(),
        "SIZE".into(),
    ]];
    for s in &summaries {
        for (repository, tag) in inspect::rows(s) {
            rows.push([
                repository,
                tag,
                short_id(&s.id, no_trunc),
                ago(s.created, now),
                human_size(s.size),
            ]);
        }
    }
    print_table(&rows);
    Ok(())
}

/// Prints columns padded to their widest cell with three spaces between, as the docker CLI.
fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   "));
            }
        }
        println!("{}", line.trim_end());
    }
}

pub fn tag(root: &mut Root, source: &str, target: &str) -> Result<()> {
    let target: Reference = target.parse()?;
    root.images.tag(source, &target)?;
    Ok(())
}

pub fn rmi(root: &mut Root, images: &[String], force: bool) -> Result<()> {
    let mut failures = 0;
    for image in images {
        match root.images.remove(image, force, &unused) {
            Ok(removals) => {
                for removal in removals {
                    println!("{removal}");
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failures += 1;
            }
        }
    }
    ensure!(failures == 0, "{failures} image(s) could not be removed");
    Ok(())
}

pub fn prune(root: &mut Root, all: bool) -> Result<()> {
    let removals = root.images.prune(all, &unused)?;
    if !removals.is_empty() {
        println!("Deleted Images:");
        for removal in &removals {
            // `docker image prune` prints these in lower case.
            let line = removal.to_string();
            let mut chars = line.chars();
            let first = chars.next().map(|c| c.to_ascii_lowercase());
            println!(
                "{}{}",
                first.map(String::from).unwrap_or_default(),
                chars.as_str()
            );
        }
        println!();
    }
    Ok(())
}

/// After a prune: removing image records frees nothing by itself; collecting does.
pub fn reclaim(images_root: &Path, snapshots_root: &Path) -> Result<()> {
    let report = berth_image::gc::collect(images_root, snapshots_root, &[])?;
    println!("Total reclaimed space: {}", human_size(report.bytes_freed));
    Ok(())
}

pub fn inspect(root: &Root, images: &[String]) -> Result<()> {
    let mut sizes = LayerSizes::default();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for image in images {
        match inspect::inspect(&root.images, image, &mut sizes) {
            Ok(i) => found.push(i),
            Err(e) => missing.push(e.to_string()),
        }
    }
    println!("{}", docker_json(&found)?);
    for m in &missing {
        eprintln!("Error: {m}");
    }
    ensure!(missing.is_empty(), "{} image(s) not found", missing.len());
    Ok(())
}

/// JSON as `docker inspect` prints it: indented by four spaces.
fn docker_json(value: &impl serde::Serialize) -> Result<String> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, formatter,
    ))?;
    Ok(String::from_utf8(out)?)
}

pub fn history(root: &Root, image: &str, no_trunc: bool, human: bool) -> Result<()> {
    let mut sizes = LayerSizes::default();
    let items = inspect::history(&root.images, image, &mut sizes)?;
    let now = now();
    let mut rows = vec![[
        "IMAGE".to_string(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    for item in items {
        let mut created_by = item.created_by.replace('\t', " ");
        if !no_trunc && created_by.chars().count() > 45 {
            created_by = created_by.chars().take(44).collect::<String>() + "…";
        }
        rows.push([
            if item.id == "<missing>" {
                item.id.clone()
            } else {
                short_id(&item.id, no_trunc)
            },
            if human {
                ago(item.created, now)
            } else {
                item.created.to_string()
            },
            created_by,
            if human {
                human_size(item.size)
            } else {
                item.size.to_string()
            },
            item.comment,
        ]);
    }
    print_table(&rows);
    Ok(())
}

pub fn verify(root: &Root) -> Result<()> {
    let blobs = root.images.blobs();
    let mut bad = 0;
    for digest in blobs.digests()? {
        if let Err(e) = blobs.verify(&digest) {
            eprintln!("{e}");
            bad += 1;
        }
    }
    ensure!(bad == 0, "{bad} blob(s) do not match their digest");
    Ok(())
}

pub fn gc(images_root: &Path, snapshots_root: &Path) -> Result<()> {
    let report = berth_image::gc::collect(images_root, snapshots_root, &[])?;
    println!(
        "Deleted {} blobs, {} snapshots, {} leftovers",
        report.blobs_removed.len(),
        report.snapshots_removed.len(),
        report.leftovers_removed
    );
    println!("Total reclaimed space: {}", human_size(report.bytes_freed));
    Ok(())
}
