//! The raw streams of attach, exec and logs: docker's 8-byte-framed multiplexing of stdout and
//! stderr (when there is no tty), and the way stdin goes in.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

/// Copies a multiplexed stream to `stdout` and `stderr` until it ends: each frame is a header
/// `[stream, 0, 0, 0, len (u32 BE)]` then `len` bytes; stream 0 (stdin echo) and 1 go to
/// `stdout`, 2 to `stderr`.
pub fn demux(
    reader: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> io::Result<()> {
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if !read_header(reader, &mut header)? {
            return Ok(());
        }
        let out: &mut dyn Write = match header[0] {
            0 | 1 => &mut *stdout,
            2 => &mut *stderr,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown stream {other} in a multiplexed stream"),
                ))
            }
        };
        let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        while left > 0 {
            let want = left.min(buf.len());
            reader.read_exact(&mut buf[..want])?;
            out.write_all(&buf[..want])?;
            left -= want;
        }
        out.flush()?;
    }
}

/// Fills `header`; false when the stream ended cleanly before it.
fn read_header(reader: &mut dyn Read, header: &mut [u8; 8]) -> io::Result<bool> {
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the stream ended inside a frame header",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Copies a tty's raw stream to `stdout` as it arrives.
pub fn copy_raw(reader: &mut dyn Read, stdout: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stdout.write_all(&buf[..n])?;
        stdout.flush()?;
    }
}

/// Shows a container's output: demultiplexed unless it has a tty.
pub fn show_output(reader: &mut dyn Read, tty: bool) -> io::Result<()> {
    let mut stdout = io::stdout();
    if tty {
        copy_raw(reader, &mut stdout)
    } else {
        demux(reader, &mut stdout, &mut io::stderr())
    }
}

/// Parses docker's detach keys (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) into bytes.
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, String> {
    keys.split(',')
        .map(|key| {
            let bad = || format!("invalid detach keys {keys:?}: {key:?} is not a key");
            match key.strip_prefix("ctrl-") {
                Some(rest) if rest.len() == 1 => {
                    let c = rest.as_bytes()[0];
                    match c {
                        b'a'..=b'z' => Ok(c - b'a' + 1),
                        b'@' => Ok(0),
                        b'[' => Ok(27),
                        b'\\' => Ok(28),
                        b']' => Ok(29),
                        b'^' => Ok(30),
                        b'_' => Ok(31),
                        _ => Err(bad()),
                    }
                }
                None if key.len() == 1 => Ok(key.as_bytes()[0]),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// Copies `input` into the container until it ends (then closes the write side, so the
/// container sees end-of-file) or, when `detach` is set, until that key sequence is typed;
/// returns true when it detached.
pub fn pump_stdin(mut input: impl Read, mut writer: UnixStream, detach: Option<Vec<u8>>) -> bool {
    let mut buf = [0u8; 4096];
    let mut matched = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut out = Vec::with_capacity(n);
        for &byte in &buf[..n] {
            let Some(keys) = &detach else {
                out.push(byte);
                continue;
            };
            if byte != keys[matched] {
                // A broken sequence was typing after all.
                out.extend_from_slice(&keys[..matched]);
                matched = 0;
            }
            if byte == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    let _ = writer.write_all(&out);
                    return true;
                }
            } else {
                out.push(byte);
            }
        }
        if writer.write_all(&out).is_err() {
            return false;
        }
    }
    let _ = writer.shutdown(Shutdown::Write);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
        let mut out = vec![stream, 0, 0, 0];
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn frames_go_to_their_streams() {
        let mut input = frame(1, b"out1\n");
        input.extend(frame(2, b"err\n"));
        input.extend(frame(1, b"out2\n"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(&mut input.as_slice(), &mut out, &mut err).unwrap();
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"out1\nout2\n"[..], &b"err\n"[..])
        );
    }

    #[test]
    fn truncated_or_unknown_frames_are_errors() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let short = &frame(1, b"hello")[..10];
        assert!(demux(&mut &short[..], &mut out, &mut err).is_err());
        assert!(demux(&mut &[1u8, 0, 0][..], &mut out, &mut err).is_err());
        assert!(demux(&mut frame(7, b"x").as_slice(), &mut out, &mut err).is_err());
    }

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), [b'a', 0]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn stdin_stops_at_the_detach_keys_and_forwards_the_rest() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let detached = pump_stdin(&b"ab\x10c\x10\x11zz"[..], ours, Some(vec![16, 17]));
        assert!(detached);
        let mut got = Vec::new();
        theirs.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ab\x10c");
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        assert!(!pump_stdin(&b"plain"[..], ours, Some(vec![16, 17])));
        let mut got = Vec::new();
        theirs.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"plain");
    }
}
