//! `ADD <url>`: the file at an HTTP(S) URL, fetched by the daemon into a directory of the
//! build's own, as the legacy builder does: named after the URL's last path segment (or the
//! `Content-Disposition` filename when the path has none), mode 0600, its modification time
//! taken from `Last-Modified` (the epoch without one). It is never unpacked, even when it is
//! an archive. Its content (not its URL) is what the step's cache key covers: a URL whose
//! content changed runs the step again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{io_error, BuildError, BuildResult};

/// Whether an ADD source is a URL rather than a context path.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Fetches `url` into the directory `into`; returns the name the file got there.
pub fn fetch(url: &str, into: &Path) -> BuildResult<String> {
    let failed =
        |reason: String| BuildError::Invalid(format!("failed to download {url}: {reason}"));
    let response = ureq::get(url).call().map_err(|e| failed(e.to_string()))?;
    let name = file_name(url, header(&response, "Content-Disposition").as_deref())
        .ok_or_else(|| BuildError::Invalid(format!("cannot determine filename from url: {url}")))?;
    let mtime = header(&response, "Last-Modified")
        .and_then(|value| httpdate::parse_http_date(&value).ok())
        .unwrap_or(UNIX_EPOCH);
    let path = into.join(&name);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_error(format!("create {}", path.display())))?;
    let mut body = response.into_body().into_reader();
    io::copy(&mut body, &mut file).map_err(|e| failed(e.to_string()))?;
    file.flush()
        .map_err(io_error(format!("write {}", path.display())))?;
    set_mtime(&file, mtime).map_err(io_error(format!("set the time of {}", path.display())))?;
    Ok(name)
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    let value = response.headers().get(name)?;
    value.to_str().ok().map(str::to_string)
}

/// The URL path's last segment, or the `filename` of a `Content-Disposition` header when the
/// path ends in `/`; `None` when neither names a file.
fn file_name(url: &str, disposition: Option<&str>) -> Option<String> {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = without_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split_once('/')
        .map_or("", |(_, path)| path);
    let last = path.rsplit('/').next().unwrap_or_default();
    let from_disposition = || {
        disposition?.split(';').find_map(|part| {
            let value = part.trim().strip_prefix("filename=")?;
            let value = value.trim_matches('"');
            Some(value.rsplit(['/', '\\']).next()?.to_string())
        })
    };
    let name = if last.is_empty() {
        from_disposition()?
    } else {
        last.to_string()
    };
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

fn set_mtime(file: &File, mtime: SystemTime) -> io::Result<()> {
    file.set_times(
        std::fs::FileTimes::new()
            .set_accessed(mtime)
            .set_modified(mtime),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// A one-request HTTP server on 127.0.0.1 answering `response`; returns its base URL.
    fn serve_once(response: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            (&stream).write_all(response).unwrap();
        });
        url
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-add-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_url_is_saved_under_its_last_segment_with_mode_0600_and_its_last_modified_time() {
        let base = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nLast-Modified: Tue, 15 Nov 1994 08:12:31 GMT\r\nConnection: close\r\n\r\nhello",
        );
        let dir = temp("fetch");
        let name = fetch(&format!("{base}/files/greeting.txt?x=1"), &dir).unwrap();
        let path = dir.join(&name);
        let (content, meta) = (std::fs::read(&path).unwrap(), path.metadata().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(name, "greeting.txt");
        assert_eq!(content, b"hello");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert_eq!(meta.mtime(), 784887151);
    }

    #[test]
    fn an_error_status_or_a_nameless_url_is_a_clear_error() {
        let base =
            serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let dir = temp("errors");
        let missing = fetch(&format!("{base}/nope.txt"), &dir)
            .unwrap_err()
            .to_string();
        let base =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
        let nameless = fetch(&format!("{base}/"), &dir).unwrap_err().to_string();
        let left = std::fs::read_dir(&dir).unwrap().count();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            missing.contains("failed to download") && missing.contains("404"),
            "{missing}"
        );
        assert!(
            nameless.starts_with("cannot determine filename from url"),
            "{nameless}"
        );
        assert_eq!(left, 0, "nothing is saved for a failed download");
    }

    #[test]
    fn names_come_from_the_path_or_else_the_content_disposition() {
        assert_eq!(
            file_name("https://h/a/b.tar.gz", None).as_deref(),
            Some("b.tar.gz")
        );
        assert_eq!(
            file_name("http://h:8080/x#frag", None).as_deref(),
            Some("x")
        );
        let disposition = Some("attachment; filename=\"../../etc/passwd\"");
        assert_eq!(
            file_name("http://h/dir/", disposition).as_deref(),
            Some("passwd")
        );
        assert_eq!(file_name("http://h", None), None);
        assert_eq!(file_name("http://h/..", None), None);
    }
}
