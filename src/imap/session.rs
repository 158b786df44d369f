//! One IMAP connection, blocking, on the same [`Connection`] as POP3 (TCP, OpenSSL, the
//! account's timeout on every read and write): the greeting, CAPABILITY, STARTTLS, logging in
//! (RFC 3501 LOGIN or RFC 4959 AUTHENTICATE, as [`sasl::choose`] decides), ID (RFC 2971), and
//! a command runner that reads responses up to each command's tagged completion.
//!
//! Responses are read by [`Wire`], which owns the literals: a message body is never read
//! here unless the caller asked for it whole with a bound ([`Session::read`]); otherwise the
//! caller gets its head ([`Session::read_event`]) and streams it ([`Session::read_body`]).
//!
//! Failures are classified by what happened, never by library text: the server's NO to a
//! login is an authentication failure (77) unless its response code says the trouble is
//! temporary; BYE, a dropped connection or a timeout is temporary (75) and marks the session
//! lost; BAD, or a response that breaks the grammar, is a protocol error (76). Office 365's
//! throttling (`NO [THROTTLED] ... Suggested Backoff Time: N milliseconds`) is waited out and
//! the command repeated, a bounded number of times.

use super::wire::{self, BodyHead, Code, Event, Response, Untagged, Wire};
use crate::error::{Class, Error, Result};
use crate::net::{self, Connection, Endpoint, TlsMode, Trace};
use crate::sasl::{self, Carrier, Exchange, Login, Mechanism, Method, Offer};
use crate::secret::Secret;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

pub use super::wire::{Completion, Status};

/// How often a throttled command is retried before giving up.
pub const THROTTLE_RETRIES: u32 = 5;
/// The wait when a throttled server suggests none...
const THROTTLE_DEFAULT: Duration = Duration::from_secs(5);
/// ...and the longest suggested wait we accept.
const THROTTLE_MAX: Duration = Duration::from_secs(120);

/// The most bytes one body literal read whole may have when nothing more precise is
/// expected: mailfetch asks for at most a message of [`super::LARGE`] bytes in one literal.
pub const MAX_LITERAL: u64 = 4 * super::LARGE;

/// The most bytes a message body may have for its listed size (RFC822.SIZE): twice that,
/// plus 64 KiB, as the POP3 side allows for LIST sizes (servers count a little differently,
/// never by that much).
pub fn body_limit(listed: u64) -> u64 {
    listed.saturating_mul(2).saturating_add(64 << 10)
}

/// RFC 2971 ID, sent at login where offered (and by `Imap` once more where a server refuses
/// SELECT to a client that sent none, as NetEase's do).
pub const ID_COMMAND: &str = concat!(
    "ID (\"name\" \"mailfetch\" \"version\" \"",
    env!("CARGO_PKG_VERSION"),
    "\")"
);

impl Completion {
    /// Whether the server asks us to slow down (Office 365's `[THROTTLED]` and its text).
    pub fn throttled(&self) -> bool {
        self.status == Status::No
            && (self.has_code("THROTTLED")
                || self.text.contains("[THROTTLED]")
                || self
                    .text
                    .to_ascii_lowercase()
                    .contains("request is throttled"))
    }

    /// Whether the server says it is busy for every client of its host, and for how long
    /// (see `fleet::hosts::busy_wait`).
    pub fn host_busy(&self) -> Option<Duration> {
        if self.status == Status::Ok {
            return None;
        }
        crate::fleet::hosts::busy_wait(self.code.as_ref().map(Code::name), &self.text)
    }

    /// Whether the failure is worth retrying later (RFC 5530 codes for transient trouble).
    pub fn transient(&self) -> bool {
        self.throttled()
            || ["UNAVAILABLE", "INUSE", "SERVERBUG", "LIMIT", "OVERQUOTA"]
                .iter()
                .any(|c| self.has_code(c))
    }
}

/// The wait a throttled server suggests: "Suggested Backoff Time: N milliseconds".
pub fn suggested_backoff(text: &str) -> Duration {
    crate::fleet::hosts::suggested_wait(text)
        .unwrap_or(THROTTLE_DEFAULT)
        .min(THROTTLE_MAX)
}

/// A command's tag (`A1`, `A2`, ...).
pub type Tag = String;

/// An IMAP connection, logged in once [`Session::connect`] returns.
pub struct Session {
    conn: Connection,
    wire: Wire,
    trace: Trace,
    peer: String,
    caps: HashSet<String>,
    /// Set once the connection is known to be gone (BYE, EOF, I/O error, timeout) or out of
    /// step (a response that breaks the grammar): the session must be replaced to go on.
    lost: bool,
    tags: u32,
    /// Bodies expected: UID to listed size (see [`Session::expect_body`]).
    bodies: HashMap<u32, u64>,
    /// Commands whose completions are not waited for (ID): read wherever they come.
    background: Vec<Tag>,
}

impl Session {
    /// Connect, read the greeting, upgrade with STARTTLS if configured, log in with
    /// `secret`, and send ID when the server offers it.
    pub fn connect(
        endpoint: &Endpoint,
        trace: Trace,
        login: &Login,
        secret: &Secret,
    ) -> Result<Session> {
        let conn = net::connect(endpoint, trace.clone())?;
        let peer = conn.peer().to_string();
        let mut s = Session {
            conn,
            wire: Wire::new(&peer),
            trace,
            peer,
            caps: HashSet::new(),
            lost: false,
            tags: 0,
            bodies: HashMap::new(),
            background: Vec::new(),
        };
        let mut caps = s.greeting()?;
        if endpoint.tls == TlsMode::StartTls {
            let offered = match &caps {
                Some(c) => c.contains("STARTTLS"),
                None => s.capability()?.contains("STARTTLS"),
            };
            if !offered {
                return Err(Error::protocol(format!(
                    "{} does not offer STARTTLS; refusing to continue without TLS (use tls = \
                     \"implicit\" on port 993, or tls = \"none\" if you accept plaintext)",
                    s.peer
                )));
            }
            s = s.starttls(endpoint)?;
            caps = None;
        }
        s.caps = match caps {
            Some(c) => c,
            None => s.capability()?,
        };
        let encrypted = endpoint.tls != TlsMode::None;
        s.login(login, secret, encrypted)?;
        if s.has("ID") {
            // RFC 2971: some providers (NetEase) refuse SELECT to clients that never said
            // who they are. Not waited for: its answer is read with the next command's.
            let tag = s.send(ID_COMMAND)?;
            s.background.push(tag);
        }
        Ok(s)
    }

    /// RFC 3501 section 7.1.1: the greeting; the capabilities it carries, if any.
    fn greeting(&mut self) -> Result<Option<HashSet<String>>> {
        let resp = self.read().map_err(|e| {
            if e.class() == Class::Temporary && !e.message().contains("no answer") {
                Error::new(
                    Class::Unavailable,
                    format!("{} closed the connection at once", self.peer),
                )
            } else {
                e
            }
        });
        let resp = match resp {
            Err(e) if e.message().contains("ended the session") => {
                let message = format!("{} refused the connection: {}", self.peer, e.message());
                return Err(match crate::fleet::hosts::busy_wait(None, e.message()) {
                    Some(wait) => Error::host_busy(message, wait),
                    None => Error::new(Class::Unavailable, message),
                });
            }
            other => other?,
        };
        match resp {
            Response::Untagged(Untagged::State(c)) if c.status == Status::Ok => Ok(match c.code {
                Some(Code::Capability(caps)) => Some(caps.into_iter().collect()),
                _ => None,
            }),
            Response::Untagged(Untagged::State(c)) if c.status == Status::PreAuth => {
                Err(Error::protocol(format!(
                    "{} greeted with PREAUTH (already logged in), which mailfetch does not \
                     support; connect to the server's login port",
                    self.peer
                )))
            }
            _ => Err(Error::protocol(format!(
                "{} did not greet like an IMAP server",
                self.peer
            ))),
        }
    }

    /// RFC 3501 section 6.2.1: STARTTLS, then the handshake on the same TCP connection. A
    /// refusal ends the session: never go on in plaintext. Anything the server sent after
    /// its go-ahead would be plaintext injected into the TLS session, and is refused by
    /// [`Connection::start_tls`]; what was learnt before TLS is forgotten.
    fn starttls(mut self, endpoint: &Endpoint) -> Result<Session> {
        let tag = self.send("STARTTLS")?;
        let done = self.complete(&tag, &mut |_| Ok(()))?;
        if done.status != Status::Ok {
            return Err(Error::protocol(format!(
                "{} refused STARTTLS: {}; refusing to continue without TLS",
                self.peer, done.text
            )));
        }
        let Session {
            conn,
            trace,
            peer,
            tags,
            ..
        } = self;
        let conn = conn.start_tls(&endpoint.host, &endpoint.tls_settings)?;
        Ok(Session {
            conn,
            wire: Wire::new(&peer),
            trace,
            peer,
            caps: HashSet::new(),
            lost: false,
            tags,
            bodies: HashMap::new(),
            background: Vec::new(),
        })
    }

    /// Log in with the methods [`sasl::choose`] picks, trying the next only when the server
    /// refused the one before; the capabilities after login from the tagged OK, or asked for
    /// (RFC 3501 section 6.2.3: they may change).
    fn login(&mut self, login: &Login, secret: &Secret, encrypted: bool) -> Result<()> {
        let offer = Offer {
            carrier: Carrier::Imap,
            sasl: Mechanism::offered(|name| self.has(&format!("AUTH={name}"))),
            plain_command: !self.has("LOGINDISABLED"),
            apop: false,
            known: true,
        };
        let methods = sasl::choose(login, &offer, encrypted, &self.peer)?;
        let trace = self.trace.clone();
        sasl::try_in_turn(&methods, &trace, |method| {
            let done = match method {
                Method::UserPass => self.login_command(&login.user, secret)?,
                Method::Sasl(m) => self.authenticate(m, &login.user, secret)?,
                Method::Apop => {
                    return Err(Error::new(
                        Class::Internal,
                        "internal: APOP was chosen for IMAP",
                    ))
                }
            };
            self.logged_in(method, &login.user, done)
        })
    }

    /// The server's answer to one login `method` for `user`: the capabilities after a
    /// success; a temporary failure (exit 75) for a refusal that says so; a protocol error
    /// (exit 76) for BAD; an authentication failure (exit 77) for any other refusal.
    fn logged_in(&mut self, method: Method, user: &str, done: Completion) -> Result<()> {
        match done.status {
            Status::Ok => {
                self.caps = match done.code {
                    Some(Code::Capability(caps)) => caps.into_iter().collect(),
                    _ => self.capability()?,
                };
                Ok(())
            }
            _ if done.transient() || done.host_busy().is_some() => {
                let message = format!("{} cannot log in {user} now: {}", self.peer, done.text);
                Err(match done.host_busy() {
                    Some(wait) => Error::host_busy(message, wait),
                    None => Error::new(Class::Temporary, message),
                })
            }
            Status::Bad => Err(Error::protocol(format!(
                "{} rejected the login command ({}): {}",
                self.peer,
                method.name(),
                done.text
            ))),
            _ => {
                let message = format!(
                    "{} refused the login of {user} ({}): {}",
                    self.peer,
                    match method {
                        Method::UserPass => "LOGIN".to_string(),
                        m => format!("AUTHENTICATE {}", m.name()),
                    },
                    done.text
                );
                Err(sasl::refused(
                    done.code.as_ref().map(Code::name),
                    &done.text,
                    message,
                ))
            }
        }
    }

    /// RFC 3501 section 6.2.3: LOGIN user password.
    fn login_command(&mut self, user: &str, secret: &Secret) -> Result<Completion> {
        let password = secret.expose();
        if [user, password]
            .iter()
            .any(|s| s.contains(['\r', '\n', '\0']))
        {
            return Err(Error::config(
                "the user name or password contains a line break or NUL, which IMAP LOGIN \
                 cannot carry",
            ));
        }
        let tag = self.next_tag();
        let line = format!("{tag} LOGIN {} {}", quote(user), quote(password));
        let shown = format!("{tag} LOGIN {} <redacted>", quote(user));
        self.conn.queue(&line, Some(&shown));
        self.flush()?;
        self.complete(&tag, &mut |_| Ok(()))
    }

    /// RFC 3501 section 6.2.2 and RFC 4959: AUTHENTICATE, with the initial response on the
    /// command line when the server offers SASL-IR (one round trip less), then the
    /// challenges until the tagged completion.
    fn authenticate(&mut self, mech: Mechanism, user: &str, secret: &Secret) -> Result<Completion> {
        let mut exchange = Exchange::new(mech, user, secret);
        let mut pending_initial = None;
        let tag = self.next_tag();
        let mut line = format!("{tag} AUTHENTICATE {}", mech.name());
        let shown = format!("{line} <redacted>");
        let initial = exchange.initial();
        match initial {
            Some(ir) if self.has("SASL-IR") => {
                line.push(' ');
                line.push_str(&if ir.is_empty() {
                    "=".to_string()
                } else {
                    sasl::encode(&ir)
                });
                self.conn.queue(&line, Some(&shown));
            }
            other => {
                pending_initial = other;
                self.conn.queue(&line, None);
            }
        }
        self.flush()?;
        loop {
            match self.read()? {
                Response::Continue(challenge) => {
                    let answer = match pending_initial.take() {
                        Some(ir) => ir,
                        None => exchange.respond(&sasl::decode(challenge.as_bytes())?)?,
                    };
                    self.conn.queue(&sasl::encode(&answer), Some("<redacted>"));
                    self.flush()?;
                }
                Response::Tagged(t, done) if t == tag => return Ok(done),
                Response::Tagged(t, _) => return Err(self.out_of_step(&t, &tag)),
                Response::Untagged(_) => {}
            }
        }
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

    /// Whether the connection is gone or out of step: the session must be replaced.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Expect the body of `uid`, listed as `listed` bytes: a literal for it larger than
    /// [`body_limit`] of that is refused before a byte of it is read.
    pub fn expect_body(&mut self, uid: u32, listed: u64) {
        self.bodies.insert(uid, listed);
    }

    /// The body of `uid` came, or is no longer asked for.
    pub fn body_done(&mut self, uid: u32) {
        self.bodies.remove(&uid);
    }

    /// No body is asked for any more.
    pub fn no_bodies(&mut self) {
        self.bodies.clear();
    }

    /// The most bytes accepted for the body in `head`: [`body_limit`] of the listed size of
    /// the UID it names, or when it names none (yet), of the largest expected; `otherwise`
    /// when no body is expected.
    pub fn limit_for(&self, head: &BodyHead, otherwise: u64) -> u64 {
        match head.items.uid.and_then(|u| self.bodies.get(&u)) {
            Some(&listed) => body_limit(listed),
            None if head.items.uid.is_none() && !self.bodies.is_empty() => {
                body_limit(self.bodies.values().copied().max().unwrap_or(0))
            }
            None => otherwise,
        }
    }

    fn next_tag(&mut self) -> Tag {
        self.tags += 1;
        format!("A{}", self.tags)
    }

    fn flush(&mut self) -> Result<()> {
        if self.lost {
            return Err(self.gone("sending a command"));
        }
        self.conn.flush().inspect_err(|_| self.lost = true)
    }

    /// Queue one command; nothing is sent until the next [`Session::send`]. Returns its tag.
    pub fn queue(&mut self, command: &str) -> Tag {
        let tag = self.next_tag();
        self.conn.queue(&format!("{tag} {command}"), None);
        tag
    }

    /// Send one command; returns its tag.
    pub fn send(&mut self, command: &str) -> Result<Tag> {
        let tag = self.queue(command);
        self.flush()?;
        Ok(tag)
    }

    /// Write `bytes` as they are, after a command line: the content of a literal (RFC 3501
    /// section 4.3) or the rest of a command that follows one. `shown` is what the trace
    /// says instead of message text. With `flush`, everything written so far is sent.
    pub fn write_raw(&mut self, bytes: &[u8], shown: Option<&str>, flush: bool) -> Result<()> {
        if self.lost {
            return Err(self.gone("sending a command"));
        }
        if let Some(shown) = shown {
            self.trace.sent(shown);
        }
        self.conn.queue_raw(bytes);
        if flush {
            self.flush()?;
        }
        Ok(())
    }

    /// Read the next response, a body literal in it read whole when it is within the bound
    /// for it ([`Session::limit_for`], else [`MAX_LITERAL`]). An untagged BYE, the end of the
    /// stream, an I/O error or a timeout marks the session lost and is a temporary failure;
    /// a response that breaks the grammar marks it lost and is a protocol error.
    pub fn read(&mut self) -> Result<Response> {
        match self.read_event()? {
            Event::Response(r) => Ok(r),
            Event::Body(head) => {
                let limit = self.limit_for(&head, MAX_LITERAL);
                self.check_body(&head, limit)?;
                let mut data = Vec::new();
                let mut buf = [0u8; 64 << 10];
                loop {
                    let n = self.read_body(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                let mut items = head.items;
                items.body = Some(wire::Body {
                    section: head.section,
                    origin: head.origin,
                    data: Some(data),
                });
                match self.read_event()? {
                    Event::Response(Response::Untagged(Untagged::Fetch(_, rest))) => {
                        items.uid = items.uid.or(rest.uid);
                        items.size = items.size.or(rest.size);
                        items.flags = items.flags.or(rest.flags);
                        Ok(Response::Untagged(Untagged::Fetch(head.seq, items)))
                    }
                    _ => Err(self.broken("two message bodies in one FETCH answer")),
                }
            }
        }
    }

    /// Refuse the body of `head` if its length is over `limit`, before a byte is read.
    pub fn check_body(&mut self, head: &BodyHead, limit: u64) -> Result<()> {
        if head.len <= limit {
            return Ok(());
        }
        let listed = head
            .items
            .uid
            .and_then(|u| self.bodies.get(&u).map(|&l| (u, l)));
        Err(self.broken(&match listed {
            Some((uid, listed)) => format!(
                "a literal of {} bytes for UID {uid}, which it listed as {listed} bytes \
                 (RFC822.SIZE); mailfetch accepts at most {limit} for it",
                head.len
            ),
            None => format!(
                "a literal of {} bytes, over the limit of {limit} for what was asked",
                head.len
            ),
        }))
    }

    /// A protocol error that leaves the session unusable.
    fn broken(&mut self, what: &str) -> Error {
        self.lost = true;
        Error::protocol(format!(
            "{} sent {what} (broken or hostile server)",
            self.peer
        ))
    }

    /// Read the next response, or the head of a FETCH answer whose body follows (see
    /// [`Wire::read`]): the caller checks its length ([`Session::check_body`]) and streams it
    /// with [`Session::read_body`].
    pub fn read_event(&mut self) -> Result<Event> {
        if self.lost {
            return Err(self.gone("reading a response"));
        }
        let event = self
            .wire
            .read(self.conn.reader(), &self.trace)
            .inspect_err(|_| self.lost = true)?;
        if let Event::Response(Response::Untagged(Untagged::State(c))) = &event {
            if c.status == Status::Bye {
                self.lost = true;
                return Err(Error::new(
                    Class::Temporary,
                    format!("{} ended the session: BYE {}", self.peer, c.text),
                ));
            }
        }
        Ok(event)
    }

    /// Read up to `buf.len()` bytes of the body whose head [`Session::read_event`] returned;
    /// 0 at its end.
    pub fn read_body(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.wire
            .read_body(self.conn.reader(), buf)
            .inspect_err(|_| self.lost = true)
    }

    /// Bytes of the current body literal not read yet.
    pub fn body_left(&self) -> u64 {
        self.wire.body_left()
    }

    /// [`Session::read`], but when nothing has come within `limit`, `None` and the session
    /// goes on. For waiting out an IDLE in short steps.
    pub fn read_within(&mut self, limit: Duration) -> Result<Option<Response>> {
        if self.lost {
            return Err(self.gone("reading a response"));
        }
        if !self.wire.in_response()
            && !self
                .conn
                .wait_readable(limit)
                .inspect_err(|_| self.lost = true)?
        {
            return Ok(None);
        }
        self.read().map(Some)
    }

    fn gone(&self, what: &str) -> Error {
        Error::new(
            Class::Temporary,
            format!("{what}: {} closed the connection", self.peer),
        )
    }

    /// A completion for a tag that is not the one due.
    fn out_of_step(&mut self, got: &str, due: &str) -> Error {
        self.lost = true;
        Error::protocol(format!(
            "{} completed command {} while {due} was due (broken or hostile server)",
            self.peer,
            wire::printable(got.as_bytes())
        ))
    }

    /// Whether `tag` is a command sent in the background ([`Session::connect`]'s ID): its
    /// completion is taken and dropped (a refusal only noted in the trace).
    pub fn absorb(&mut self, tag: &str, done: &Completion) -> bool {
        let Some(at) = self.background.iter().position(|t| t == tag) else {
            return false;
        };
        self.background.remove(at);
        if done.status != Status::Ok {
            self.trace.note(&format!("ID was refused: {}", done.text));
        }
        true
    }

    /// Read responses up to the tagged completion of `tag`, handing every other response to
    /// `each`.
    pub fn complete(
        &mut self,
        tag: &str,
        each: &mut dyn FnMut(Response) -> Result<()>,
    ) -> Result<Completion> {
        loop {
            match self.read()? {
                Response::Tagged(t, done) if t == tag => return Ok(done),
                Response::Tagged(t, done) => {
                    if !self.absorb(&t, &done) {
                        return Err(self.out_of_step(&t, tag));
                    }
                }
                other => each(other)?,
            }
        }
    }

    /// Run `command` to completion, handing untagged responses to `each`; NO and BAD are
    /// errors (temporary for RFC 5530 transient codes, else protocol errors), throttling is
    /// waited out and the command repeated.
    pub fn run(
        &mut self,
        command: &str,
        each: &mut dyn FnMut(Response) -> Result<()>,
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
        each: &mut dyn FnMut(Response) -> Result<()>,
    ) -> Result<()> {
        let tags: Vec<Tag> = commands.iter().map(|c| self.queue(c)).collect();
        self.flush()?;
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
        // The fuzz target drives whole sessions: a scripted throttle must not stall it.
        let wait = if cfg!(fuzzing) {
            Duration::ZERO
        } else {
            suggested_backoff(text)
        };
        self.trace.note(&format!(
            "server is throttling; waiting {} ms",
            wait.as_millis()
        ));
        std::thread::sleep(wait);
    }

    /// The error for `command` answered with `done` (NO or BAD), in the server's words.
    pub fn refused(&self, command: &str, done: &Completion) -> Error {
        let verb: String = command
            .split(' ')
            .take(if command.starts_with("UID ") { 2 } else { 1 })
            .collect::<Vec<_>>()
            .join(" ");
        let message = format!("{} refused {verb}: {}", self.peer, done.text.trim());
        if let Some(wait) = done.host_busy() {
            return Error::host_busy(message, wait);
        }
        let class = if done.transient() {
            Class::Temporary
        } else {
            Class::Protocol
        };
        Error::new(class, message)
    }

    /// RFC 3501 section 6.1.1: CAPABILITY.
    fn capability(&mut self) -> Result<HashSet<String>> {
        let mut caps = None;
        self.run("CAPABILITY", &mut |resp| {
            if let Response::Untagged(Untagged::Capability(c)) = resp {
                caps = Some(c.into_iter().collect());
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
            code: Some(Code::Other("THROTTLED".into(), String::new())),
            text: text.to_string(),
        };
        assert!(done.throttled() && done.transient());
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn a_body_may_be_twice_its_listed_size_and_some() {
        assert_eq!(body_limit(100), 200 + 65536);
        assert_eq!(body_limit(u64::MAX), u64::MAX);
    }

    /// A loopback IMAP server offering LOGIN and AUTH=PLAIN (no SASL-IR) that answers
    /// AUTHENTICATE PLAIN with `plain_answer` and accepts LOGIN; `auth = "auto"` in allowed
    /// plaintext logs in to it. The client's commands (tags and SASL payloads taken off) and
    /// the outcome of the login.
    fn auto_login_against(plain_answer: &'static str) -> (Vec<String>, Result<()>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut out = conn.try_clone().unwrap();
            let mut seen = Vec::new();
            let mut say = |line: String| out.write_all(format!("{line}\r\n").as_bytes());
            say("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready".into()).unwrap();
            let mut lines = BufReader::new(conn).lines();
            while let Some(Ok(line)) = lines.next() {
                let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
                seen.push(command.to_string());
                let answer = match command {
                    "AUTHENTICATE PLAIN" => {
                        say("+ ".into()).unwrap();
                        lines.next();
                        plain_answer
                    }
                    c if c.starts_with("LOGIN ") => "OK [CAPABILITY IMAP4rev1] in",
                    _ => "BAD unexpected",
                };
                say(format!("{tag} {answer}")).unwrap();
            }
            seen
        });
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            tls_settings: Default::default(),
            timeout: Duration::from_secs(5),
        };
        let login = Login {
            user: "u".into(),
            method: sasl::AuthMethod::Auto,
            allow_plaintext: true,
            credential: Box::new(crate::secret::Fixed(Secret::new("pw".into()))),
        };
        let secret = Secret::new("pw".into());
        let session = Session::connect(&endpoint, Trace::off(), &login, &secret);
        // Hang up, so that the server's loop ends.
        let session = session.map(|mut s| s.logout());
        (server.join().unwrap(), session)
    }

    #[test]
    fn a_refused_authenticate_falls_back_to_login() {
        let (seen, session) =
            auto_login_against("NO [AUTHENTICATIONFAILED] Authentication failed.");
        assert!(session.is_ok(), "{:?}", session.err());
        assert_eq!(seen[..2], ["AUTHENTICATE PLAIN", "LOGIN \"u\" \"pw\""]);
    }

    #[test]
    fn a_temporary_refusal_is_not_followed_by_another_method() {
        let (seen, session) = auto_login_against("NO [UNAVAILABLE] try again later");
        let e = session.expect_err("the login fails");
        assert_eq!(e.class(), Class::Temporary, "{e}");
        assert_eq!(seen, ["AUTHENTICATE PLAIN"]);
    }
}
