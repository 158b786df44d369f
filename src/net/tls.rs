//! TLS with native-tls (OpenSSL on Linux): certificate and host name always verified against
//! the system store plus an optional `ca-file`, TLS 1.2 at least.

use super::Stream;
use crate::error::{Class, Error, Result};
use std::net::TcpStream;
use std::path::PathBuf;

/// How a connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// TLS from the first byte (POP3S 995, IMAPS 993).
    Implicit,
    /// Plaintext greeting, then STLS/STARTTLS; refused if the server does not offer it.
    #[serde(rename = "starttls", alias = "stls")]
    StartTls,
    /// No TLS at all; passwords are only sent when explicitly allowed.
    None,
}

impl TlsMode {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Implicit => "implicit",
            TlsMode::StartTls => "starttls",
            TlsMode::None => "none",
        }
    }
}

/// What to trust.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Extra trust anchors (PEM, one or more certificates), added to the system store.
    pub ca_file: Option<PathBuf>,
}

/// The TLS client configuration every protocol uses: TLS 1.2 at least, the system trust store
/// plus the certificates of `ca-file`, host names always verified. POP3 drives it directly;
/// the IMAP source wraps it for tokio (`tokio_native_tls::TlsConnector::from`).
pub fn connector(settings: &TlsSettings) -> Result<native_tls::TlsConnector> {
    let mut builder = native_tls::TlsConnector::builder();
    builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| Error::config(format!("cannot read ca-file {}: {e}", path.display())))?;
        let mut found = 0;
        for block in split_pem(&pem) {
            let cert = native_tls::Certificate::from_pem(block).map_err(|e| {
                Error::config(format!("ca-file {}: bad certificate: {e}", path.display()))
            })?;
            builder.add_root_certificate(cert);
            found += 1;
        }
        if found == 0 {
            return Err(Error::config(format!(
                "ca-file {} holds no PEM certificate",
                path.display()
            )));
        }
    }
    builder
        .build()
        .map_err(|e| Error::new(Class::LocalIo, format!("cannot set up TLS: {e}")))
}

/// Split a PEM bundle into its certificates.
fn split_pem(pem: &[u8]) -> Vec<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = memchr::memmem::find(rest, BEGIN) {
        let Some(len) = memchr::memmem::find(&rest[start..], END) else {
            break;
        };
        let end = start + len + END.len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// Run the TLS handshake on `tcp`, verifying the certificate for `host`.
pub(super) fn handshake(host: &str, settings: &TlsSettings, tcp: TcpStream) -> Result<Stream> {
    let connector = connector(settings)?;
    match connector.connect(host, tcp) {
        Ok(tls) => Ok(Stream::Tls(Box::new(tls))),
        Err(native_tls::HandshakeError::Failure(e)) => Err(handshake_failed(host, &e)),
        Err(native_tls::HandshakeError::WouldBlock(_)) => Err(Error::new(
            Class::Temporary,
            format!("TLS handshake with {host} timed out"),
        )),
    }
}

/// The error for a failed TLS handshake with `host` (server unavailable, exit 69), with a hint
/// when the certificate was not trusted.
pub fn handshake_failed(host: &str, e: &native_tls::Error) -> Error {
    let text = e.to_string();
    let hint = if text.contains("certificate") {
        " (if the server uses a private CA, set ca-file = \"/path/to/ca.pem\")"
    } else {
        ""
    };
    Error::new(
        Class::Unavailable,
        format!("TLS handshake with {host} failed: {text}{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bundle_is_split_into_certificates() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n";
        let parts = split_pem(pem);
        assert_eq!(parts.len(), 2);
        assert!(parts[1].ends_with(b"-----END CERTIFICATE-----"));
    }
}
