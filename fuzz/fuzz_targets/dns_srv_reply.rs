//! The DNS SRV answer parser (src/dns_srv.rs `parse_reply`, RFC 1035 and RFC 2782) on
//! arbitrary resolver packets: never panics, and what it accepts is what `init` may offer
//! the user: records of the question asked, best first, with host names of at most 255
//! bytes of letters, digits, `-`, `_` and dots, no port 0, no more records than the packet
//! has room for.
//!
//! The first input byte picks the packet: odd, the rest is the whole packet; even, a valid
//! header and question for the query (answer count from the input) come first and the rest
//! is the answer section, so that most runs get past the question.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::dns_srv::{build_query, parse_reply, Found};

const NAME: &str = "_imaps._tcp.example.test";
const ID: u16 = 0x2a2a;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let packet = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let Some((count, answers)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let mut p = build_query(ID, NAME).expect("a valid name");
        p[2] = 0x81; // QR, RD
        p[3] = 0x80 | (mode >> 4 & 0x03); // RA, rcode 0..3 (3: NXDOMAIN)
        p[6..8].copy_from_slice(count);
        p.extend_from_slice(answers);
        p
    };
    let Ok(found) = parse_reply(ID, NAME, &packet) else {
        return;
    };
    assert!(packet.len() >= 12 && packet[..2] == ID.to_be_bytes());
    let Found::Offered(records) = found else {
        return;
    };
    assert!(!records.is_empty());
    // An SRV record takes at least 17 bytes: a 2-byte owner pointer, type, class, TTL,
    // length, and priority, weight, port with a one-byte target.
    assert!(records.len() <= packet.len() / 17, "{records:?}");
    for pair in records.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.priority < b.priority || (a.priority == b.priority && a.weight >= b.weight),
            "not best first: {records:?}"
        );
    }
    for r in &records {
        assert!(r.port != 0 && r.target != ".", "{r:?}");
        assert!(!r.target.is_empty() && r.target.len() <= 255, "{r:?}");
        assert!(
            r.target
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
            "{r:?}"
        );
        assert!(
            !r.target.starts_with('.') && !r.target.contains(".."),
            "{r:?}"
        );
    }
});
