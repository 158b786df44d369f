//! `mailfetch certinfo`: the certificate chain a server presents, with each certificate's
//! names, validity and SHA-256 fingerprint, and whether mailfetch would trust it.
//!
//! The handshake is the one every connection makes ([`super::client`]: system store plus
//! `ca-file`, the same version floor, the host name check), but verification runs without
//! aborting it, so an untrusted certificate can be looked at (and pinned).
//! Nothing is sent over the TLS connection; it is closed right after the handshake.

use super::{tcp, Connection, Endpoint, Fingerprint, TlsMode, Trace};
use crate::error::{Class, Error, Result};
use openssl::nid::Nid;
use openssl::ssl::SslVerifyMode;
use openssl::x509::{X509NameRef, X509Ref};

/// One certificate of the chain.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Subject, `CN=..., O=...`.
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub names: Vec<String>,
    /// Start of validity, as OpenSSL prints it (`Nov 22 04:55:52 2026 GMT`).
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// Whole days from now until `not_after` (negative once expired).
    pub days_left: i64,
    /// SHA-256 of the DER certificate.
    pub fingerprint: Fingerprint,
}

/// What the handshake showed.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The TLS version negotiated (`TLSv1.3`).
    pub version: String,
    /// The chain as the server sent it, leaf first.
    pub chain: Vec<CertInfo>,
    /// `Ok` if the chain and host name verify against the trust anchors, else why not.
    pub verified: std::result::Result<(), String>,
}

/// Connect to `endpoint`, run `before_tls` on the plain connection first when the endpoint
/// uses STARTTLS (the protocol's greeting and STLS/STARTTLS), and look at the certificates
/// the server presents.
pub fn inspect(
    endpoint: &Endpoint,
    trace: Trace,
    before_tls: &dyn Fn(&mut Connection) -> Result<()>,
) -> Result<Inspection> {
    let peer = format!("{}:{}", endpoint.host, endpoint.port);
    let mut tcp = tcp(endpoint, &trace)?;
    match endpoint.tls {
        TlsMode::Implicit => {}
        TlsMode::StartTls => {
            let mut conn = Connection::new(super::Stream::Plain(tcp), trace.clone(), peer.clone());
            before_tls(&mut conn)?;
            tcp = conn.into_tcp()?;
        }
        TlsMode::None => {
            return Err(Error::config(format!(
                "{peer} is configured with tls = \"none\": there is no certificate to show"
            )))
        }
    }
    let failed = |e: &dyn std::fmt::Display| {
        Error::new(
            Class::Unavailable,
            format!("TLS handshake with {}: {e}", endpoint.host),
        )
    };
    // The chain and the name are checked as a connection without a pin checks them; the
    // handshake goes on whatever the outcome, which is read below.
    let settings = super::TlsSettings {
        pin: None,
        ..endpoint.tls_settings.clone()
    };
    let mut ssl = super::client(&endpoint.host, &settings)?;
    ssl.set_verify(SslVerifyMode::NONE);
    let tls = ssl.connect(tcp).map_err(|e| failed(&e))?;
    let ssl = tls.ssl();
    trace.note(&format!("TLS established ({})", ssl.version_str()));
    let chain = ssl
        .peer_cert_chain()
        .map(|stack| stack.iter().map(describe).collect::<Vec<_>>())
        .unwrap_or_default();
    if chain.is_empty() {
        return Err(failed(&"the server presented no certificate"));
    }
    let result = ssl.verify_result();
    let verified = if result == openssl::x509::X509VerifyResult::OK {
        Ok(())
    } else {
        Err(result.error_string().to_string())
    };
    Ok(Inspection {
        version: ssl.version_str().to_string(),
        chain,
        verified,
    })
}

/// `CN=..., O=...` for a certificate name.
fn name(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            format!(
                "{key}={}",
                crate::text::printable(&e.data().to_string().unwrap_or_default()).into_owned()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A name from a certificate with control characters shown as `?`: the server chose it.
fn describe(cert: &X509Ref) -> CertInfo {
    let mut names: Vec<String> = Vec::new();
    if let Some(alt) = cert.subject_alt_names() {
        for n in alt.iter() {
            if let Some(dns) = n.dnsname() {
                names.push(crate::text::printable(dns).into_owned());
            } else if let Some(ip) = n.ipaddress() {
                let addr = match ip.len() {
                    4 => <[u8; 4]>::try_from(ip).map(|a| std::net::IpAddr::from(a).to_string()),
                    16 => <[u8; 16]>::try_from(ip).map(|a| std::net::IpAddr::from(a).to_string()),
                    _ => Ok("?".to_string()),
                };
                names.push(addr.unwrap_or_else(|_| "?".to_string()));
            }
        }
    }
    if names.is_empty() {
        if let Some(cn) = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next() {
            names.push(
                crate::text::printable(&cn.data().to_string().unwrap_or_default()).into_owned(),
            );
        }
    }
    let days_left = openssl::asn1::Asn1Time::days_from_now(0)
        .ok()
        .and_then(|now| now.diff(cert.not_after()).ok())
        .map_or(0, |d| i64::from(d.days));
    let der = cert.to_der().unwrap_or_default();
    CertInfo {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        names,
        not_before: cert.not_before().to_string(),
        not_after: cert.not_after().to_string(),
        days_left,
        fingerprint: Fingerprint::of(&der),
    }
}
