//! The IMAP client's whole state machine (src/imap: login, LIST, SELECT, the listing, the
//! pipelined fetch with streamed bodies, STORE/EXPUNGE, LOGOUT) against a server that
//! answers with arbitrary bytes, served on a loopback port. Every outcome must be a clean
//! error or success: no panic, no hang, no allocation sized by the server.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mailfetch::imap::drive_for_fuzzing(data);
});
