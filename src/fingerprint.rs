//! What identifies a message when its ID no longer does.
//!
//! An IMAP server that changes a folder's UIDVALIDITY has renumbered it: the UIDs recorded in
//! the state mean nothing any more, yet the folder usually holds the same mail (a restored
//! backup, a migrated server, a folder deleted and recreated). Fetching it all again would
//! flood the target with duplicates, so every delivered message also gets a fingerprint: its
//! `Message-ID` header and the size the server announced for it (RFC822.SIZE, which is the
//! same for the same stored message). The fingerprint is noted while the message streams to
//! the sink ([`Sniffer`]), and after a UIDVALIDITY change the source is asked for the
//! Message-IDs of the folder, which are matched against the recorded fingerprints.
//!
//! A message without a Message-ID has no fingerprint and is fetched again after such a change:
//! a duplicate is better than a loss.
//!
//! Where two copies of a message must be compared by content (`mailfetch verify`, or an IMAP
//! target recognising a message without a Message-ID), [`TextDigest`] hashes the text in a
//! form that does not depend on how lines end.

use crate::header::{message_id, Head};
use std::io::{self, Read};

/// The fingerprint of a message with Message-ID `message_id` and server size `size`.
pub fn fingerprint(message_id: &str, size: u64) -> String {
    format!("{size}:{message_id}")
}

/// The fingerprint of a message without a Message-ID: its server size and text digest
/// ([`TextDigest`]). A space, not a colon, follows the size, so it never equals a
/// [`fingerprint`].
pub fn digest_fingerprint(digest: &str, size: u64) -> String {
    format!("{size} {digest}")
}

/// Whether `fingerprint` is a [`digest_fingerprint`], and of a message of `size` bytes.
pub fn is_digest_of_size(fingerprint: &str, size: u64) -> bool {
    fingerprint
        .split_once(' ')
        .is_some_and(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()) && n.parse() == Ok(size))
}

/// A reader that passes a message through and keeps its header (at most [`crate::header::MAX`]
/// bytes) to find its Message-ID once it has been read; a message whose header has none is
/// digested instead ([`TextDigest`], from the end of its header on: the messages that have
/// a Message-ID, nearly all, cost nothing more).
pub struct Sniffer<'a> {
    inner: &'a mut dyn Read,
    head: Head,
    /// The header's Message-ID, found once, when the header is complete.
    id: Option<String>,
    digest: Option<TextDigest>,
}

impl<'a> Sniffer<'a> {
    /// Watch `inner`.
    pub fn new(inner: &'a mut dyn Read) -> Self {
        Sniffer {
            inner,
            head: Head::default(),
            id: None,
            digest: None,
        }
    }

    /// The message's fingerprint once it has been read to its end: by Message-ID
    /// ([`fingerprint`]), else by digest ([`digest_fingerprint`]); `None` for a header longer
    /// than [`crate::header::MAX`]. `size` is the size the server announced.
    pub fn fingerprint(&mut self, size: u64) -> Option<String> {
        match self.message_id() {
            Some(id) => Some(fingerprint(&id, size)),
            None => self
                .digest
                .take()
                .map(|d| digest_fingerprint(&d.finish(), size)),
        }
    }

    /// The header just became complete: its Message-ID is read, and a header without one
    /// starts the digest, with what was read so far (`head`, then `rest` of the current read).
    fn header_done(&mut self, rest: &[u8]) {
        self.id = message_id(self.head.bytes());
        if self.id.is_none() {
            let mut digest = TextDigest::default();
            digest.update(self.head.bytes());
            digest.update(rest);
            self.digest = Some(digest);
        }
    }

    /// The Message-ID seen in the message's header, if the header was complete and had one.
    pub fn message_id(&self) -> Option<String> {
        self.id.clone()
    }
}

impl Read for Sniffer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(digest) = &mut self.digest {
            digest.update(&buf[..n]);
        } else if !self.head.is_full() {
            let take = self.head.push(&buf[..n]);
            if self.head.is_complete() {
                self.header_done(&buf[take..n]);
            }
        }
        if n == 0 && self.head.end() {
            // A message that is all header.
            self.header_done(&[]);
        }
        Ok(n)
    }
}

/// A SHA-256 digest of a message's text that ignores how its lines end: CRLF and LF count
/// the same, and so does a last line with or without its line end. A copy that went through a
/// server (CRLF on the wire), a Maildir (LF) or an mbox (which always ends a message with a
/// line end) digests the same as the original; any other difference, one byte anywhere,
/// changes the digest.
pub struct TextDigest {
    sha: openssl::sha::Sha256,
    /// A CR seen and not yet passed on: dropped if an LF follows.
    cr: bool,
    /// An LF passed on by the first stage and held back: dropped if nothing follows.
    lf: bool,
    /// Bytes of the normalised text so far.
    len: u64,
    out: Vec<u8>,
}

impl Default for TextDigest {
    fn default() -> Self {
        TextDigest {
            sha: openssl::sha::Sha256::new(),
            cr: false,
            lf: false,
            len: 0,
            out: Vec::with_capacity(8192),
        }
    }
}

impl TextDigest {
    /// Add `data`, the next bytes of the message.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            match b {
                b'\r' => {
                    if self.cr {
                        self.emit(b'\r');
                    }
                    self.cr = true;
                }
                b'\n' => {
                    self.cr = false;
                    self.emit(b'\n');
                }
                _ => {
                    if self.cr {
                        self.cr = false;
                        self.emit(b'\r');
                    }
                    self.emit(b);
                }
            }
            if self.out.len() >= 8192 {
                self.sha.update(&self.out);
                self.out.clear();
            }
        }
    }

    /// The second stage: hold back an LF until something follows it.
    fn emit(&mut self, b: u8) {
        if self.lf {
            self.out.push(b'\n');
            self.len += 1;
        }
        self.lf = b == b'\n';
        if !self.lf {
            self.out.push(b);
            self.len += 1;
        }
    }

    /// The digest, as 64 hex digits.
    pub fn finish(mut self) -> String {
        if self.cr {
            self.cr = false;
            self.emit(b'\r');
        }
        self.sha.update(&self.out);
        self.sha
            .finish()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The digest of all of `data`.
    pub fn of(data: &[u8]) -> String {
        let mut d = TextDigest::default();
        d.update(data);
        d.finish()
    }
}

/// A reader that passes a message through and digests it on the way ([`TextDigest`]).
pub struct Digesting<R> {
    inner: R,
    digest: TextDigest,
}

impl<R: Read> Digesting<R> {
    /// Watch `inner`.
    pub fn new(inner: R) -> Self {
        Digesting {
            inner,
            digest: TextDigest::default(),
        }
    }

    /// The digest of everything read.
    pub fn finish(self) -> String {
        self.digest.finish()
    }
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// Feed all of `body` to `update` (a digest's), a buffer at a time.
pub fn read_all(body: &mut dyn Read, mut update: impl FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A [`TextDigest`] of a message's body alone: what follows the first empty line. A server
/// that rewrites stored headers (GNU Mailutils adds `X-UID`, `Status`, `X-IMAPbase`) changes
/// a message's size and text digest but not this, so with an equal Message-ID it still
/// recognises the copy it holds (`sink::imap_append`). Never used alone: two different
/// messages may share a body.
pub struct BodyDigest {
    text: TextDigest,
    in_header: bool,
    /// The last two header bytes seen; starts as if after a line end, so that a message
    /// that opens with an empty line has an empty header.
    tail: [u8; 2],
}

impl Default for BodyDigest {
    fn default() -> Self {
        BodyDigest {
            text: TextDigest::default(),
            in_header: true,
            tail: [0, b'\n'],
        }
    }
}

impl BodyDigest {
    /// Add `data`, the next bytes of the message.
    pub fn update(&mut self, data: &[u8]) {
        if !self.in_header {
            return self.text.update(data);
        }
        for (i, &b) in data.iter().enumerate() {
            let blank = b == b'\n' && (self.tail[1] == b'\n' || self.tail == [b'\n', b'\r']);
            if blank {
                self.in_header = false;
                return self.text.update(&data[i + 1..]);
            }
            self.tail = [self.tail[1], b];
        }
    }

    /// The hex digest of the body (of nothing, for a message that is all header).
    pub fn finish(self) -> String {
        self.text.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffer_passes_bytes_through_and_finds_the_id_across_reads() {
        let msg = b"Subject: x\nMessage-ID: <s@t>\n\nbody\n".to_vec();
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(3).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut inner = Trickle(&msg);
        let mut s = Sniffer::new(&mut inner);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, msg);
        assert_eq!(s.message_id().as_deref(), Some("<s@t>"));
    }

    #[test]
    fn header_only_message_has_its_id() {
        let mut inner: &[u8] = b"Message-ID: <h@o>";
        let mut s = Sniffer::new(&mut inner);
        std::io::copy(&mut s, &mut std::io::sink()).unwrap();
        assert_eq!(s.message_id().as_deref(), Some("<h@o>"));
    }

    #[test]
    fn text_digest_ignores_line_ends_but_nothing_else() {
        let lf = TextDigest::of(b"a\nb\r c\n");
        assert_eq!(TextDigest::of(b"a\r\nb\r c\r\n"), lf);
        assert_eq!(
            TextDigest::of(b"a\nb\r c"),
            lf,
            "the last line end is optional"
        );
        assert_ne!(
            TextDigest::of(b"a\nb\r c\n\n"),
            lf,
            "but blank lines are text"
        );
        assert_ne!(TextDigest::of(b"a\nb c\n"), lf, "and so is a lone CR");
        let mut split = TextDigest::default();
        for piece in [&b"a\r"[..], b"\nb\r", b" c\r", b"\n"] {
            split.update(piece);
        }
        assert_eq!(split.finish(), lf, "pieces may end anywhere");
    }

    fn body_of(chunks: &[&[u8]]) -> String {
        let mut d = BodyDigest::default();
        for c in chunks {
            d.update(c);
        }
        d.finish()
    }

    #[test]
    fn body_digest_ignores_the_header_and_how_lines_end() {
        let lf = body_of(&[b"Subject: a\nMessage-ID: <x@y>\n\nbody\nline\n"]);
        let rewritten = body_of(&[
            b"Subject: a\r\nX-UID: 7\r\nStatus: RO\r\n",
            b"\r",
            b"\nbody\r\nline\r\n",
        ]);
        assert_eq!(lf, rewritten);
        assert_ne!(lf, body_of(&[b"Subject: a\n\nbody\nline2\n"]));
        assert_eq!(body_of(&[b"\nonly body"]), body_of(&[b"X: y\n\nonly body"]));
        assert_eq!(body_of(&[b"X: all header\n"]), body_of(&[b"Y: z\n"]));
    }

    fn sniffed(chunks: &[&[u8]]) -> Option<String> {
        let inner = chunks.concat();
        let mut slice: &[u8] = &inner;
        let mut sniffer = Sniffer::new(&mut slice);
        let mut buf = [0u8; 7];
        while sniffer.read(&mut buf).unwrap() > 0 {}
        sniffer.fingerprint(99)
    }

    #[test]
    fn a_message_without_message_id_is_fingerprinted_by_its_digest() {
        let text = b"From: a@b\r\nSubject: no id\r\n\r\nbody\r\nmore\r\n";
        let mut whole = TextDigest::default();
        whole.update(text);
        let want = digest_fingerprint(&whole.finish(), 99);
        assert_eq!(sniffed(&[text]), Some(want.clone()));
        assert!(is_digest_of_size(&want, 99) && !is_digest_of_size(&want, 98));
        assert_eq!(
            sniffed(&[b"Message-ID: <a@b>\n\nbody\n"]),
            Some("99:<a@b>".to_string())
        );
        assert!(!is_digest_of_size("99:<a b@c>", 99));
        let all_header = sniffed(&[b"Subject: only a header\n"]).unwrap();
        assert!(is_digest_of_size(&all_header, 99));
    }
}
