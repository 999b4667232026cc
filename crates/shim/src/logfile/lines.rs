//! Cutting a byte stream into log entries: at each newline, and into `MAX_LINE` pieces when a
//! line is longer.

use super::MAX_LINE;

/// The unfinished line of one stream.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Adds output and hands every finished entry to `emit` (text, partial).
    pub(crate) fn push(&mut self, mut data: &[u8], emit: &mut dyn FnMut(&[u8], bool)) {
        while !data.is_empty() {
            let room = MAX_LINE - self.pending.len();
            let window = &data[..data.len().min(room)];
            if let Some(nl) = window.iter().position(|&b| b == b'\n') {
                self.pending.extend_from_slice(&window[..=nl]);
                emit(&self.pending, false);
                self.pending.clear();
                data = &data[nl + 1..];
            } else {
                self.pending.extend_from_slice(window);
                data = &data[window.len()..];
                if self.pending.len() == MAX_LINE {
                    emit(&self.pending, true);
                    self.pending.clear();
                }
            }
        }
    }

    /// At the end of the stream: what is left, as a partial entry.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, true);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        let mut lines = Lines::default();
        let mut emit = |t: &[u8], p: bool| out.push((t.to_vec(), p));
        for c in chunks {
            lines.push(c, &mut emit);
        }
        lines.finish(&mut emit);
        out
    }

    #[test]
    fn lines_split_at_newlines_across_chunks() {
        assert_eq!(
            cut(&[b"a\nb", b"c\n\nd"]),
            vec![
                (b"a\n".to_vec(), false),
                (b"bc\n".to_vec(), false),
                (b"\n".to_vec(), false),
                (b"d".to_vec(), true),
            ]
        );
    }

    #[test]
    fn long_lines_become_partial_pieces_of_16k() {
        let mut long = vec![b'x'; MAX_LINE * 2 + 5];
        long.push(b'\n');
        let out = cut(&[&long[..100], &long[100..]]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], (vec![b'x'; MAX_LINE], true));
        assert_eq!(out[1], (vec![b'x'; MAX_LINE], true));
        assert_eq!(out[2], (b"xxxxx\n".to_vec(), false));
        // A line of exactly 16 KiB plus its newline: the newline ends up alone.
        let mut exact = vec![b'y'; MAX_LINE];
        exact.push(b'\n');
        let out = cut(&[&exact]);
        assert_eq!(
            out,
            vec![(vec![b'y'; MAX_LINE], true), (b"\n".to_vec(), false)]
        );
    }
}
