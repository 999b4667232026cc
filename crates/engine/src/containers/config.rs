//! A new container's configuration: the request laid over the image's defaults, as Docker
//! merges them (env by key, entrypoint and cmd together, labels, ports, volumes, healthcheck).

use berth_api::containers::{ContainerConfig, EmptyObject, HealthConfig};
use berth_image::inspect::ContainerConfig as ImageConfig;

/// Merges `image`'s defaults under `request`.
pub fn merge(request: &ContainerConfig, image: &ImageConfig) -> ContainerConfig {
    let mut config = request.clone();
    let mut env = image.env.clone().unwrap_or_default();
    for var in &request.env {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        env.retain(|old| old.split_once('=').map_or(old.as_str(), |(k, _)| k) != key);
        env.push(var.clone());
    }
    config.env = env;
    match &request.entrypoint {
        // `--entrypoint ""` clears the image's entrypoint and, as in Docker, its cmd too.
        Some(entrypoint) if entrypoint.len() == 1 && entrypoint[0].is_empty() => {
            config.entrypoint = Some(Vec::new());
        }
        Some(entrypoint) if !entrypoint.is_empty() => {}
        _ => {
            config.entrypoint = image.entrypoint.clone().filter(|e| !e.is_empty());
            if config.cmd.is_empty() {
                config.cmd = image.cmd.clone().unwrap_or_default();
            }
        }
    }
    if config.working_dir.is_empty() {
        config.working_dir = image.working_dir.clone();
    }
    if config.user.is_empty() {
        config.user = image.user.clone();
    }
    if config.stop_signal.is_empty() {
        config.stop_signal = image.stop_signal.clone().unwrap_or_default();
    }
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(request.labels.clone());
    config.labels = labels;
    for port in image.exposed_ports.iter().flat_map(|p| p.keys()) {
        config
            .exposed_ports
            .entry(port.clone())
            .or_insert(EmptyObject {});
    }
    for volume in image.volumes.iter().flat_map(|v| v.keys()) {
        config
            .volumes
            .entry(volume.clone())
            .or_insert(EmptyObject {});
    }
    config.healthcheck = merge_healthcheck(request.healthcheck.as_ref(), image);
    if config.image.is_empty() {
        config.image = image.image.clone();
    }
    config
}

/// The request's healthcheck with unset fields taken from the image's; `["NONE"]` disables.
fn merge_healthcheck(request: Option<&HealthConfig>, image: &ImageConfig) -> Option<HealthConfig> {
    let from_image: Option<HealthConfig> = image
        .healthcheck
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let Some(request) = request else {
        return from_image;
    };
    let mut merged = request.clone();
    if let Some(image) = from_image {
        if merged.test.is_empty() {
            merged.test = image.test;
        }
        if merged.interval == 0 {
            merged.interval = image.interval;
        }
        if merged.timeout == 0 {
            merged.timeout = image.timeout;
        }
        if merged.retries == 0 {
            merged.retries = image.retries;
        }
        if merged.start_period == 0 {
            merged.start_period = image.start_period;
        }
        if merged.start_interval == 0 {
            merged.start_interval = image.start_interval;
        }
    }
    Some(merged)
}

/// The program and arguments a container runs: entrypoint then cmd. None if both are empty.
pub fn command(config: &ContainerConfig) -> Option<(String, Vec<String>)> {
    let mut all = config.entrypoint.clone().unwrap_or_default();
    all.extend(config.cmd.iter().cloned());
    let mut all = all.into_iter();
    let path = all.next()?;
    Some((path, all.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageConfig {
        ImageConfig {
            env: Some(vec!["PATH=/bin".into(), "A=image".into()]),
            cmd: Some(vec!["sh".into()]),
            entrypoint: Some(vec!["/init".into()]),
            working_dir: "/srv".into(),
            user: "app".into(),
            ..ImageConfig::default()
        }
    }

    #[test]
    fn request_overrides_image_and_env_merges_by_key() {
        let request = ContainerConfig {
            env: vec!["A=mine".into(), "B=2".into()],
            cmd: vec!["echo".into(), "hi".into()],
            ..ContainerConfig::default()
        };
        let merged = merge(&request, &image());
        assert_eq!(merged.env, ["PATH=/bin", "A=mine", "B=2"]);
        assert_eq!(
            command(&merged).unwrap(),
            (
                "/init".to_string(),
                vec!["echo".to_string(), "hi".to_string()]
            )
        );
        assert_eq!(merged.working_dir, "/srv");
        assert_eq!(merged.user, "app");
    }

    #[test]
    fn an_entrypoint_replaces_the_images_and_an_empty_one_clears_it() {
        let mut request = ContainerConfig {
            entrypoint: Some(vec!["ls".into()]),
            ..ContainerConfig::default()
        };
        let merged = merge(&request, &image());
        assert_eq!(command(&merged).unwrap(), ("ls".to_string(), vec![]));
        request.entrypoint = Some(vec![String::new()]);
        request.cmd = vec!["true".into()];
        let merged = merge(&request, &image());
        assert_eq!(command(&merged).unwrap(), ("true".to_string(), vec![]));
        request.cmd.clear();
        assert!(command(&merge(&request, &image())).is_none());
    }
}
