//! The lines of a journal file, read a buffer at a time: what the load reads, line by line,
//! and whether a damaged line is the last one (torn by a crash mid-append) or not (damage).

use std::fs::File;
use std::io::Read;

/// How much of a journal [`Lines`] reads at a time (more for a longer line).
pub(super) const READ_BUFFER: usize = 256 * 1024;

/// The lines of a journal, read a buffer at a time. Not the whole file at once: the journal
/// of a mailbox of 100,000 is 8 MB, and reading it into one buffer cost 2,000 page faults
/// more, a tenth of the time of the load (measured).
pub(super) struct Lines {
    file: File,
    buf: Vec<u8>,
    /// What of `buf` is read and not yet returned.
    start: usize,
    end: usize,
}

impl Lines {
    pub fn new(file: File) -> Lines {
        Lines {
            file,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// The next line, with its newline (the last line may lack it); `None` at the end.
    pub fn next(&mut self) -> std::io::Result<Option<&[u8]>> {
        let mut scanned = 0;
        loop {
            let unread = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', &unread[scanned..]) {
                let line = self.start..self.start + scanned + i + 1;
                self.start = line.end;
                return Ok(Some(&self.buf[line]));
            }
            scanned = unread.len();
            // No whole line left: move the part of one to the front, and read more (a line
            // longer than the buffer doubles it).
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, scanned);
            if self.end == self.buf.len() {
                self.buf.resize(2 * self.buf.len(), 0);
            }
            if self.fill()? == 0 {
                self.start = self.end;
                return Ok((self.end > 0).then(|| &self.buf[..self.end]));
            }
        }
    }

    /// Whether nothing follows the line last returned (a read error counts as something).
    pub fn at_end(&mut self) -> bool {
        if self.start < self.end {
            return false;
        }
        (self.start, self.end) = (0, 0);
        matches!(self.fill(), Ok(0))
    }

    /// Read more after `end`; how much.
    fn fill(&mut self) -> std::io::Result<usize> {
        loop {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(got) => {
                    self.end += got;
                    return Ok(got);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
