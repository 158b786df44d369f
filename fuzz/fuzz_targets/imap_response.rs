//! The IMAP response parser (src/imap/wire.rs) on arbitrary server bytes, read as a session
//! reads them: responses one after another, message bodies streamed. Nothing may panic or
//! allocate by a number the input names, and what can reach a terminal (status texts,
//! mailbox names, codes) carries no control character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::imap::wire::{drain_for_fuzzing, Response, Untagged};

fn printable(text: &str) {
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

fuzz_target!(|data: &[u8]| {
    for r in drain_for_fuzzing(data) {
        match r {
            Response::Tagged(tag, c) => {
                assert!(!tag.is_empty());
                printable(&c.text);
            }
            Response::Continue(text) => printable(&text),
            Response::Untagged(Untagged::State(c)) => printable(&c.text),
            Response::Untagged(Untagged::Search(uids)) => assert!(uids.len() <= data.len() / 2),
            Response::Untagged(Untagged::Fetch(_, d)) => {
                if let Some(body) = d.body.and_then(|b| b.data) {
                    assert!(body.len() <= data.len());
                }
            }
            _ => {}
        }
    }
});
