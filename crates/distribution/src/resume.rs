//! A blob download that survives a broken connection: it asks again for the rest with
//! `Range: bytes=N-` and carries on.

use std::io::{self, Read};

use berth_image::digest::Digest;
use ureq::http::Method;

use crate::client::{Error, Payload, Registry, Result};

/// How many times one download may resume.
const MAX_RESUMES: u32 = 5;

/// Reads one blob, resuming after a connection that broke early.
pub(crate) struct ResumingReader {
    registry: Registry,
    path: String,
    digest: Digest,
    /// Bytes read so far.
    offset: u64,
    /// The blob's size: given by the caller, else announced by the first answer.
    size: Option<u64>,
    body: Option<Box<dyn Read + Send>>,
    resumes: u32,
}

impl ResumingReader {
    /// Starts the download; an error here (not found, unauthorized) is reported at once.
    pub(crate) fn open(
        registry: Registry,
        repository: &str,
        digest: Digest,
        size: Option<u64>,
    ) -> Result<ResumingReader> {
        let mut reader = ResumingReader {
            registry,
            path: format!("/v2/{repository}/blobs/{digest}"),
            digest,
            offset: 0,
            size,
            body: None,
            resumes: 0,
        };
        reader.request()?;
        Ok(reader)
    }

    /// Requests the blob from `offset` on.
    fn request(&mut self) -> Result<()> {
        let mut headers = Vec::new();
        if self.offset > 0 {
            headers.push(("Range", format!("bytes={}-", self.offset)));
        }
        let response = self
            .registry
            .send(Method::GET, &self.path, &headers, Payload::Empty)?;
        let response = self.registry.expect_success(response, &self.path)?;
        let status = response.status().as_u16();
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if self.offset == 0 {
            if self.size.is_none() {
                self.size = length;
            }
        } else {
            let range = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if status != 206 || !range.starts_with(&format!("bytes {}-", self.offset)) {
                return Err(Error::Invalid {
                    what: format!("blob {}", self.digest),
                    reason: format!(
                        "the download broke at byte {} and the server ignored the request to \
                         resume there (answered {status}{}{range})",
                        self.offset,
                        if range.is_empty() { "" } else { ", " }
                    ),
                });
            }
        }
        self.body = Some(Box::new(response.into_body().into_reader()));
        Ok(())
    }

    /// After a failed read: asks for the rest, or gives up with `cause`.
    fn resume(&mut self, cause: io::Error) -> io::Result<()> {
        self.body = None;
        if self.resumes >= MAX_RESUMES {
            return Err(io::Error::new(
                cause.kind(),
                format!(
                    "blob {}: gave up after {MAX_RESUMES} resumed downloads at byte {}: {cause}",
                    self.digest, self.offset
                ),
            ));
        }
        self.resumes += 1;
        self.request().map_err(io::Error::other)
    }
}

impl Read for ResumingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(body) = self.body.as_mut() else {
                return Ok(0);
            };
            match body.read(buf) {
                Ok(0) => match self.size {
                    Some(size) if self.offset < size => {
                        let cause = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("connection closed at byte {} of {size}", self.offset),
                        );
                        self.resume(cause)?;
                    }
                    _ => {
                        self.body = None;
                        return Ok(0);
                    }
                },
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(e)?,
            }
        }
    }
}
