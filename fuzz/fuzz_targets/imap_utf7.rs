//! Modified UTF-7 folder names (src/imap/utf7.rs, RFC 3501 section 5.1.3): decoding what a
//! hostile server lists never panics, every name survives encode then decode, and a decoded
//! name encodes to a wire form that decodes to it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::imap::utf7;

fuzz_target!(|input: (&str, &str)| {
    let (name, wire) = input;
    let encoded = utf7::encode(name);
    assert!(
        encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "{encoded:?}"
    );
    assert_eq!(utf7::decode(&encoded).as_deref(), Some(name), "{encoded:?}");
    if let Some(decoded) = utf7::decode(wire) {
        let again = utf7::encode(&decoded);
        assert_eq!(
            utf7::decode(&again).as_deref(),
            Some(decoded.as_str()),
            "{wire:?}"
        );
    }
});
