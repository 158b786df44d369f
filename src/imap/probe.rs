//! The plaintext part of an IMAP `tls = "starttls"` session, up to the server's go-ahead
//! for TLS, on a plain [`Connection`]: for `mailfetch certinfo`, which makes its own TLS
//! handshake to show the certificate chain. The session proper (`session`) does the same
//! steps on the session proper.

use crate::error::{Class, Error, Result};
use crate::net::Connection;

/// Longest line read before TLS.
const MAX_LINE: usize = 8192;
/// Most untagged lines accepted before a tagged completion.
const MAX_UNTAGGED: usize = 100;

/// Whether `line` carries a CAPABILITY list (`* CAPABILITY ...` or a `[CAPABILITY ...]`
/// response code) naming STARTTLS; `None` if it carries none.
fn offers_starttls(line: &str) -> Option<bool> {
    let upper = line.to_ascii_uppercase();
    let at = upper.find("CAPABILITY ")?;
    let list = &upper[at + "CAPABILITY ".len()..];
    let list = list.split(']').next().unwrap_or(list);
    Some(list.split_ascii_whitespace().any(|c| c == "STARTTLS"))
}

/// Send `command` with `tag` and read up to its completion, which must be OK; untagged lines
/// go to `each`.
fn run(conn: &mut Connection, tag: &str, command: &str, mut each: impl FnMut(&str)) -> Result<()> {
    conn.send(&format!("{tag} {command}"), None)?;
    for _ in 0..MAX_UNTAGGED {
        let line = String::from_utf8_lossy(conn.read_line(MAX_LINE)?).into_owned();
        if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
            if rest.to_ascii_uppercase().starts_with("OK") {
                return Ok(());
            }
            return Err(Error::protocol(format!(
                "{} refused {command}: {rest}; refusing to continue without TLS",
                conn.peer()
            )));
        }
        each(&line);
    }
    Err(Error::protocol(format!(
        "{} did not complete {command}",
        conn.peer()
    )))
}

/// RFC 3501 sections 7.1.1, 6.1.1 and 6.2.1: the greeting, CAPABILITY (unless the greeting
/// carried it) and STARTTLS. A server that does not list STARTTLS is refused.
pub fn before_tls(conn: &mut Connection) -> Result<()> {
    let greeting = String::from_utf8_lossy(conn.read_line(MAX_LINE)?).into_owned();
    let upper = greeting.to_ascii_uppercase();
    if !upper.starts_with("* OK") {
        return Err(Error::new(
            Class::Unavailable,
            format!("{} did not greet with OK: {greeting}", conn.peer()),
        ));
    }
    let mut starttls = offers_starttls(&greeting);
    if starttls.is_none() {
        run(conn, "C1", "CAPABILITY", |line| {
            starttls = starttls.or(offers_starttls(line));
        })?;
    }
    if starttls != Some(true) {
        return Err(Error::protocol(format!(
            "{} does not offer STARTTLS; refusing to continue without TLS",
            conn.peer()
        )));
    }
    run(conn, "C2", "STARTTLS", |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_is_found_in_capability_lines_and_codes() {
        assert_eq!(
            offers_starttls("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready"),
            Some(true)
        );
        assert_eq!(
            offers_starttls("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] STARTTLS soon"),
            Some(false)
        );
        assert_eq!(
            offers_starttls("* capability imap4rev1 starttls"),
            Some(true)
        );
        assert_eq!(offers_starttls("* OK ready"), None);
    }
}
