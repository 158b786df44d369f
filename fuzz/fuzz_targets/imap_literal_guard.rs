//! The IMAP literal bound (src/imap/literal.rs) on arbitrary server bytes: never panics,
//! refuses only announcements over the limit, and gives the same verdict however the stream
//! is split between reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::imap::literal::LiteralGuard;

fuzz_target!(|input: (u16, usize, &[u8])| {
    let (limit, cut, wire) = input;
    let limit = u64::from(limit);
    let whole = LiteralGuard::new(limit).feed(wire);
    if let Err(size) = whole {
        assert!(size > limit);
    }
    let cut = cut % (wire.len() + 1);
    let mut guard = LiteralGuard::new(limit);
    let split = guard.feed(&wire[..cut]).and_then(|_| guard.feed(&wire[cut..]));
    assert_eq!(whole, split, "split at {cut}");
});
