//! Reading IMAP responses off the byte stream (RFC 3501 section 7 and its formal syntax,
//! section 9), for the subset a fetcher meets, with the literals owned by the parser.
//!
//! # Why our own
//!
//! A literal (`{N}` CRLF, then N bytes) can only be told from text by parsing: `* OK hi {38}`
//! ends in text, `* LIST () "/" {5}` in a literal. A guard outside the parser that guesses
//! can be desynchronised by a hostile server, and a parser that reads a response whole before
//! parsing it must buffer a message of any size. Here the parser reads the stream itself, a
//! line at a time: it meets a literal only where the grammar allows one, and checks the
//! announced length against a bound *before* reading a byte of it:
//!
//! - the body of a message (a `BODY[...]`, `BINARY[...]` or `RFC822*` item of a FETCH) is
//!   not read by the parser at all: it stops there and hands the caller a [`BodyHead`], and
//!   the caller checks the length against what it asked for (the message's RFC822.SIZE, or
//!   the partial length) and streams the bytes to where they go ([`Wire::read_body`]), at any
//!   size, in pieces; then the rest of the FETCH response is parsed;
//! - any other literal (a mailbox name, a string in an ENVELOPE) is read into memory, at most
//!   [`MAX_INLINE_LITERAL`] bytes;
//! - a response may bring at most [`MAX_RESPONSE`] bytes outside body literals, so a line that
//!   never ends, or endless literals, are refused in bounded memory.
//!
//! No number the server sends sizes an allocation: buffers grow with the bytes that arrive.
//! Nesting is bounded ([`MAX_DEPTH`]), so no response can exhaust the stack.
//!
//! # Lenient where real servers are, strict where safety needs it
//!
//! Lines may end in a bare LF (GNU Mailutils ends some tagged responses so); keywords are
//! case-insensitive; extra spaces are skipped; unknown response codes are kept as text,
//! unknown FETCH items and unknown untagged responses are skipped (their literals read and
//! dropped, bounded like any other). What is never guessed: where a literal is, its length,
//! tags, and the numbers mailfetch acts on (UIDs, sizes), which must be valid numbers.
//!
//! The parser works on any [`BufRead`], so the fuzz targets feed it arbitrary bytes exactly
//! as a server would.

use crate::error::{Class, Error, Result};
use crate::net::Trace;
use std::io::{self, BufRead, Read};

/// The most bytes one response may have outside body literals: its lines and the literals
/// read into memory. The longest answers mailfetch asks for are `* SEARCH` lines, at most
/// 11 bytes a UID, and it asks in ranges that keep them near 1.1 MB (see `SEARCH_SPAN`).
pub const MAX_RESPONSE: usize = 4 << 20;

/// The longest literal read into memory that is not a message body (a mailbox name, an
/// ENVELOPE string): longer ones are refused.
pub const MAX_INLINE_LITERAL: u64 = 1 << 20;

/// The deepest nesting of parenthesised lists accepted.
pub const MAX_DEPTH: usize = 64;

/// The longest response line shown in the trace.
const TRACE_LINE: usize = 300;

/// A tagged completion's or untagged status response's state (RFC 3501 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// OK: success.
    Ok,
    /// NO: the command failed.
    No,
    /// BAD: the command (or the session) is broken.
    Bad,
    /// BYE (untagged only): the server is closing the connection.
    Bye,
    /// PREAUTH (greeting only): already logged in.
    PreAuth,
}

/// A response code (RFC 3501 section 7.1, RFC 4315, RFC 5530), the bracketed part of a
/// status response, as far as mailfetch acts on it; every other is [`Code::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `[CAPABILITY ...]`, upper case.
    Capability(Vec<String>),
    /// `[UIDVALIDITY n]`.
    UidValidity(u32),
    /// `[UIDNEXT n]`.
    UidNext(u32),
    /// RFC 4315 `[APPENDUID validity uid-set]`: the UIDs the stored messages got, as ranges.
    AppendUid(u32, Vec<(u32, u32)>),
    /// `[READ-ONLY]`.
    ReadOnly,
    /// `[TRYCREATE]`.
    TryCreate,
    /// Any other code: its name (upper case) and the rest up to `]`.
    Other(String, String),
}

impl Code {
    /// The code's name, upper case, as the server wrote it.
    pub fn name(&self) -> &str {
        match self {
            Code::Capability(_) => "CAPABILITY",
            Code::UidValidity(_) => "UIDVALIDITY",
            Code::UidNext(_) => "UIDNEXT",
            Code::AppendUid(..) => "APPENDUID",
            Code::ReadOnly => "READ-ONLY",
            Code::TryCreate => "TRYCREATE",
            Code::Other(name, _) => name,
        }
    }
}

/// The state, code and text of a status response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// OK, NO, BAD (or BYE, PREAUTH untagged).
    pub status: Status,
    /// The response code, if any.
    pub code: Option<Code>,
    /// The human-readable text as the server wrote it, the code in brackets included, with
    /// control characters replaced (it may be shown to the user).
    pub text: String,
}

impl Completion {
    /// Whether the response code is `name` (upper case).
    pub fn has_code(&self, name: &str) -> bool {
        self.code.as_ref().is_some_and(|c| c.name() == name)
    }
}

/// One mailbox of a LIST or LSUB answer (RFC 3501 section 7.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Name attributes (`\Noselect`, `\All`...), as sent.
    pub attributes: Vec<String>,
    /// The hierarchy delimiter, `None` for NIL.
    pub delimiter: Option<char>,
    /// The name as on the wire (modified UTF-7), escapes resolved.
    pub name: String,
}

/// A body section of a FETCH answer read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The section as named (`""` for the whole message, `HEADER`, ...), upper case.
    pub section: String,
    /// The origin octet of a partial fetch (`<n>`).
    pub origin: Option<u64>,
    /// The data; `None` for NIL.
    pub data: Option<Vec<u8>>,
}

/// The items of a FETCH answer that mailfetch uses (RFC 3501 section 7.4.2); others are
/// skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchData {
    /// UID.
    pub uid: Option<u32>,
    /// RFC822.SIZE.
    pub size: Option<u64>,
    /// FLAGS.
    pub flags: Option<Vec<String>>,
    /// INTERNALDATE, as sent.
    pub internal_date: Option<String>,
    /// Gmail's X-GM-MSGID.
    pub gm_msgid: Option<u64>,
    /// Gmail's X-GM-LABELS.
    pub gm_labels: Option<Vec<String>>,
    /// A body section, when read into memory.
    pub body: Option<Body>,
    /// These are the items after a body literal that was streamed ([`Event::Body`]): the
    /// same response goes on.
    pub continued: bool,
}

/// An untagged response (RFC 3501 sections 7.1-7.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// `* OK|NO|BAD|BYE|PREAUTH [code] text`.
    State(Completion),
    /// `* CAPABILITY ...`, upper case.
    Capability(Vec<String>),
    /// `* LIST` or `* LSUB`.
    List(Listed),
    /// `* STATUS mailbox (NAME n ...)`: the items, names upper case.
    Status(String, Vec<(String, u64)>),
    /// `* SEARCH n ...`.
    Search(Vec<u32>),
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n RECENT`.
    Recent(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* n FETCH (...)`.
    Fetch(u32, FetchData),
    /// Anything else (FLAGS, ENABLED, ID, and what no RFC names): read whole and skipped.
    Other(String),
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The completion of the command with this tag.
    Tagged(String, Completion),
    /// `+ text`: a continuation request.
    Continue(String),
    /// `* ...`.
    Untagged(Untagged),
}

/// A FETCH answer up to a body literal, which follows: its length is known, none of its
/// bytes is read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyHead {
    /// The message number.
    pub seq: u32,
    /// The items before the body (the UID, usually).
    pub items: FetchData,
    /// The section, upper case (`""` for `BODY[]`).
    pub section: String,
    /// The origin of a partial fetch.
    pub origin: Option<u64>,
    /// The literal's length.
    pub len: u64,
}

/// What [`Wire::read`] found.
#[derive(Debug)]
pub enum Event {
    /// A whole response.
    Response(Response),
    /// A FETCH answer has reached a body literal: read it with [`Wire::read_body`] (or let
    /// the next [`Wire::read`] skip it), then [`Wire::read`] goes on with the rest of the
    /// answer, as a [`Untagged::Fetch`] marked [`FetchData::continued`].
    Body(BodyHead),
}

/// The reading state of one connection: where the last response stopped.
#[derive(Debug, Default)]
pub struct Wire {
    line: Vec<u8>,
    /// Bytes of a body literal not read yet.
    body_left: u64,
    /// The FETCH answer (message number) a body literal interrupted.
    fetch: Option<u32>,
    /// The peer, for messages.
    peer: String,
}

/// A parse failure: the server broke the grammar (or a bound).
fn bad(peer: &str, what: impl std::fmt::Display) -> Error {
    Error::protocol(format!("{peer} sent {what} (broken or hostile server)"))
}

impl Wire {
    /// The reading state for a connection to `peer` (`host:port`, for messages).
    pub fn new(peer: &str) -> Wire {
        Wire {
            peer: peer.to_string(),
            ..Wire::default()
        }
    }

    /// Whether a response was interrupted by a body literal and is not finished yet.
    pub fn in_response(&self) -> bool {
        self.fetch.is_some()
    }

    /// Bytes of the current body literal not read yet.
    pub fn body_left(&self) -> u64 {
        self.body_left
    }

    /// Read the next response, or the head of a FETCH answer up to its body literal. What
    /// is left of a body literal the caller did not read is read and dropped first.
    pub fn read(&mut self, input: &mut impl BufRead, trace: &Trace) -> Result<Event> {
        self.skip_body(input)?;
        let mut src = Src {
            input,
            line: std::mem::take(&mut self.line),
            pos: 0,
            total: 0,
            peer: &self.peer,
            trace,
        };
        let result = match self.fetch.take() {
            Some(seq) => src.next_line().and_then(|_| {
                let mut items = FetchData {
                    continued: true,
                    ..FetchData::default()
                };
                src.fetch_items(seq, &mut items)
            }),
            None => src.response(),
        };
        self.line = std::mem::take(&mut src.line);
        match result? {
            Parsed::Whole(resp) => Ok(Event::Response(resp)),
            Parsed::Body(head) => {
                self.body_left = head.len;
                self.fetch = Some(head.seq);
                Ok(Event::Body(head))
            }
        }
    }

    /// Read the next response whole: a body literal is read into memory when it is at most
    /// `limit` bytes (the caller knows what it asked for), else refused.
    pub fn read_whole(
        &mut self,
        input: &mut impl BufRead,
        trace: &Trace,
        limit: u64,
    ) -> Result<Response> {
        let head = match self.read(input, trace)? {
            Event::Response(resp) => return Ok(resp),
            Event::Body(head) => head,
        };
        if head.len > limit {
            return Err(bad(
                &self.peer,
                format!(
                    "a literal of {} bytes for a message part where at most {limit} were \
                     asked for",
                    head.len
                ),
            ));
        }
        let mut data = Vec::new();
        (&mut *input)
            .take(head.len)
            .read_to_end(&mut data)
            .map_err(|e| Error::network(format!("reading from {}", self.peer), e))?;
        if (data.len() as u64) < head.len {
            return Err(closed(&self.peer));
        }
        self.body_left = 0;
        let mut items = head.items;
        items.body = Some(Body {
            section: head.section,
            origin: head.origin,
            data: Some(data),
        });
        // The rest of the answer: its items join those before the body.
        match self.read(input, trace)? {
            Event::Response(Response::Untagged(Untagged::Fetch(_, rest))) => {
                merge(&mut items, rest);
                Ok(Response::Untagged(Untagged::Fetch(head.seq, items)))
            }
            Event::Body(_) => Err(bad(&self.peer, "two message bodies in one FETCH answer")),
            Event::Response(_) => unreachable!("the rest of a FETCH answer is a FETCH answer"),
        }
    }

    /// Read up to `buf.len()` bytes of the current body literal; 0 at its end.
    pub fn read_body(&mut self, input: &mut impl BufRead, buf: &mut [u8]) -> Result<usize> {
        if self.body_left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.body_left).unwrap_or(usize::MAX));
        let n = input
            .read(&mut buf[..want])
            .map_err(|e| Error::network(format!("reading from {}", self.peer), e))?;
        if n == 0 {
            return Err(closed(&self.peer));
        }
        self.body_left -= n as u64;
        Ok(n)
    }

    /// The rest of the current body literal, borrowed from the input's buffer (at most what
    /// is buffered): for copying a body on without a copy of our own.
    pub fn body_chunk<'a>(&mut self, input: &'a mut impl BufRead) -> Result<&'a [u8]> {
        if self.body_left == 0 {
            return Ok(&[]);
        }
        let left = usize::try_from(self.body_left).unwrap_or(usize::MAX);
        let buf = input
            .fill_buf()
            .map_err(|e| Error::network(format!("reading from {}", self.peer), e))?;
        if buf.is_empty() {
            return Err(closed(&self.peer));
        }
        let n = buf.len().min(left);
        Ok(&buf[..n])
    }

    /// `n` bytes of the current body literal were used (after [`Wire::body_chunk`]).
    pub fn consume_body(&mut self, input: &mut impl BufRead, n: usize) {
        input.consume(n);
        self.body_left -= n as u64;
    }

    /// Read and drop what is left of the current body literal.
    fn skip_body(&mut self, input: &mut impl BufRead) -> Result<()> {
        while self.body_left > 0 {
            let n = self.body_chunk(input)?.len();
            self.consume_body(input, n);
        }
        Ok(())
    }
}

/// Put the items of `rest` (after a body literal) into `items`.
fn merge(items: &mut FetchData, rest: FetchData) {
    items.uid = items.uid.or(rest.uid);
    items.size = items.size.or(rest.size);
    items.flags = items.flags.take().or(rest.flags);
    items.internal_date = items.internal_date.take().or(rest.internal_date);
    items.gm_msgid = items.gm_msgid.or(rest.gm_msgid);
    items.gm_labels = items.gm_labels.take().or(rest.gm_labels);
}

fn closed(peer: &str) -> Error {
    Error::new(
        Class::Temporary,
        format!("reading from {peer}: the server closed the connection"),
    )
}

/// What parsing produced.
enum Parsed {
    Whole(Response),
    Body(BodyHead),
}

/// A response being parsed: the current line (without its line end), the position in it,
/// and the input the next lines and literals come from.
struct Src<'a, R: BufRead> {
    input: &'a mut R,
    line: Vec<u8>,
    pos: usize,
    /// Bytes of this response so far, outside body literals.
    total: usize,
    peer: &'a str,
    trace: &'a Trace,
}

/// A value in a parenthesised list, for items we only skip or read as strings.
enum Atomish {
    Nil,
    Bytes(Vec<u8>),
}

impl<R: BufRead> Src<'_, R> {
    fn bad(&self, what: impl std::fmt::Display) -> Error {
        bad(self.peer, what)
    }

    /// Read the next line into `line` (without CRLF or a bare LF), bounded by what is left
    /// of [`MAX_RESPONSE`].
    fn next_line(&mut self) -> Result<()> {
        self.line.clear();
        self.pos = 0;
        loop {
            let buf = self
                .input
                .fill_buf()
                .map_err(|e| Error::network(format!("reading from {}", self.peer), e))?;
            if buf.is_empty() {
                return Err(closed(self.peer));
            }
            let (take, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if self.total + take > MAX_RESPONSE {
                return Err(self.bad(format!("a response of over {MAX_RESPONSE} bytes")));
            }
            self.line.extend_from_slice(&buf[..take]);
            self.total += take;
            self.input.consume(take);
            if done {
                break;
            }
        }
        self.line.pop();
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if self.trace.enabled() {
            let end = self.line.len().min(TRACE_LINE);
            let mut shown = self.line[..end].to_vec();
            if self.line.len() > TRACE_LINE {
                shown.extend_from_slice(b"...");
            }
            self.trace.received(&shown);
        }
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Skip spaces (servers put in extra ones).
    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Expect `c`, after optional spaces.
    fn expect(&mut self, c: u8) -> Result<()> {
        self.spaces();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.bad(format!(
                "an unparsable response (expected {:?} at byte {}): {}",
                c as char,
                self.pos,
                self.shown()
            )))
        }
    }

    /// The line, for messages: at most 80 characters, controls replaced.
    fn shown(&self) -> String {
        let end = self.line.len().min(80);
        let mut s = printable(&self.line[..end]);
        if self.line.len() > 80 {
            s.push_str("...");
        }
        format!("\"{s}\"")
    }

    /// An atom: bytes up to a space, a paren, a bracket or the line end (RFC 3501's
    /// atom-specials, leniently: anything else is part of it).
    fn atom(&mut self) -> &[u8] {
        self.spaces();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(c, b' ' | b'(' | b')' | b'[' | b']' | b'{' | b'"') {
                break;
            }
            self.pos += 1;
        }
        &self.line[start..self.pos]
    }

    /// An atom, upper case.
    fn word(&mut self) -> String {
        String::from_utf8_lossy(self.atom()).to_ascii_uppercase()
    }

    /// A number (RFC 3501 `number`, or `nz-number`), at most `max`.
    fn number(&mut self, max: u64) -> Result<u64> {
        self.spaces();
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .filter(|&n| n <= max)
                .ok_or_else(|| self.bad(format!("a number over {max}: {}", self.shown())))?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.bad(format!(
                "an unparsable response (expected a number at byte {}): {}",
                self.pos,
                self.shown()
            )));
        }
        Ok(n)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(self.number(u64::from(u32::MAX))? as u32)
    }

    /// A literal's announcement at the position: `{N}` or `{N+}` ending the line; its
    /// length.
    fn literal_len(&mut self) -> Result<Option<u64>> {
        if self.peek() != Some(b'{') {
            return Ok(None);
        }
        self.pos += 1;
        let n = self.number(u64::MAX)?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        if self.peek() != Some(b'}') || self.pos + 1 != self.line.len() {
            return Err(self.bad(format!("a malformed literal: {}", self.shown())));
        }
        self.pos += 1;
        Ok(Some(n))
    }

    /// Read a literal of `n` bytes into memory (at most [`MAX_INLINE_LITERAL`]) and the line
    /// after it.
    fn inline_literal(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > MAX_INLINE_LITERAL || self.total as u64 + n > MAX_RESPONSE as u64 {
            return Err(self.bad(format!(
                "a literal of {n} bytes where a short string was due"
            )));
        }
        let mut data = Vec::new();
        (&mut *self.input)
            .take(n)
            .read_to_end(&mut data)
            .map_err(|e| Error::network(format!("reading from {}", self.peer), e))?;
        if (data.len() as u64) < n {
            return Err(closed(self.peer));
        }
        self.total += data.len();
        self.next_line()?;
        Ok(data)
    }

    /// A string: quoted, or a literal (read into memory).
    fn string(&mut self) -> Result<Vec<u8>> {
        self.spaces();
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => {
                let n = self.literal_len()?.expect("at a brace");
                self.inline_literal(n)
            }
            _ => Err(self.bad(format!(
                "an unparsable response (expected a string at byte {}): {}",
                self.pos,
                self.shown()
            ))),
        }
    }

    /// A quoted string (RFC 3501 `quoted`), escapes resolved.
    fn quoted(&mut self) -> Result<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.bad(format!("an unterminated string: {}", self.shown()))),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => {
                            return Err(
                                self.bad(format!("an unterminated string: {}", self.shown()))
                            )
                        }
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// An astring: an atom or a string.
    fn astring(&mut self) -> Result<Vec<u8>> {
        self.spaces();
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                // Atoms may contain ']' in an astring (RFC 3501 ASTRING-CHAR).
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if matches!(c, b' ' | b'(' | b')' | b'{' | b'"') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.bad(format!(
                        "an unparsable response (expected a string at byte {}): {}",
                        self.pos,
                        self.shown()
                    )));
                }
                Ok(self.line[start..self.pos].to_vec())
            }
        }
    }

    /// An nstring: NIL or a string.
    fn nstring(&mut self) -> Result<Atomish> {
        self.spaces();
        match self.peek() {
            Some(b'"' | b'{') => Ok(Atomish::Bytes(self.string()?)),
            _ => {
                let word = self.word();
                if word == "NIL" {
                    Ok(Atomish::Nil)
                } else {
                    Err(self.bad(format!(
                        "an unparsable response (expected a string or NIL): {}",
                        self.shown()
                    )))
                }
            }
        }
    }

    /// A parenthesised list of atoms, astrings or numbers (flags, capabilities in a list,
    /// X-GM-LABELS), as strings.
    fn string_list(&mut self) -> Result<Vec<String>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        loop {
            self.spaces();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    return Ok(out);
                }
                None => return Err(self.bad(format!("an unterminated list: {}", self.shown()))),
                Some(b'"' | b'{') => {
                    out.push(String::from_utf8_lossy(&self.string()?).into_owned())
                }
                Some(_) => {
                    let start = self.pos;
                    let atom = self.atom().to_vec();
                    if self.pos == start {
                        return Err(self.bad(format!("an unparsable list: {}", self.shown())));
                    }
                    out.push(String::from_utf8_lossy(&atom).into_owned());
                }
            }
        }
    }

    /// Skip one value of any shape: an atom, number, string, or a list of values (of
    /// bounded depth), for items mailfetch does not use.
    fn skip_value(&mut self) -> Result<()> {
        let mut depth = 0usize;
        loop {
            self.spaces();
            match self.peek() {
                None => return Err(self.bad(format!("an unterminated list: {}", self.shown()))),
                Some(b'(') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(self.bad(format!("lists nested over {MAX_DEPTH} deep")));
                    }
                    self.pos += 1;
                    continue;
                }
                Some(b')') if depth > 0 => {
                    self.pos += 1;
                    depth -= 1;
                }
                Some(b')') => return Err(self.bad(format!("an unexpected ')': {}", self.shown()))),
                Some(b'"' | b'{') => {
                    self.string()?;
                }
                Some(_) => {
                    let start = self.pos;
                    self.atom();
                    // `BODY[...]<...>` style atoms with brackets.
                    if self.peek() == Some(b'[') {
                        self.section()?;
                    }
                    if self.pos == start {
                        return Err(self.bad(format!("an unparsable value: {}", self.shown())));
                    }
                }
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }

    /// The rest of the line as text (a resp-text), controls replaced.
    fn text(&mut self) -> String {
        self.spaces();
        let text = printable(&self.line[self.pos..]);
        self.pos = self.line.len();
        text
    }

    /// A whole response (RFC 3501 section 9: `response`).
    fn response(&mut self) -> Result<Parsed> {
        self.next_line()?;
        match self.peek() {
            Some(b'+') => {
                self.pos += 1;
                Ok(Parsed::Whole(Response::Continue(self.text())))
            }
            Some(b'*') => {
                self.pos += 1;
                self.untagged()
            }
            Some(_) => {
                // RFC 3501 `tag`: ASTRING-CHARs but `+`, so `]` may be part of one.
                let start = self.pos;
                while self.peek().is_some_and(|c| c != b' ') {
                    self.pos += 1;
                }
                let tag = printable(&self.line[start..self.pos]);
                if tag.is_empty() {
                    return Err(self.bad(format!("an unparsable response: {}", self.shown())));
                }
                let done = self.state()?;
                if matches!(done.status, Status::Bye | Status::PreAuth) {
                    return Err(self.bad(format!("a tagged {}: {}", done.text, self.shown())));
                }
                Ok(Parsed::Whole(Response::Tagged(tag, done)))
            }
            None => Err(self.bad("an empty line")),
        }
    }

    /// `OK|NO|BAD|BYE|PREAUTH [code] text` (RFC 3501 `resp-cond-*`).
    fn state(&mut self) -> Result<Completion> {
        let word = self.word();
        let status = match word.as_str() {
            "OK" => Status::Ok,
            "NO" => Status::No,
            "BAD" => Status::Bad,
            "BYE" => Status::Bye,
            "PREAUTH" => Status::PreAuth,
            _ => return Err(self.bad(format!("an unparsable response: {}", self.shown()))),
        };
        self.spaces();
        let start = self.pos;
        let code = if self.peek() == Some(b'[') {
            self.code()?
        } else {
            None
        };
        // The text keeps the code as written, for messages.
        self.pos = start;
        let text = self.text();
        Ok(Completion { status, code, text })
    }

    /// A response code, `[` at the position; the position ends after `]` (or at the line
    /// end for a code that is never closed, which is kept as text).
    fn code(&mut self) -> Result<Option<Code>> {
        self.pos += 1;
        let name = self.word();
        let code = match name.as_str() {
            "CAPABILITY" => Some(Code::Capability(self.capabilities())),
            "UIDVALIDITY" => self.u32().ok().map(Code::UidValidity),
            "UIDNEXT" => self.u32().ok().map(Code::UidNext),
            "APPENDUID" => match (self.u32(), self.uid_set()) {
                (Ok(validity), Ok(set)) => Some(Code::AppendUid(validity, set)),
                _ => None,
            },
            "READ-ONLY" => Some(Code::ReadOnly),
            "TRYCREATE" => Some(Code::TryCreate),
            _ => None,
        };
        let end = memchr::memchr(b']', &self.line[self.pos..]).map(|i| self.pos + i);
        let code = code.or_else(|| {
            let rest = end.map_or(&self.line[self.pos..], |e| &self.line[self.pos..e]);
            Some(Code::Other(name, printable(rest).trim().to_string()))
        });
        self.pos = end.map_or(self.line.len(), |e| e + 1);
        Ok(code)
    }

    /// Capability names up to the line end or a `]` (RFC 3501 `capability-data`), upper
    /// case; stray brackets and parens are skipped.
    fn capabilities(&mut self) -> Vec<String> {
        let mut caps = Vec::new();
        loop {
            self.spaces();
            if matches!(self.peek(), Some(b']') | None) {
                return caps;
            }
            let atom = self.atom();
            if atom.is_empty() {
                self.pos += 1;
                continue;
            }
            caps.push(String::from_utf8_lossy(atom).to_ascii_uppercase());
        }
    }

    /// A UID set (RFC 4315 `uid-set`) as ranges.
    fn uid_set(&mut self) -> Result<Vec<(u32, u32)>> {
        let mut out = Vec::new();
        loop {
            let lo = self.u32()?;
            let hi = if self.peek() == Some(b':') {
                self.pos += 1;
                self.u32()?
            } else {
                lo
            };
            out.push((lo.min(hi), lo.max(hi)));
            if self.peek() != Some(b',') {
                return Ok(out);
            }
            self.pos += 1;
        }
    }

    /// An untagged response, after `*`.
    fn untagged(&mut self) -> Result<Parsed> {
        self.spaces();
        let whole = |u| Ok(Parsed::Whole(Response::Untagged(u)));
        if matches!(self.peek(), Some(b'0'..=b'9')) {
            let n = self.u32()?;
            let word = self.word();
            return match word.as_str() {
                "EXISTS" => whole(Untagged::Exists(n)),
                "RECENT" => whole(Untagged::Recent(n)),
                "EXPUNGE" => whole(Untagged::Expunge(n)),
                "FETCH" => {
                    let mut items = FetchData::default();
                    self.expect(b'(')?;
                    self.fetch_items(n, &mut items)
                }
                _ => {
                    self.skip_rest()?;
                    whole(Untagged::Other(format!("{n} {word}")))
                }
            };
        }
        let word = self.word();
        match word.as_str() {
            "OK" | "NO" | "BAD" | "BYE" | "PREAUTH" => {
                self.pos = 1;
                whole(Untagged::State(self.state()?))
            }
            "CAPABILITY" => whole(Untagged::Capability(self.capabilities())),
            "LIST" | "LSUB" => {
                let attributes = self.string_list()?;
                self.spaces();
                let delimiter = match self.nstring()? {
                    Atomish::Nil => None,
                    Atomish::Bytes(d) => String::from_utf8_lossy(&d).chars().next(),
                };
                let name = String::from_utf8_lossy(&self.astring()?).into_owned();
                // LIST-EXTENDED data may follow: skipped.
                self.skip_rest()?;
                whole(Untagged::List(Listed {
                    attributes,
                    delimiter,
                    name,
                }))
            }
            "STATUS" => {
                let name = String::from_utf8_lossy(&self.astring()?).into_owned();
                self.expect(b'(')?;
                let mut items = Vec::new();
                loop {
                    self.spaces();
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        break;
                    }
                    let item = self.word();
                    if item.is_empty() {
                        return Err(self.bad(format!("an unparsable STATUS: {}", self.shown())));
                    }
                    items.push((item, self.number(u64::MAX)?));
                }
                whole(Untagged::Status(name, items))
            }
            "SEARCH" => {
                let mut uids = Vec::new();
                loop {
                    self.spaces();
                    // RFC 7162 adds `(MODSEQ n)` at the end.
                    if self.at_end() || self.peek() == Some(b'(') {
                        break;
                    }
                    uids.push(self.u32()?);
                }
                self.skip_rest()?;
                whole(Untagged::Search(uids))
            }
            _ => {
                self.skip_rest()?;
                whole(Untagged::Other(word))
            }
        }
    }

    /// Skip the rest of a response mailfetch does not use: its literals (bounded like any)
    /// are read and dropped.
    fn skip_rest(&mut self) -> Result<()> {
        loop {
            // A literal can only end a line, outside a quoted string.
            let mut quoted = false;
            let mut brace = None;
            let mut i = self.pos;
            while i < self.line.len() {
                match self.line[i] {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    b'{' if !quoted => brace = Some(i),
                    _ => {}
                }
                i += 1;
            }
            let Some(at) = brace.filter(|_| !quoted && self.line.last() == Some(&b'}')) else {
                self.pos = self.line.len();
                return Ok(());
            };
            self.pos = at;
            match self.literal_len() {
                Ok(Some(n)) => {
                    self.inline_literal(n)?;
                }
                // `{` in text, not a literal.
                _ => {
                    self.pos = self.line.len();
                    return Ok(());
                }
            }
        }
    }

    /// A section spec `[...]` (for BODY/BINARY items), `[` at the position: its text
    /// upper case, nested brackets not allowed.
    fn section(&mut self) -> Result<String> {
        self.pos += 1;
        let start = self.pos;
        let end = memchr::memchr(b']', &self.line[start..])
            .ok_or_else(|| self.bad(format!("an unterminated section: {}", self.shown())))?;
        self.pos = start + end + 1;
        Ok(String::from_utf8_lossy(&self.line[start..start + end]).to_ascii_uppercase())
    }

    /// The items of a FETCH answer (RFC 3501 `msg-att`) after `(`, up to `)`. A body
    /// literal stops the parse before a byte of it is read ([`Parsed::Body`]); the caller
    /// reads it and comes back for the rest.
    fn fetch_items(&mut self, seq: u32, items: &mut FetchData) -> Result<Parsed> {
        loop {
            self.spaces();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Parsed::Whole(Response::Untagged(Untagged::Fetch(
                        seq,
                        std::mem::take(items),
                    ))));
                }
                None => {
                    return Err(self.bad(format!("an unterminated FETCH answer: {}", self.shown())))
                }
                _ => {}
            }
            let name = self.word();
            if name.is_empty() {
                return Err(self.bad(format!("an unparsable FETCH answer: {}", self.shown())));
            }
            // `BODY[section]<origin>`, `BINARY[...]`, `BINARY.SIZE[...]`.
            let section = if self.peek() == Some(b'[') {
                Some(self.section()?)
            } else {
                None
            };
            let origin = if section.is_some() && self.peek() == Some(b'<') {
                self.pos += 1;
                let n = self.number(u64::MAX)?;
                if self.peek() != Some(b'>') {
                    return Err(self.bad(format!("a malformed origin: {}", self.shown())));
                }
                self.pos += 1;
                Some(n)
            } else {
                None
            };
            let body_section = match (name.as_str(), section) {
                ("BODY" | "BINARY", Some(s)) => Some(s),
                ("RFC822", None) => Some(String::new()),
                ("RFC822.HEADER", None) => Some("HEADER".to_string()),
                ("RFC822.TEXT", None) => Some("TEXT".to_string()),
                _ => None,
            };
            if let Some(section) = body_section {
                self.spaces();
                if let Some(len) = self.literal_len()? {
                    return Ok(Parsed::Body(BodyHead {
                        seq,
                        items: std::mem::take(items),
                        section,
                        origin,
                        len,
                    }));
                }
                let data = match self.nstring()? {
                    Atomish::Nil => None,
                    Atomish::Bytes(b) => Some(b),
                };
                items.body = Some(Body {
                    section,
                    origin,
                    data,
                });
                continue;
            }
            match name.as_str() {
                "UID" => items.uid = Some(self.u32()?),
                "RFC822.SIZE" => items.size = Some(self.number(u64::MAX)?),
                "FLAGS" => items.flags = Some(self.string_list()?),
                "INTERNALDATE" => {
                    items.internal_date = match self.nstring()? {
                        Atomish::Bytes(d) => Some(String::from_utf8_lossy(&d).into_owned()),
                        Atomish::Nil => None,
                    }
                }
                "X-GM-MSGID" => items.gm_msgid = Some(self.number(u64::MAX)?),
                "X-GM-LABELS" => items.gm_labels = Some(self.string_list()?),
                // ENVELOPE, BODYSTRUCTURE, MODSEQ, X-GM-THRID, ...: not used.
                _ => self.skip_value()?,
            }
        }
    }
}

/// `bytes` as text for messages and the trace (a server's words may reach a terminal).
pub use crate::text::printable_bytes as printable;

/// Read responses from `input` until it ends or breaks the grammar, as a session would
/// (bodies streamed and dropped): for the fuzz targets.
#[doc(hidden)]
pub fn drain_for_fuzzing(input: &[u8]) -> Vec<Response> {
    let mut input = io::BufReader::new(input);
    let mut wire = Wire::new("fuzz");
    let trace = Trace::off();
    let mut out = Vec::new();
    let mut sink = [0u8; 4096];
    // The items before a streamed body, put together with those after it.
    let mut before: Option<FetchData> = None;
    while let Ok(event) = wire.read(&mut input, &trace) {
        match event {
            Event::Response(Response::Untagged(Untagged::Fetch(seq, rest))) if rest.continued => {
                let mut items = before.take().unwrap_or_default();
                merge(&mut items, rest);
                out.push(Response::Untagged(Untagged::Fetch(seq, items)));
            }
            Event::Response(r) => out.push(r),
            Event::Body(head) => {
                before = Some(head.items);
                let mut left = head.len;
                while left > 0 {
                    match wire.read_body(&mut input, &mut sink) {
                        Ok(n) => left -= n as u64,
                        Err(_) => return out,
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Vec<Response> {
        let mut input = bytes;
        let mut wire = Wire::new("h:143");
        let mut out = Vec::new();
        loop {
            match wire.read_whole(&mut input, &Trace::off(), 1 << 20) {
                Ok(r) => out.push(r),
                Err(_) => return out,
            }
        }
    }

    fn one(bytes: &[u8]) -> Result<Response> {
        let mut input = bytes;
        Wire::new("h:143").read_whole(&mut input, &Trace::off(), 1 << 20)
    }

    #[test]
    fn a_non_ascii_byte_in_a_greeting_is_text_not_a_crash() {
        let r = one(b"* OK [CAPABILITY IMAP4rev1 STARTTLS]\xe9\r\n").unwrap();
        let Response::Untagged(Untagged::State(c)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            c.code,
            Some(Code::Capability(vec![
                "IMAP4REV1".into(),
                "STARTTLS".into()
            ]))
        );
        assert_eq!(c.status, Status::Ok);
    }

    #[test]
    fn braces_ending_a_text_are_not_a_literal() {
        // The literal guard of old took `{38}` for a literal and skipped the FETCH below.
        let stream = b"* OK hi {38}\r\n* 1 FETCH (UID 1 BODY[] {500000000}\r\n";
        let mut input = &stream[..];
        let mut wire = Wire::new("h:143");
        let first = wire.read(&mut input, &Trace::off()).unwrap();
        assert!(matches!(
            first,
            Event::Response(Response::Untagged(Untagged::State(Completion { ref text, .. }))) if text == "hi {38}"
        ));
        let Event::Body(head) = wire.read(&mut input, &Trace::off()).unwrap() else {
            panic!()
        };
        assert_eq!((head.items.uid, head.len), (Some(1), 500_000_000));
        // Read whole, such a literal is refused before a byte is read or allocated.
        let mut input = &stream[14..];
        let e = Wire::new("h:143")
            .read_whole(&mut input, &Trace::off(), 1 << 20)
            .unwrap_err();
        assert_eq!(e.class(), Class::Protocol);
    }

    #[test]
    fn a_tag_may_hold_a_bracket() {
        // Found by imap_differential: imap-codec reads this as tag `A1TE]`, NO.
        let Response::Tagged(tag, c) = one(b"A1TE] no such folder\r\n").unwrap() else {
            panic!()
        };
        assert_eq!((tag.as_str(), c.status), ("A1TE]", Status::No));
    }

    #[test]
    fn bare_lf_line_ends_are_accepted() {
        let r = one(b"A1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\n").unwrap();
        let Response::Tagged(tag, c) = r else {
            panic!()
        };
        assert_eq!(tag, "A1");
        assert_eq!(c.status, Status::Ok);
        assert!(c.has_code("CAPABILITY"));
    }

    #[test]
    fn a_fetch_with_a_body_streams_and_then_goes_on() {
        let stream = b"* 3 FETCH (UID 7 BODY[] {5}\r\nab\r\nc FLAGS (\\Seen))\r\nA2 OK done\r\n";
        let mut input = &stream[..];
        let mut wire = Wire::new("h");
        let t = Trace::off();
        let Event::Body(head) = wire.read(&mut input, &t).unwrap() else {
            panic!()
        };
        assert_eq!((head.seq, head.items.uid, head.len), (3, Some(7), 5));
        let mut buf = [0u8; 16];
        let n = wire.read_body(&mut input, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"ab\r\nc");
        let Event::Response(Response::Untagged(Untagged::Fetch(3, rest))) =
            wire.read(&mut input, &t).unwrap()
        else {
            panic!()
        };
        assert!(rest.continued);
        assert_eq!(rest.flags, Some(vec!["\\Seen".to_string()]));
        assert!(matches!(
            wire.read(&mut input, &t).unwrap(),
            Event::Response(Response::Tagged(..))
        ));
    }

    #[test]
    fn an_unread_body_is_skipped_by_the_next_read() {
        let stream = b"* 1 FETCH (BODY[] {3}\r\nabc UID 9)\r\n";
        let mut input = &stream[..];
        let mut wire = Wire::new("h");
        let t = Trace::off();
        assert!(matches!(wire.read(&mut input, &t).unwrap(), Event::Body(_)));
        let Event::Response(Response::Untagged(Untagged::Fetch(1, rest))) =
            wire.read(&mut input, &t).unwrap()
        else {
            panic!()
        };
        assert_eq!(rest.uid, Some(9));
    }

    #[test]
    fn whole_reads_put_the_body_and_later_items_together() {
        let r = one(b"* 2 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)]<0> {4}\r\nab\r\n UID 4)\r\n")
            .unwrap();
        let Response::Untagged(Untagged::Fetch(2, data)) = r else {
            panic!()
        };
        assert_eq!(data.uid, Some(4));
        let body = data.body.unwrap();
        assert_eq!(body.section, "HEADER.FIELDS (MESSAGE-ID)");
        assert_eq!(body.origin, Some(0));
        assert_eq!(body.data.unwrap(), b"ab\r\n");
    }

    #[test]
    fn listing_items_are_read() {
        let r = one(
            b"* 12 FETCH (UID 1205 RFC822.SIZE 4411 FLAGS (\\Seen $Junk) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" MODSEQ (4) X-GM-MSGID 1278455344230334865 X-GM-LABELS (\\Inbox \"a b\"))\r\n",
        )
        .unwrap();
        let Response::Untagged(Untagged::Fetch(12, d)) = r else {
            panic!()
        };
        assert_eq!(d.uid, Some(1205));
        assert_eq!(d.size, Some(4411));
        assert_eq!(d.flags.unwrap(), ["\\Seen", "$Junk"]);
        assert_eq!(d.internal_date.unwrap(), "17-Jul-1996 02:44:25 -0700");
        assert_eq!(d.gm_msgid, Some(1278455344230334865));
        assert_eq!(d.gm_labels.unwrap(), ["\\Inbox", "a b"]);
    }

    #[test]
    fn list_status_search_and_codes() {
        let all = parse_all(
            b"* LIST (\\HasNoChildren) \"/\" {5}\r\nA\"b c\r\n\
              * LIST (\\Noselect) NIL \"[Gmail]\"\r\n\
              * STATUS INBOX (MESSAGES 3 UIDNEXT 9)\r\n\
              * SEARCH 1 5 9\r\n\
              * SEARCH\r\n\
              * 4 EXPUNGE\r\n\
              * 1 EXPUNGED\r\n\
              * OK [UIDVALIDITY 3857529045] UIDs valid\r\n\
              A4 OK [APPENDUID 38505 3955:3957,4000] APPEND completed\r\n\
              A5 NO [THROTTLED] Request is throttled.\r\n",
        );
        assert_eq!(all.len(), 10, "{all:#?}");
        assert_eq!(
            all[0],
            Response::Untagged(Untagged::List(Listed {
                attributes: vec!["\\HasNoChildren".into()],
                delimiter: Some('/'),
                name: "A\"b c".into()
            }))
        );
        assert!(
            matches!(&all[1], Response::Untagged(Untagged::List(l)) if l.delimiter.is_none() && l.name == "[Gmail]")
        );
        assert_eq!(
            all[2],
            Response::Untagged(Untagged::Status(
                "INBOX".into(),
                vec![("MESSAGES".into(), 3), ("UIDNEXT".into(), 9)]
            ))
        );
        assert_eq!(all[3], Response::Untagged(Untagged::Search(vec![1, 5, 9])));
        assert_eq!(all[4], Response::Untagged(Untagged::Search(vec![])));
        assert_eq!(all[5], Response::Untagged(Untagged::Expunge(4)));
        assert!(matches!(all[6], Response::Untagged(Untagged::Other(_))));
        let Response::Untagged(Untagged::State(c)) = &all[7] else {
            panic!()
        };
        assert_eq!(c.code, Some(Code::UidValidity(3857529045)));
        let Response::Tagged(_, c) = &all[8] else {
            panic!()
        };
        assert_eq!(
            c.code,
            Some(Code::AppendUid(38505, vec![(3955, 3957), (4000, 4000)]))
        );
        let Response::Tagged(_, c) = &all[9] else {
            panic!()
        };
        assert_eq!(c.status, Status::No);
        assert_eq!(c.text, "[THROTTLED] Request is throttled.");
        assert!(c.has_code("THROTTLED"));
    }

    #[test]
    fn hostile_responses_are_refused_in_bounded_memory() {
        // A line that never ends.
        let endless = vec![b'x'; MAX_RESPONSE + 10];
        assert_eq!(one(&endless).unwrap_err().class(), Class::Protocol);
        // A mailbox name announced as 4 GB.
        let e = one(b"* LIST () \"/\" {4000000000}\r\n").unwrap_err();
        assert_eq!(e.class(), Class::Protocol);
        // Numbers that overflow.
        assert!(one(b"* 99999999999 EXISTS\r\n").is_err());
        assert!(one(b"* 1 FETCH (UID 4294967296)\r\n").is_err());
        // Deep nesting.
        let mut deep = b"* 1 FETCH (BODYSTRUCTURE ".to_vec();
        deep.extend(std::iter::repeat_n(b'(', 100_000));
        deep.extend_from_slice(b"\r\n");
        assert!(one(&deep).is_err());
        // Cut short.
        assert_eq!(
            one(b"* 1 FETCH (UID 1 BODY[] {10}\r\nabc")
                .unwrap_err()
                .class(),
            Class::Temporary
        );
    }

    #[test]
    fn unknown_responses_with_literals_are_skipped_whole() {
        let all = parse_all(b"* ID (\"name\" {3}\r\nabc \"x\" \"y\")\r\nA1 OK done\r\n");
        assert_eq!(all.len(), 2);
        assert!(matches!(&all[1], Response::Tagged(t, _) if t == "A1"));
    }

    #[test]
    fn fuzz_driver_reads_what_it_can() {
        assert_eq!(
            drain_for_fuzzing(b"* 1 FETCH (UID 1 BODY[] {2}\r\nab)\r\n").len(),
            1
        );
    }
}
