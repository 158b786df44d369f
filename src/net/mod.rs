//! Network sessions: TCP with timeouts, TLS (implicit or upgraded), a bounded line reader and
//! a redacting protocol trace. Shared by every protocol client so that the security rules
//! (verify certificates, never fall back to plaintext) live in one place.

mod certinfo;
mod conn;
mod tls;
mod trace;

pub use certinfo::{inspect, CertInfo, Inspection};
pub use conn::{Connection, Stream};
pub use tls::{check_pin, client, handshake_failed, Fingerprint, TlsMode, TlsSettings, TlsVersion};
pub use trace::Trace;

use crate::error::{Class, Error, Result};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name (checked against the certificate) or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How TLS is used on this connection.
    pub tls: TlsMode,
    /// Trust anchors and version floor.
    pub tls_settings: TlsSettings,
    /// Limit for connecting and for any single read or write.
    pub timeout: Duration,
}

/// Open a TCP connection to `endpoint` with its timeout, and the TLS handshake for implicit TLS.
/// STARTTLS is the protocol client's business: it calls [`Connection::start_tls`] when the
/// server has agreed.
pub fn connect(endpoint: &Endpoint, trace: Trace) -> Result<Connection> {
    let where_ = format!("{}:{}", endpoint.host, endpoint.port);
    let tcp = tcp(endpoint, &trace)?;
    let stream = match endpoint.tls {
        TlsMode::Implicit => tls::handshake(&endpoint.host, &endpoint.tls_settings, tcp)
            .map_err(|e| plain_text_answer(e, endpoint.port))?,
        TlsMode::StartTls | TlsMode::None => Stream::Plain(tcp),
    };
    let mut conn = Connection::new(stream, trace, where_);
    if endpoint.tls != TlsMode::Implicit {
        conn.expect_plain_greeting(endpoint.port);
    }
    Ok(conn)
}

/// A TLS handshake that failed because the server answered in plain text (OpenSSL's
/// "wrong version number": the first bytes were `+OK` or `* OK`, not a TLS record) is a
/// config that names a plain-text port with `tls = "implicit"` (exit 78), and is said so.
fn plain_text_answer(e: Error, port: u16) -> Error {
    if e.message().contains("wrong version number") {
        Error::config(format!(
            "port {port} does not speak TLS; did you mean tls = \"starttls\"?"
        ))
    } else {
        e
    }
}

/// Connect to the Unix domain socket at `path` (a local LMTP server), with `timeout` for
/// every read and write.
pub fn connect_local(
    path: &std::path::Path,
    timeout: Duration,
    trace: Trace,
) -> Result<Connection> {
    let where_ = path.display().to_string();
    let socket = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::new(
            Class::Unavailable,
            format!("cannot connect to {where_}: {e}"),
        )
    })?;
    socket
        .set_read_timeout(Some(timeout))
        .and_then(|_| socket.set_write_timeout(Some(timeout)))
        .map_err(|e| Error::network(format!("setting up {where_}"), e))?;
    trace.note(&format!("connected to {where_}"));
    Ok(Connection::new(Stream::Local(socket), trace, where_))
}

/// A plain TCP connection to `endpoint`, with its timeouts set.
fn tcp(endpoint: &Endpoint, trace: &Trace) -> Result<TcpStream> {
    let where_ = format!("{}:{}", endpoint.host, endpoint.port);
    let addrs = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::new(
                Class::Unavailable,
                format!("cannot resolve {}: {e}", endpoint.host),
            )
        })?;
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, endpoint.timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        let why = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
        Error::new(
            Class::Unavailable,
            format!("cannot connect to {where_}: {why}"),
        )
    })?;
    tcp.set_read_timeout(Some(endpoint.timeout))
        .and_then(|_| tcp.set_write_timeout(Some(endpoint.timeout)))
        .and_then(|_| tcp.set_nodelay(true))
        .map_err(|e| Error::network(format!("setting up {where_}"), e))?;
    trace.note(&format!("connected to {where_}"));
    Ok(tcp)
}

/// This machine's host name as the system reports it, if it has one: for Maildir file names
/// and SMTP/LMTP greetings.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}
