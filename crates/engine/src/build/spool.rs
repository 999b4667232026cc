//! The bytes of a received build context, kept for the COPY steps that may need them: in
//! memory up to a limit (most contexts), the rest in an unlinked file, so that a cached build
//! writes nothing to disk and a huge context does not fill the daemon's memory.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes kept in memory before the rest goes to the file.
const IN_MEMORY: u64 = 256 << 20;
/// The size of one in-memory piece (no reallocation of a large buffer while it grows).
const PIECE: usize = 4 << 20;

/// Bytes appended once and read back at offsets.
pub struct Spool {
    pieces: Vec<Vec<u8>>,
    in_memory: u64,
    /// Holds what comes after the first [`IN_MEMORY`] bytes; made when needed.
    file: Option<File>,
    len: u64,
    limit: u64,
}

impl Spool {
    /// An empty spool.
    pub fn new() -> Spool {
        Spool::with_limit(IN_MEMORY)
    }

    fn with_limit(limit: u64) -> Spool {
        Spool {
            pieces: Vec::new(),
            in_memory: 0,
            file: None,
            len: 0,
            limit,
        }
    }

    /// Appends `data`; `overflow` names the file made when memory is full.
    pub fn append(&mut self, mut data: &[u8], overflow: &Path) -> io::Result<()> {
        while !data.is_empty() && self.in_memory < self.limit {
            if self.pieces.last().is_none_or(|p| p.len() == p.capacity()) {
                self.pieces.push(Vec::with_capacity(PIECE));
            }
            let piece = self.pieces.last_mut().expect("a piece was just made");
            let room = (piece.capacity() - piece.len()).min((self.limit - self.in_memory) as usize);
            let n = room.min(data.len());
            piece.extend_from_slice(&data[..n]);
            self.in_memory += n as u64;
            self.len += n as u64;
            data = &data[n..];
        }
        if data.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let file = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(overflow)?;
            // Nothing to clean up after a crash, or when the build ends.
            std::fs::remove_file(overflow)?;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("the overflow file was just made");
        file.write_all(data)?;
        self.len += data.len() as u64;
        Ok(())
    }

    /// Fills `buf` from `offset`; fewer bytes only at the end.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        if offset < self.in_memory {
            let index = (offset / PIECE as u64) as usize;
            let start = (offset % PIECE as u64) as usize;
            let piece = &self.pieces[index][start..];
            let n = piece.len().min(buf.len());
            buf[..n].copy_from_slice(&piece[..n]);
            return Ok(n);
        }
        match &self.file {
            Some(file) => file.read_at(buf, offset - self.in_memory),
            None => Ok(0),
        }
    }

    /// A reader of `len` bytes from `offset`.
    pub fn reader(&self, offset: u64, len: u64) -> SpoolReader<'_> {
        SpoolReader {
            spool: self,
            offset,
            left: len,
        }
    }
}

/// A range of a [`Spool`], read in order.
pub struct SpoolReader<'a> {
    spool: &'a Spool,
    offset: u64,
    left: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.spool.read_at(self.offset, &mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the build context ended early",
            ));
        }
        self.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_back_are_those_appended_across_memory_and_file() {
        let dir = berth_testkit::TempDir::new("build-spool");
        let overflow = dir.join("overflow");
        let data: Vec<u8> = (0..3 * PIECE + 123).map(|i| (i % 251) as u8).collect();
        let mut spool = Spool::with_limit((PIECE + 7) as u64);
        for chunk in data.chunks(65_537) {
            spool.append(chunk, &overflow).unwrap();
        }
        assert!(!overflow.exists(), "the overflow file is unlinked at once");
        assert_eq!(spool.len, data.len() as u64);
        for (offset, len) in [
            (0, 10),
            (PIECE - 3, 20),
            (PIECE + 1, 100),
            (2 * PIECE, PIECE),
        ] {
            let mut got = Vec::new();
            spool
                .reader(offset as u64, len as u64)
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(got, data[offset..offset + len], "at {offset}");
        }
        let mut past = Vec::new();
        let err = spool
            .reader(data.len() as u64 - 5, 10)
            .read_to_end(&mut past)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
