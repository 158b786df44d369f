//! What `init` finds at the server before it asks for a password: it connects as `pull` will
//! (implicit TLS, or the protocol's plaintext steps up to STARTTLS/STLS), shows the server,
//! the TLS version and the certificate (subject, issuer, expiry, SHA-256), and settles whom to
//! trust. A certificate that does not verify is never silently accepted: the user pins the
//! one shown (`tls-fingerprint`), names a CA file that verifies it, or quits; without a
//! terminal it is an error that says which flag does what. No credential is sent.

use super::prompt::Asker;
use crate::config::Protocol;
use crate::error::{Class, Error, Result};
use crate::net::{self, Endpoint, Fingerprint, Inspection, TlsMode, TlsSettings, Trace};
use crate::text::printable;
use std::path::PathBuf;
use std::time::Duration;

/// How long the look at the server may take per step.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The server an account will use.
#[derive(Debug, Clone)]
pub struct Server {
    /// POP3 or IMAP.
    pub protocol: Protocol,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How TLS is used.
    pub tls: TlsMode,
}

/// Whom the account trusts besides the system's CAs.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// `ca-file`: extra trust anchors.
    pub ca_file: Option<String>,
    /// `tls-fingerprint`: the one certificate accepted instead of a verified chain.
    pub pin: Option<Fingerprint>,
}

/// What the user decided about the server.
pub enum Outcome {
    /// The certificate is trusted (or there is no TLS to trust).
    Trusted,
    /// The user quit at an untrusted certificate.
    Quit,
}

/// Look at `server` and settle `trust`: with a certificate that verifies (or matches the
/// pin) nothing is asked; else the user pins it, gives a CA file (checked to exist and to
/// verify the server) or quits; each connection is traced to `trace`. A connection failure is
/// returned for the caller's menu.
pub fn check(server: &Server, trust: &mut Trust, ask: &Asker, trace: &Trace) -> Result<Outcome> {
    if server.tls == TlsMode::None {
        eprintln!(
            "init: {}:{} without TLS: the password and the mail will cross the network readable \
             by anyone on the way",
            server.host, server.port
        );
        return Ok(Outcome::Trusted);
    }
    let before_tls = match server.protocol {
        Protocol::Pop3 => crate::pop3::before_tls,
        Protocol::Imap => crate::imap::probe::before_tls,
    };
    loop {
        let endpoint = Endpoint {
            host: server.host.clone(),
            port: server.port,
            tls: server.tls,
            tls_settings: TlsSettings {
                ca_file: trust.ca_file.as_ref().map(PathBuf::from),
                pin: None,
                ..TlsSettings::default()
            },
            timeout: TIMEOUT,
        };
        let seen = net::inspect(&endpoint, trace.clone(), &before_tls)?;
        show(server, &seen);
        let leaf = seen.chain[0].fingerprint;
        let why = match (trust.pin, &seen.verified) {
            (Some(pin), _) if pin == leaf => {
                eprintln!("  trusted:     yes, it is the pinned certificate");
                return Ok(Outcome::Trusted);
            }
            (Some(pin), _) => format!("it is not the pinned certificate {pin}"),
            (None, Ok(())) => {
                eprintln!("  trusted:     yes, it verifies for {}", server.host);
                return Ok(Outcome::Trusted);
            }
            (None, Err(why)) => printable(why).into_owned(),
        };
        eprintln!("  trusted:     NO ({why})");
        if !ask.interactive {
            return Err(Error::new(
                Class::Unavailable,
                format!(
                    "init: the certificate of {} is not trusted ({why}); if {leaf} is the \
                     certificate your server has (on the server: openssl x509 -noout \
                     -fingerprint -sha256 -in CERT.pem), pass --tls-fingerprint {leaf}; or \
                     pass --ca-file with the CA that issued it",
                    server.host
                ),
            ));
        }
        let choice = ask.choose(
            "The certificate is not trusted. What now",
            &[
                ("pin", format!("trust this certificate (pin {leaf})")),
                ("ca-file", "give the CA file that issued it".to_string()),
                ("quit", "quit, writing nothing".to_string()),
            ],
            "quit",
        )?;
        match choice {
            "pin" => {
                trust.pin = Some(leaf);
                eprintln!("init: pinned {leaf} (tls-fingerprint)");
                return Ok(Outcome::Trusted);
            }
            "ca-file" => {
                trust.pin = None;
                trust.ca_file = Some(ca_file(ask)?);
            }
            _ => return Ok(Outcome::Quit),
        }
    }
}

/// The path of a CA file, asked until one exists (the next look at the server checks that
/// it verifies).
fn ca_file(ask: &Asker) -> Result<String> {
    loop {
        let path = ask.ask("CA file (PEM)", None)?;
        let path = match path.strip_prefix("~/") {
            Some(rest) => std::env::var("HOME").map_or(path.clone(), |h| format!("{h}/{rest}")),
            None => path,
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => return Ok(path),
            Ok(_) => eprintln!("init: {path} is not a file"),
            Err(e) => eprintln!("init: {path}: {e}"),
        }
    }
}

/// Print what the handshake showed: the server, the TLS version and the server's certificate.
fn show(server: &Server, seen: &Inspection) {
    let cert = &seen.chain[0];
    let expiry = match cert.days_left {
        d if d < 0 => format!("EXPIRED {} days ago", -d),
        d => format!("in {d} days"),
    };
    eprintln!(
        "init: found {}:{} ({}, {} TLS, {})",
        server.host,
        server.port,
        server.protocol.as_str().to_ascii_uppercase(),
        server.tls.as_str(),
        seen.version
    );
    eprintln!("  certificate: {}", printable(&cert.subject));
    eprintln!("  issuer:      {}", printable(&cert.issuer));
    eprintln!("  expires:     {} ({expiry})", cert.not_after);
    eprintln!("  sha256:      {}", cert.fingerprint);
}
