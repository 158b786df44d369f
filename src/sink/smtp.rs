//! Delivery to a mail server, as fetchmail does it: LMTP (RFC 2033) to a local delivery agent
//! such as Dovecot's, over a Unix socket or TCP, or SMTP (RFC 5321) to the local MTA.
//!
//! One connection per run, opened at the first message: the greeting, then LHLO (LMTP) or
//! EHLO (SMTP, HELO for a server that knows no EHLO). Per message, one transaction:
//!
//! - `MAIL FROM:<Return-Path>` (the empty `<>` for a message without a usable one), with
//!   `BODY=8BITMIME` and `SIZE=` when the server offers them (RFC 6152, RFC 1870);
//! - `RCPT TO:<deliver-to>`;
//! - `DATA`, then the message streamed as it arrives (CRLF line ends, a bare CR taken for
//!   one, a leading dot doubled, RFC 5321 section 4.5.2; a line end added after a last line
//!   without one), then `.`.
//!   Nothing is read a line at a time: a message that is one line of 100 MB is sent in
//!   pieces like any other.
//!
//! With PIPELINING (RFC 2920) the three commands go in one write. The message counts as
//! delivered only on a 250 to the end of its data (for LMTP, the reply for our one
//! recipient). A 4xx anywhere in the transaction refuses the message as a temporary failure
//! (exit 75: it stays on the server and is tried again next run), a 5xx as a permanent one
//! (exit 74: it stays on the server and is reported every run until someone acts); either
//! way the run goes on with the next message after an RSET. A 421, a dropped connection or
//! an unreadable reply ends the run instead (exit 75). If the source fails while a message is
//! being sent, the connection is dropped before the final dot, so the server never takes a
//! truncated message.
//!
//! As with an MDA, delivery is at-least-once: a crash between the server's 250 and the
//! journal record repeats that one message next run ([`Sink::unbatched`]).
//!
//! There is no TLS or authentication here: this is for a server on the same machine or a
//! trusted network (`lmtp:/run/dovecot/lmtp`, `smtp:localhost:25`). Still, the server's
//! replies are bounded: a line of at most [`MAX_LINE`] bytes, a reply of at most
//! [`MAX_REPLY_LINES`] lines; more is a protocol error (exit 76) naming the server.

use super::{label, Meta, Sink};
use crate::error::{Class, Error, Result};
use crate::header::{return_path, MAX as HEADER_MAX};
use crate::net::{self, Connection, Endpoint, TlsMode, TlsSettings, Trace};
use crate::state::Recovery;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

/// The longest reply line accepted.
const MAX_LINE: usize = 4096;
/// The most lines of one reply accepted: an EHLO reply lists a few dozen extensions, and a
/// server that sends `250-` lines without end is not a server to deliver to.
const MAX_REPLY_LINES: usize = 1000;
/// Message bytes queued before a write.
const CHUNK: usize = 64 << 10;

/// Which protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// RFC 2033, to a delivery agent: LHLO, one reply per recipient after the data.
    Lmtp,
    /// RFC 5321, to a mail transfer agent.
    Smtp,
}

impl Dialect {
    /// `LMTP` or `SMTP`, for messages and the trace.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Lmtp => "LMTP",
            Dialect::Smtp => "SMTP",
        }
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A Unix domain socket.
    Local(PathBuf),
    /// A host and port.
    Tcp(String, u16),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Local(p) => write!(f, "{}", p.display()),
            Address::Tcp(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// A reply: its code and its text (lines joined).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn ok(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// An open session: the connection and what the server offered.
struct Session {
    conn: Connection,
    pipelining: bool,
    eightbit: bool,
    size: bool,
}

/// An LMTP or SMTP server as a sink.
pub struct Smtp {
    dialect: Dialect,
    address: Address,
    recipient: String,
    timeout: Duration,
    trace: Trace,
    session: Option<Session>,
}

/// This machine's name, for LHLO/EHLO: the host name if it is a plain domain name.
fn hostname() -> String {
    crate::net::hostname()
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        })
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether `address` can go in `RCPT TO:<...>` as it is.
pub fn valid_recipient(address: &str) -> bool {
    !address.is_empty()
        && address.len() < 256
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>".contains(c))
}

/// Copy a message into DATA form: CRLF line ends, leading dots doubled; `at_line_start` and
/// `last` carry the state from one piece to the next.
///
/// A bare CR (one not followed by LF) ends a line too, as CRLF, as Postfix reads it: passed
/// on bare, `<CR>.<CR><LF>` would end the data early at a server that takes a bare CR for a
/// line end, and whatever followed would be read as commands.
fn stuff(data: &[u8], out: &mut Vec<u8>, at_line_start: &mut bool, last: &mut u8) {
    for &b in data {
        match b {
            // The CR before it has ended the line already.
            b'\n' if *last == b'\r' => {}
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                *at_line_start = true;
            }
            _ => {
                if *at_line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                *at_line_start = false;
            }
        }
        *last = b;
    }
}

impl Smtp {
    /// A sink delivering to `recipient` through the server at `address`.
    pub fn new(
        dialect: Dialect,
        address: Address,
        recipient: &str,
        timeout: Duration,
        trace: Trace,
    ) -> Smtp {
        Smtp {
            dialect,
            address,
            recipient: recipient.to_string(),
            timeout,
            trace,
            session: None,
        }
    }

    /// Read one reply, all its lines.
    fn reply(conn: &mut Connection) -> Result<Reply> {
        let mut text = Vec::new();
        loop {
            let line = conn.read_line(MAX_LINE)?.to_vec();
            let code = std::str::from_utf8(line.get(..3).unwrap_or_default())
                .ok()
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c));
            let Some(code) = code else {
                return Err(Error::protocol(format!(
                    "{} sent a reply that is not SMTP: {:?}",
                    conn.peer(),
                    String::from_utf8_lossy(&line)
                )));
            };
            let more = line.get(3) == Some(&b'-');
            if more && text.len() + 1 >= MAX_REPLY_LINES {
                return Err(Error::protocol(format!(
                    "{} sent a reply of more than {MAX_REPLY_LINES} lines",
                    conn.peer()
                )));
            }
            text.push(String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned());
            if !more {
                return Ok(Reply {
                    code,
                    text: text.join(" "),
                });
            }
        }
    }

    /// Connect, read the greeting and say LHLO/EHLO.
    fn connect(&self) -> Result<Session> {
        let trace = self.trace.clone();
        let mut conn = match &self.address {
            Address::Local(path) => net::connect_local(path, self.timeout, trace)?,
            Address::Tcp(host, port) => net::connect(
                &Endpoint {
                    host: host.clone(),
                    port: *port,
                    tls: TlsMode::None,
                    tls_settings: TlsSettings::default(),
                    timeout: self.timeout,
                },
                trace,
            )?,
        };
        let greeting = Self::reply(&mut conn)?;
        if greeting.code != 220 {
            return Err(Error::new(
                Class::Unavailable,
                format!("{} will not take mail: {greeting}", self.address),
            ));
        }
        let verb = match self.dialect {
            Dialect::Lmtp => "LHLO",
            Dialect::Smtp => "EHLO",
        };
        conn.send(&format!("{verb} {}", hostname()), None)?;
        let mut hello = Self::reply(&mut conn)?;
        if !hello.ok() && self.dialect == Dialect::Smtp && (500..503).contains(&hello.code) {
            conn.send(&format!("HELO {}", hostname()), None)?;
            hello = Self::reply(&mut conn)?;
        }
        if !hello.ok() {
            return Err(Error::protocol(format!(
                "{} refused {verb}: {hello}",
                self.address
            )));
        }
        let offers = |ext: &str| hello.text.split(' ').any(|w| w.eq_ignore_ascii_case(ext));
        Ok(Session {
            pipelining: offers("PIPELINING"),
            eightbit: offers("8BITMIME"),
            size: offers("SIZE"),
            conn,
        })
    }

    /// The error for a reply that refused the message (4xx temporary, 5xx permanent), or
    /// that ends the session (421).
    fn refusal(&mut self, name: &str, step: &str, reply: &Reply) -> Error {
        if reply.code == 421 {
            self.session = None;
            return Error::new(
                Class::Temporary,
                format!("{} is closing the session: {reply}", self.address),
            );
        }
        let (class, then) = if reply.code < 500 {
            (
                Class::Temporary,
                "it stays on the server and is tried again next run",
            )
        } else {
            (Class::LocalIo, "it stays on the server")
        };
        Error::refused(
            class,
            format!(
                "{} {} refused {name} at {step}: {reply}; {then}",
                self.dialect.name(),
                self.address
            ),
        )
    }

    /// One transaction; on a refusal the session is reset for the next.
    fn transaction(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<()> {
        let mut reader = BufReader::with_capacity(64 << 10, body);
        let mut header = Vec::new();
        while header.len() < HEADER_MAX {
            let start = header.len();
            // No line is read whole: a header line longer than the rest of HEADER_MAX is cut
            // there, and the rest of it streamed on with the body.
            let n = (&mut reader)
                .take((HEADER_MAX - start) as u64)
                .read_until(b'\n', &mut header)
                .map_err(|e| Error::network("receiving a message", e))?;
            if n == 0 || header[start..] == *b"\n" {
                break;
            }
        }
        let name = label(&header);
        if self.session.is_none() {
            self.session = Some(self.connect()?);
        }
        let s = self.session.as_mut().expect("just connected");
        let mut mail = format!("MAIL FROM:<{}>", return_path(&header).unwrap_or_default());
        if s.eightbit {
            mail.push_str(" BODY=8BITMIME");
        }
        if s.size {
            mail.push_str(&format!(" SIZE={}", meta.size));
        }
        let rcpt = format!("RCPT TO:<{}>", self.recipient);
        let steps = [
            ("MAIL FROM", mail),
            ("RCPT TO", rcpt),
            ("DATA", "DATA".to_string()),
        ];
        let mut refused = None;
        if s.pipelining {
            for (_, command) in &steps {
                s.conn.queue(command, None);
            }
            s.conn.flush()?;
            for (step, _) in &steps {
                let reply = Self::reply(&mut s.conn)?;
                let want_data = *step == "DATA";
                let good = if want_data {
                    reply.code == 354
                } else {
                    reply.ok()
                };
                if !good && refused.is_none() {
                    refused = Some((*step, reply));
                } else if want_data && good && refused.is_some() {
                    // DATA was accepted although an earlier step failed: send an empty
                    // message's end, which the server must refuse for want of recipients.
                    s.conn.send(".", None)?;
                    Self::reply(&mut s.conn)?;
                }
            }
        } else {
            for (step, command) in &steps {
                s.conn.send(command, None)?;
                let reply = Self::reply(&mut s.conn)?;
                let good = if *step == "DATA" {
                    reply.code == 354
                } else {
                    reply.ok()
                };
                if !good {
                    refused = Some((*step, reply));
                    break;
                }
            }
        }
        if let Some((step, reply)) = refused {
            let e = self.refusal(&name, step, &reply);
            self.reset();
            return Err(e);
        }
        if let Err(e) = self.data(&header, &mut reader) {
            // Never finish a message that did not arrive whole: drop the connection.
            self.session = None;
            return Err(e);
        }
        let s = self.session.as_mut().expect("open");
        let reply = Self::reply(&mut s.conn)?;
        if reply.code != 250 {
            let e = self.refusal(&name, "the end of DATA", &reply);
            self.reset();
            return Err(e);
        }
        Ok(())
    }

    /// Stream the message (its `header`, then the rest from `rest`) and the final dot.
    fn data(&mut self, header: &[u8], rest: &mut dyn Read) -> Result<()> {
        let s = self.session.as_mut().expect("open");
        let mut out = Vec::with_capacity(CHUNK + CHUNK / 8);
        let (mut at_line_start, mut last) = (true, 0);
        stuff(header, &mut out, &mut at_line_start, &mut last);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match rest.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::network("receiving a message", e)),
            };
            stuff(&buf[..n], &mut out, &mut at_line_start, &mut last);
            if out.len() >= CHUNK {
                s.conn.queue_raw(&out);
                s.conn.flush()?;
                out.clear();
            }
        }
        if !at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        s.conn.queue_raw(&out);
        s.conn.flush()
    }

    /// RSET after a refused transaction; a session that cannot even do that is dropped.
    fn reset(&mut self) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let ok =
            s.conn.send("RSET", None).is_ok() && Self::reply(&mut s.conn).is_ok_and(|r| r.ok());
        if !ok {
            self.session = None;
        }
    }
}

impl Sink for Smtp {
    fn describe(&self) -> String {
        format!(
            "{} via {} {}",
            self.recipient,
            self.dialect.name(),
            self.address
        )
    }

    fn begin(&mut self) -> Result<Option<Recovery>> {
        Ok(None)
    }

    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<()> {
        let result = self.transaction(meta, body);
        if result.as_ref().is_err_and(|e| !e.is_refusal()) {
            self.session = None;
        }
        result
    }

    fn prepare(&mut self) -> Result<Option<Recovery>> {
        Ok(None)
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn abort(&mut self) {}

    fn recover(&mut self, _intent: &Recovery) -> Result<()> {
        Ok(())
    }

    fn unbatched(&self) -> bool {
        true
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if let Some(s) = self.session.as_mut() {
            if s.conn.send("QUIT", None).is_ok() {
                let _ = Self::reply(&mut s.conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut at, mut last) = (true, 0);
        for p in pieces {
            stuff(p, &mut out, &mut at, &mut last);
        }
        out
    }

    #[test]
    fn data_gets_crlf_and_doubled_leading_dots_across_pieces() {
        assert_eq!(
            stuffed(&[b".a\n..b\nc.\n", b".", b"d\r\n"]),
            b"..a\r\n...b\r\nc.\r\n..d\r\n"
        );
        assert_eq!(stuffed(&[b"x\n", b".\n"]), b"x\r\n..\r\n");
    }

    #[test]
    fn a_bare_cr_ends_a_line_and_cannot_end_the_data() {
        // CR . CR LF: a bare CR, then a line holding a dot, doubled.
        assert_eq!(stuffed(&[b"a\r.\r\nb\n"]), b"a\r\n..\r\nb\r\n");
        assert_eq!(stuffed(&[b"a\r", b".", b"\r", b"\n"]), b"a\r\n..\r\n");
        assert_eq!(stuffed(&[b"a\r\r\nb"]), b"a\r\n\r\nb");
    }

    #[test]
    fn recipients_cannot_smuggle_commands() {
        assert!(valid_recipient("alice@example.org"));
        assert!(valid_recipient("user-1"));
        assert!(!valid_recipient("a@b>\r\nRCPT TO:<c@d"));
        assert!(!valid_recipient("a b@c"));
        assert!(!valid_recipient(""));
    }
}
