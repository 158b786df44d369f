//! Bounds on what a server may send, checked on the byte stream before the IMAP parser sees
//! it: the literals it announces (RFC 3501 section 4.3, `{N}` CRLF then N bytes), and the
//! bytes of a response outside literals.
//!
//! async-imap reads a response whole before parsing it, and grows its buffer to whatever
//! literal size the server announces (up to 512 MiB), or for as long as a line goes on. So
//! [`LiteralGuard`] watches every byte received, skips literal contents, and refuses in the
//! same read that brought it, before a byte of buffer is grown for it:
//!
//! - a literal announced larger than the limit: mailfetch never asks for more than a message
//!   of [`super::LARGE`] bytes or a piece of [`super::CHUNK`] bytes in one literal; and while
//!   message bodies are expected ([`LiteralGuard::expect`]), a body larger than
//!   [`body_limit`] of its listed size (RFC822.SIZE), so a message listed as 100 bytes cannot
//!   make mailfetch buffer 30 MB;
//! - a response whose bytes outside literals pass the line limit (a line that never ends).

use std::collections::HashMap;

/// The most bytes a message body may have for its listed size (RFC822.SIZE): twice that,
/// plus 64 KiB, as the POP3 side allows for LIST sizes (servers count a little differently,
/// never by that much).
pub fn body_limit(listed: u64) -> u64 {
    listed.saturating_mul(2).saturating_add(64 << 10)
}

/// What [`LiteralGuard::feed`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A literal of `size` bytes (saturating at `u64::MAX`), over `limit`. `uid`: the
    /// message the response named before the literal, with its listed size, when its body
    /// was expected.
    Literal {
        size: u64,
        limit: u64,
        uid: Option<(u32, u64)>,
    },
    /// A response with more than this many bytes outside literals.
    Line(u64),
}

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

/// The bytes kept of the start of each response, to find the UID a body literal is for.
const HEAD: usize = 128;

/// Scans the bytes of a server's responses for literal announcements and overlong
/// responses.
#[derive(Debug, Clone)]
pub struct LiteralGuard {
    limit: u64,
    line_limit: u64,
    state: State,
    size: u64,
    /// Literal content bytes still to skip.
    skip: u64,
    /// Bytes of the current response outside literals.
    outside: u64,
    /// Bytes since the end of the last line (or literal): the line in progress.
    held: u64,
    /// Its first [`HEAD`] bytes outside literals.
    head: Vec<u8>,
    /// The last byte outside literals was CR.
    cr: bool,
    /// The bodies expected: UID to listed size.
    expected: HashMap<u32, u64>,
}

impl LiteralGuard {
    /// A guard refusing literals of more than `limit` bytes and responses of more than
    /// `line_limit` bytes outside literals.
    pub fn new(limit: u64, line_limit: u64) -> LiteralGuard {
        LiteralGuard {
            limit,
            line_limit,
            state: State::Text,
            size: 0,
            skip: 0,
            outside: 0,
            held: 0,
            head: Vec::with_capacity(HEAD),
            cr: false,
            expected: HashMap::new(),
        }
    }

    /// Expect the body of `uid`, listed as `listed` bytes: a literal in a response that
    /// names `uid` before it may have at most [`body_limit`] of that, and while any body is
    /// expected a literal for another or no UID at most the largest of those limits.
    pub fn expect(&mut self, uid: u32, listed: u64) {
        self.expected.insert(uid, listed);
    }

    /// The body of `uid` is no longer expected; its listed size, if it was.
    pub fn unexpect(&mut self, uid: u32) -> Option<u64> {
        self.expected.remove(&uid)
    }

    /// No body is expected any more.
    pub fn unexpect_all(&mut self) {
        self.expected.clear();
    }

    /// The bytes of the line in progress, at the end of what was fed: a line ends with its
    /// CRLF, or with the announcement of a literal, whose contents follow (RFC 3501 section
    /// 4.3). The parser can do nothing with them before it ends.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The limit for a literal announced now, and the expected message it is for.
    fn literal_limit(&self) -> (u64, Option<(u32, u64)>) {
        if self.expected.is_empty() {
            return (self.limit, None);
        }
        if let Some(uid) = head_uid(&self.head) {
            if let Some(&listed) = self.expected.get(&uid) {
                return (body_limit(listed).min(self.limit), Some((uid, listed)));
            }
        }
        let widest = self.expected.values().map(|&l| body_limit(l)).max();
        (widest.unwrap_or(self.limit).min(self.limit), None)
    }

    /// Look at the next `bytes` of the stream.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
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
            self.outside += 1;
            self.held += 1;
            if self.outside > self.line_limit {
                return Err(Refusal::Line(self.line_limit));
            }
            if self.head.len() < HEAD {
                self.head.push(b);
            }
            let cr = std::mem::replace(&mut self.cr, b == b'\r');
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
                    let (limit, uid) = self.literal_limit();
                    if self.size > limit {
                        return Err(Refusal::Literal {
                            size: self.size,
                            limit,
                            uid,
                        });
                    }
                    self.skip = self.size;
                    self.held = 0;
                    State::Text
                }
                (_, b'{') => {
                    self.size = 0;
                    State::Digits {
                        any: false,
                        plus: false,
                    }
                }
                (_, b'\n') if cr => {
                    // The end of the response.
                    self.outside = 0;
                    self.held = 0;
                    self.head.clear();
                    State::Text
                }
                _ => State::Text,
            };
        }
        Ok(())
    }
}

/// The UID a response names in its first bytes (`* 3 FETCH (UID 42 BODY[] {`), if any.
fn head_uid(head: &[u8]) -> Option<u32> {
    let at = head
        .windows(5)
        .position(|w| matches!(w[0], b'(' | b' ') && w[1..].eq_ignore_ascii_case(b"UID "))?;
    let digits: &[u8] = &head[at + 5..];
    // Digits cut off by the end of the head are no UID.
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard with literal limit 10 and no line limit to speak of.
    fn guard() -> LiteralGuard {
        LiteralGuard::new(10, 1 << 20)
    }

    fn literal(size: u64, limit: u64) -> Result<(), Refusal> {
        Err(Refusal::Literal {
            size,
            limit,
            uid: None,
        })
    }

    #[test]
    fn literal_contents_are_skipped_and_sizes_checked() {
        let mut g = guard();
        let wire =
            b"* 1 FETCH (BODY[] {5}\r\n{999}\r\n)\r\n* 2 FETCH (BODY[] {10}\r\n0123456789)\r\n";
        assert_eq!(g.feed(wire), Ok(()));
        assert_eq!(guard().feed(b"* 3 FETCH (BODY[] {11}\r\n"), literal(11, 10));
        assert_eq!(guard().feed(b"{7+}\r\n1234567{99+}\r\n"), literal(99, 10));
        assert_eq!(
            guard().feed(b"{99999999999999999999999999}\r\n"),
            literal(u64::MAX, 10)
        );
    }

    #[test]
    fn braces_that_announce_nothing_are_text() {
        let mut g = guard();
        assert_eq!(
            g.feed(b"* OK [ALERT] {abc} {} {12x}\r\n\"{99}\" x\r\n"),
            Ok(())
        );
        assert_eq!(g.feed(b"{3}\r\nabc"), Ok(()));
        assert_eq!(
            g.feed(b"{11}\r\n"),
            literal(11, 10),
            "in sync after the literal"
        );
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_the_stream_is_split() {
        let wire = b"* 1 FETCH (UID 7 BODY[] {4}\r\n{50}\r\n {3}\r\nabc {20}\r\n";
        let whole = guard().feed(wire);
        assert_eq!(whole, literal(20, 10));
        for cut in 0..wire.len() {
            let mut g = guard();
            let first = g.feed(&wire[..cut]);
            let verdict = first.and_then(|_| g.feed(&wire[cut..]));
            assert_eq!(verdict, whole, "split at {cut}");
        }
    }

    #[test]
    fn a_response_is_bounded_outside_literals_only() {
        // 20 bytes a response: each line of 19 and its CRLF passes, a 21st byte does not.
        let mut g = LiteralGuard::new(100, 20);
        let line = [b"* OK ".as_slice(), &[b'x'; 13], b"\r\n"].concat();
        assert_eq!(line.len(), 20);
        for _ in 0..1000 {
            assert_eq!(g.feed(&line), Ok(()));
        }
        assert_eq!(g.feed(&[b'y'; 20]), Ok(()));
        assert_eq!(g.feed(b"y"), Err(Refusal::Line(20)));
        // Literal contents do not count, what surrounds them does, up to the response's end.
        let mut g = LiteralGuard::new(100, 30);
        let body = [b"* 1 FETCH (BODY[] {90}\r\n".as_slice(), &[b'z'; 90]].concat();
        assert_eq!(g.feed(&body), Ok(()), "24 bytes outside the literal");
        assert_eq!(g.feed(b" FLAGS"), Ok(()));
        assert_eq!(g.feed(b")"), Err(Refusal::Line(30)));
        let mut g = LiteralGuard::new(100, 40);
        assert_eq!(g.feed(&body), Ok(()));
        assert_eq!(g.feed(b")\r\n"), Ok(()));
        assert_eq!(g.feed(&[b'w'; 40]), Ok(()), "a new response");
        // A bare LF does not end a response (IMAP's line end is CRLF).
        let mut g = LiteralGuard::new(100, 20);
        assert_eq!(g.feed(&[b'\n'; 20]), Ok(()));
        assert_eq!(g.feed(b"\n"), Err(Refusal::Line(20)));
    }

    #[test]
    fn expected_bodies_are_bounded_by_their_listed_size() {
        let expecting = || {
            let mut g = LiteralGuard::new(32 << 20, 1 << 20);
            g.expect(1, 3000);
            g.expect(2, 100);
            g.expect(3, 5000);
            g
        };
        let mut g = expecting();
        let ok = [
            b"* 1 FETCH (UID 1 BODY[] {6064}\r\n".as_slice(),
            &[b'a'; 6064],
            b")\r\n",
        ];
        assert_eq!(g.feed(&ok.concat()), Ok(()));
        assert_eq!(
            g.feed(b"* 2 FETCH (UID 2 BODY[] {30000000}\r\n"),
            Err(Refusal::Literal {
                size: 30_000_000,
                limit: body_limit(100),
                uid: Some((2, 100)),
            })
        );
        // The UID after the literal, or one not expected: the largest expected limit.
        let widest = body_limit(5000);
        let head = format!("* 2 FETCH (BODY[] {{{}}}\r\n", widest + 1);
        assert_eq!(
            expecting().feed(head.as_bytes()),
            literal(widest + 1, widest)
        );
        let mut g = expecting();
        assert_eq!(g.unexpect(3), Some(5000));
        assert_eq!(
            g.feed(b"* 9 FETCH (uid 9 BODY[] {100000}\r\n"),
            literal(100_000, body_limit(3000))
        );
        // Nothing expected: the general limit.
        let mut g = expecting();
        g.unexpect_all();
        assert_eq!(g.feed(b"* 9 FETCH (UID 9 BODY[] {100000}\r\n"), Ok(()));
    }

    #[test]
    fn the_line_in_progress_is_held() {
        let mut g = guard();
        assert_eq!(g.feed(b"* OK hel"), Ok(()));
        assert_eq!(g.held(), 8);
        assert_eq!(g.feed(b"lo\r\n* 1 FETCH (BODY[] {5}\r"), Ok(()));
        assert_eq!(g.held(), 22);
        assert_eq!(g.feed(b"\n"), Ok(()));
        assert_eq!(g.held(), 0, "the literal's announcement ends a line");
        assert_eq!(g.feed(b"ab\r\nc"), Ok(()));
        assert_eq!(g.held(), 0, "literal contents are not held");
        assert_eq!(g.feed(b"d FLAGS ()"), Ok(()));
        assert_eq!(g.held(), 10);
        assert_eq!(g.feed(b")\r\n"), Ok(()));
        assert_eq!(g.held(), 0);
    }

    #[test]
    fn the_uid_is_read_from_the_head_of_the_response() {
        assert_eq!(head_uid(b"* 3 FETCH (UID 42 BODY[] {"), Some(42));
        assert_eq!(head_uid(b"* 3 FETCH (FLAGS (\\Seen) UID 7)"), Some(7));
        assert_eq!(head_uid(b"* 3 FETCH (XUID 42 BODY[] {"), None);
        assert_eq!(head_uid(b"* 3 FETCH (UID 4"), None, "cut off");
        assert_eq!(head_uid(b"* 3 FETCH (UID x"), None);
    }
}
