//! A message's header, as mailfetch reads it: once, here, for every module that needs a field.
//!
//! Sources, sinks, `verify` and the fingerprints each look at the header of a message that
//! streams past (for its Message-ID, Return-Path, Subject or arrival date) and never at the
//! body, and each must bound what it keeps whatever the server sends. So the limit, the
//! collector that finds the header's end across reads, and the field readers live here
//! once, instead of once per caller.

/// The most header bytes kept of a message; the rest of a longer header is passed on with
/// the body, unread, so memory stays bounded whatever a server sends.
pub const MAX: usize = 64 << 10;

/// Cut `header` to at most [`MAX`] bytes, after its last complete line within that.
pub fn cut(header: &mut Vec<u8>) {
    if header.len() > MAX {
        let end = memchr::memrchr(b'\n', &header[..MAX]).map_or(MAX, |i| i + 1);
        header.truncate(end);
    }
}

/// The header of a message that is read in pieces: it keeps the first [`MAX`] bytes and
/// says when the empty line that ends the header has been seen (LF or CRLF line ends).
#[derive(Default)]
pub struct Head {
    bytes: Vec<u8>,
    complete: bool,
}

impl Head {
    /// Take the next bytes of the message; returns how many of them were kept (all of them
    /// until the header is complete or [`MAX`] bytes are kept, then none).
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.complete || self.bytes.len() >= MAX {
            return 0;
        }
        let take = data.len().min(MAX - self.bytes.len());
        let from = self.bytes.len().saturating_sub(3);
        self.bytes.extend_from_slice(&data[..take]);
        let tail = &self.bytes[from..];
        self.complete = memchr::memmem::find(tail, b"\n\n").is_some()
            || memchr::memmem::find(tail, b"\n\r\n").is_some();
        take
    }

    /// The message ended: a message that is all header (shorter than [`MAX`]) is complete.
    /// Returns whether the header just became complete.
    pub fn end(&mut self) -> bool {
        let ends_now = !self.complete && self.bytes.len() < MAX;
        self.complete |= ends_now;
        ends_now
    }

    /// Whether the end of the header has been seen.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Whether no more bytes are kept: the header is complete or [`MAX`] bytes long.
    pub fn is_full(&self) -> bool {
        self.complete || self.bytes.len() >= MAX
    }

    /// The bytes kept: the header, possibly with the start of the body after it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The header alone, up to and including the line end before its empty line.
    pub fn header(&self) -> &[u8] {
        let end = memchr::memmem::find(&self.bytes, b"\n\n")
            .map(|i| i + 1)
            .into_iter()
            .chain(memchr::memmem::find(&self.bytes, b"\n\r\n").map(|i| i + 1))
            .min()
            .unwrap_or(self.bytes.len());
        &self.bytes[..end]
    }

    /// Give up the bytes kept.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The `Message-ID` of a message header (the header alone, or a whole message: the scan stops
/// at the first empty line). Folded lines are unfolded; the value is the `<...>` part, or the
/// whole trimmed value if it has no angle brackets. `None` if there is none or it is empty.
pub fn message_id(header: &[u8]) -> Option<String> {
    let mut lines = header
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut value: Option<Vec<u8>> = None;
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let folded = line[0] == b' ' || line[0] == b'\t';
        match (&mut value, folded) {
            (Some(v), true) => v.extend_from_slice(line),
            (Some(_), false) => break,
            (None, true) => {}
            (None, false) => {
                let name_len = b"message-id:".len();
                if line.len() >= name_len && line[..name_len].eq_ignore_ascii_case(b"message-id:") {
                    value = Some(line[name_len..].to_vec());
                }
            }
        }
    }
    let value = String::from_utf8_lossy(&value?).trim().to_string();
    let id = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => value[start..=end].to_string(),
        _ => value,
    };
    (!id.is_empty() && id.len() <= 998).then_some(id)
}

/// The envelope sender a message's Return-Path header names, if it names a usable one (not
/// `<>`, no spaces, controls or angle brackets, under 256 bytes): the mbox `From ` line and
/// SMTP's `MAIL FROM` both need it.
pub fn return_path(header: &[u8]) -> Option<String> {
    let line = header
        .split(|&b| b == b'\n')
        .find(|l| l.len() > 12 && l[..12].eq_ignore_ascii_case(b"return-path:"))?;
    let value = String::from_utf8_lossy(&line[12..]);
    let value = value.trim().trim_start_matches('<').trim_end_matches('>');
    let usable = !value.is_empty()
        && value.len() < 256
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>".contains(c));
    usable.then(|| value.to_string())
}

/// When a message arrived, for an INTERNALDATE it lacks (a POP3 message appended to IMAP):
/// the date of its newest `Received:` field, else its `Date:`, in seconds since the epoch.
pub fn arrival_date(header: &[u8]) -> Option<i64> {
    let (parsed, _) = mailparse::parse_headers(header).ok()?;
    let received = parsed
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("Received"))
        .and_then(|h| {
            let value = h.get_value();
            let date = value.rsplit_once(';')?.1.trim().to_string();
            mailparse::dateparse(&date).ok()
        });
    received.or_else(|| {
        parsed
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case("Date"))
            .and_then(|h| mailparse::dateparse(&h.get_value()).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_header_is_found_across_reads_and_line_ends() {
        let mut h = Head::default();
        assert_eq!(h.push(b"Subject: a\r\n"), 12);
        assert!(!h.is_complete());
        h.push(b"\r");
        h.push(b"\nbody");
        assert!(h.is_complete() && h.is_full());
        assert_eq!(h.header(), b"Subject: a\r\n");
        assert_eq!(h.push(b"more body"), 0);
    }

    #[test]
    fn a_header_is_kept_to_max_and_an_all_header_message_completes_at_its_end() {
        let mut h = Head::default();
        let long = vec![b'x'; MAX + 10];
        assert_eq!(h.push(&long), MAX);
        assert!(h.is_full() && !h.is_complete());
        assert!(!h.end(), "a header cut at MAX is never complete");
        let mut short = Head::default();
        short.push(b"Subject: only\n");
        assert!(short.end() && short.is_complete());
    }

    #[test]
    fn a_long_header_is_cut_after_its_last_whole_line() {
        let mut header = b"A: b\n".repeat(MAX / 5 + 10);
        cut(&mut header);
        assert!(header.len() <= MAX && header.ends_with(b"\n"));
    }

    #[test]
    fn return_path_gives_the_envelope_sender_or_nothing() {
        assert_eq!(
            return_path(b"Return-Path: <a@b.example>\n\n").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(return_path(b"return-path: <>\n\n"), None);
        assert_eq!(return_path(b"Return-Path: <a b@c>\n\n"), None);
        assert_eq!(return_path(b"From: a@b\n\n"), None);
    }

    #[test]
    fn message_id_is_found_case_insensitively_and_unfolded() {
        let h = b"From: a\nmessage-ID:\n <x@y>\nSubject: s\n\nMessage-ID: <body@z>\n";
        assert_eq!(message_id(h).as_deref(), Some("<x@y>"));
        let h = b"Message-Id: <crlf@y>  \r\nTo: b\r\n\r\n";
        assert_eq!(message_id(h).as_deref(), Some("<crlf@y>"));
    }

    #[test]
    fn no_message_id_in_the_header_gives_none() {
        assert_eq!(message_id(b"From: a\n\nMessage-ID: <body@z>\n"), None);
        assert_eq!(message_id(b"Message-ID:   \n\n"), None);
        assert_eq!(message_id(b""), None);
    }

    #[test]
    fn a_message_without_a_date_gets_its_newest_received_time() {
        let h = b"Received: from a by b; Tue, 1 Jul 2003 10:52:37 +0200\n\
                  Received: from c by a; Mon, 30 Jun 2003 10:00:00 +0000\n\
                  Date: Sun, 29 Jun 2003 00:00:00 +0000\n\n";
        assert_eq!(arrival_date(h), Some(1_057_049_557));
        let h = b"Date: Sun, 29 Jun 2003 00:00:00 +0000\n\n";
        assert_eq!(arrival_date(h), Some(1_056_844_800));
        assert_eq!(arrival_date(b"Subject: x\n\n"), None);
    }
}
