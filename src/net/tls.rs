//! TLS with OpenSSL: certificate and host name verified against the system store plus an
//! optional `ca-file`, TLS 1.2 at least unless `tls-min` says otherwise.
//!
//! With `tls-fingerprint`, the pin replaces chain and host name verification: the server's
//! leaf certificate must be exactly the pinned one (its SHA-256), which is checked right after
//! the handshake, before the protocol client reads or sends anything, so no credential can
//! reach a server that fails the pin.

use super::Stream;
use crate::error::{Class, Error, Result};
use openssl::error::ErrorStack;
use openssl::ssl::{
    HandshakeError, Ssl, SslContextBuilder, SslFiletype, SslMethod, SslMode, SslOptions, SslRef,
    SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::{X509VerifyResult, X509};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};

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

    /// The version as OpenSSL names it.
    pub fn openssl(self) -> SslVersion {
        match self {
            TlsVersion::V1_0 => SslVersion::TLS1,
            TlsVersion::V1_1 => SslVersion::TLS1_1,
            TlsVersion::V1_2 => SslVersion::TLS1_2,
            TlsVersion::V1_3 => SslVersion::TLS1_3,
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

/// The TLS client every protocol uses, on OpenSSL directly: TLS 1.2 at least (or `tls-min`),
/// the system trust store plus the certificates of `ca-file`, host name verified (SNI sent for
/// names, not addresses); with a pin, no chain or name verification here, the pin is checked by
/// [`check_pin`] after the handshake. The returned `Ssl` is for one connection to `host`:
/// POP3 and IMAP run the handshake on it with [`handshake`],
/// `certinfo` with verification turned into a report.
///
/// Why not native-tls: on Linux it is this same OpenSSL, but its connector reads and parses
/// the whole system CA bundle twice (`SslConnector::builder` and openssl-probe's file), some
/// 150 certificates, on every connection: a third of all the CPU of a pull with nothing new
/// on 100,000 messages. [`system_store`] looks certificates up on demand instead.
pub fn client(host: &str, settings: &TlsSettings) -> Result<Ssl> {
    let setup = |e: ErrorStack| Error::new(Class::LocalIo, format!("cannot set up TLS: {e}"));
    let mut ctx = SslContextBuilder::new(SslMethod::tls_client()).map_err(setup)?;
    // openssl's `SslConnector::builder` settings: no compression, no SSLv2/3, no weak ciphers.
    let mut opts = SslOptions::ALL
        | SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::NO_SSLV3
        | SslOptions::SINGLE_DH_USE
        | SslOptions::SINGLE_ECDH_USE;
    opts &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    ctx.set_options(opts);
    ctx.set_mode(
        SslMode::AUTO_RETRY
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::RELEASE_BUFFERS,
    );
    ctx.set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")
        .map_err(setup)?;
    ctx.set_min_proto_version(Some(settings.min_version.openssl()))
        .map_err(setup)?;
    if settings.pin.is_some() {
        ctx.set_verify(SslVerifyMode::NONE);
    } else {
        ctx.set_verify(SslVerifyMode::PEER);
        system_store(&mut ctx).map_err(setup)?;
        if let Some(path) = &settings.ca_file {
            add_ca_file(&mut ctx, path)?;
        }
    }
    let ctx = ctx.build();
    let mut ssl = Ssl::new(&ctx).map_err(setup)?;
    let address = host.parse::<IpAddr>().ok();
    if address.is_none() {
        ssl.set_hostname(host).map_err(setup)?;
    }
    if settings.pin.is_none() {
        let param = ssl.param_mut();
        param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match address {
            Some(ip) => param.set_ip(ip),
            None => param.set_host(host),
        }
        .map_err(setup)?;
    }
    Ok(ssl)
}

/// The system's trust anchors, as OpenSSL's default paths name them, but looked up when a
/// chain needs them: the hashed directory (`c_rehash` links, `/etc/ssl/certs` on Debian), not
/// the bundle file, which would be parsed whole. Where the directory has no hashed links the
/// default paths are loaded as OpenSSL does; so is a bundle that `SSL_CERT_FILE` names, unless
/// it lies in the hashed directory itself (`/etc/ssl/certs/ca-certificates.crt`): there it
/// is what `update-ca-certificates` (or p11-kit) made from the very certificates it links.
fn system_store(ctx: &mut SslContextBuilder) -> std::result::Result<(), ErrorStack> {
    let Some(dir) = hashed_dir() else {
        return ctx.set_default_verify_paths();
    };
    let lookup = ctx.cert_store_mut().add_lookup(X509Lookup::hash_dir())?;
    lookup.add_dir(&dir.to_string_lossy(), SslFiletype::PEM)?;
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        let file = PathBuf::from(file);
        let beside = file.parent().and_then(|p| p.canonicalize().ok());
        if beside != dir.canonicalize().ok() && file.exists() {
            ctx.set_ca_file(&file)?;
        }
    }
    Ok(())
}

/// `SSL_CERT_DIR` (its first entry) or OpenSSL's built-in certificate directory, if it holds
/// at least one hashed link (`5ad8a5d6.0`).
fn hashed_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SSL_CERT_DIR") {
        Some(list) => PathBuf::from(list.to_str()?.split(':').next()?),
        // SAFETY: OpenSSL returns a pointer to a static, NUL-terminated string.
        None => PathBuf::from(
            unsafe { std::ffi::CStr::from_ptr(openssl_sys::X509_get_default_cert_dir()) }
                .to_str()
                .ok()?,
        ),
    };
    let hashed = |name: &str| {
        name.split_once('.').is_some_and(|(hash, n)| {
            hash.len() == 8
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        })
    };
    let any = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_str().is_some_and(hashed));
    any.then_some(dir)
}

/// Add the certificates of `ca-file` to the trust store.
fn add_ca_file(ctx: &mut SslContextBuilder, path: &Path) -> Result<()> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::config(format!("cannot read ca-file {}: {e}", path.display())))?;
    let mut found = 0;
    for block in split_pem(&pem) {
        let bad = |e: ErrorStack| {
            Error::config(format!("ca-file {}: bad certificate: {e}", path.display()))
        };
        let cert = X509::from_pem(block).map_err(bad)?;
        ctx.cert_store_mut().add_cert(cert).map_err(bad)?;
        found += 1;
    }
    if found == 0 {
        return Err(Error::config(format!(
            "ca-file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(())
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
    match client(host, settings)?.connect(tcp) {
        Ok(tls) => {
            check_pin(host, settings, tls.ssl())?;
            Ok(Stream::Tls(Box::new(tls)))
        }
        Err(HandshakeError::Failure(mid)) => {
            Err(handshake_failed(host, settings, mid.error(), mid.ssl()))
        }
        Err(HandshakeError::SetupFailure(e)) => Err(Error::new(
            Class::LocalIo,
            format!("cannot set up TLS: {e}"),
        )),
        Err(HandshakeError::WouldBlock(_)) => Err(Error::new(
            Class::Temporary,
            format!("TLS handshake with {host} timed out"),
        )),
    }
}

/// The error for a failed TLS handshake with `host` (server unavailable, exit 69): why the
/// certificate was not trusted when that was it, with a hint, else OpenSSL's reason.
pub fn handshake_failed(
    host: &str,
    settings: &TlsSettings,
    e: &openssl::ssl::Error,
    ssl: &SslRef,
) -> Error {
    let verify = ssl.verify_result();
    let text = if settings.pin.is_none() && verify != X509VerifyResult::OK {
        format!("certificate verify failed ({})", verify.error_string())
    } else {
        e.to_string()
    };
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

/// With a pin configured, require that the server's leaf certificate (of `ssl`, right after
/// the handshake) is the pinned one. A mismatch is a refused
/// certificate (server unavailable, exit 69), like a failed verification.
pub fn check_pin(host: &str, settings: &TlsSettings, ssl: &SslRef) -> Result<()> {
    let Some(pin) = settings.pin else {
        return Ok(());
    };
    let der = ssl
        .peer_certificate()
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
