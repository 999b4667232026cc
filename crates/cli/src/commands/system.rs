//! `berth version` and `berth info`.

use berth_api::system::{Info, Version};
use berth_api::ApiVersion;
use clap::Args;
use serde_json::{json, Value};

use crate::commands::write_stdout;
use crate::error::Result;
use crate::template::Template;
use crate::Context;

/// `berth version` flags.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
}

/// `berth info` flags.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
}

fn client_section(negotiated: Option<ApiVersion>) -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": negotiated.unwrap_or(ApiVersion::CURRENT).to_string(),
        "DefaultAPIVersion": ApiVersion::CURRENT.to_string(),
        "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
    })
}

/// The architecture as Go and the Engine API name it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Prints the client's version, then the daemon's.
pub fn version(cx: &Context, args: &VersionArgs) -> Result<()> {
    let daemon = cx.daemon();
    let negotiated = daemon.as_ref().ok().map(|d| d.version);
    let client = client_section(negotiated);
    let server = match &daemon {
        Ok(daemon) => Some(daemon.get_json::<Value>("/version")?),
        Err(_) => None,
    };
    if let Some(format) = &args.format {
        let template = Template::parse(format)?;
        let all = json!({"Client": client, "Server": server});
        write_stdout(&format!("{}\n", template.render(&all)?))?;
        return daemon.map(|_| ());
    }
    let mut out = format!(
        "Client:\n Version:           {}\n API version:       {}{}\n Git commit:        {}\n OS/Arch:           {}/{}\n",
        client["Version"].as_str().unwrap_or(""),
        client["ApiVersion"].as_str().unwrap_or(""),
        match negotiated {
            Some(v) if v != ApiVersion::CURRENT => format!(" (downgraded from {})", ApiVersion::CURRENT),
            _ => String::new(),
        },
        client["GitCommit"].as_str().unwrap_or(""),
        std::env::consts::OS,
        go_arch(),
    );
    let daemon = match daemon {
        Ok(daemon) => daemon,
        Err(e) => {
            write_stdout(&out)?;
            return Err(e);
        }
    };
    let server: Version = serde_json::from_value(server.unwrap_or_default())
        .map_err(|e| daemon.protocol(format!("GET /version: unexpected answer: {e}")))?;
    out.push_str(&format!(
        "\nServer:\n Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  Go version:       {}\n  Git commit:       {}\n  Built:            {}\n  OS/Arch:          {}/{}\n  Kernel Version:   {}\n",
        server.version,
        server.api_version,
        server.min_api_version,
        server.go_version,
        server.git_commit,
        server.build_time,
        server.os,
        server.arch,
        server.kernel_version,
    ));
    write_stdout(&out)
}

/// `1.9GiB`, as `docker info` prints memory.
fn binary_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    // Go's %.4g: four significant digits, no trailing zeros.
    let decimals = 3usize.saturating_sub(value.log10().floor().max(0.0) as usize);
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", units[unit])
}

/// Prints what the daemon says about itself.
pub fn info(cx: &Context, args: &InfoArgs) -> Result<()> {
    let daemon = cx.daemon()?;
    let raw: Value = daemon.get_json("/info")?;
    if let Some(format) = &args.format {
        let text = if format == "json" {
            raw.to_string()
        } else {
            Template::parse(format)?.render(&raw)?
        };
        return write_stdout(&format!("{text}\n"));
    }
    let info: Info = serde_json::from_value(raw)
        .map_err(|e| daemon.protocol(format!("GET /info: unexpected answer: {e}")))?;
    let out = format!(
        "Client:\n Context:    default\n Debug Mode: {}\n\nServer:\n Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n Server Version: {}\n Storage Driver: {}\n Logging Driver: {}\n Cgroup Driver: {}\n Cgroup Version: {}\n Runtimes: {}\n Default Runtime: {}\n Kernel Version: {}\n Operating System: {}\n OSType: {}\n Architecture: {}\n CPUs: {}\n Total Memory: {}\n Name: {}\n ID: {}\n Docker Root Dir: {}\n",
        cx.debug,
        info.containers,
        info.containers_running,
        info.containers_paused,
        info.containers_stopped,
        info.images,
        info.server_version,
        info.driver,
        info.logging_driver,
        info.cgroup_driver,
        info.cgroup_version,
        info.runtimes.keys().cloned().collect::<Vec<_>>().join(" "),
        info.default_runtime,
        info.kernel_version,
        info.operating_system,
        info.os_type,
        info.architecture,
        info.ncpu,
        binary_size(info.mem_total),
        info.name,
        info.id,
        info.docker_root_dir,
    );
    write_stdout(&out)
}

#[cfg(test)]
mod tests {
    use super::binary_size;

    #[test]
    fn memory_reads_as_docker_info_prints_it() {
        assert_eq!(binary_size(2_087_354_368), "1.944GiB");
        assert_eq!(binary_size(1024), "1KiB");
        assert_eq!(binary_size(0), "0B");
    }
}
