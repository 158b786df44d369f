//! The POP3 reply parser (src/pop3/reply.rs) on arbitrary server lines: status lines, CAPA
//! lines, LIST/UIDL scan lines, APOP greetings. Nothing may panic, and what reaches an error
//! message or a command must be what the parser promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::pop3::reply::{self, Capabilities, Status};

fuzz_target!(|line: &[u8]| {
    match reply::status(line) {
        Ok(Status::Ok(text) | Status::Err(text) | Status::Continue(text)) => {
            assert!(text.len() < line.len());
            let _ = reply::auth_failure_class(text);
            let _ = reply::command_failure_class(text);
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
    let shown = reply::printable(line);
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.chars().count() <= 200);
    let mut caps = Capabilities::default();
    caps.add_line(line);
    for mech in &caps.sasl {
        // RFC 4422 section 3.1: what reaches commands and messages is a proper name.
        assert!((1..=20).contains(&mech.len()), "{mech:?}");
        assert!(
            mech.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'),
            "{mech:?}"
        );
    }
    if let Ok((n, value)) = reply::scan_line(line) {
        assert!(n > 0 && !value.is_empty());
        if reply::check_uidl(value).is_ok() {
            assert!(value.len() <= 70 && value.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        }
    }
    if let Some(stamp) = reply::apop_timestamp(line) {
        assert!(stamp.starts_with('<') && stamp.ends_with('>') && stamp.contains('@'));
    }
});
