//! A bound on the literals a server may announce (RFC 3501 section 4.3, `{N}` CRLF then N
//! bytes), checked on the byte stream before the IMAP parser sees it.
//!
//! async-imap reads a response whole before parsing it, and grows its buffer to whatever
//! literal size the server announces (up to 512 MiB). mailfetch never asks for more than a
//! message of [`super::LARGE`] bytes or a piece of [`super::CHUNK`] bytes in one literal, so
//! a larger announcement is a broken or hostile server: [`LiteralGuard`] watches every byte
//! received, skips literal contents, and refuses an announcement over the limit in the same
//! read that brought it, before a byte of buffer is grown for it.

/// Where the scanner is, outside literal content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a line, not in a possible literal announcement.
    Text,
    /// After `{`, reading digits (`plus`: after the digits came `+`, LITERAL+ style).
    Digits { any: bool, plus: bool },
    /// After `}`.
    Closed,
    /// After `}` CR.
    ClosedCr,
}

/// Scans the bytes of a server's responses for literal announcements.
#[derive(Debug, Clone)]
pub struct LiteralGuard {
    limit: u64,
    state: State,
    size: u64,
    /// Literal content bytes still to skip.
    skip: u64,
}

impl LiteralGuard {
    /// A guard refusing literals of more than `limit` bytes.
    pub fn new(limit: u64) -> LiteralGuard {
        LiteralGuard {
            limit,
            state: State::Text,
            size: 0,
            skip: 0,
        }
    }

    /// Look at the next `bytes` of the stream; `Err(size)` for an announced literal larger
    /// than the limit (the size saturates at `u64::MAX`).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), u64> {
        let mut i = 0;
        while i < bytes.len() {
            if self.skip > 0 {
                let n = (bytes.len() - i).min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= n as u64;
                i += n;
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::Digits { plus: false, .. }, b'0'..=b'9') => {
                    self.size = self
                        .size
                        .saturating_mul(10)
                        .saturating_add(u64::from(b - b'0'));
                    State::Digits {
                        any: true,
                        plus: false,
                    }
                }
                (
                    State::Digits {
                        any: true,
                        plus: false,
                    },
                    b'+',
                ) => State::Digits {
                    any: true,
                    plus: true,
                },
                (State::Digits { any: true, .. }, b'}') => State::Closed,
                (State::Closed, b'\r') => State::ClosedCr,
                (State::Closed | State::ClosedCr, b'\n') => {
                    if self.size > self.limit {
                        return Err(self.size);
                    }
                    self.skip = self.size;
                    State::Text
                }
                (_, b'{') => {
                    self.size = 0;
                    State::Digits {
                        any: false,
                        plus: false,
                    }
                }
                _ => State::Text,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_contents_are_skipped_and_sizes_checked() {
        let mut g = LiteralGuard::new(10);
        let wire =
            b"* 1 FETCH (BODY[] {5}\r\n{999}\r\n)\r\n* 2 FETCH (BODY[] {10}\r\n0123456789)\r\n";
        assert_eq!(g.feed(wire), Ok(()));
        assert_eq!(
            LiteralGuard::new(10).feed(b"* 3 FETCH (BODY[] {11}\r\n"),
            Err(11)
        );
        assert_eq!(
            LiteralGuard::new(10).feed(b"{7+}\r\n1234567{99+}\r\n"),
            Err(99)
        );
        assert_eq!(
            LiteralGuard::new(10).feed(b"{99999999999999999999999999}\r\n"),
            Err(u64::MAX)
        );
    }

    #[test]
    fn braces_that_announce_nothing_are_text() {
        let mut g = LiteralGuard::new(10);
        assert_eq!(
            g.feed(b"* OK [ALERT] {abc} {} {12x}\r\n\"{99}\" x\r\n"),
            Ok(())
        );
        assert_eq!(g.feed(b"{3}\r\nabc"), Ok(()));
        assert_eq!(g.feed(b"{11}\r\n"), Err(11), "in sync after the literal");
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_the_stream_is_split() {
        let wire = b"* 1 FETCH (UID 7 BODY[] {4}\r\n{50}\r\n {3}\r\nabc {20}\r\n";
        let whole = LiteralGuard::new(10).feed(wire);
        assert_eq!(whole, Err(20));
        for cut in 0..wire.len() {
            let mut g = LiteralGuard::new(10);
            let first = g.feed(&wire[..cut]);
            let verdict = first.and_then(|_| g.feed(&wire[cut..]));
            assert_eq!(verdict, whole, "split at {cut}");
        }
    }
}
