//! TLS with native-tls (OpenSSL on Linux): certificate and host name verified against the
//! system store plus an optional `ca-file`, TLS 1.2 at least unless `tls-min` says otherwise.
//!
//! With `tls-fingerprint`, the pin replaces chain and host name verification: the server's
//! leaf certificate must be exactly the pinned one (its SHA-256), which is checked right after
//! the handshake, before the protocol client reads or sends anything, so no credential can
//! reach a server that fails the pin.

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

/// The oldest TLS version a connection may use (`tls-min`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum TlsVersion {
    /// TLS 1.0, for legacy servers only.
    V1_0,
    /// TLS 1.1, for legacy servers only.
    V1_1,
    /// TLS 1.2, the default.
    #[default]
    V1_2,
    /// TLS 1.3.
    V1_3,
}

impl TlsVersion {
    /// Parse the config value: `1.0`, `1.1`, `1.2` or `1.3`.
    pub fn parse(text: &str) -> Option<TlsVersion> {
        Some(match text {
            "1.0" => TlsVersion::V1_0,
            "1.1" => TlsVersion::V1_1,
            "1.2" => TlsVersion::V1_2,
            "1.3" => TlsVersion::V1_3,
            _ => return None,
        })
    }

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::V1_0 => "1.0",
            TlsVersion::V1_1 => "1.1",
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        }
    }

    fn native(self) -> native_tls::Protocol {
        match self {
            TlsVersion::V1_0 => native_tls::Protocol::Tlsv10,
            TlsVersion::V1_1 => native_tls::Protocol::Tlsv11,
            TlsVersion::V1_2 => native_tls::Protocol::Tlsv12,
            TlsVersion::V1_3 => native_tls::Protocol::Tlsv13,
        }
    }
}

/// The SHA-256 of a certificate (DER), as `tls-fingerprint` pins it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of the DER certificate `der`.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(openssl::sha::sha256(der))
    }

    /// Parse `sha256:AB:CD:...` (64 hex digits; colons optional, any case).
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let hex = text
            .strip_prefix("sha256:")
            .or_else(|| text.strip_prefix("SHA256:"))?;
        let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Fingerprint(out))
    }
}

impl std::fmt::Display for Fingerprint {
    /// `sha256:AB:CD:...`, the form `tls-fingerprint` takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sha256:")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// What to trust.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Extra trust anchors (PEM, one or more certificates), added to the system store.
    pub ca_file: Option<PathBuf>,
    /// The oldest TLS version accepted.
    pub min_version: TlsVersion,
    /// The pinned leaf certificate; when set it replaces chain and host name verification.
    pub pin: Option<Fingerprint>,
}

/// The TLS client configuration every protocol uses: TLS 1.2 at least (or `tls-min`), the
/// system trust store plus the certificates of `ca-file`, host names verified; with a pin,
/// no chain verification here, the pin is checked by [`check_pin`] after the handshake.
/// POP3 drives it directly; the IMAP source wraps it for tokio
/// (`tokio_native_tls::TlsConnector::from`) and calls [`check_pin`] itself.
pub fn connector(settings: &TlsSettings) -> Result<native_tls::TlsConnector> {
    let mut builder = native_tls::TlsConnector::builder();
    builder.min_protocol_version(Some(settings.min_version.native()));
    if settings.pin.is_some() {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
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

/// Run the TLS handshake on `tcp`, verifying the certificate for `host` (or the pin).
pub(super) fn handshake(host: &str, settings: &TlsSettings, tcp: TcpStream) -> Result<Stream> {
    let connector = connector(settings)?;
    match connector.connect(host, tcp) {
        Ok(tls) => {
            check_pin(host, settings, tls.peer_certificate())?;
            Ok(Stream::Tls(Box::new(tls)))
        }
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

/// With a pin configured, require that the server's leaf certificate (`peer`, from
/// `peer_certificate()` right after the handshake) is the pinned one. A mismatch is a refused
/// certificate (server unavailable, exit 69), like a failed verification.
pub fn check_pin(
    host: &str,
    settings: &TlsSettings,
    peer: std::result::Result<Option<native_tls::Certificate>, native_tls::Error>,
) -> Result<()> {
    let Some(pin) = settings.pin else {
        return Ok(());
    };
    let der = peer
        .ok()
        .flatten()
        .and_then(|c| c.to_der().ok())
        .ok_or_else(|| {
            Error::new(
                Class::Unavailable,
                format!("{host} presented no certificate to check tls-fingerprint against"),
            )
        })?;
    let got = Fingerprint::of(&der);
    if got != pin {
        return Err(Error::new(
            Class::Unavailable,
            format!(
                "the certificate of {host} does not match tls-fingerprint: it is {got}, \
                 the pin is {pin}; nothing was sent (if the server's certificate was renewed, \
                 check it with `mailfetch certinfo ACCOUNT` and update the pin)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_any_case_with_or_without_colons() {
        let hex = "AB".repeat(32);
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|p| std::str::from_utf8(p).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        let a = Fingerprint::parse(&format!("sha256:{colons}")).unwrap();
        let b = Fingerprint::parse(&format!("sha256:{}", hex.to_lowercase())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), format!("sha256:{colons}"));
        assert!(
            Fingerprint::parse(&hex).is_none(),
            "the sha256: prefix is required"
        );
        assert!(Fingerprint::parse("sha256:ABCD").is_none());
        assert!(Fingerprint::parse(&format!("sha256:{}", "G".repeat(64))).is_none());
    }

    #[test]
    fn tls_versions_parse_and_order() {
        assert_eq!(TlsVersion::parse("1.3"), Some(TlsVersion::V1_3));
        assert_eq!(TlsVersion::default(), TlsVersion::V1_2);
        assert!(TlsVersion::V1_0 < TlsVersion::V1_2);
        assert_eq!(TlsVersion::parse("1.4"), None);
        assert_eq!(TlsVersion::parse("tls1.2"), None);
    }

    #[test]
    fn pem_bundle_is_split_into_certificates() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n";
        let parts = split_pem(pem);
        assert_eq!(parts.len(), 2);
        assert!(parts[1].ends_with(b"-----END CERTIFICATE-----"));
    }
}
