//! Our POP3 client (RFC 1939), with CAPA and PIPELINING (RFC 2449), STLS (RFC 2595) and SASL
//! AUTH (RFC 5034). One function per command; the trace reads like the RFC's examples.
//!
//! Fetching is pipelined when the server advertises PIPELINING: a window of RETR commands is
//! kept in flight, bounded both by count and by the announced sizes of the messages in flight,
//! so the link never idles between messages and memory stays bounded. DELE commands join the
//! same stream. Without PIPELINING the client runs in lock-step.

mod body;
pub mod reply;

pub use body::DotReader;
pub use reply::Capabilities;

use crate::error::{Class, Error, Result};
use crate::header::{self, MAX as MAX_HEADER};
use crate::net::{self, Connection, Endpoint, TlsMode, Trace};
use crate::sasl::{self, AuthMethod, Carrier, Exchange, Login, Mechanism, Method, Offer};
use crate::secret::Secret;
use crate::source::{Known, Listing, RemoteMessage, Source};
use reply::Status;
use std::collections::{HashMap, VecDeque};
use std::io::Read;

/// Longest status line we accept (RFC 2449 allows 512; we are generous).
const MAX_STATUS_LINE: usize = 4096;
/// At most this many messages not delivered before are listed with `LIST n` each, in a
/// mailbox the state knows (see [`Pop3::list`]); more get one LIST.
const LIST_EACH: usize = 64;

/// Longest line of a CAPA/LIST/UIDL listing.
const MAX_LIST_LINE: usize = 1024;
/// RETR commands in flight at most.
const WINDOW_COMMANDS: usize = 256;
/// Announced bytes of the messages in flight at most (the rest waits in the kernel buffers).
const WINDOW_BYTES: u64 = 8 << 20;

enum InFlight {
    Retr { index: usize },
    Dele { number: u32 },
}

/// An authenticated POP3 session in the TRANSACTION state.
pub struct Pop3 {
    conn: Connection,
    capa: Capabilities,
    plan: VecDeque<(usize, u32, u64)>,
    unsent_deletes: VecDeque<u32>,
    /// Whether any DELE was sent: only then does QUIT's answer say something (whether the
    /// deletions took effect).
    deleted: bool,
    in_flight: VecDeque<InFlight>,
    in_flight_bytes: u64,
    body_open: bool,
    fetch_sizes: Vec<u64>,
    /// The current fetch was abandoned: the RETRs still in flight are read and discarded.
    abandoned: bool,
}

impl Pop3 {
    /// Connect, read the greeting, upgrade with STLS if configured, and log in; once more
    /// with a renewed token if the server refused the first ([`Login::with_secret`]).
    pub fn connect(endpoint: &Endpoint, trace: Trace, login: &mut Login) -> Result<Pop3> {
        login.with_secret(|login, secret| Pop3::open(endpoint, trace.clone(), login, secret))
    }

    /// One connection and login with `secret`.
    fn open(endpoint: &Endpoint, trace: Trace, login: &Login, secret: &Secret) -> Result<Pop3> {
        let mut conn = net::connect(endpoint, trace)?;
        let greeting = greeting(&mut conn)?;
        let mut capa = capa_of(&mut conn)?;
        if endpoint.tls == TlsMode::StartTls {
            upgrade(&mut conn, &capa)?;
            conn = conn.start_tls(&endpoint.host, &endpoint.tls_settings)?;
            capa = capa_of(&mut conn)?;
        }
        let mut session = Pop3 {
            conn,
            capa,
            plan: VecDeque::new(),
            unsent_deletes: VecDeque::new(),
            deleted: false,
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            body_open: false,
            fetch_sizes: Vec::new(),
            abandoned: false,
        };
        let timestamp = reply::apop_timestamp(&greeting);
        session.authenticate(login, secret, timestamp.as_deref())?;
        // RFC 2449: capabilities may change after authentication (PIPELINING, for one). A
        // server that already offers PIPELINING has told us all we use, and one round trip
        // is worth saving on a slow link.
        if !(session.capa.known && session.capa.pipelining) {
            session.capa = capa_of(&mut session.conn).unwrap_or(session.capa);
        }
        if session.capa.utf8 {
            session.utf8()?;
        }
        Ok(session)
    }

    /// The server's capabilities after login.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capa
    }

    /// Log in with the methods [`sasl::choose`] picks (the one policy for every protocol),
    /// trying the next only when the server refused the one before.
    fn authenticate(&mut self, login: &Login, secret: &Secret, stamp: Option<&str>) -> Result<()> {
        let capa = &self.capa;
        let offer = Offer {
            carrier: Carrier::Pop3,
            sasl: Mechanism::offered(|name| capa.has_sasl(name)),
            // USER is in every server we know of; a CAPA that does not list it only makes
            // `auto` prefer what it does list.
            plain_command: capa.user || !capa.known || login.method == AuthMethod::UserPass,
            apop: stamp.is_some(),
            known: capa.known,
        };
        let methods = sasl::choose(login, &offer, self.conn.is_tls(), self.conn.peer())?;
        let trace = self.conn.trace().clone();
        sasl::try_in_turn(&methods, &trace, |method| match method {
            Method::UserPass => self.user_pass(&login.user, secret),
            Method::Apop => self.apop(&login.user, secret, stamp.unwrap_or_default()),
            Method::Sasl(mech) => self.auth(&login.user, secret, mech),
        })
    }

    /// RFC 6856 section 2: UTF8. Courier's pop3d serves a message with raw UTF-8 in its
    /// header as a "Cannot display Unicode content" wrapper to a client that has not said
    /// UTF8; mailfetch copies bytes and wants the message. A refusal changes nothing.
    fn utf8(&mut self) -> Result<()> {
        self.conn.send("UTF8", None)?;
        let line = self.conn.read_line(MAX_STATUS_LINE)?;
        if let Status::Err(text) = reply::status(line)? {
            let text = reply::printable(text);
            self.conn.trace().note(&format!("UTF8 was refused: {text}"));
        }
        Ok(())
    }

    /// RFC 1939 section 7: USER name, PASS string.
    fn user_pass(&mut self, user: &str, secret: &Secret) -> Result<()> {
        self.conn.send(&format!("USER {user}"), None)?;
        self.expect_auth_ok("USER")?;
        let pass = format!("PASS {}", secret.expose());
        self.conn.send(&pass, Some("PASS <redacted>"))?;
        self.expect_auth_ok("PASS")
    }

    /// RFC 1939 section 7: APOP name digest.
    fn apop(&mut self, user: &str, secret: &Secret, stamp: &str) -> Result<()> {
        let digest = sasl::apop_digest(stamp, secret);
        let line = format!("APOP {user} {digest}");
        self.conn
            .send(&line, Some(&format!("APOP {user} <redacted>")))?;
        self.expect_auth_ok("APOP")
    }

    /// RFC 5034: AUTH mechanism [initial-response], then challenges until +OK or -ERR.
    fn auth(&mut self, user: &str, secret: &Secret, mech: Mechanism) -> Result<()> {
        let mut ex = Exchange::new(mech, user, secret);
        match ex.initial() {
            // RFC 5034 section 4: the command line must stay within 255 octets.
            Some(ir) if sasl::encode(&ir).len() + mech.name().len() + 6 <= 255 => {
                let line = format!("AUTH {} {}", mech.name(), sasl::encode(&ir));
                let shown = format!("AUTH {} <redacted>", mech.name());
                self.conn.send(&line, Some(&shown))?;
            }
            Some(ir) => {
                self.conn.send(&format!("AUTH {}", mech.name()), None)?;
                self.expect_continue()?;
                self.conn.send(&sasl::encode(&ir), Some("<redacted>"))?;
            }
            None => self.conn.send(&format!("AUTH {}", mech.name()), None)?,
        }
        loop {
            let line = self.conn.read_line(MAX_STATUS_LINE)?.to_vec();
            match reply::status(&line)? {
                Status::Ok(_) => return Ok(()),
                Status::Err(text) => return Err(auth_refused(&self.conn, "AUTH", text)),
                Status::Continue(challenge) => {
                    let answer = ex.respond(&sasl::decode(challenge)?)?;
                    self.conn.send(&sasl::encode(&answer), Some("<redacted>"))?;
                }
            }
        }
    }

    fn expect_continue(&mut self) -> Result<()> {
        let line = self.conn.read_line(MAX_STATUS_LINE)?.to_vec();
        match reply::status(&line)? {
            Status::Continue(_) => Ok(()),
            Status::Ok(_) => Err(Error::protocol("the server skipped the SASL challenge")),
            Status::Err(text) => Err(auth_refused(&self.conn, "AUTH", text)),
        }
    }

    fn expect_auth_ok(&mut self, cmd: &str) -> Result<()> {
        let line = self.conn.read_line(MAX_STATUS_LINE)?.to_vec();
        match reply::status(&line)? {
            Status::Ok(_) => Ok(()),
            Status::Err(text) | Status::Continue(text) => Err(auth_refused(&self.conn, cmd, text)),
        }
    }

    /// Read a single-line reply and require +OK; `cmd` names the command for the message.
    fn expect_ok(&mut self, cmd: &str) -> Result<Vec<u8>> {
        let line = self.conn.read_line(MAX_STATUS_LINE)?.to_vec();
        match reply::status(&line)? {
            Status::Ok(text) => Ok(text.to_vec()),
            Status::Err(text) | Status::Continue(text) => Err(Error::new(
                reply::command_failure_class(text),
                format!(
                    "{} answered {cmd} with an error: {}",
                    self.conn.peer(),
                    reply::printable(text)
                ),
            )),
        }
    }

    /// RFC 1939 section 5: STAT. Returns (count, octets).
    pub fn stat(&mut self) -> Result<(u32, u64)> {
        self.conn.send("STAT", None)?;
        self.read_stat()
    }

    /// The reply to STAT: (count, octets).
    fn read_stat(&mut self) -> Result<(u32, u64)> {
        let text = self.expect_ok("STAT")?;
        let s = String::from_utf8_lossy(&text);
        let mut it = s.split_ascii_whitespace();
        let count = it.next().and_then(|v| v.parse().ok());
        let size = it.next().and_then(|v| v.parse().ok());
        match (count, size) {
            (Some(c), Some(s)) => Ok((c, s)),
            _ => Err(Error::protocol(format!(
                "the server sent a malformed STAT reply: {:?}",
                reply::printable(&text)
            ))),
        }
    }

    /// Read a multi-line listing, one callback per line, at most `max_lines` lines.
    fn listing(
        &mut self,
        max_lines: usize,
        mut each: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut lines = 0usize;
        loop {
            let line = self.conn.read_line(MAX_LIST_LINE)?;
            if line == b"." {
                return Ok(());
            }
            lines += 1;
            if lines > max_lines {
                return Err(Error::protocol(
                    "the server listed more messages than STAT announced",
                ));
            }
            each(line.strip_prefix(b".").unwrap_or(line))?;
        }
    }

    /// RFC 1939 section 7: UIDL and LIST for every message, pipelined when allowed. Checked
    /// against STAT: numbers in range, no duplicate ids.
    ///
    /// When the state knows the mailbox (`known`), LIST is not sent with UIDL: once UIDL has
    /// named the messages not delivered before, a few of them are asked for one by one
    /// (`LIST n`, pipelined), more with one LIST, none when there are none. The messages
    /// delivered before come with size 0 then. A run with nothing new on a mailbox of
    /// 100,000 reads one listing, not two.
    fn list(&mut self, known: &Known<'_>) -> Result<Vec<RemoteMessage>> {
        let brief = known.validity.is_some();
        if self.capa.pipelining {
            self.conn.queue("STAT", None);
            self.conn.queue("UIDL", None);
            if !brief {
                self.conn.queue("LIST", None);
            }
            self.conn.flush()?;
        } else {
            self.conn.send("STAT", None)?;
        }
        let (count, _) = self.read_stat()?;
        let count_usize = count as usize;
        if !self.capa.pipelining {
            self.conn.send("UIDL", None)?;
        }
        // Listings are kept as received, then joined by message number; room is made for the
        // count STAT claims only up to 131,072 (memory grows with what the server actually
        // sends, not with what it claims).
        let mut ids: Vec<(u32, String)> = Vec::with_capacity(count_usize.min(1 << 17));
        if let Err(e) = self.expect_ok("UIDL") {
            return Err(Error::new(
                e.class(),
                format!("{e} (mailfetch needs UIDL to know which messages it has seen)"),
            ));
        }
        self.listing(count_usize, |line| {
            let (n, uid) = reply::scan_line(line)?;
            reply::check_uidl(uid)?;
            if n > count {
                return Err(Error::protocol(format!(
                    "UIDL names message {n}, but STAT said {count}"
                )));
            }
            ids.push((n, uid.to_string()));
            Ok(())
        })?;
        let mut seen: foldhash::HashSet<&str> = Default::default();
        seen.reserve(ids.len());
        if let Some((_, uid)) = ids.iter().find(|(_, uid)| !seen.insert(uid)) {
            return Err(Error::protocol(format!(
                "the server gave the same UIDL {uid:?} to two messages"
            )));
        }
        drop(seen);
        if brief {
            let unknown: Vec<u32> = ids
                .iter()
                .filter(|(_, id)| !(known.delivered)(id))
                .map(|(n, _)| *n)
                .collect();
            if unknown.len() <= LIST_EACH && (self.capa.pipelining || unknown.is_empty()) {
                return self.list_each(ids, &unknown);
            }
        }
        // Not sent yet unless it went with UIDL.
        if brief || !self.capa.pipelining {
            self.conn.send("LIST", None)?;
        }
        self.expect_ok("LIST")?;
        let mut sizes: Vec<(u32, u64)> = Vec::with_capacity(ids.len());
        self.listing(count_usize, |line| {
            let (n, size) = reply::scan_line(line)?;
            let size: u64 = size.parse().map_err(|_| {
                Error::protocol(format!("LIST gave a bad size {size:?} for message {n}"))
            })?;
            if n > count {
                return Err(Error::protocol(format!(
                    "LIST names message {n}, but STAT said {count}"
                )));
            }
            sizes.push((n, size));
            Ok(())
        })?;
        ids.sort_unstable_by_key(|(n, _)| *n);
        sizes.sort_unstable_by_key(|(n, _)| *n);
        // Every message must be in both listings, once; a message missing from both was
        // deleted in this session.
        let numbers_differ = ids.len() != sizes.len()
            || ids.iter().zip(&sizes).any(|((a, _), (b, _))| a != b)
            || ids.windows(2).any(|w| w[0].0 == w[1].0);
        if numbers_differ {
            return Err(Error::protocol(
                "the server's UIDL and LIST listings name different messages",
            ));
        }
        Ok(ids
            .into_iter()
            .zip(sizes)
            .map(|((number, id), (_, size))| RemoteMessage::new(id, number, size))
            .collect())
    }

    /// The listing from UIDL's `ids` (sorted by number or not) and `LIST n` for each of
    /// `unknown`, pipelined; the others get size 0 (see [`Pop3::list`]).
    fn list_each(
        &mut self,
        mut ids: Vec<(u32, String)>,
        unknown: &[u32],
    ) -> Result<Vec<RemoteMessage>> {
        for n in unknown {
            self.conn.queue(&format!("LIST {n}"), None);
        }
        self.conn.flush()?;
        let mut sizes: HashMap<u32, u64> = HashMap::new();
        for &n in unknown {
            let text = self.expect_ok("LIST")?;
            let (listed, size) = reply::scan_line(&text)?;
            let size: u64 = size.parse().ok().filter(|_| listed == n).ok_or_else(|| {
                Error::protocol(format!(
                    "LIST {n} was answered with {:?}",
                    reply::printable(&text)
                ))
            })?;
            sizes.insert(n, size);
        }
        ids.sort_unstable_by_key(|(n, _)| *n);
        if ids.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::protocol(
                "the server's UIDL listing names a message twice",
            ));
        }
        Ok(ids
            .into_iter()
            .map(|(number, id)| {
                let size = sizes.get(&number).copied().unwrap_or(0);
                RemoteMessage::new(id, number, size)
            })
            .collect())
    }

    /// RFC 1939 section 7: TOP msg n (headers and the first `lines` body lines).
    pub fn top(&mut self, number: u32, lines: u32) -> Result<Vec<u8>> {
        self.conn.send(&format!("TOP {number} {lines}"), None)?;
        self.expect_ok("TOP")?;
        let mut out = Vec::new();
        let mut r = DotReader::new(self.conn.reader(), 16 << 20);
        r.read_to_end(&mut out)
            .map_err(|e| Error::network("reading TOP", e))?;
        Ok(out)
    }

    /// RFC 1939 section 7: `TOP msg 0`, the header of each of `messages` (message number and
    /// announced size), in a window of commands in flight when the server offers PIPELINING,
    /// one at a time otherwise. Each header (LF line ends, cut at [`MAX_HEADER`] bytes, the
    /// rest read and dropped) goes to `each` with its index in `messages`.
    pub fn top_headers(
        &mut self,
        messages: &[(u32, u64)],
        each: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()> {
        self.settle()?;
        let window = if self.capa.pipelining {
            WINDOW_COMMANDS
        } else {
            1
        };
        let mut header = Vec::new();
        let mut sent = 0;
        for (done, &(number, size)) in messages.iter().enumerate() {
            while sent < messages.len() && sent - done < window {
                self.conn
                    .queue(&format!("TOP {} 0", messages[sent].0), None);
                sent += 1;
            }
            self.conn.flush()?;
            self.expect_ok(&format!("TOP {number} 0")).map_err(|e| {
                Error::new(
                    e.class(),
                    format!("{e} (the server may lack TOP, which mailfetch needs here)"),
                )
            })?;
            header.clear();
            let mut r = DotReader::new(self.conn.reader(), size.saturating_mul(2) + (64 << 10));
            let read = (&mut r)
                .take(MAX_HEADER as u64 + 1)
                .read_to_end(&mut header)
                .and_then(|_| r.drain());
            read.map_err(|e| Error::network("reading TOP", e))?;
            header::cut(&mut header);
            each(done, &header)?;
        }
        Ok(())
    }

    /// Send queued commands: DELEs first (they are cheap), then RETRs while the window has
    /// room. Without PIPELINING, at most one command is in flight.
    fn top_up(&mut self) -> Result<()> {
        let pipelining = self.capa.pipelining;
        let room = |s: &Pop3| {
            if pipelining {
                s.in_flight.len() < WINDOW_COMMANDS
                    && (s.in_flight_bytes < WINDOW_BYTES || s.in_flight.is_empty())
            } else {
                s.in_flight.is_empty()
            }
        };
        while room(self) {
            if let Some(number) = self.unsent_deletes.pop_front() {
                self.conn.queue(&format!("DELE {number}"), None);
                self.in_flight.push_back(InFlight::Dele { number });
                self.deleted = true;
            } else if let Some((index, number, size)) = self.plan.pop_front() {
                self.conn.queue(&format!("RETR {number}"), None);
                self.in_flight.push_back(InFlight::Retr { index });
                self.in_flight_bytes += size;
            } else {
                break;
            }
        }
        self.conn.flush()
    }

    /// Read the reply of a DELE.
    fn finish_dele(&mut self, number: u32) -> Result<()> {
        self.expect_ok(&format!("DELE {number}")).map(|_| ())
    }

    /// Wait for every command in flight that is a DELE; used before QUIT. A RETR in flight
    /// is an error, unless the fetch was abandoned ([`Source::stop_fetch`]): then its
    /// message is read and discarded.
    fn settle(&mut self) -> Result<()> {
        loop {
            self.top_up()?;
            match self.in_flight.pop_front() {
                Some(InFlight::Dele { number }) => self.finish_dele(number)?,
                Some(InFlight::Retr { index }) if self.abandoned => self.discard_retr(index)?,
                Some(InFlight::Retr { .. }) => {
                    return Err(Error::protocol("internal: RETR left in flight at QUIT"))
                }
                None => return Ok(()),
            }
        }
    }

    /// Read the answer to an abandoned RETR and throw it away: the status line, and the
    /// message after a +OK (within the same bound as a message that is kept).
    fn discard_retr(&mut self, index: usize) -> Result<()> {
        let size = self.plan_size(index).unwrap_or(0);
        self.in_flight_bytes = self.in_flight_bytes.saturating_sub(size);
        let line = self.conn.read_line(MAX_STATUS_LINE)?.to_vec();
        if let Status::Ok(_) = reply::status(&line)? {
            let limit = size.saturating_mul(2) + (64 << 10);
            let mut body = DotReader::new(self.conn.reader(), limit);
            std::io::copy(&mut body, &mut std::io::sink())
                .map_err(|e| Error::network("discarding an abandoned message", e))?;
        }
        Ok(())
    }

    /// RFC 1939 section 6: QUIT, entering the UPDATE state (deletions take effect). Its
    /// answer is waited for only when something was deleted: otherwise it could only say
    /// goodbye, and on a slow link that costs a round trip.
    pub fn quit(&mut self) -> Result<()> {
        self.settle()?;
        self.conn.send("QUIT", None)?;
        if !self.deleted {
            return Ok(());
        }
        let line = self.conn.read_line(MAX_STATUS_LINE)?.to_vec();
        match reply::status(&line)? {
            Status::Ok(_) => Ok(()),
            Status::Err(text) | Status::Continue(text) => Err(Error::new(
                reply::command_failure_class(text),
                format!(
                    "{} could not remove deleted messages: {}",
                    self.conn.peer(),
                    reply::printable(text)
                ),
            )),
        }
    }
}

/// The error for a refused login, classed by RFC 3206 response code.
fn auth_refused(conn: &Connection, cmd: &str, text: &[u8]) -> Error {
    let said = reply::printable(text);
    let message = format!("{} refused the login ({cmd}): {said}", conn.peer());
    let (code, words) = sasl::split_code(&said);
    if let Some(wait) = crate::fleet::hosts::busy_wait(code, words) {
        return Error::host_busy(message, wait);
    }
    match reply::auth_failure_class(text) {
        Class::Auth => {
            let (code, words) = sasl::split_code(&said);
            sasl::refused(code, words, message)
        }
        class => Error::new(class, message),
    }
}

/// RFC 2449 section 5: CAPA. A server without CAPA gets an empty, unknown set.
fn capa_of(conn: &mut Connection) -> Result<Capabilities> {
    conn.send("CAPA", None)?;
    let line = conn.read_line(MAX_STATUS_LINE)?;
    let mut caps = Capabilities::default();
    if let Status::Ok(_) = reply::status(line)? {
        caps.known = true;
        let mut n = 0;
        loop {
            let line = conn.read_line(MAX_LIST_LINE)?;
            if line == b"." {
                break;
            }
            n += 1;
            if n > 1000 {
                return Err(Error::protocol("the server's CAPA list does not end"));
            }
            caps.add_line(line);
        }
    }
    Ok(caps)
}

/// RFC 1939 section 4: the greeting; `-ERR` means the server will not serve us.
fn greeting(conn: &mut Connection) -> Result<Vec<u8>> {
    let greeting = conn.read_line(MAX_STATUS_LINE)?.to_vec();
    if let Status::Err(text) | Status::Continue(text) = reply::status(&greeting)? {
        let said = reply::printable(text);
        let message = format!("{} refused the connection: {said}", conn.peer());
        let (code, words) = sasl::split_code(&said);
        return Err(match crate::fleet::hosts::busy_wait(code, words) {
            Some(wait) => Error::host_busy(message, wait),
            None => Error::new(Class::Unavailable, message),
        });
    }
    Ok(greeting)
}

/// With `tls = "starttls"`: STLS must be offered and agreed to. A server whose CAPA lacks it
/// is refused, never used in plaintext: an attacker in the path strips STLS to read the
/// password.
fn upgrade(conn: &mut Connection, capa: &Capabilities) -> Result<()> {
    if !capa.stls {
        return Err(Error::protocol(format!(
            "{} does not offer STLS; refusing to continue without TLS (someone may be \
             stripping it; or use tls = \"implicit\" on port 995, or tls = \"none\" if you \
             accept plaintext)",
            conn.peer()
        )));
    }
    stls(conn)
}

/// The plaintext part of a `tls = "starttls"` session, up to the server's go-ahead for TLS
/// (greeting, CAPA, STLS), for `mailfetch certinfo`.
pub fn before_tls(conn: &mut Connection) -> Result<()> {
    greeting(conn)?;
    let capa = capa_of(conn)?;
    upgrade(conn, &capa)
}

/// RFC 2595 section 4: STLS.
fn stls(conn: &mut Connection) -> Result<()> {
    conn.send("STLS", None)?;
    let line = conn.read_line(MAX_STATUS_LINE)?;
    match reply::status(line)? {
        Status::Ok(_) => Ok(()),
        Status::Err(text) | Status::Continue(text) => Err(Error::protocol(format!(
            "the server refused STLS: {}; refusing to continue without TLS",
            reply::printable(text)
        ))),
    }
}

impl Source for Pop3 {
    fn mailboxes(&mut self) -> Result<Vec<String>> {
        Ok(vec!["INBOX".to_string()])
    }

    fn open(&mut self, mailbox: &str, known: &Known<'_>) -> Result<Listing> {
        if mailbox != "INBOX" {
            return Err(Error::config(format!(
                "POP3 has only the inbox; folder {mailbox:?} needs protocol = \"imap\""
            )));
        }
        Ok(Listing {
            validity: crate::identity::Validity::Permanent,
            messages: self.list(known)?,
            delimiter: None,
        })
    }

    fn stop_fetch(&mut self) -> Result<()> {
        if self.body_open {
            return Err(Error::protocol(
                "internal: the fetch was stopped with a message body unread",
            ));
        }
        self.plan.clear();
        self.abandoned = true;
        self.settle()
    }

    fn fetch(&mut self, messages: &[RemoteMessage]) -> Result<()> {
        self.abandoned = false;
        self.plan = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (i, m.number, m.size))
            .collect();
        self.fetch_sizes = messages.iter().map(|m| m.size).collect();
        Ok(())
    }

    fn next_message(&mut self) -> Result<Option<(usize, Box<dyn Read + '_>)>> {
        if self.body_open {
            return Err(Error::protocol(
                "internal: the previous message body was not read to its end",
            ));
        }
        loop {
            self.top_up()?;
            match self.in_flight.pop_front() {
                None => return Ok(None),
                Some(InFlight::Dele { number }) => self.finish_dele(number)?,
                Some(InFlight::Retr { index }) => {
                    let size = self.plan_size(index).unwrap_or(0);
                    self.in_flight_bytes = self.in_flight_bytes.saturating_sub(size);
                    self.expect_ok("RETR")?;
                    // Dot-stuffing can at most double a message; anything beyond that (plus
                    // slack for servers that count LF line ends) is a bogus or hostile reply.
                    let limit = size.saturating_mul(2) + (64 << 10);
                    self.body_open = true;
                    let body = Body {
                        reader: DotReader::new(self.conn.reader(), limit),
                        open: &mut self.body_open,
                    };
                    return Ok(Some((index, Box::new(body))));
                }
            }
        }
    }

    fn headers(
        &mut self,
        messages: &[RemoteMessage],
        _fields: Option<&[&str]>,
        each: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let wanted: Vec<(u32, u64)> = messages.iter().map(|m| (m.number, m.size)).collect();
        self.top_headers(&wanted, each)
    }

    fn delete(&mut self, messages: &[RemoteMessage]) -> Result<()> {
        self.unsent_deletes
            .extend(messages.iter().map(|m| m.number));
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        self.quit()
    }
}

impl Pop3 {
    fn plan_size(&self, index: usize) -> Option<u64> {
        self.fetch_sizes.get(index).copied()
    }
}

/// A message body: unstuffs as it is read, and tells the session when it is complete.
struct Body<'a> {
    reader: DotReader<'a, std::io::BufReader<net::Stream>>,
    open: &'a mut bool,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buf)?;
        if self.reader.finished() {
            *self.open = false;
        }
        Ok(n)
    }
}
