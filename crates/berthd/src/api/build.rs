//! `POST /build`: dockerd's legacy builder endpoint (`DOCKER_BUILDKIT=0 docker build`). The
//! body is the context tar; the answer is the JSON message stream dockerd writes (`stream`
//! lines, the `aux` image id, an `errorDetail` line when the build fails).

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use berth_api::build_secrets;
use berth_engine::build::{BuildError, BuildOptions, Output, Secret};
use berth_image::Reference;
use serde_json::{json, Value};

use super::error::ApiError;
use super::query::Query;
use super::{upload, Daemon};

/// The build's options from dockerd's query parameters, and its secrets from berth's header.
fn options(query: &Query, headers: &HeaderMap) -> Result<BuildOptions, ApiError> {
    let json_map = |key: &str| -> Result<Option<Value>, ApiError> {
        match query.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| ApiError::invalid(format!("invalid {key} {text:?}: {e}"))),
        }
    };
    let build_args: BTreeMap<String, Option<String>> = match json_map("buildargs")? {
        None => BTreeMap::new(),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| ApiError::invalid(format!("invalid buildargs: {e}")))?,
    };
    let labels: BTreeMap<String, String> = match json_map("labels")? {
        None => BTreeMap::new(),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| ApiError::invalid(format!("invalid labels: {e}")))?,
    };
    let mut tags = Vec::new();
    for tag in query.all("t") {
        let reference: Reference = tag
            .parse()
            .map_err(|e| ApiError::invalid(format!("invalid reference format: {tag}: {e}")))?;
        if reference.digest().is_some() {
            return Err(ApiError::invalid(format!(
                "invalid reference format: {tag}: a build cannot be tagged with a digest"
            )));
        }
        tags.push(reference);
    }
    if let Some(platform) = query.get("platform").filter(|p| !p.is_empty()) {
        let native = format!("linux/{}", native_arch());
        if !platform.eq_ignore_ascii_case(&native) && !platform.eq_ignore_ascii_case("linux") {
            return Err(ApiError::invalid(format!(
                "platform {platform} is not supported: berthd builds for {native} only"
            )));
        }
    }
    Ok(BuildOptions {
        dockerfile: query.get("dockerfile").unwrap_or_default().to_string(),
        tags,
        build_args,
        labels,
        no_cache: query.flag("nocache")?,
        pull: query.flag("pull")?,
        target: query.get("target").unwrap_or_default().to_string(),
        network_mode: query.get("networkmode").unwrap_or_default().to_string(),
        secrets: secrets(headers)?,
    })
}

/// The secrets of `berth build --secret`, if the request carries them.
fn secrets(headers: &HeaderMap) -> Result<BTreeMap<String, Secret>, ApiError> {
    let Some(value) = headers.get(build_secrets::HEADER) else {
        return Ok(BTreeMap::new());
    };
    let text = value.to_str().map_err(|_| {
        ApiError::invalid(format!(
            "invalid {} header: not ASCII",
            build_secrets::HEADER
        ))
    })?;
    let decoded = build_secrets::decode(text).map_err(ApiError::invalid)?;
    Ok(decoded
        .into_iter()
        .map(|(id, bytes)| (id, Secret::new(bytes)))
        .collect())
}

fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// One line of the response.
fn line(value: Value) -> Bytes {
    let mut bytes = serde_json::to_vec(&value).expect("JSON values serialise");
    bytes.extend_from_slice(b"\r\n");
    Bytes::from(bytes)
}

/// `POST /build`: answers 200 at once and streams the build; a bad query is answered with
/// its status before anything runs.
pub async fn build(
    daemon: &Daemon,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let options = options(query, headers)?;
    let quiet = query.flag("q")?;
    let (reader, upload) = upload::reader(body);
    let (out, mut outputs) = tokio::sync::mpsc::unbounded_channel();
    let (lines, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let builds = daemon.builds.clone();
    tokio::spawn(async move {
        let send = |output: Output| {
            let value = match output {
                Output::Stream(_) if quiet => return,
                Output::Stream(text) => json!({ "stream": text }),
                Output::ImageId(id) => json!({ "aux": { "ID": id.to_string() } }),
            };
            let _ = lines.send(line(value));
        };
        let build = builds.build(reader, options, out);
        tokio::pin!(build);
        let result = loop {
            tokio::select! {
                Some(output) = outputs.recv() => send(output),
                result = &mut build => break result,
            }
        };
        while let Ok(output) = outputs.try_recv() {
            send(output);
        }
        let _ = match result {
            Ok(id) if quiet => lines.send(line(json!({ "stream": format!("{id}\n") }))),
            Ok(_) => Ok(()),
            Err(e) => {
                upload.settle().await;
                lines.send(error_line(&e))
            }
        };
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let bytes = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), rx))
    });
    Ok((
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn error_line(error: &BuildError) -> Bytes {
    let message = error.to_string();
    line(json!({
        "errorDetail": { "code": error.code(), "message": message },
        "error": message,
    }))
}
