//! The local mbox reader (src/local.rs, for `upload` and `verify --local`) on arbitrary
//! files, and against mailfetch's own mboxrd writer (src/sink/mbox.rs).
//!
//! First input byte odd: the rest is an mbox file of arbitrary bytes. Reading it never
//! panics; a file is taken as an mbox only if it is empty or starts with `From `; each
//! message's size is the length of the text handed out, and the messages together are no
//! longer than the file.
//!
//! Even: the rest is messages, split at each NUL byte, delivered through the mbox sink in
//! one batch with dates from the input; reading the file back gives the same messages (a
//! final newline added to one that had none), in order, each with its date.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::local::{Kind, Store};
use mailfetch::sink::{Mbox, Meta, Sink};
use mailfetch::source::Flags;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("mailfetch-fuzz-local-{}.mbox", std::process::id()))
    })
}

/// Every message of the store at `path`: its date, size and text.
fn read(path: &Path) -> Option<Vec<(Option<i64>, u64, Vec<u8>)>> {
    let store = Store::open(path).ok()?;
    assert_eq!(store.kind(), Kind::Mbox);
    let mut out = Vec::new();
    let n = store
        .for_each(&mut |m, body| {
            let mut text = Vec::new();
            body.read_to_end(&mut text).expect("a message in memory");
            out.push((m.date, m.size, text));
            Ok(())
        })
        .ok()?;
    assert_eq!(n, out.len());
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let path = path();
    let _ = std::fs::remove_file(path);
    if mode & 1 == 1 {
        std::fs::write(path, rest).expect("write mbox");
        let messages = read(path);
        let _ = std::fs::remove_file(path);
        let Some(messages) = messages else {
            return;
        };
        assert!(rest.is_empty() || rest.starts_with(b"From "));
        let mut total = 0;
        for (_, size, text) in &messages {
            assert_eq!(*size, text.len() as u64);
            total += size;
        }
        assert!(total <= rest.len() as u64);
        return;
    }

    // Dates from the input, one per message, in 1970..2106 (what the From line can say).
    let mut date = u32::from(mode) * 0x0101_0101;
    let messages: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
    let mut dates = Vec::new();
    let mut mbox = Mbox::open(path).expect("open");
    mbox.begin().expect("begin");
    for message in &messages {
        date = date
            .wrapping_mul(2_654_435_761)
            .wrapping_add(message.len() as u32);
        let meta = Meta {
            mailbox: "INBOX",
            delimiter: None,
            flags: Flags::default(),
            internal_date: Some(i64::from(date)),
            size: message.len() as u64,
        };
        mbox.deliver(&meta, &mut &message[..]).expect("deliver");
        dates.push(Some(i64::from(date)));
    }
    mbox.prepare().expect("prepare");
    mbox.commit().expect("commit");
    drop(mbox);
    let got = read(path).expect("our own mbox reads back");
    let _ = std::fs::remove_file(path);
    assert_eq!(got.len(), messages.len(), "message count");
    for ((message, date), (got_date, _, text)) in messages.iter().zip(&dates).zip(&got) {
        let mut want = message.to_vec();
        if !want.is_empty() && want.last() != Some(&b'\n') {
            want.push(b'\n');
        }
        assert_eq!(
            String::from_utf8_lossy(text),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(text, &want);
        assert_eq!(got_date, date, "the From line's date");
    }
});
