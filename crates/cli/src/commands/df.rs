//! `berth system df`: disk usage by kind, or (`-v`) by image, container, volume and build
//! cache record, as `docker system df` prints it.

use berth_api::containers::ContainerSummary;
use berth_api::disk_usage::{BuildCacheRecord, DiskUsage, ImageUsage, VolumeUsage};
use clap::Args;
use serde_json::{json, Map, Value};

use super::{ps, render_rows, short_id, volume, with_sorted_keys, write_stdout};
use crate::error::Result;
use crate::format::{ago, human_size, human_size_4, now};
use crate::template::Template;
use crate::Context;

/// `berth system df` flags.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
}

const SUMMARY: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const IMAGES: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const CONTAINERS: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const VOLUMES: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const BUILD_CACHE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";

fn header(field: &str) -> Option<&'static str> {
    Some(match field {
        "Type" => "TYPE",
        "TotalCount" => "TOTAL",
        "Active" => "ACTIVE",
        "Size" => "SIZE",
        "Reclaimable" => "RECLAIMABLE",
        "Repository" => "REPOSITORY",
        "Tag" => "TAG",
        "ID" => "IMAGE ID",
        "CreatedSince" => "CREATED",
        "SharedSize" => "SHARED SIZE",
        "UniqueSize" => "UNIQUE SIZE",
        "Containers" => "CONTAINERS",
        _ => return None,
    })
}

fn volume_header(field: &str) -> Option<&'static str> {
    Some(match field {
        "Name" => "VOLUME NAME",
        "Links" => "LINKS",
        "Size" => "SIZE",
        _ => return None,
    })
}

fn cache_header(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "CACHE ID",
        "CacheType" => "CACHE TYPE",
        "Size" => "SIZE",
        "CreatedSince" => "CREATED",
        "LastUsedSince" => "LAST USED",
        "UsageCount" => "USAGE",
        "Shared" => "SHARED",
        _ => return None,
    })
}

/// `reclaimable` of `total`, with its share in whole percent when there is a total.
fn reclaimable(reclaimable: i64, total: i64) -> String {
    let text = human_size_4(reclaimable.max(0) as u64);
    if total > 0 {
        format!("{text} ({}%)", reclaimable * 100 / total)
    } else {
        text
    }
}

fn summary_row(kind: &str, total: usize, active: usize, size: i64, reclaim: String) -> Value {
    json!({
        "Type": kind,
        "TotalCount": total.to_string(),
        "Active": active.to_string(),
        "Size": human_size_4(size.max(0) as u64),
        "Reclaimable": reclaim,
    })
}

/// Running, paused and restarting containers keep what they wrote.
fn is_active(container: &ContainerSummary) -> bool {
    matches!(
        container.state.as_str(),
        "running" | "paused" | "restarting"
    )
}

/// The four lines of `docker system df`.
pub fn summary_rows(usage: &DiskUsage) -> Vec<Value> {
    let images = usage.images.as_deref().unwrap_or_default();
    let used: i64 = images
        .iter()
        .filter(|i| i.containers != 0 && i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    let layers = usage.layers_size;
    let containers = usage.containers.as_deref().unwrap_or_default();
    let written = |c: &ContainerSummary| c.size_rw.unwrap_or(0);
    let containers_size: i64 = containers.iter().map(written).sum();
    let stopped: i64 = containers
        .iter()
        .filter(|c| !is_active(c))
        .map(written)
        .sum();
    let volumes = usage.volumes.as_deref().unwrap_or_default();
    let measured = volumes
        .iter()
        .filter_map(|v| v.usage_data)
        .filter(|u| u.size != -1);
    let volumes_size: i64 = measured.clone().map(|u| u.size).sum();
    let unused: i64 = measured.filter(|u| u.ref_count == 0).map(|u| u.size).sum();
    let cache = usage.build_cache.as_deref().unwrap_or_default();
    let cache_size: i64 = cache.iter().filter(|c| !c.shared).map(|c| c.size).sum();
    let cache_in_use: i64 = cache
        .iter()
        .filter(|c| c.in_use && !c.shared)
        .map(|c| c.size)
        .sum();
    vec![
        summary_row(
            "Images",
            images.len(),
            images.iter().filter(|i| i.containers > 0).count(),
            layers,
            reclaimable(layers - used, layers),
        ),
        summary_row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| is_active(c)).count(),
            containers_size,
            reclaimable(stopped, containers_size),
        ),
        summary_row(
            "Local Volumes",
            volumes.len(),
            volumes
                .iter()
                .filter(|v| v.usage_data.is_some_and(|u| u.ref_count > 0))
                .count(),
            volumes_size,
            reclaimable(unused, volumes_size),
        ),
        summary_row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|c| c.in_use).count(),
            cache_size,
            human_size_4((cache_size - cache_in_use).max(0) as u64),
        ),
    ]
}

/// An image's repository and tag as `df -v` shows them: its first name, or `<none>`.
fn repository_and_tag(image: &ImageUsage) -> (String, String) {
    let none = || ("<none>".to_string(), "<none>".to_string());
    let Some(name) = image.repo_tags.first().filter(|n| *n != "<none>:<none>") else {
        return none();
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(colon) => (
            name[..slash + colon].to_string(),
            name[slash + colon + 1..].to_string(),
        ),
        None => none(),
    }
}

fn image_row(image: &ImageUsage, trunc: bool, now: i64) -> Value {
    let (repository, tag) = repository_and_tag(image);
    let known = image.size != -1 && image.shared_size != -1;
    json!({
        "Repository": repository,
        "Tag": tag,
        "ID": if trunc { short_id(&image.id) } else { image.id.clone() },
        "CreatedSince": ago(image.created, now),
        "Size": human_size(image.size.max(0) as u64),
        "SharedSize": if image.shared_size == -1 { "N/A".into() } else { human_size_4(image.shared_size as u64) },
        "UniqueSize": if known { human_size_4((image.size - image.shared_size).max(0) as u64) } else { "N/A".into() },
        "Containers": if image.containers == -1 { "N/A".into() } else { image.containers.to_string() },
    })
}

fn container_row(container: &ContainerSummary, trunc: bool, now: i64) -> Value {
    // The virtual size is not shown here.
    let container = ContainerSummary {
        size_root_fs: Some(0),
        ..container.clone()
    };
    ps::row(&container, trunc, now)
}

fn volume_row(usage: &VolumeUsage) -> Value {
    let mut row = volume::row(&usage.volume);
    if let Some(data) = usage.usage_data {
        row["Links"] = json!(data.ref_count.to_string());
        row["Size"] = json!(human_size_4(data.size.max(0) as u64));
    }
    row
}

fn cache_row(record: &BuildCacheRecord, trunc: bool, now: i64) -> Value {
    let mut id = if trunc {
        record.id.chars().take(12).collect()
    } else {
        record.id.clone()
    };
    if record.in_use {
        id.push('*');
    }
    let since =
        |time: &str| berth_image::time::parse(time).map_or_else(String::new, |secs| ago(secs, now));
    json!({
        "ID": id,
        "CacheType": record.r#type,
        "Description": record.description,
        "Size": human_size(record.size.max(0) as u64),
        "CreatedSince": since(&record.created_at),
        "LastUsedSince": record.last_used_at.as_deref().map(since).unwrap_or_default(),
        "UsageCount": record.usage_count.to_string(),
        "InUse": if record.in_use { "true" } else { "" },
        "Shared": record.shared.to_string(),
    })
}

/// The `-v` rows by section, as templates see them: `.Images`, `.Containers`, `.Volumes`,
/// `.BuildCache`.
fn verbose_rows(usage: &DiskUsage, trunc: bool, now: i64) -> Map<String, Value> {
    let mut out = Map::new();
    let images = usage.images.iter().flatten();
    let containers = usage.containers.iter().flatten();
    let volumes = usage.volumes.iter().flatten();
    let cache = usage.build_cache.iter().flatten();
    out.insert(
        "Images".into(),
        images.map(|i| image_row(i, trunc, now)).collect(),
    );
    out.insert(
        "Containers".into(),
        containers.map(|c| container_row(c, trunc, now)).collect(),
    );
    out.insert("Volumes".into(), volumes.map(volume_row).collect());
    out.insert(
        "BuildCache".into(),
        cache.map(|c| cache_row(c, trunc, now)).collect(),
    );
    out
}

fn section(rows: &Value) -> Vec<Value> {
    rows.as_array().cloned().unwrap_or_default()
}

/// `df -v` as tables, one per section.
fn verbose_tables(usage: &DiskUsage, now: i64) -> Result<String> {
    let rows = verbose_rows(usage, true, now);
    let cache_size: i64 = usage
        .build_cache
        .iter()
        .flatten()
        .filter(|c| !c.shared)
        .map(|c| c.size)
        .sum();
    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&render_rows(
        None,
        IMAGES,
        &section(&rows["Images"]),
        header,
    )?);
    out.push_str("\nContainers space usage:\n\n");
    out.push_str(&render_rows(
        None,
        CONTAINERS,
        &section(&rows["Containers"]),
        ps::header,
    )?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&render_rows(
        None,
        VOLUMES,
        &section(&rows["Volumes"]),
        volume_header,
    )?);
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size_4(cache_size.max(0) as u64)
    ));
    out.push_str(&render_rows(
        None,
        BUILD_CACHE,
        &section(&rows["BuildCache"]),
        cache_header,
    )?);
    Ok(out)
}

/// Go's `json.Marshal` escapes these in strings; `df -v --format json` prints it so.
fn escape_html(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Prints the disk usage.
pub fn df(cx: &Context, args: &DfArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let usage: DiskUsage = daemon.get_json("/system/df")?;
    let format = args
        .format
        .as_deref()
        .filter(|f| !f.is_empty() && *f != "table");
    let now = now();
    if !args.verbose {
        return write_stdout(&render_rows(
            format,
            SUMMARY,
            &summary_rows(&usage),
            header,
        )?);
    }
    match format {
        None => write_stdout(&verbose_tables(&usage, now)?),
        // The whole object through one template, without a newline after it, as docker does.
        Some("json") => {
            let rows = Value::Object(verbose_rows(&usage, false, now));
            write_stdout(&escape_html(&with_sorted_keys(&rows).to_string()))
        }
        Some(format) => {
            let rows = Value::Object(verbose_rows(&usage, !format.starts_with("table"), now));
            write_stdout(&Template::parse(format)?.render(&rows)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::disk_usage::UsageData;

    fn image(containers: i64, size: i64, shared: i64) -> ImageUsage {
        ImageUsage {
            containers,
            size,
            shared_size: shared,
            ..ImageUsage::default()
        }
    }

    #[test]
    fn reclaimable_space_is_counted_as_docker_counts_it() {
        let usage = DiskUsage {
            layers_size: 3_000_000,
            images: Some(vec![
                image(1, 2_000_000, 500_000),
                image(0, 1_500_000, 500_000),
            ]),
            containers: Some(vec![
                ContainerSummary {
                    state: "running".into(),
                    size_rw: Some(1000),
                    ..ContainerSummary::default()
                },
                ContainerSummary {
                    state: "exited".into(),
                    size_rw: Some(3000),
                    ..ContainerSummary::default()
                },
            ]),
            volumes: Some(vec![
                VolumeUsage {
                    usage_data: Some(UsageData {
                        size: 1_048_576,
                        ref_count: 1,
                    }),
                    ..VolumeUsage::default()
                },
                VolumeUsage {
                    usage_data: Some(UsageData {
                        size: 0,
                        ref_count: 0,
                    }),
                    ..VolumeUsage::default()
                },
            ]),
            build_cache: Some(vec![]),
        };
        let rows = summary_rows(&usage);
        let text = render_rows(None, SUMMARY, &rows, header).unwrap();
        assert_eq!(
            text,
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          2         1         3MB       1.5MB (50%)\n\
             Containers      2         1         4kB       3kB (75%)\n\
             Local Volumes   2         1         1.049MB   0B (0%)\n\
             Build Cache     0         0         0B        0B\n"
        );
    }

    #[test]
    fn an_image_shows_its_first_name_split_at_the_tag() {
        let mut i = image(0, 1, 0);
        i.repo_tags = vec!["127.0.0.1:5000/a/b:1.0".into(), "other:2".into()];
        assert_eq!(
            repository_and_tag(&i),
            ("127.0.0.1:5000/a/b".to_string(), "1.0".to_string())
        );
        i.repo_tags = vec![];
        assert_eq!(
            repository_and_tag(&i),
            ("<none>".to_string(), "<none>".to_string())
        );
    }
}
