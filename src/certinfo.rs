//! `mailfetch certinfo ACCOUNT`: connect as the account would (implicit TLS, or the
//! protocol's plaintext steps up to STARTTLS/STLS), show the server's certificate chain with
//! each certificate's SHA-256 fingerprint and expiry, whether it verifies, and whether it
//! matches the account's `tls-fingerprint`. No credential is sent. Every name in a
//! certificate is the server's choice, so it is printed through [`printable`].

use crate::config::{Account, Protocol};
use crate::error::Result;
use crate::net;
use crate::session::Ctx;
use crate::text::printable;
use std::fmt::Write;

/// The report for `account`, ready to print.
pub fn report(account: &Account, cx: &Ctx) -> Result<String> {
    let trace = cx.trace(&account.name);
    let before_tls = match account.protocol {
        Protocol::Pop3 => crate::pop3::before_tls,
        Protocol::Imap => crate::imap::probe::before_tls,
    };
    let endpoint = &account.endpoint;
    let seen = net::inspect(endpoint, trace, &before_tls).map_err(|e| e.context(&account.name))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {}:{} ({} TLS, {})",
        account.name,
        endpoint.host,
        endpoint.port,
        endpoint.tls.as_str(),
        seen.version
    );
    for (i, cert) in seen.chain.iter().enumerate() {
        let role = if i == 0 { " (server)" } else { "" };
        let expiry = match cert.days_left {
            d if d < 0 => format!("EXPIRED {} days ago", -d),
            d => format!("expires in {d} days"),
        };
        let _ = writeln!(out, "certificate {i}{role}:");
        let _ = writeln!(out, "  subject:  {}", printable(&cert.subject));
        let _ = writeln!(out, "  issuer:   {}", printable(&cert.issuer));
        if !cert.names.is_empty() {
            let _ = writeln!(out, "  names:    {}", printable(&cert.names.join(", ")));
        }
        let _ = writeln!(
            out,
            "  valid:    {} to {} ({expiry})",
            cert.not_before, cert.not_after
        );
        let _ = writeln!(out, "  sha256:   {}", cert.fingerprint);
    }
    let trust = match &seen.verified {
        Ok(()) => format!("ok (trusted, valid for {})", endpoint.host),
        Err(why) => format!("FAILED: {}", printable(why)),
    };
    let _ = writeln!(out, "verification: {trust}");
    let leaf = seen.chain[0].fingerprint;
    match endpoint.tls_settings.pin {
        Some(pin) if pin == leaf => {
            let _ = writeln!(out, "tls-fingerprint: matches the server's certificate");
        }
        Some(pin) => {
            let _ = writeln!(
                out,
                "tls-fingerprint: DOES NOT MATCH (pinned {pin}); mailfetch will refuse this server"
            );
        }
        None => {
            let _ = writeln!(out, "to pin this certificate: tls-fingerprint = \"{leaf}\"");
        }
    }
    Ok(out)
}
