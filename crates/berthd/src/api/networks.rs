//! `/networks`: list, inspect, create, remove, prune, connect and disconnect.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::networks::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse, NetworkResource,
};
use berth_engine::networks::NetworkRecord;

use super::containers::json_body;
use super::error::ApiError;
use super::query::Query;
use super::Daemon;

/// The filters of `GET /networks` and `POST /networks/prune`.
#[derive(Debug, Default)]
struct Filters {
    names: Vec<String>,
    ids: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    /// `custom` or `builtin`.
    types: Vec<String>,
    dangling: Option<bool>,
}

impl Filters {
    fn parse(filters: &BTreeMap<String, Vec<String>>) -> Result<Filters, ApiError> {
        let mut parsed = Filters::default();
        for (key, values) in filters {
            match key.as_str() {
                "name" => parsed.names.extend(values.iter().cloned()),
                "id" => parsed.ids.extend(values.iter().cloned()),
                "driver" => parsed.drivers.extend(values.iter().cloned()),
                "label" => parsed
                    .labels
                    .extend(values.iter().map(|v| match v.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (v.clone(), None),
                    })),
                "type" => {
                    for value in values {
                        if value != "custom" && value != "builtin" {
                            return Err(ApiError::invalid(format!(
                                "invalid filter: 'type'='{value}'"
                            )));
                        }
                        parsed.types.push(value.clone());
                    }
                }
                "dangling" => parsed.dangling = super::image_filters::dangling_filter(values)?,
                other => return Err(ApiError::invalid(format!("invalid filter '{other}'"))),
            }
        }
        Ok(parsed)
    }

    /// Whether `network` passes; `used` says whether a container uses it (for `dangling`).
    fn keeps(&self, network: &NetworkRecord, used: bool) -> bool {
        let any =
            |list: &[String], f: &dyn Fn(&String) -> bool| list.is_empty() || list.iter().any(f);
        any(&self.names, &|n| network.name.contains(n.as_str()))
            && any(&self.ids, &|i| network.id.starts_with(i.as_str()))
            && any(&self.drivers, &|d| network.driver.as_str() == d)
            && any(&self.types, &|t| (t == "builtin") == network.predefined)
            && self.labels.iter().all(|(k, v)| match v {
                Some(v) => network.labels.get(k) == Some(v),
                None => network.labels.contains_key(k),
            })
            && self.dangling.is_none_or(|d| d != used)
    }
}

fn view(daemon: &Daemon, network: &NetworkRecord, with_containers: bool) -> NetworkResource {
    let containers = if with_containers {
        daemon.containers.endpoints_on(&network.id)
    } else {
        Vec::new()
    };
    daemon.containers.networks().view(network, &containers)
}

/// `GET /networks?filters=`.
pub async fn list(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let filters = Filters::parse(&query.filters()?)?;
    let networks: Vec<NetworkResource> = daemon
        .containers
        .networks()
        .list()
        .iter()
        .filter(|n| {
            let used = n.predefined || daemon.containers.references_network(n);
            filters.keeps(n, used)
        })
        .map(|n| view(daemon, n, false))
        .collect();
    Ok(Json(networks).into_response())
}

/// `GET /networks/{id}`.
pub async fn inspect(daemon: &Daemon, key: &str) -> Result<Response, ApiError> {
    let network = daemon.containers.networks().get(key)?;
    Ok(Json(view(daemon, &network, true)).into_response())
}

/// `POST /networks/create`.
pub async fn create(daemon: &Daemon, body: Body) -> Result<Response, ApiError> {
    let request: NetworkCreateRequest = json_body(body, "network create").await?;
    let id = daemon.containers.networks().create(request).await?;
    Ok((
        StatusCode::CREATED,
        Json(NetworkCreateResponse {
            id,
            warning: String::new(),
        }),
    )
        .into_response())
}

/// `DELETE /networks/{id}`.
pub async fn remove(daemon: &Daemon, key: &str) -> Result<Response, ApiError> {
    let network = daemon.containers.networks().get(key)?;
    let in_use: Vec<String> = daemon
        .containers
        .endpoints_on(&network.id)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    daemon
        .containers
        .networks()
        .remove(&network.id, &in_use)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/prune?filters=`: the user-defined networks no container refers to.
pub async fn prune(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let filters = Filters::parse(&query.filters()?)?;
    let networks = daemon.containers.networks();
    let keep_used = |id: &str| {
        networks
            .get(id)
            .is_ok_and(|n| daemon.containers.references_network(&n) || !filters.keeps(&n, false))
    };
    let deleted = networks.prune(&keep_used).await?;
    Ok(Json(NetworkPruneResponse {
        networks_deleted: deleted,
    })
    .into_response())
}

/// `POST /networks/{id}/connect`.
pub async fn connect(daemon: &Daemon, key: &str, body: Body) -> Result<Response, ApiError> {
    let request: NetworkConnectRequest = json_body(body, "network connect").await?;
    daemon
        .containers
        .connect_network(key, &request.container, request.endpoint_config)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(daemon: &Daemon, key: &str, body: Body) -> Result<Response, ApiError> {
    let request: NetworkDisconnectRequest = json_body(body, "network disconnect").await?;
    daemon
        .containers
        .disconnect_network(key, &request.container, request.force)
        .await?;
    Ok(StatusCode::OK.into_response())
}
