//! Parsing POP3 replies: status lines (RFC 1939 section 3), response codes (RFC 2449, 3206),
//! CAPA (RFC 2449 section 5) and the scan listings of LIST and UIDL.

use crate::error::{Class, Error, Result};

/// The parsed first line of a reply.
pub enum Status<'a> {
    /// `+OK text`
    Ok(&'a [u8]),
    /// `-ERR text`
    Err(&'a [u8]),
    /// `+ challenge` (SASL continuation)
    Continue(&'a [u8]),
}

/// Parse a status line.
pub fn status(line: &[u8]) -> Result<Status<'_>> {
    if let Some(rest) = line.strip_prefix(b"+OK") {
        Ok(Status::Ok(rest.trim_ascii_start()))
    } else if let Some(rest) = line.strip_prefix(b"-ERR") {
        Ok(Status::Err(rest.trim_ascii_start()))
    } else if let Some(rest) = line.strip_prefix(b"+") {
        Ok(Status::Continue(rest.trim_ascii_start()))
    } else {
        Err(Error::protocol(format!(
            "the server sent a reply that is not +OK or -ERR: {:?}",
            printable(line)
        )))
    }
}

/// A short, printable rendering of server text for error messages.
pub fn printable(text: &[u8]) -> String {
    crate::text::printable_bytes(&text[..text.len().min(200)])
}

/// The class of a `-ERR` to an authentication command: RFC 3206 codes separate "wrong
/// password" from "try again later".
pub fn auth_failure_class(text: &[u8]) -> Class {
    let upper = text.to_ascii_uppercase();
    let temp = [&b"[SYS/TEMP]"[..], b"[IN-USE]", b"[LOGIN-DELAY]"];
    if temp.iter().any(|code| upper.starts_with(code)) {
        Class::Temporary
    } else {
        Class::Auth
    }
}

/// The class of a `-ERR` to any other command: RFC 3206 lets `[SYS/TEMP]` answer every
/// command, and it means "try again later", not a broken server.
pub fn command_failure_class(text: &[u8]) -> Class {
    match auth_failure_class(text) {
        Class::Temporary => Class::Temporary,
        _ => Class::Protocol,
    }
}

/// What the server said it can do (CAPA).
#[derive(Debug, Default, Clone)]
pub struct Capabilities {
    /// CAPA was answered at all.
    pub known: bool,
    /// STLS offered.
    pub stls: bool,
    /// USER/PASS offered.
    pub user: bool,
    /// PIPELINING offered.
    pub pipelining: bool,
    /// UIDL offered.
    pub uidl: bool,
    /// TOP offered.
    pub top: bool,
    /// RFC 6856 UTF8 offered: the server serves messages with raw UTF-8 headers as they are
    /// only to a client that says UTF8.
    pub utf8: bool,
    /// SASL mechanisms, upper case.
    pub sasl: Vec<String>,
}

impl Capabilities {
    /// Add one CAPA line.
    pub fn add_line(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_ascii_whitespace();
        let Some(name) = words.next() else { return };
        match name.to_ascii_uppercase().as_str() {
            "STLS" => self.stls = true,
            "USER" => self.user = true,
            "PIPELINING" => self.pipelining = true,
            "UIDL" => self.uidl = true,
            "TOP" => self.top = true,
            "UTF8" => self.utf8 = true,
            "SASL" => {
                self.sasl = words
                    .filter(|w| is_mechanism_name(w))
                    .map(|w| w.to_ascii_uppercase())
                    .collect()
            }
            _ => {}
        }
    }

    /// Whether SASL `mech` is offered.
    pub fn has_sasl(&self, mech: &str) -> bool {
        self.sasl.iter().any(|m| m == mech)
    }
}

/// Whether `word` can be a SASL mechanism name (RFC 4422 section 3.1: 1 to 20 of A-Z, 0-9,
/// `-` and `_`; lower case tolerated). Anything else a server lists is ignored, so no
/// control character from a CAPA line reaches a message.
fn is_mechanism_name(word: &str) -> bool {
    (1..=20).contains(&word.len())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parse a scan listing line `N value` (LIST: value is a size; UIDL: value is the unique-id,
/// 1 to 70 characters 0x21..0x7E per RFC 1939 section 7).
pub fn scan_line(line: &[u8]) -> Result<(u32, &str)> {
    let bad = || {
        Error::protocol(format!(
            "the server sent a malformed listing line: {:?}",
            printable(line)
        ))
    };
    // On bytes, the value found with memchr: a listing of 100,000 messages comes through
    // here twice per run, and splitting it as `str` was a tenth of a run with nothing new.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let a = line.iter().take_while(|b| blank(b)).count();
    let digits = line[a..].iter().take_while(|b| b.is_ascii_digit()).count();
    let b = a + digits;
    if digits == 0 || digits > 10 || line.get(b).is_some_and(|c| !blank(c)) {
        return Err(bad());
    }
    let n = line[a..b]
        .iter()
        .try_fold(0u32, |n, d| {
            n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
        .filter(|&n| n > 0)
        .ok_or_else(bad)?;
    let c = b + line[b..].iter().take_while(|b| blank(b)).count();
    let d = c + memchr::memchr2(b' ', b'\t', &line[c..]).unwrap_or(line.len() - c);
    if c == d {
        return Err(bad());
    }
    let value = std::str::from_utf8(&line[c..d]).map_err(|_| bad())?;
    Ok((n, value))
}

/// Validate a unique-id from UIDL.
pub fn check_uidl(uid: &str) -> Result<()> {
    if uid.is_empty() || uid.len() > 70 || !uid.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::protocol(format!(
            "the server sent an invalid UIDL unique-id: {:?}",
            printable(uid.as_bytes())
        )));
    }
    Ok(())
}

/// The `<...>` timestamp of a greeting, for APOP.
pub fn apop_timestamp(greeting: &[u8]) -> Option<String> {
    let start = memchr::memchr(b'<', greeting)?;
    let end = start + memchr::memchr(b'>', &greeting[start..])?;
    let stamp = std::str::from_utf8(&greeting[start..=end]).ok()?;
    stamp.contains('@').then(|| stamp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_parsed_case_insensitively() {
        let mut c = Capabilities::default();
        for l in [
            "TOP",
            "user",
            "SASL plain LOGIN",
            "PIPELINING",
            "STLS",
            "UIDL",
        ] {
            c.add_line(l.as_bytes());
        }
        assert!(c.top && c.user && c.pipelining && c.stls && c.uidl);
        assert!(c.has_sasl("PLAIN") && c.has_sasl("LOGIN") && !c.has_sasl("CRAM-MD5"));
    }

    #[test]
    fn capa_keeps_only_valid_mechanism_names() {
        // Found by fuzz/fuzz_targets/pop3_reply.rs: a vertical tab is not ASCII whitespace,
        // so it stayed inside a "mechanism" and would have reached error messages.
        let mut c = Capabilities::default();
        c.add_line(b"SASL <\x0b\0\0\0r XOAUTH2 \x1b[31m cram-md5 THIS-NAME-IS-TOO-LONG-FOR-SASL");
        assert_eq!(c.sasl, ["XOAUTH2", "CRAM-MD5"]);
    }

    #[test]
    fn scan_lines_reject_garbage() {
        assert_eq!(scan_line(b"3 1200").unwrap(), (3, "1200"));
        assert!(scan_line(b"0 1").is_err());
        assert!(scan_line(b"x 1").is_err());
        assert!(scan_line(b"4").is_err());
        assert!(scan_line(b"+4 1").is_err());
        assert!(scan_line(b"4294967296 1").is_err(), "over u32");
        assert_eq!(scan_line(b" 7\t abc  extra").unwrap(), (7, "abc"));
        assert_eq!(scan_line(b"4294967295 x").unwrap(), (u32::MAX, "x"));
        assert!(check_uidl("abc def").is_err());
        assert!(check_uidl(&"a".repeat(71)).is_err());
    }

    #[test]
    fn temporary_auth_failures_are_recognised() {
        assert_eq!(auth_failure_class(b"[IN-USE] locked"), Class::Temporary);
        assert_eq!(auth_failure_class(b"[AUTH] failed"), Class::Auth);
        assert_eq!(command_failure_class(b"[SYS/TEMP] busy"), Class::Temporary);
        assert_eq!(command_failure_class(b"[SYS/PERM] broken"), Class::Protocol);
        assert_eq!(command_failure_class(b"no such message"), Class::Protocol);
    }

    #[test]
    fn apop_timestamp_is_found_in_greeting() {
        assert_eq!(
            apop_timestamp(b"POP3 server ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(apop_timestamp(b"Dovecot ready."), None);
    }
}
