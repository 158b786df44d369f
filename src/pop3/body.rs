//! Streaming a POP3 multi-line response (RFC 1939 section 3): undo dot-stuffing, turn CRLF
//! into LF and stop at the terminating `.` line, in one pass over the receive buffer.
//!
//! The body is never assembled in memory: bytes go from the socket buffer straight into the
//! caller's buffer (the sink's file buffer). A state machine carries partial line starts
//! across buffer boundaries, and the amount read is capped so that a hostile server that
//! never sends the terminator cannot fill the disk.

use crate::error::Error;
use std::io::{self, BufRead, Read};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// At the first byte of a line.
    LineStart,
    /// Saw `.` at the start of a line.
    Dot,
    /// Saw `.` `CR` at the start of a line.
    DotCr,
    /// Inside a line.
    InLine,
    /// Saw a `CR` inside a line; it is dropped only if `LF` follows.
    Cr,
    /// Saw the terminator.
    Done,
}

/// A `Read` over one multi-line response, yielding the unstuffed content with LF line ends.
pub struct DotReader<'a, R: BufRead> {
    inner: &'a mut R,
    state: State,
    /// Wire bytes still allowed before we call the reply bogus.
    budget: u64,
}

impl<'a, R: BufRead> DotReader<'a, R> {
    /// Read a multi-line response from `inner`, allowing at most `limit` bytes on the wire.
    pub fn new(inner: &'a mut R, limit: u64) -> Self {
        DotReader {
            inner,
            state: State::LineStart,
            budget: limit,
        }
    }

    /// Whether the terminating line has been read.
    pub fn finished(&self) -> bool {
        self.state == State::Done
    }

    /// Read and discard the rest of the response.
    pub fn drain(&mut self) -> io::Result<()> {
        let mut sink = [0u8; 8192];
        while self.read(&mut sink)? > 0 {}
        Ok(())
    }
}

impl<R: BufRead> Read for DotReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < out.len() && self.state != State::Done {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a message",
                ));
            }
            let avail = buf.len();
            let mut i = 0;
            while i < avail && n < out.len() {
                match self.state {
                    State::InLine => {
                        // The hot path: one memchr per line, one copy of its content.
                        let lim = (avail - i).min(out.len() - n);
                        let rest = &buf[i..i + lim];
                        match memchr::memchr(b'\n', rest) {
                            Some(j) => {
                                // CRLF or a bare LF from a sloppy server ends the line; a CR
                                // elsewhere in the line is content.
                                let end = if j > 0 && rest[j - 1] == b'\r' {
                                    j - 1
                                } else {
                                    j
                                };
                                out[n..n + end].copy_from_slice(&rest[..end]);
                                n += end;
                                out[n] = b'\n';
                                n += 1;
                                i += j + 1;
                                self.state = State::LineStart;
                            }
                            None if rest.last() == Some(&b'\r') => {
                                // The CR may be half of a CRLF split across reads.
                                out[n..n + lim - 1].copy_from_slice(&rest[..lim - 1]);
                                n += lim - 1;
                                i += lim;
                                self.state = State::Cr;
                            }
                            None => {
                                out[n..n + lim].copy_from_slice(rest);
                                n += lim;
                                i += lim;
                            }
                        }
                    }
                    State::LineStart => {
                        if buf[i] == b'.' {
                            self.state = State::Dot;
                            i += 1;
                        } else {
                            self.state = State::InLine;
                        }
                    }
                    State::Dot => match buf[i] {
                        b'\r' => {
                            self.state = State::DotCr;
                            i += 1;
                        }
                        b'\n' => {
                            i += 1;
                            self.state = State::Done;
                        }
                        b'.' => {
                            out[n] = b'.';
                            n += 1;
                            i += 1;
                            self.state = State::InLine;
                        }
                        _ => {
                            // An unstuffed leading dot (a server bug): keep it.
                            out[n] = b'.';
                            n += 1;
                            self.state = State::InLine;
                        }
                    },
                    State::DotCr => {
                        if buf[i] == b'\n' {
                            i += 1;
                            self.state = State::Done;
                        } else {
                            out[n] = b'.';
                            n += 1;
                            self.state = State::Cr;
                        }
                    }
                    State::Cr => {
                        if buf[i] == b'\n' {
                            i += 1;
                            out[n] = b'\n';
                            self.state = State::LineStart;
                        } else {
                            out[n] = b'\r';
                            self.state = State::InLine;
                        }
                        n += 1;
                    }
                    State::Done => break,
                }
            }
            self.inner.consume(i);
            if i as u64 > self.budget {
                return Err(Error::protocol(
                    "the server sent more data for a message than it announced (bogus size or endless message)",
                )
                .into_io());
            }
            self.budget -= i as u64;
            // Return what we have rather than block for more.
            if n > 0 && i == avail {
                break;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor};

    fn unstuff(wire: &[u8], bufsize: usize) -> (Vec<u8>, Vec<u8>) {
        let mut r = BufReader::with_capacity(bufsize, Cursor::new(wire.to_vec()));
        let mut out = Vec::new();
        {
            let mut d = DotReader::new(&mut r, 1 << 30);
            let mut chunk = vec![0u8; 7];
            loop {
                let k = d.read(&mut chunk).unwrap();
                if k == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..k]);
            }
            assert!(d.finished());
        }
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        (out, rest)
    }

    #[test]
    fn dot_stuffing_and_crlf_are_undone_at_every_buffer_split() {
        let wire =
            b"From: a\r\n\r\n..\r\n...x\r\n.y\r\nline\rwith cr\r\ncr at end\r\r\nlf\nend\r\n.\r\n+OK next";
        for size in 1..wire.len() + 2 {
            let (body, rest) = unstuff(wire, size);
            assert_eq!(
                body,
                b"From: a\n\n.\n..x\n.y\nline\rwith cr\ncr at end\r\nlf\nend\n".to_vec(),
                "buffer size {size}"
            );
            assert_eq!(rest, b"+OK next".to_vec());
        }
    }

    #[test]
    fn empty_message_is_just_the_terminator() {
        let (body, rest) = unstuff(b".\r\nX", 4);
        assert!(body.is_empty());
        assert_eq!(rest, b"X");
    }

    #[test]
    fn eof_before_terminator_is_an_error() {
        let mut r = BufReader::new(Cursor::new(b"abc\r\ndef".to_vec()));
        let mut d = DotReader::new(&mut r, 1 << 20);
        let err = io::copy(&mut d, &mut io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn endless_message_is_cut_off_at_the_budget() {
        let wire = vec![b'x'; 100_000];
        let mut r = BufReader::new(Cursor::new(wire));
        let mut d = DotReader::new(&mut r, 10_000);
        let err = io::copy(&mut d, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("more data"));
    }
}
