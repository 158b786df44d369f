//! The blocking facade over async-imap: one IMAP connection with its own current-thread tokio
//! runtime, so the rest of mailfetch stays synchronous. Every await runs under the account
//! timeout (a timeout is a temporary failure, exit 75), and every command we send and every
//! response line but message text goes to the `--verbose` trace, credentials redacted.
//!
//! This module owns connecting (TCP, implicit TLS or STARTTLS with the shared native-tls
//! configuration), the greeting, CAPABILITY, logging in (RFC 3501 LOGIN or RFC 4959
//! AUTHENTICATE through `sasl::Exchange`), and a command runner that reads responses up to the
//! command's tagged completion and classifies failures: NO at login is an authentication
//! failure, BYE or a dropped connection is temporary, a BAD or unparsable response is a
//! protocol error. Office 365's throttling (`NO [THROTTLED] ... Suggested Backoff Time: N
//! milliseconds`) is waited out and the command retried, a bounded number of times.

use super::literal::{LiteralGuard, Refusal};
use crate::error::{Class, Error, Result};
use crate::net::{self, Endpoint, TlsMode, Trace};
use crate::sasl::{AuthMethod, Exchange, Mechanism};
use crate::secret::Secret;
use async_imap::imap_proto::{Capability, RequestId, Response, ResponseCode, Status};
use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// How often a throttled command is retried before giving up.
pub const THROTTLE_RETRIES: u32 = 5;
/// The wait when a throttled server suggests none...
const THROTTLE_DEFAULT: Duration = Duration::from_secs(5);
/// ...and the longest suggested wait we accept.
const THROTTLE_MAX: Duration = Duration::from_secs(120);
/// The longest response line shown in the trace.
const TRACE_LINE: usize = 300;

/// The byte stream under IMAP: plain TCP (before STARTTLS, or `tls = "none"`) or TLS.
#[derive(Debug)]
pub enum Transport {
    /// Unencrypted.
    Plain(TcpStream),
    /// Encrypted and verified.
    Tls(Box<tokio_openssl::SslStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The most bytes one literal may announce: mailfetch asks for at most a message of
/// [`super::LARGE`] bytes in one literal, so anything much larger is refused before the
/// parser grows a buffer for it (see [`super::literal`]).
pub const MAX_LITERAL: u64 = 4 * super::LARGE;

/// The most bytes one response may have outside its literals (see [`super::literal`]): a
/// line that never ends is refused once it has brought this many, a protocol error, rather
/// than held in memory until the response timeout (and then taken for a lost connection).
/// The longest responses mailfetch meets are `* SEARCH` answers, at most 11 bytes a UID
/// (`4294967295 `): 100,000 UIDs are under 1.1 MB; a FETCH listing line is about 100 bytes,
/// CAPABILITY and LIST lines a few hundred. 4 MiB is over three times the longest answer
/// expected, and about as long as async-imap can read in reasonable time: it parses a
/// response again from its start after every 4 KiB it reads, so a line costs the square
/// of its length (measured: 1 MiB of `* SEARCH` UIDs 0.25 s of CPU, 2 MiB 1 s, 4 MiB 4 s).
pub const MAX_LINE: u64 = 4 << 20;

/// The transport as async-imap sees it: every byte received passes a [`LiteralGuard`], and
/// a line reaches async-imap only once it is complete (its CRLF, or a literal's announcement,
/// has come; literal contents pass as they come). async-imap parses its buffer again from the
/// start of the response at every read, so a line it saw growing would cost the square of
/// its length, and a hostile one that never ends would be parsed for as long as it goes on;
/// held back here, it costs its length, up to [`MAX_LINE`].
#[derive(Debug)]
pub struct Guarded {
    stream: Transport,
    guard: LiteralGuard,
    /// Bytes received and not all handed on (those before `handed` were): the line in
    /// progress at the end (the guard's [`LiteralGuard::held`] bytes), and before it what may
    /// go.
    pending: Vec<u8>,
    handed: usize,
    /// The stream has ended: whatever is pending goes (for the parser to see it cut short).
    eof: bool,
    /// While logging in: the bytes received, so that the capabilities the tagged OK carries
    /// can be read from it (async-imap's AUTHENTICATE drops the response code).
    capture: Option<Vec<u8>>,
}

/// The most bytes kept by [`Guarded::capture`]: its last lines, the tagged OK among them.
const CAPTURE: usize = 16 * 1024;

/// What one read brings at most while a line is held back.
const READ_AHEAD: usize = 16 * 1024;

impl Guarded {
    fn new(stream: Transport) -> Guarded {
        Guarded {
            stream,
            guard: LiteralGuard::new(MAX_LITERAL, MAX_LINE),
            pending: Vec::new(),
            handed: 0,
            eof: false,
            capture: None,
        }
    }

    /// Pass `bytes`, just received, through the guard.
    fn check(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Err(refusal) = self.guard.feed(bytes) else {
            return Ok(());
        };
        let e = Error::protocol(match refusal {
            Refusal::Literal {
                size,
                limit,
                uid: Some((uid, listed)),
            } => format!(
                "the server sent a literal of {size} bytes for UID {uid}, which it listed as \
                 {listed} bytes (RFC822.SIZE); mailfetch accepts at most {limit} for it \
                 (broken or hostile server)"
            ),
            Refusal::Literal { size, limit, .. } => format!(
                "the server announced a literal of {size} bytes, over the limit of {limit} \
                 (broken or hostile server)"
            ),
            Refusal::Line(limit) => format!(
                "the server sent a response line over {limit} bytes (broken or hostile server)"
            ),
        });
        Err(e.into_io())
    }

    /// How many pending bytes may go.
    fn ready(&self) -> usize {
        let pending = self.pending.len() - self.handed;
        if self.eof {
            return pending;
        }
        let held = usize::try_from(self.guard.held()).unwrap_or(usize::MAX);
        pending.saturating_sub(held)
    }
}

/// Keep the last [`CAPTURE`] bytes received in `capture`, if capturing.
fn capture_into(capture: &mut Option<Vec<u8>>, bytes: &[u8]) {
    if let Some(capture) = capture {
        capture.extend_from_slice(bytes);
        if capture.len() > CAPTURE {
            capture.drain(..capture.len() - CAPTURE);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let ready = this.ready().min(buf.remaining());
            if ready > 0 {
                let bytes = &this.pending[this.handed..this.handed + ready];
                buf.put_slice(bytes);
                capture_into(&mut this.capture, bytes);
                this.handed += ready;
                if this.handed == this.pending.len() {
                    this.pending.clear();
                    this.handed = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if this.pending.is_empty() {
                // Straight into async-imap's buffer (literal contents, mostly); a line in
                // progress at the end is taken back.
                let before = buf.filled().len();
                std::task::ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
                let filled = buf.filled().len();
                if filled == before {
                    return Poll::Ready(Ok(()));
                }
                this.check(&buf.filled()[before..])?;
                let held = usize::try_from(this.guard.held())
                    .unwrap_or(usize::MAX)
                    .min(filled - before);
                let kept = filled - held;
                this.pending.extend_from_slice(&buf.filled()[kept..]);
                buf.set_filled(kept);
                if kept > before {
                    capture_into(&mut this.capture, &buf.filled()[before..]);
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            // A line in progress: read on until it is complete.
            if this.handed > 0 {
                this.pending.drain(..this.handed);
                this.handed = 0;
            }
            let mut chunk = [0u8; READ_AHEAD];
            let mut more = ReadBuf::new(&mut chunk);
            std::task::ready!(Pin::new(&mut this.stream).poll_read(cx, &mut more))?;
            if more.filled().is_empty() {
                this.eof = true;
                continue;
            }
            this.check(more.filled())?;
            this.pending.extend_from_slice(more.filled());
        }
    }
}

/// The capabilities in the `[CAPABILITY ...]` code of the last response line of `received`,
/// when that is a tagged OK (RFC 3501 section 7.1; servers send it with a login's OK, as
/// section 6.2.3 allows, so that the client need not ask again).
fn login_capabilities(received: &[u8]) -> Option<HashSet<String>> {
    let end = received.strip_suffix(b"\r\n")?;
    let start = end
        .windows(2)
        .rposition(|w| w == b"\r\n")
        .map_or(0, |i| i + 2);
    match Response::parse(&received[start..]) {
        Ok((
            [],
            Response::Done {
                status: Status::Ok,
                outcome,
                ..
            },
        )) => match outcome.code {
            Some(ResponseCode::Capabilities(caps)) => Some(cap_set(&caps)),
            _ => None,
        },
        _ => None,
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// How to authenticate.
pub struct Login<'a> {
    /// User name.
    pub user: &'a str,
    /// Password or token.
    pub secret: &'a Secret,
    /// Configured method.
    pub method: AuthMethod,
    /// Whether a password may cross an unencrypted connection.
    pub allow_plaintext: bool,
}

/// The tagged completion of a command.
#[derive(Debug)]
pub struct Completion {
    /// OK, NO or BAD.
    pub status: Status,
    /// The response code (in brackets) and text, as the server wrote them.
    pub text: String,
}

impl Completion {
    /// Whether the server asks us to slow down (Office 365, and RFC 5530 `[LIMIT]`-style
    /// codes some servers use for the same).
    pub fn throttled(&self) -> bool {
        self.status == Status::No
            && (self.text.contains("[THROTTLED]")
                || self
                    .text
                    .to_ascii_lowercase()
                    .contains("request is throttled"))
    }

    /// Whether the failure is worth retrying later (RFC 5530 codes for transient trouble).
    pub fn transient(&self) -> bool {
        self.throttled()
            || [
                "[UNAVAILABLE]",
                "[INUSE]",
                "[SERVERBUG]",
                "[LIMIT]",
                "[OVERQUOTA]",
            ]
            .iter()
            .any(|c| self.text.contains(c))
    }
}

/// The wait a throttled server suggests: "Suggested Backoff Time: N milliseconds".
pub fn suggested_backoff(text: &str) -> Duration {
    let lower = text.to_ascii_lowercase();
    lower
        .find("backoff time:")
        .and_then(|at| {
            let digits: String = lower[at + "backoff time:".len()..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .map(Duration::from_millis)
        .unwrap_or(THROTTLE_DEFAULT)
        .min(THROTTLE_MAX)
}

/// Run `fut` on `rt` within `limit`; running out of time is a temporary failure.
fn block<F: Future>(
    rt: &tokio::runtime::Runtime,
    limit: Duration,
    what: &str,
    fut: F,
) -> Result<F::Output> {
    rt.block_on(async { tokio::time::timeout(limit, fut).await })
        .map_err(|_| {
            Error::new(
                Class::Temporary,
                format!("{what}: no answer within {} s", limit.as_secs()),
            )
        })
}

/// The first line of a response as the server sent it (`raw`: the response's bytes), for
/// the trace and for messages: never message text (a literal's content is after the first
/// line).
fn first_line(raw: &[u8]) -> String {
    let end = memchr::memmem::find(raw, b"\r\n").unwrap_or(raw.len().min(TRACE_LINE));
    let line = &raw[..end.min(TRACE_LINE)];
    let mut text = String::from_utf8_lossy(line).into_owned();
    if end > TRACE_LINE {
        text.push_str("...");
    }
    text
}

/// The text of an async-imap error, for messages: its NO/BAD texts carry the server's words
/// inside a debug rendering, which is taken apart here.
fn library_error_text(e: &async_imap::error::Error) -> String {
    use async_imap::error::Error as E;
    match e {
        E::No(s) | E::Bad(s) => match s.find("info: Some(\"") {
            Some(at) => {
                let text = &s[at + "info: Some(\"".len()..];
                text.strip_suffix("\")")
                    .unwrap_or(text)
                    .replace("\\\"", "\"")
            }
            None => s.clone(),
        },
        other => other.to_string(),
    }
}

/// The most characters of an unparsable response shown in its error.
const UNPARSABLE_SHOWN: usize = 80;

/// The start of the response in async-imap's error for one its parser cannot take (an
/// I/O error of its own, "`<nom error>` during parsing of `"<the response>"`"): its first
/// [`UNPARSABLE_SHOWN`] characters, escaped and quoted (an escape counts as one), or `None`
/// for other errors.
fn unparsable(e: &io::Error) -> Option<String> {
    const MARK: &str = " during parsing of \"";
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return None;
    }
    let text = e.to_string();
    let at = text.find(MARK)?;
    let quoted = text[at + MARK.len()..].strip_suffix('"').unwrap_or("");
    let mut shown = String::from("\"");
    let mut chars = quoted.chars();
    let mut count = 0;
    while let Some(c) = chars.next() {
        if count == UNPARSABLE_SHOWN {
            shown.push_str("\"...");
            return Some(shown);
        }
        shown.push(c);
        if c == '\\' {
            // `\n`, `\"`, `\\`, `\u{fffd}`: the escape is one character of the response.
            if let Some(n) = chars.next() {
                shown.push(n);
                if n == 'u' {
                    for n in chars.by_ref() {
                        shown.push(n);
                        if n == '}' {
                            break;
                        }
                    }
                }
            }
        }
        count += 1;
    }
    shown.push('"');
    Some(shown)
}

/// Map an I/O error met reading from `peer` while `what`: an unparsable response is the
/// server breaking the protocol, anything else is the network failing (temporary).
fn read_error(peer: &str, what: &str, e: io::Error) -> Error {
    match unparsable(&e) {
        Some(shown) => Error::protocol(format!(
            "{what}: {peer} sent an unparsable response: {shown}"
        )),
        None => Error::network(format!("{what} ({peer})"), e),
    }
}

/// Map an async-imap error met while `what`: I/O and dropped connections are temporary,
/// anything else (an unparsable response among them) is the server breaking the protocol.
fn library_error(peer: &str, what: &str, e: async_imap::error::Error) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::Io(io) => read_error(peer, what, io),
        E::ConnectionLost => Error::new(
            Class::Temporary,
            format!("{what}: {peer} closed the connection"),
        ),
        other => Error::protocol(format!("{what}: {peer}: {}", library_error_text(&other))),
    }
}

/// A SASL exchange as async-imap's `Authenticator`: the first (empty) challenge is answered
/// with the mechanism's initial response, later ones by the exchange.
struct Sasl<'a> {
    exchange: Exchange<'a>,
    started: bool,
    failed: Option<Error>,
    trace: Trace,
}

impl async_imap::Authenticator for &mut Sasl<'_> {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        self.trace.received(b"+ <challenge>");
        self.trace.sent("<redacted>");
        if !self.started {
            self.started = true;
            if let Some(initial) = self.exchange.initial() {
                return initial;
            }
        }
        match self.exchange.respond(challenge) {
            Ok(answer) => answer,
            Err(e) => {
                self.failed = Some(e);
                Vec::new()
            }
        }
    }
}

/// An authenticated IMAP connection.
pub struct Session {
    rt: tokio::runtime::Runtime,
    imap: async_imap::Session<Guarded>,
    timeout: Duration,
    trace: Trace,
    peer: String,
    caps: HashSet<String>,
    /// Set once the connection is known to be gone (BYE, EOF, I/O error, timeout).
    lost: bool,
}

impl Session {
    /// Connect, read the greeting, upgrade with STARTTLS if configured, and log in.
    pub fn connect(endpoint: &Endpoint, trace: Trace, login: &Login) -> Result<Session> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::local("cannot start the IMAP runtime", e))?;
        let peer = format!("{}:{}", endpoint.host, endpoint.port);
        let limit = endpoint.timeout;
        let tcp = block(&rt, limit, &format!("connecting to {peer}"), async {
            TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await
        })?
        .map_err(|e| Error::new(Class::Unavailable, format!("cannot connect to {peer}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        trace.note(&format!("connected to {peer}"));
        let transport = match endpoint.tls {
            TlsMode::Implicit => tls(&rt, endpoint, tcp)?,
            TlsMode::StartTls | TlsMode::None => Transport::Plain(tcp),
        };
        let mut client = async_imap::Client::new(Guarded::new(transport));
        let greeting = block(
            &rt,
            limit,
            &format!("waiting for {peer}'s greeting"),
            async { client.read_response().await },
        )?
        .map_err(|e| read_error(&peer, "reading the greeting", e))?
        .ok_or_else(|| {
            Error::new(
                Class::Unavailable,
                format!("{peer} closed the connection at once"),
            )
        })?;
        trace.received(first_line(greeting.borrow_owner()).as_bytes());
        let mut caps = match greeting.parsed() {
            Response::Data {
                status: Status::Ok,
                outcome,
            } => match &outcome.code {
                Some(ResponseCode::Capabilities(c)) => Some(cap_set(c)),
                _ => None,
            },
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                return Err(Error::new(
                    Class::Unavailable,
                    format!(
                        "{peer} refused the connection: {}",
                        outcome.information.as_deref().unwrap_or("BYE")
                    ),
                ))
            }
            Response::Data {
                status: Status::PreAuth,
                ..
            } => {
                return Err(Error::protocol(format!(
                    "{peer} greeted with PREAUTH (already logged in), which mailfetch does not \
                     support; connect to the server's login port"
                )))
            }
            _ => {
                return Err(Error::protocol(format!(
                    "{peer} did not greet like an IMAP server: {}",
                    first_line(greeting.borrow_owner())
                )))
            }
        };
        let mut pre = PreAuth {
            rt: &rt,
            limit,
            trace: &trace,
            peer: &peer,
            tags: 0,
        };
        if caps.is_none() {
            caps = Some(pre.capability(&mut client)?);
        }
        let mut caps = caps.expect("just set");
        if endpoint.tls == TlsMode::StartTls {
            if !caps.contains("STARTTLS") {
                return Err(Error::protocol(format!(
                    "{peer} does not offer STARTTLS; refusing to continue without TLS \
                     (use tls = \"implicit\" on port 993, or tls = \"none\" if you accept plaintext)"
                )));
            }
            pre.starttls(&mut client)?;
            // RFC 3501 section 6.2.1: forget everything learnt before TLS. Bytes the server
            // sent after its STARTTLS answer are discarded with the old stream.
            let Transport::Plain(tcp) = client.into_inner().stream else {
                return Err(Error::protocol("internal: STARTTLS on a TLS connection"));
            };
            client = async_imap::Client::new(Guarded::new(tls(&rt, endpoint, tcp)?));
            caps = pre.capability(&mut client)?;
        }
        let encrypted = endpoint.tls != TlsMode::None;
        client.get_mut().capture = Some(Vec::new());
        let mut imap = pre.authenticate(client, &caps, encrypted, login)?;
        let received = imap.get_mut().capture.take().unwrap_or_default();
        let mut session = Session {
            rt,
            imap,
            timeout: limit,
            trace,
            peer,
            caps,
            lost: false,
        };
        // RFC 3501 section 6.2.3: capabilities may change once logged in; the login's OK
        // usually says how, which saves a round trip.
        session.caps = match login_capabilities(&received) {
            Some(caps) => {
                session.trace.note("capabilities from the login's OK");
                caps
            }
            None => session.capability()?,
        };
        Ok(session)
    }

    /// `host:port`, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether the server advertises `cap` (upper case).
    pub fn has(&self, cap: &str) -> bool {
        self.caps.contains(cap)
    }

    /// The value of a capability of the form `NAME=VALUE` (`APPENDLIMIT=35651584`), if the
    /// server advertises one.
    pub fn capability_value(&self, name: &str) -> Option<&str> {
        self.caps
            .iter()
            .find_map(|c| c.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    }

    /// Whether the connection is gone (BYE, closed, reset, timed out): the session must be
    /// replaced to go on.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Expect the body of `uid`, listed as `listed` bytes: a literal for it larger than
    /// [`super::literal::body_limit`] of that is refused before it is read.
    pub fn expect_body(&mut self, uid: u32, listed: u64) {
        self.imap.get_mut().guard.expect(uid, listed);
    }

    /// The body of `uid` came, or is no longer asked for: its listed size, if it was
    /// expected.
    pub fn body_done(&mut self, uid: u32) -> Option<u64> {
        self.imap.get_mut().guard.unexpect(uid)
    }

    /// No body is asked for any more.
    pub fn no_bodies(&mut self) {
        self.imap.get_mut().guard.unexpect_all();
    }

    /// Write `bytes` as they are, after a command line sent with [`Session::send`]: the
    /// content of a literal (RFC 3501 section 4.3) or the rest of a command that follows one.
    /// `shown` is what the trace says instead of message text. With `flush`, everything
    /// written so far is pushed to the server.
    pub fn write_raw(&mut self, bytes: &[u8], shown: Option<&str>, flush: bool) -> Result<()> {
        if self.lost {
            return Err(self.gone("sending a command"));
        }
        if let Some(shown) = shown {
            self.trace.sent(shown);
        }
        let what = format!("sending to {}", self.peer);
        let stream = self.imap.get_mut();
        let result = block(&self.rt, self.timeout, &what, async {
            stream.write_all(bytes).await?;
            if flush {
                stream.flush().await?;
            }
            Ok::<(), io::Error>(())
        });
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.lost = true;
                Err(Error::network(what, e))
            }
            Err(e) => {
                self.lost = true;
                Err(e)
            }
        }
    }

    /// Send one command (traced as `shown` when it carries a secret); returns its tag.
    pub fn send(&mut self, command: &str) -> Result<RequestId> {
        if self.lost {
            return Err(self.gone("sending a command"));
        }
        let what = format!("sending to {}", self.peer);
        let result = block(
            &self.rt,
            self.timeout,
            &what,
            self.imap.run_command(command),
        );
        let tag = match result {
            Ok(Ok(tag)) => tag,
            Ok(Err(e)) => {
                self.lost = true;
                return Err(library_error(&self.peer, "sending a command", e));
            }
            Err(e) => {
                self.lost = true;
                return Err(e);
            }
        };
        self.trace.sent(&format!("{} {command}", tag.0));
        Ok(tag)
    }

    /// Read the next response and hand it to `f` (async-imap does not export the type that
    /// owns a parsed response, so it is looked at in place). An untagged BYE, the end of the
    /// stream, an I/O error or a timeout marks the session lost and is a temporary failure.
    pub fn read<T>(&mut self, f: impl FnOnce(&Response<'_>) -> T) -> Result<T> {
        let what = format!("waiting for {}", self.peer);
        match self.read_within(self.timeout, f)? {
            Some(t) => Ok(t),
            None => {
                self.lost = true;
                Err(Error::new(
                    Class::Temporary,
                    format!("{what}: no answer within {} s", self.timeout.as_secs()),
                ))
            }
        }
    }

    /// [`Session::read`], but a response that has not come within `limit` is `None` and the
    /// session goes on: what was read of it stays buffered for the next read. For waiting
    /// out an IDLE in short steps.
    pub fn read_within<T>(
        &mut self,
        limit: Duration,
        f: impl FnOnce(&Response<'_>) -> T,
    ) -> Result<Option<T>> {
        if self.lost {
            return Err(self.gone("reading a response"));
        }
        let result = self
            .rt
            .block_on(async { tokio::time::timeout(limit, self.imap.read_response()).await });
        let resp = match result {
            Err(_elapsed) => return Ok(None),
            Ok(Ok(Some(resp))) => resp,
            Ok(Ok(None)) => {
                self.lost = true;
                return Err(self.gone("reading a response"));
            }
            Ok(Err(e)) => {
                self.lost = true;
                // async-imap reports an unparsable response as an I/O error of its own.
                return Err(read_error(&self.peer, "reading a response", e));
            }
        };
        if self.trace.enabled() {
            self.trace
                .received(first_line(resp.borrow_owner()).as_bytes());
        }
        if let Response::Data {
            status: Status::Bye,
            outcome,
        } = resp.parsed()
        {
            self.lost = true;
            let text = outcome.information.as_deref().unwrap_or("").to_string();
            return Err(Error::new(
                Class::Temporary,
                format!("{} ended the session: BYE {text}", self.peer),
            ));
        }
        Ok(Some(f(resp.parsed())))
    }

    fn gone(&self, what: &str) -> Error {
        Error::new(
            Class::Temporary,
            format!("{what}: {} closed the connection", self.peer),
        )
    }

    /// Read responses up to the tagged completion of `tag`, handing every other response to
    /// `each`.
    pub fn complete(
        &mut self,
        tag: &RequestId,
        each: &mut dyn FnMut(&Response<'_>) -> Result<()>,
    ) -> Result<Completion> {
        loop {
            let done = self.read(|resp| match completion(resp) {
                Some((done, completion)) => Ok(Some((done.clone(), completion))),
                None => each(resp).map(|_| None),
            })??;
            if let Some((done, completion)) = done {
                if done == *tag {
                    return Ok(completion);
                }
                return Err(Error::protocol(format!(
                    "{} completed command {} while {} was due",
                    self.peer, done.0, tag.0
                )));
            }
        }
    }

    /// Run `command` to completion, handing untagged responses to `each`; NO and BAD are
    /// errors (temporary for RFC 5530 transient codes, else protocol errors), throttling is
    /// waited out and the command repeated.
    pub fn run(
        &mut self,
        command: &str,
        each: &mut dyn FnMut(&Response<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            let tag = self.send(command)?;
            let done = self.complete(&tag, each)?;
            match done.status {
                Status::Ok => return Ok(()),
                _ if done.throttled() && attempt < THROTTLE_RETRIES => {
                    attempt += 1;
                    self.back_off(&done.text);
                }
                _ => return Err(self.refused(command, &done)),
            }
        }
    }

    /// Run `commands` pipelined: all sent at once, their responses read in order, one round
    /// trip in all. A command the server throttled is run again on its own, after it.
    pub fn run_pipelined(
        &mut self,
        commands: &[String],
        each: &mut dyn FnMut(&Response<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut tags = Vec::with_capacity(commands.len());
        for command in commands {
            tags.push(self.send(command)?);
        }
        let mut throttled = Vec::new();
        for (tag, command) in tags.iter().zip(commands) {
            let done = self.complete(tag, each)?;
            match done.status {
                Status::Ok => {}
                _ if done.throttled() => throttled.push((command, done.text)),
                _ => return Err(self.refused(command, &done)),
            }
        }
        for (command, text) in throttled {
            self.back_off(&text);
            self.run(command, each)?;
        }
        Ok(())
    }

    /// Wait as long as a throttling server asks (see [`suggested_backoff`]).
    pub fn back_off(&self, text: &str) {
        let wait = suggested_backoff(text);
        self.trace.note(&format!(
            "server is throttling; waiting {} ms",
            wait.as_millis()
        ));
        std::thread::sleep(wait);
    }

    /// The error for `command` answered with `done` (NO or BAD).
    pub fn refused(&self, command: &str, done: &Completion) -> Error {
        let verb: String = command
            .split(' ')
            .take(if command.starts_with("UID ") { 2 } else { 1 })
            .collect::<Vec<_>>()
            .join(" ");
        let class = if done.transient() {
            Class::Temporary
        } else {
            Class::Protocol
        };
        Error::new(
            class,
            format!("{} refused {verb}: {}", self.peer, done.text.trim()),
        )
    }

    /// RFC 3501 section 6.1.1: CAPABILITY.
    fn capability(&mut self) -> Result<HashSet<String>> {
        let mut caps = None;
        self.run("CAPABILITY", &mut |resp| {
            if let Response::Capabilities(c) = resp {
                caps = Some(cap_set(c));
            }
            Ok(())
        })?;
        caps.ok_or_else(|| Error::protocol(format!("{} sent no CAPABILITY", self.peer)))
    }

    /// RFC 3501 section 6.1.3: LOGOUT. Errors are of no interest any more, and neither is
    /// the answer (BYE, then OK): every command before it has completed, so it is sent
    /// without waiting for one, which on a slow link saves a round trip.
    pub fn logout(&mut self) {
        if !self.lost {
            let _ = self.send("LOGOUT");
            self.lost = true;
        }
    }
}

/// The tag and completion of a tagged response (`None` for untagged ones).
pub fn completion<'r>(resp: &'r Response<'_>) -> Option<(&'r RequestId, Completion)> {
    let Response::Done {
        tag,
        status,
        outcome,
    } = resp
    else {
        return None;
    };
    let status = match status {
        Status::Ok => Status::Ok,
        Status::No => Status::No,
        _ => Status::Bad,
    };
    // Codes imap-proto does not know (THROTTLED, UNAVAILABLE...) stay in the text.
    let code = match &outcome.code {
        Some(ResponseCode::ReadOnly) => "[READ-ONLY] ",
        Some(ResponseCode::ReadWrite) => "[READ-WRITE] ",
        Some(ResponseCode::TryCreate) => "[TRYCREATE] ",
        Some(ResponseCode::Alert) => "[ALERT] ",
        Some(ResponseCode::Parse) => "[PARSE] ",
        _ => "",
    };
    let text = format!("{code}{}", outcome.information.as_deref().unwrap_or(""));
    Some((tag, Completion { status, text }))
}

/// The capability names, upper case, `AUTH=PLAIN` style.
fn cap_set(caps: &[Capability]) -> HashSet<String> {
    caps.iter()
        .map(|c| match c {
            Capability::Imap4rev1 => "IMAP4REV1".to_string(),
            Capability::Auth(m) => format!("AUTH={}", m.to_ascii_uppercase()),
            Capability::Atom(a) => a.to_ascii_uppercase(),
        })
        .collect()
}

/// Implicit TLS, or the upgrade after STARTTLS, with the configuration POP3 uses.
fn tls(rt: &tokio::runtime::Runtime, endpoint: &Endpoint, tcp: TcpStream) -> Result<Transport> {
    let host = endpoint.host.as_str();
    let settings = &endpoint.tls_settings;
    let ssl = net::client(host, settings)?;
    let mut stream = tokio_openssl::SslStream::new(ssl, tcp)
        .map_err(|e| Error::new(Class::LocalIo, format!("cannot set up TLS: {e}")))?;
    let what = format!("TLS handshake with {host}");
    match block(rt, endpoint.timeout, &what, Pin::new(&mut stream).connect())? {
        Ok(()) => {
            net::check_pin(host, settings, stream.ssl())?;
            Ok(Transport::Tls(Box::new(stream)))
        }
        Err(e) => Err(net::handshake_failed(host, settings, &e, stream.ssl())),
    }
}

/// The commands before login, which async-imap runs on its `Client` (which has no general
/// command runner): we write them with our own tags and read the answers ourselves.
struct PreAuth<'a> {
    rt: &'a tokio::runtime::Runtime,
    limit: Duration,
    trace: &'a Trace,
    peer: &'a str,
    tags: u32,
}

impl PreAuth<'_> {
    /// Send `command` and read up to its completion; untagged responses go to `each`.
    fn run(
        &mut self,
        client: &mut async_imap::Client<Guarded>,
        command: &str,
        mut each: impl FnMut(&Response<'_>),
    ) -> Result<()> {
        self.tags += 1;
        let tag = format!("P{}", self.tags);
        let line = format!("{tag} {command}\r\n");
        self.trace.sent(&format!("{tag} {command}"));
        let what = format!("{command} to {}", self.peer);
        block(self.rt, self.limit, &what, async {
            let stream = client.get_mut();
            stream.write_all(line.as_bytes()).await?;
            stream.flush().await
        })?
        .map_err(|e| Error::network(format!("sending {command} to {}", self.peer), e))?;
        loop {
            let resp = block(self.rt, self.limit, &what, client.read_response())?
                .map_err(|e| read_error(self.peer, "reading a response", e))?
                .ok_or_else(|| {
                    Error::new(
                        Class::Temporary,
                        format!("{} closed the connection after {command}", self.peer),
                    )
                })?;
            let line = first_line(resp.borrow_owner());
            self.trace.received(line.as_bytes());
            match resp.parsed() {
                Response::Done {
                    tag: done, status, ..
                } if done.0 == tag => {
                    return match status {
                        Status::Ok => Ok(()),
                        _ => Err(Error::protocol(format!(
                            "{} refused {command}: {line}",
                            self.peer
                        ))),
                    };
                }
                Response::Data {
                    status: Status::Bye,
                    ..
                } => {
                    return Err(Error::new(
                        Class::Temporary,
                        format!("{} ended the session: {line}", self.peer),
                    ))
                }
                other => each(other),
            }
        }
    }

    /// RFC 3501 section 6.1.1: CAPABILITY, before login.
    fn capability(&mut self, client: &mut async_imap::Client<Guarded>) -> Result<HashSet<String>> {
        let mut caps = None;
        self.run(client, "CAPABILITY", |resp| {
            if let Response::Capabilities(c) = resp {
                caps = Some(cap_set(c));
            }
        })?;
        caps.ok_or_else(|| Error::protocol(format!("{} sent no CAPABILITY", self.peer)))
    }

    /// RFC 3501 section 6.2.1: STARTTLS. A refusal ends the session: never go on in plaintext.
    fn starttls(&mut self, client: &mut async_imap::Client<Guarded>) -> Result<()> {
        self.run(client, "STARTTLS", |_| {}).map_err(|e| {
            Error::new(
                e.class(),
                format!("{}; refusing to continue without TLS", e.message()),
            )
        })
    }

    /// Log in with the configured method, or the strongest the server offers.
    fn authenticate(
        &mut self,
        client: async_imap::Client<Guarded>,
        caps: &HashSet<String>,
        encrypted: bool,
        login: &Login,
    ) -> Result<async_imap::Session<Guarded>> {
        let offers = |m: Mechanism| caps.contains(&format!("AUTH={}", m.name()));
        let method = match login.method {
            AuthMethod::Auto => {
                if !encrypted && offers(Mechanism::CramMd5) {
                    AuthMethod::Sasl(Mechanism::CramMd5)
                } else if offers(Mechanism::Plain) {
                    AuthMethod::Sasl(Mechanism::Plain)
                } else if !caps.contains("LOGINDISABLED") {
                    AuthMethod::UserPass
                } else {
                    return Err(Error::new(
                        Class::Config,
                        format!(
                            "{} offers no login method mailfetch can use (LOGINDISABLED{})",
                            self.peer,
                            if encrypted {
                                ""
                            } else {
                                "; try tls = \"starttls\""
                            }
                        ),
                    ));
                }
            }
            AuthMethod::Apop => {
                return Err(Error::config(
                    "auth = \"apop\" is a POP3 method; IMAP logs in with \"user\" (LOGIN), \
                     \"plain\" or another SASL mechanism",
                ))
            }
            AuthMethod::OAuth2 => match AuthMethod::oauth2_mechanism(offers) {
                Some(mech) => AuthMethod::Sasl(mech),
                None => {
                    return Err(Error::config(format!(
                        "auth = \"oauth2\" is configured but {} offers neither AUTH=OAUTHBEARER \
                         nor AUTH=XOAUTH2",
                        self.peer
                    )))
                }
            },
            m => m,
        };
        let sends_password = !matches!(method, AuthMethod::Sasl(Mechanism::CramMd5));
        if !encrypted && sends_password && !login.allow_plaintext {
            return Err(Error::config(format!(
                "refusing to send the password for {} unencrypted to {}: use tls = \"implicit\" \
                 or \"starttls\", or set allow-plaintext-password = true",
                login.user, self.peer
            )));
        }
        let refused = |e: async_imap::error::Error, how: &str| -> Error {
            match e {
                async_imap::error::Error::No(_) => Error::new(
                    Class::Auth,
                    format!(
                        "{} refused the login of {} ({how}): {}",
                        self.peer,
                        login.user,
                        library_error_text(&e)
                    ),
                ),
                other => library_error(self.peer, "logging in", other),
            }
        };
        match method {
            AuthMethod::UserPass => {
                if caps.contains("LOGINDISABLED") {
                    return Err(Error::config(format!(
                        "{} does not allow LOGIN here (LOGINDISABLED)",
                        self.peer
                    )));
                }
                self.trace
                    .sent(&format!("LOGIN {} <redacted>", quote(login.user)));
                let fut = client.login(login.user, login.secret.expose());
                match block(self.rt, self.limit, "logging in", fut)? {
                    Ok(session) => {
                        self.trace.received(b"LOGIN OK");
                        Ok(session)
                    }
                    Err((e, _)) => Err(refused(e, "LOGIN")),
                }
            }
            AuthMethod::Sasl(mech) => {
                if !offers(mech) {
                    let offered: Vec<&str> = caps
                        .iter()
                        .filter_map(|c| c.strip_prefix("AUTH="))
                        .collect();
                    return Err(Error::config(format!(
                        "auth = \"{}\" is configured but {} does not offer it (it offers: {})",
                        mech.name().to_ascii_lowercase(),
                        self.peer,
                        offered.join(" ")
                    )));
                }
                let mut sasl = Sasl {
                    exchange: Exchange::new(mech, login.user, login.secret),
                    started: false,
                    failed: None,
                    trace: self.trace.clone(),
                };
                // RFC 4959 (SASL-IR): the initial response goes with the command, saving a
                // round trip; async-imap sends the command as we write it.
                let initial = if caps.contains("SASL-IR") {
                    sasl.exchange.initial()
                } else {
                    None
                };
                let command = match &initial {
                    Some(ir) => {
                        sasl.started = true;
                        self.trace
                            .sent(&format!("AUTHENTICATE {} <redacted>", mech.name()));
                        let ir = if ir.is_empty() {
                            "=".to_string()
                        } else {
                            crate::sasl::encode(ir)
                        };
                        format!("{} {ir}", mech.name())
                    }
                    None => {
                        self.trace.sent(&format!("AUTHENTICATE {}", mech.name()));
                        mech.name().to_string()
                    }
                };
                let fut = client.authenticate(&command, &mut sasl);
                let result = block(self.rt, self.limit, "logging in", fut)?;
                if let Some(e) = sasl.failed {
                    return Err(e);
                }
                match result {
                    Ok(session) => {
                        self.trace.received(b"AUTHENTICATE OK");
                        Ok(session)
                    }
                    Err((e, _)) => Err(refused(e, &format!("AUTHENTICATE {}", mech.name()))),
                }
            }
            AuthMethod::Auto | AuthMethod::Apop | AuthMethod::OAuth2 => {
                unreachable!("resolved above")
            }
        }
    }
}

/// `s` as an IMAP quoted string (RFC 3501 section 4.3); callers make sure it has no CR or LF.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_taken_from_the_logins_tagged_ok_only() {
        let ok =
            b"+ \r\nA0001 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS MOVE AUTH=PLAIN] Logged in\r\n";
        let caps = login_capabilities(ok).unwrap();
        for c in ["IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "AUTH=PLAIN"] {
            assert!(caps.contains(c), "{c} in {caps:?}");
        }
        assert_eq!(login_capabilities(b"A0001 OK Logged in\r\n"), None);
        assert_eq!(
            login_capabilities(b"* CAPABILITY IMAP4rev1 IDLE\r\nA1 OK done\r\n"),
            None
        );
        assert_eq!(
            login_capabilities(b"A1 NO [CAPABILITY IMAP4rev1] no\r\n"),
            None
        );
        assert_eq!(
            login_capabilities(b"A1 OK [CAPABILITY IMAP4rev1] cut"),
            None
        );
        assert_eq!(login_capabilities(b""), None);
    }

    #[test]
    fn office365_backoff_hint_is_read() {
        let text = "[THROTTLED] Request is throttled. Suggested Backoff Time: 1500 milliseconds";
        assert_eq!(suggested_backoff(text), Duration::from_millis(1500));
        assert_eq!(suggested_backoff("[THROTTLED] slow down"), THROTTLE_DEFAULT);
        assert_eq!(
            suggested_backoff("Suggested Backoff Time: 99999999 milliseconds"),
            THROTTLE_MAX
        );
        let done = Completion {
            status: Status::No,
            text: text.to_string(),
        };
        assert!(done.throttled() && done.transient());
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn library_no_text_is_unwrapped() {
        let e = async_imap::error::Error::No(
            "code: None, info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")".into(),
        );
        assert_eq!(
            library_error_text(&e),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
    }

    #[test]
    fn an_unparsable_response_is_a_protocol_error_in_words() {
        // What async-imap makes of `* 1 FETCH (UID 1 BODY[] {-5}` (its parser's debug dump).
        let raw = "* 1 FETCH (UID 1 BODY[] {-5}\r\nabc";
        let library = |raw: &str| {
            io::Error::other(format!(
                "Error(Error {{ input: {:?}, code: TakeWhile1 }}) during parsing of {:?}",
                raw.as_bytes(),
                raw
            ))
        };
        let e = library_error(
            "h:143",
            "logging in",
            async_imap::error::Error::Io(library(raw)),
        );
        assert_eq!(e.class(), Class::Protocol);
        assert_eq!(
            e.message(),
            r#"logging in: h:143 sent an unparsable response: "* 1 FETCH (UID 1 BODY[] {-5}\r\nabc""#
        );
        // Long ones are cut after 80 characters, an escape counting as one.
        let long = format!("\u{1}\"{}", "x".repeat(500));
        let e = read_error("h:143", "reading a response", library(&long));
        let shown = e.message().split_once(": ").unwrap().1;
        assert_eq!(
            shown,
            format!(
                "h:143 sent an unparsable response: \"\\u{{1}}\\\"{}\"...",
                "x".repeat(78)
            )
        );
        // Other I/O errors are the network's, and ours pass through.
        let reset = read_error("h:143", "reading", io::ErrorKind::ConnectionReset.into());
        assert_eq!(reset.class(), Class::Temporary);
        let ours = read_error("h:143", "reading", Error::protocol("refused").into_io());
        assert_eq!((ours.class(), ours.message()), (Class::Protocol, "refused"));
    }

    #[test]
    fn sasl_plain_answers_the_empty_challenge_with_its_initial_response() {
        use async_imap::Authenticator;
        let secret = Secret::new("pw".into());
        let mut sasl = Sasl {
            exchange: Exchange::new(Mechanism::Plain, "u", &secret),
            started: false,
            failed: None,
            trace: Trace::off(),
        };
        assert_eq!((&mut sasl).process(b""), b"\0u\0pw".to_vec());
    }
}
