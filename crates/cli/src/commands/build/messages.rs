//! The daemon's answer to `POST /build`: JSON messages shown as the docker CLI shows them —
//! `stream` text as it arrives, `status` lines of pulls, `aux.ID` the built image,
//! `errorDetail` the end of a failed build (its `code`, a failed `RUN`'s exit status, becomes
//! ours).

use std::io::{self, BufRead, Write};

use serde::Deserialize;

use crate::error::{Error, Result};

/// One message of the build stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    progress: Option<String>,
    #[serde(default)]
    aux: Option<serde_json::Value>,
    #[serde(default)]
    error_detail: Option<ErrorDetail>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    message: String,
}

/// What a successful build said about its result.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `aux.ID`: the image built.
    pub aux_id: Option<String>,
    /// With `-q`, everything the daemon streamed: the image id and a newline.
    pub quiet_id: String,
}

/// Shows the messages of `body` on stdout, or on stderr when stdout carries an `--output`
/// tar (with `quiet`, keeps them: they are the image id, or shown on stderr if the build
/// fails); a failure ends with [`Error::Coded`].
pub fn show(body: Box<dyn BufRead>, quiet: bool, stdout_taken: bool) -> Result<Outcome> {
    let mut kept = Vec::new();
    let (mut stdout, mut stderr) = (io::stdout().lock(), io::stderr().lock());
    let sink: &mut dyn Write = match (quiet, stdout_taken) {
        (true, _) => &mut kept,
        (false, true) => &mut stderr,
        (false, false) => &mut stdout,
    };
    let result = render(body, sink);
    drop((stdout, stderr));
    match result {
        Ok(aux_id) => Ok(Outcome {
            aux_id,
            quiet_id: String::from_utf8_lossy(&kept).into_owned(),
        }),
        Err(e) => {
            if quiet {
                let _ = io::stderr().write_all(&kept);
            }
            Err(e)
        }
    }
}

/// Writes each message to `out` as it arrives; returns the last `aux.ID`.
fn render(body: Box<dyn BufRead>, out: &mut dyn Write) -> Result<Option<String>> {
    let mut aux_id = None;
    let write = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("stdout", e))
    };
    for message in serde_json::Deserializer::from_reader(body).into_iter::<Message>() {
        let message = message
            .map_err(|e| Error::Stream(format!("unreadable build output from the daemon: {e}")))?;
        if let Some(detail) = message.error_detail {
            let code = if detail.code == 0 { 1 } else { detail.code };
            let text = if detail.message.is_empty() {
                message.error.unwrap_or_default()
            } else {
                detail.message
            };
            return Err(Error::Coded {
                code,
                message: text,
            });
        }
        if let Some(error) = message.error {
            return Err(Error::Coded {
                code: 1,
                message: error,
            });
        }
        if let Some(id) = message
            .aux
            .as_ref()
            .and_then(|aux| aux.get("ID"))
            .and_then(|id| id.as_str())
        {
            aux_id = Some(id.to_string());
        }
        if let Some(stream) = &message.stream {
            write(out, stream)?;
        } else if let Some(status) = &message.status {
            let mut line = match &message.id {
                Some(id) => format!("{id}: {status}"),
                None => status.clone(),
            };
            if let Some(progress) = message.progress.as_deref().filter(|p| !p.is_empty()) {
                line = format!("{line} {progress}");
            }
            line.push('\n');
            write(out, &line)?;
        }
    }
    Ok(aux_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &'static str) -> (Result<Option<String>>, String) {
        let mut out = Vec::new();
        let result = render(Box::new(text.as_bytes()), &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn streams_print_as_sent_and_aux_names_the_image() {
        let (result, out) = run(concat!(
            r#"{"stream":"Step 1/2 : FROM busybox"}{"stream":"\n"}"#,
            "\n",
            r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
            r#"{"aux":{"ID":"sha256:abc"}}"#,
            r#"{"stream":"Successfully built abc\n"}"#
        ));
        assert_eq!(result.unwrap().as_deref(), Some("sha256:abc"));
        assert_eq!(
            out,
            "Step 1/2 : FROM busybox\nlatest: Pulling from library/busybox\nSuccessfully built abc\n"
        );
    }

    #[test]
    fn an_error_ends_the_build_with_its_code() {
        let (result, out) = run(concat!(
            r#"{"stream":"Step 2/2 : RUN exit 3\n"}"#,
            r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"x"}"#,
            r#"{"stream":"never shown\n"}"#
        ));
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert_eq!(
            err.to_string(),
            "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        );
        assert_eq!(out, "Step 2/2 : RUN exit 3\n");
        let (result, _) = run(r#"{"error":"no code"}"#);
        assert_eq!(result.unwrap_err().exit_code(), 1);
        let (result, _) = run("{not json");
        assert!(result.is_err());
    }
}
