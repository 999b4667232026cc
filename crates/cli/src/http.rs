//! A small blocking HTTP/1.1 client over a unix socket: one request per connection
//! (`Connection: close`), bodies from memory or streamed from a reader, responses read as they
//! arrive (content-length, chunked or until close) so JSON-lines streams render live.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::chunked::ChunkedWriter;

/// What a request sends as its body.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// A JSON document.
    Json(Vec<u8>),
    /// A stream of `content_type` (a tar archive for `load`): `len` bytes, or chunked when
    /// the length is not known (a pipe).
    Stream {
        content_type: &'static str,
        len: Option<u64>,
        reader: &'a mut dyn Read,
    },
    /// A stream of `content_type` that `write` makes as it goes, sent chunked. An error from
    /// `write` ends the request without ending the body: the server sees it cut short.
    Produced {
        content_type: &'static str,
        write: &'a mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    },
}

/// A response whose body has not been read yet.
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    headers: Vec<(String, String)>,
    /// The body, decoded from its transfer encoding.
    pub body: Box<dyn BufRead + Send>,
}

impl Response {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole body.
    pub fn bytes(mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Sends one request on a new connection to the socket at `socket`.
pub fn request(
    socket: &Path,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: Body<'_>,
) -> io::Result<Response> {
    let mut stream = UnixStream::connect(socket)?;
    let mut head = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: api\r\nUser-Agent: berth/{}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match &body {
        Body::Empty => head.push_str("Content-Length: 0\r\n"),
        Body::Json(data) => head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            data.len()
        )),
        Body::Stream {
            content_type, len, ..
        } => {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
            match len {
                Some(len) => head.push_str(&format!("Content-Length: {len}\r\n")),
                None => head.push_str("Transfer-Encoding: chunked\r\n"),
            }
        }
        Body::Produced { content_type, .. } => head.push_str(&format!(
            "Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"
        )),
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Err(e) = send_body(body, &mut stream).and_then(|()| stream.flush()) {
        // A server may answer (an error status) and close before it reads the whole body:
        // its answer says more than the broken pipe.
        if matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            if let Ok(response) = read_response(BufReader::new(stream)) {
                return Ok(response);
            }
        }
        return Err(e);
    }
    read_response(BufReader::new(stream))
}

fn send_body(body: Body<'_>, stream: &mut UnixStream) -> io::Result<()> {
    match body {
        Body::Empty => {}
        Body::Json(data) => stream.write_all(&data)?,
        Body::Stream {
            len: None, reader, ..
        } => {
            let mut chunks = ChunkedWriter::new(stream);
            while chunks.send_read(reader)? > 0 {}
            chunks.finish()?
        }
        Body::Produced { write, .. } => {
            let mut chunks = ChunkedWriter::new(stream);
            write(&mut chunks)?;
            chunks.finish()?
        }
        Body::Stream {
            len: Some(len),
            reader,
            ..
        } => {
            let copied = io::copy(&mut reader.take(len), stream)?;
            if copied != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the request body ended after {copied} of {len} bytes"),
                ));
            }
        }
    }
    Ok(())
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Longest status or header line accepted: a hostile server cannot make us buffer forever.
const MAX_LINE: u64 = 64 * 1024;

fn read_line<R: BufRead>(reader: &mut R) -> io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(invalid(
            "the response ended in the middle of a line, or a line is too long",
        ));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("a response line is not UTF-8"))
}

/// A connection the daemon handed over (`101 UPGRADED`, or `200` from older daemons): after
/// the response head, a raw stream in both directions (attach, exec start).
pub struct Upgraded {
    /// The head of the daemon's answer, with the body of an error status.
    pub response: Response,
    /// The write half: the container's stdin.
    pub writer: UnixStream,
}

/// Sends a JSON request asking to take over the connection (`Upgrade: tcp`); the returned
/// response's body is the raw stream when the status is below 400.
pub fn upgrade(
    socket: &Path,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> io::Result<Upgraded> {
    let mut stream = UnixStream::connect(socket)?;
    let head = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: api\r\nUser-Agent: berth/{}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)?;
    let mut response = Response {
        status,
        headers,
        body: Box::new(io::empty()),
    };
    if status >= 400 {
        response.body = body_reader(&response, reader)?;
    } else {
        response.body = Box::new(reader);
    }
    Ok(Upgraded { response, writer })
}

fn read_head<R: BufRead>(reader: &mut R) -> io::Result<(u16, Vec<(String, String)>)> {
    let status_line = read_line(reader)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| invalid(format!("not an HTTP response: {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("malformed response header {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
        if headers.len() > 1000 {
            return Err(invalid("too many response headers"));
        }
    }
    Ok((status, headers))
}

fn read_response<R: BufRead + Send + 'static>(mut reader: R) -> io::Result<Response> {
    let (status, headers) = read_head(&mut reader)?;
    let mut response = Response {
        status,
        headers,
        body: Box::new(io::empty()),
    };
    response.body = body_reader(&response, reader)?;
    Ok(response)
}

/// The body after `response`'s head, decoded from its transfer encoding.
fn body_reader<R: BufRead + Send + 'static>(
    response: &Response,
    reader: R,
) -> io::Result<Box<dyn BufRead + Send>> {
    let chunked = response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = response.header("Content-Length").map(str::parse::<u64>);
    Ok(if chunked {
        Box::new(BufReader::new(Chunked {
            inner: reader,
            left: 0,
            done: false,
        }))
    } else if let Some(length) = length {
        let length = length.map_err(|_| invalid("malformed Content-Length"))?;
        Box::new(reader.take(length))
    } else {
        Box::new(reader)
    })
}

/// The body of a `Transfer-Encoding: chunked` response.
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = read_line(&mut self.inner)?;
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = u64::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("malformed chunk size {line:?}")))?;
            if self.left == 0 {
                // Trailers, then the empty line.
                while !read_line(&mut self.inner)?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the response ended inside a chunk",
            ));
        }
        self.left -= n as u64;
        if self.left == 0 && !read_line(&mut self.inner)?.is_empty() {
            return Err(invalid("a chunk is longer than its size"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &'static [u8]) -> io::Result<(u16, Vec<u8>)> {
        let response = read_response(BufReader::new(raw))?;
        let status = response.status;
        Ok((status, response.bytes()?))
    }

    #[test]
    fn bodies_decode_by_length_chunks_or_close() {
        let (status, body) =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
        let (status, body) = parse(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((status, body.as_slice()), (404, &b"abcde"[..]));
        let (_, body) = parse(b"HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(body, b"until close");
    }

    #[test]
    fn chunked_request_bodies_decode_back() {
        let mut sent = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut chunks = ChunkedWriter::new(&mut sent);
        let mut reader = data.as_slice();
        while chunks.send_read(&mut reader).unwrap() > 0 {}
        chunks.finish().unwrap();
        let mut produced = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut chunks = ChunkedWriter::new(&mut produced);
        for piece in data.chunks(4096) {
            chunks.write_all(piece).unwrap();
        }
        chunks.finish().unwrap();
        for sent in [sent, produced] {
            let leaked: &'static [u8] = Box::leak(sent.into_boxed_slice());
            assert!(parse(leaked).unwrap().1 == data);
        }
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc").is_err());
        assert!(parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n0\r\n\r\n"
        )
        .is_err());
    }
}
