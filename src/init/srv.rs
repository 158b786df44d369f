//! RFC 6186 SRV records for a custom domain: `init` proposes the server they name. A host
//! outside the address's domain is not taken on DNS's word (RFC 6186 section 6: an attacker
//! who forges the answer would receive the login test's password): it is shown and used
//! only after a yes at the terminal, and refused without one.

use super::prompt::Asker;
use crate::config::Protocol;
use crate::error::{Class, Error, Result};

/// A server RFC 6186 SRV records name.
pub struct Found {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The TLS mode the service name means.
    pub tls: &'static str,
}

/// Look up the SRV records for `proto` at `domain`: implicit TLS first (RFC 8314), then
/// STARTTLS, only the one `tls` names if given. What happens is told on stderr; a failed
/// lookup only means no proposal. A host outside `domain` is proposed only when the user
/// says yes to it; without a terminal it is an error.
pub fn srv_lookup(
    domain: &str,
    proto: Protocol,
    tls: Option<&str>,
    ask: &Asker,
) -> Result<Option<Found>> {
    let services: &[(&str, &'static str)] = match proto {
        Protocol::Imap => &[("_imaps", "implicit"), ("_imap", "starttls")],
        Protocol::Pop3 => &[("_pop3s", "implicit"), ("_pop3", "starttls")],
    };
    let server = match crate::dns_srv::resolver() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("init: no SRV lookup: {e}");
            return Ok(None);
        }
    };
    for (service, mode) in services {
        if tls.is_some_and(|t| t != *mode) {
            continue;
        }
        let name = format!("{service}._tcp.{domain}");
        match crate::dns_srv::lookup(&name, server) {
            Ok(crate::dns_srv::Found::Offered(records)) => {
                let best = &records[0];
                eprintln!(
                    "init: SRV {name}: {}:{} ({mode} TLS)",
                    best.target, best.port
                );
                if !within(&best.target, domain) {
                    let question = format!(
                        "The DNS names host {} for {domain}, outside that domain; use it?",
                        best.target
                    );
                    if !ask.interactive {
                        return Err(Error::new(
                            Class::Usage,
                            format!(
                                "init: the DNS names host {} for {domain}, outside that domain, \
                                 and there is no terminal to confirm it (RFC 6186 section 6): \
                                 pass --host {} if it is right, or --no-srv",
                                best.target, best.target
                            ),
                        ));
                    }
                    if !ask.yes(&question)? {
                        return Ok(None);
                    }
                }
                return Ok(Some(Found {
                    host: best.target.clone(),
                    port: best.port,
                    tls: mode,
                }));
            }
            Ok(crate::dns_srv::Found::NotOffered) => {
                eprintln!("init: SRV {name}: the domain says it does not offer this")
            }
            Ok(crate::dns_srv::Found::Nothing) => eprintln!("init: SRV {name}: no record"),
            Err(e) => {
                eprintln!("init: SRV {name}: {e}");
                return Ok(None);
            }
        }
    }
    Ok(None)
}

/// Whether `host` is `domain` or a name under it (`imap.example.org` for `example.org`,
/// not `example.org.evil.net` nor `badexample.org`), ignoring case and a final dot.
fn within(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(&domain)
                .is_some_and(|head| head.ends_with('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_hosts_within_the_domain_are_its_subdomains() {
        for (host, domain) in [
            ("example.org", "example.org"),
            ("imap.example.org", "example.org"),
            ("IMAP.Mail.Example.ORG.", "example.org"),
        ] {
            assert!(within(host, domain), "{host} in {domain}");
        }
        for (host, domain) in [
            ("imap.evil.net", "example.org"),
            ("badexample.org", "example.org"),
            ("example.org.evil.net", "example.org"),
            ("org", "example.org"),
            ("imap.example.org", ""),
        ] {
            assert!(!within(host, domain), "{host} not in {domain}");
        }
    }
}
