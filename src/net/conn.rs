//! A connection: a buffered byte stream with a bounded line reader, a write buffer that lets
//! protocol clients pipeline several commands into one write, and the STARTTLS upgrade.

use super::tls::{self, TlsSettings};
use super::Trace;
use crate::error::{Error, Result};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

/// Plain TCP, TLS over TCP, or a local (Unix domain) socket.
pub enum Stream {
    /// No encryption (before STARTTLS, or `tls = "none"`).
    Plain(TcpStream),
    /// Encrypted and verified.
    Tls(Box<openssl::ssl::SslStream<TcpStream>>),
    /// A socket on this machine (an LMTP server's), which never leaves it.
    Local(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Local(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Local(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Local(s) => s.flush(),
        }
    }
}

/// Size of the receive buffer: large enough that a pipelined stream of small messages is
/// parsed with few system calls.
const READ_BUFFER: usize = 128 * 1024;

/// A protocol connection.
pub struct Connection {
    reader: BufReader<Stream>,
    out: Vec<u8>,
    line: Vec<u8>,
    trace: Trace,
    peer: String,
    /// The port of a connection in plain text whose first line (the greeting) is still to
    /// come: a timeout waiting for it says that the port may expect TLS at once.
    greeting_port: Option<u16>,
}

impl Connection {
    pub(super) fn new(stream: Stream, trace: Trace, peer: String) -> Self {
        Connection {
            reader: BufReader::with_capacity(READ_BUFFER, stream),
            out: Vec::with_capacity(4096),
            line: Vec::with_capacity(512),
            trace,
            peer,
            greeting_port: None,
        }
    }

    /// Expect the server to speak first in plain text on `port`: if its greeting does not
    /// come in time, the error says that the port may be one that expects TLS from the
    /// first byte (the server waits for our TLS hello while we wait for its greeting).
    pub(super) fn expect_plain_greeting(&mut self, port: u16) {
        self.greeting_port = Some(port);
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.reader.get_ref(), Stream::Tls(_))
    }

    /// `host:port` of the server, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The protocol trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Queue one command line (CRLF is added). `shown` is what the trace prints instead, for
    /// commands that carry secrets. Nothing is sent until [`Connection::flush`].
    pub fn queue(&mut self, line: &str, shown: Option<&str>) {
        self.trace.sent(shown.unwrap_or(line));
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Queue raw bytes (an IMAP literal, SMTP DATA); not traced.
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Send everything queued, in one write where the kernel allows.
    pub fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stream = self.reader.get_mut();
        let res = stream.write_all(&self.out).and_then(|_| stream.flush());
        self.out.clear();
        res.map_err(|e| Error::network(format!("sending to {}", self.peer), e))
    }

    /// Queue and send one command.
    pub fn send(&mut self, line: &str, shown: Option<&str>) -> Result<()> {
        self.queue(line, shown);
        self.flush()
    }

    /// Read one line (up to and including LF), refusing lines longer than `max` bytes so a
    /// hostile server cannot make us allocate without limit. Returns the line without CRLF.
    pub fn read_line(&mut self, max: usize) -> Result<&[u8]> {
        self.line.clear();
        loop {
            let greeting_port = self.greeting_port.take();
            let buf = self.reader.fill_buf().map_err(|e| {
                let timed_out = matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                );
                let e = Error::network(format!("reading from {}", self.peer), e);
                match greeting_port.filter(|_| timed_out) {
                    Some(port) => Error::new(
                        e.class(),
                        format!(
                            "{}: no greeting; port {port} may expect TLS from the first byte \
                             (as 993 and 995 do): did you mean tls = \"implicit\"?",
                            e.message()
                        ),
                    ),
                    None => e,
                }
            })?;
            if buf.is_empty() {
                return Err(Error::network(
                    format!("reading from {}", self.peer),
                    io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            let (take, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if self.line.len() + take > max {
                return Err(Error::protocol(format!(
                    "{} sent a line longer than {max} bytes",
                    self.peer
                )));
            }
            self.line.extend_from_slice(&buf[..take]);
            self.reader.consume(take);
            if done {
                break;
            }
        }
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        self.trace.received(&self.line);
        Ok(&self.line)
    }

    /// Wait up to `limit` for something to read: `true` when a read would not block (bytes
    /// buffered here or in TLS, or on the socket, or the connection ended), `false` when the
    /// time ran out. For waiting out an IMAP IDLE in short steps without a read timeout
    /// interrupting a TLS record.
    pub fn wait_readable(&mut self, limit: std::time::Duration) -> Result<bool> {
        use std::os::fd::AsRawFd;
        if !self.reader.buffer().is_empty() {
            return Ok(true);
        }
        let fd = match self.reader.get_ref() {
            Stream::Plain(s) => s.as_raw_fd(),
            Stream::Tls(s) => {
                if s.ssl().pending() > 0 {
                    return Ok(true);
                }
                s.get_ref().as_raw_fd()
            }
            Stream::Local(s) => s.as_raw_fd(),
        };
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd, for the duration of the call.
        let rc = unsafe { libc::poll(&mut poll, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(Error::network(format!("waiting for {}", self.peer), e));
        }
        Ok(rc > 0)
    }

    /// The buffered reader, for streaming a message body without copying it line by line.
    pub fn reader(&mut self) -> &mut BufReader<Stream> {
        &mut self.reader
    }

    /// The TCP connection under a plain connection, for a TLS handshake done elsewhere
    /// (`mailfetch certinfo`); refused, like [`Connection::start_tls`], when the server sent
    /// bytes after agreeing to STARTTLS.
    pub fn into_tcp(self) -> Result<TcpStream> {
        if !self.reader.buffer().is_empty() {
            return Err(Error::protocol(format!(
                "{} sent data after agreeing to STARTTLS (possible injection); refusing",
                self.peer
            )));
        }
        match self.reader.into_inner() {
            Stream::Plain(tcp) => Ok(tcp),
            Stream::Tls(_) => Err(Error::protocol("STARTTLS on a TLS connection")),
            Stream::Local(_) => Err(Error::protocol("STARTTLS on a local socket")),
        }
    }

    /// Upgrade to TLS after the server agreed to STARTTLS/STLS. Bytes the server sent after its
    /// "go ahead" and before the handshake would be plaintext injected into the TLS session
    /// (CVE-2011-0411 style), so any are a protocol error.
    pub fn start_tls(self, host: &str, settings: &TlsSettings) -> Result<Connection> {
        if !self.reader.buffer().is_empty() {
            return Err(Error::protocol(format!(
                "{} sent data after agreeing to STARTTLS (possible injection); refusing",
                self.peer
            )));
        }
        let Connection {
            reader,
            trace,
            peer,
            ..
        } = self;
        let tcp = match reader.into_inner() {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(_) => return Err(Error::protocol("STARTTLS on a TLS connection")),
            Stream::Local(_) => return Err(Error::protocol("STARTTLS on a local socket")),
        };
        let stream = tls::handshake(host, settings, tcp)?;
        trace.note("TLS established");
        Ok(Connection::new(stream, trace, peer))
    }
}
