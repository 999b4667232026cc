//! `berth system prune`: stopped containers, unused networks, (with `--volumes`) unused
//! anonymous volumes, dangling (with `-a` all unused) images and the build cache, through the
//! prune endpoints, reported as the docker CLI reports them.

use berth_api::containers::ContainerPruneResponse;
use berth_api::disk_usage::BuildCachePruneResponse;
use berth_api::images_list::ImagePruneResponse;
use berth_api::networks::NetworkPruneResponse;
use berth_api::volumes::VolumePruneResponse;
use clap::Args;

use super::images::{confirm, deleted_lines};
use super::{filters_json, prune_report, write_stdout};
use crate::client::Daemon;
use crate::error::{Error, Result};
use crate::format::human_size_4;
use crate::Context;

/// `berth system prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    filter: Vec<String>,
}

/// The question docker asks before a system prune.
fn warning(args: &PruneArgs) -> String {
    let mut out = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if args.volumes {
        out.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    out.push_str(if args.all {
        "  - all images without at least one container associated to them\n  - all build cache\n"
    } else {
        "  - all dangling images\n  - unused build cache\n"
    });
    let mut filters: Vec<&str> = ["label=", "label!=", "until="]
        .iter()
        .flat_map(|key| args.filter.iter().filter(move |f| f.starts_with(key)))
        .map(String::as_str)
        .collect();
    filters.sort();
    if !filters.is_empty() {
        out.push_str("\n  Items to be pruned will be filtered with:\n");
        for filter in filters {
            out.push_str(&format!("  - {filter}\n"));
        }
    }
    out.push_str("\nAre you sure you want to continue?");
    out
}

/// `path` with `filters` as its query, when there are any.
fn with_filters(path: &str, filters: &[String]) -> Result<String> {
    Ok(if filters.is_empty() {
        path.to_string()
    } else {
        format!("{path}?filters={}", filters_json(filters)?)
    })
}

/// Runs one prune after another, printing what each removed, then the total.
pub fn prune(cx: &Context, args: &PruneArgs) -> Result<()> {
    if args.volumes && args.filter.iter().any(|f| f.starts_with("until=")) {
        return Err(Error::Refused(
            "ERROR: The \"until\" filter is not supported with \"--volumes\"".into(),
        ));
    }
    if !args.force && !confirm(&warning(args))? {
        return Ok(());
    }
    let daemon = cx.daemon()?;
    let mut out = String::new();
    let mut reclaimed = 0;
    let containers: ContainerPruneResponse =
        post(&daemon, &with_filters("/containers/prune", &args.filter)?)?;
    if !containers.containers_deleted.is_empty() {
        reclaimed += containers.space_reclaimed;
    }
    out.push_str(&prune_report(
        "Deleted Containers:",
        &containers.containers_deleted,
        None,
    ));
    let networks: NetworkPruneResponse =
        post(&daemon, &with_filters("/networks/prune", &args.filter)?)?;
    out.push_str(&prune_report(
        "Deleted Networks:",
        &networks.networks_deleted,
        None,
    ));
    if args.volumes {
        // As the docker CLI: anonymous volumes only, even with -a.
        let volumes: VolumePruneResponse =
            post(&daemon, &with_filters("/volumes/prune", &args.filter)?)?;
        let deleted = volumes.volumes_deleted.unwrap_or_default();
        if !deleted.is_empty() {
            reclaimed += volumes.space_reclaimed;
        }
        out.push_str(&prune_report("Deleted Volumes:", &deleted, None));
    }
    let mut image_filters = args.filter.clone();
    image_filters.push(format!("dangling={}", !args.all));
    let images: ImagePruneResponse =
        post(&daemon, &with_filters("/images/prune", &image_filters)?)?;
    if !images.images_deleted.is_empty() {
        reclaimed += images.space_reclaimed;
        out.push_str("Deleted Images:\n");
        out.push_str(&deleted_lines(&images.images_deleted, true));
        out.push('\n');
    }
    let mut cache_path = with_filters("/build/prune", &args.filter)?;
    if args.all {
        cache_path.push(if cache_path.contains('?') { '&' } else { '?' });
        cache_path.push_str("all=1");
    }
    let cache: BuildCachePruneResponse = post(&daemon, &cache_path)?;
    let cache_deleted = cache.caches_deleted.unwrap_or_default();
    out.push_str(&prune_report(
        "Deleted build cache objects:",
        &cache_deleted,
        None,
    ));
    reclaimed += cache.space_reclaimed;
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size_4(reclaimed)
    ));
    write_stdout(&out)
}

fn post<T: serde::de::DeserializeOwned>(daemon: &Daemon, path: &str) -> Result<T> {
    daemon.post_json(path, None::<&()>)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(all: bool, volumes: bool, filter: &[&str]) -> PruneArgs {
        PruneArgs {
            all,
            volumes,
            force: false,
            filter: filter.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn the_warning_lists_what_goes_as_docker_does() {
        assert_eq!(
            warning(&args(false, false, &[])),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue?"
        );
        assert_eq!(
            warning(&args(true, true, &["until=24h", "label=a=b"])),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a=b\n  - until=24h\n\nAre you sure you want to continue?"
        );
    }
}
