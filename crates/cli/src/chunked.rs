//! A request body in HTTP/1.1 chunked encoding, written as it is made: each chunk goes out in
//! one write, its size line and end included.

use std::io::{self, Read, Write};

/// The largest chunk.
const CHUNK_SIZE: usize = 1 << 20;
/// Room before a chunk's data for its size line (`100000\r\n`).
const HEAD_ROOM: usize = 16;

/// Frames what is written to it as chunks of at most [`CHUNK_SIZE`] on `out`.
pub struct ChunkedWriter<W: Write> {
    out: W,
    /// [`HEAD_ROOM`], then up to [`CHUNK_SIZE`] bytes of data, then room for `\r\n`.
    buf: Vec<u8>,
    filled: usize,
}

impl<W: Write> ChunkedWriter<W> {
    /// A writer of chunks to `out`.
    pub fn new(out: W) -> Self {
        ChunkedWriter {
            out,
            buf: vec![0; HEAD_ROOM + CHUNK_SIZE + 2],
            filled: 0,
        }
    }

    /// Reads once from `reader` straight into the chunk being gathered and sends it; returns
    /// the bytes read (0 at the reader's end).
    pub fn send_read(&mut self, reader: &mut dyn Read) -> io::Result<usize> {
        self.send_chunk()?;
        loop {
            match reader.read(&mut self.buf[HEAD_ROOM..HEAD_ROOM + CHUNK_SIZE]) {
                Ok(n) => {
                    self.filled = n;
                    self.send_chunk()?;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends what is gathered and the last chunk: the body ends.
    pub fn finish(mut self) -> io::Result<()> {
        self.send_chunk()?;
        self.out.write_all(b"0\r\n\r\n")?;
        self.out.flush()
    }

    fn send_chunk(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let head = format!("{:x}\r\n", self.filled);
        let start = HEAD_ROOM - head.len();
        self.buf[start..HEAD_ROOM].copy_from_slice(head.as_bytes());
        let end = HEAD_ROOM + self.filled;
        self.buf[end..end + 2].copy_from_slice(b"\r\n");
        self.filled = 0;
        self.out.write_all(&self.buf[start..end + 2])
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.filled == CHUNK_SIZE {
            self.send_chunk()?;
        }
        if self.filled == 0 && data.len() >= CHUNK_SIZE {
            // A whole chunk at hand: sent as it is, not copied.
            let head = format!("{CHUNK_SIZE:x}\r\n");
            self.out.write_all(head.as_bytes())?;
            self.out.write_all(&data[..CHUNK_SIZE])?;
            self.out.write_all(b"\r\n")?;
            return Ok(CHUNK_SIZE);
        }
        let n = data.len().min(CHUNK_SIZE - self.filled);
        let at = HEAD_ROOM + self.filled;
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.filled += n;
        Ok(n)
    }

    /// Sends what is gathered as a chunk (the body goes on).
    fn flush(&mut self) -> io::Result<()> {
        self.send_chunk()?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_gathered_into_chunks_of_at_most_the_chunk_size() {
        let data: Vec<u8> = (0..CHUNK_SIZE * 2 + 300).map(|i| (i % 253) as u8).collect();
        let mut wire = Vec::new();
        let mut chunked = ChunkedWriter::new(&mut wire);
        chunked.write_all(&data[..1000]).unwrap();
        chunked.write_all(&data[1000..CHUNK_SIZE + 1000]).unwrap();
        for piece in data[CHUNK_SIZE + 1000..].chunks(1000) {
            chunked.write_all(piece).unwrap();
        }
        chunked.finish().unwrap();
        // Two full chunks, the rest, the last chunk: nothing else on the wire.
        let mut expected = b"100000\r\n".to_vec();
        expected.extend_from_slice(&data[..CHUNK_SIZE]);
        expected.extend_from_slice(b"\r\n100000\r\n");
        expected.extend_from_slice(&data[CHUNK_SIZE..2 * CHUNK_SIZE]);
        expected.extend_from_slice(b"\r\n12c\r\n");
        expected.extend_from_slice(&data[2 * CHUNK_SIZE..]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert!(wire == expected, "the chunks are framed as expected");
    }

    #[test]
    fn each_read_is_sent_as_it_arrives() {
        let mut wire = Vec::new();
        let mut chunked = ChunkedWriter::new(&mut wire);
        let mut reader: &[u8] = b"abc";
        assert_eq!(chunked.send_read(&mut reader).unwrap(), 3);
        assert_eq!(chunked.send_read(&mut reader).unwrap(), 0);
        chunked.finish().unwrap();
        assert_eq!(wire, b"3\r\nabc\r\n0\r\n\r\n");
    }
}
