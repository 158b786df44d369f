//! mboxrd delivery (src/sink/mbox.rs) through the real sink into a file on tmpfs: the
//! entry is one `From ` line, the message with `^>*From ` lines quoted once more, and one
//! blank line; no other line starts with `From `, and unquoting gives the message back
//! (with a final newline added if it had none).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::sink::{Mbox, Meta, Sink};
use mailfetch::source::Flags;
use std::path::PathBuf;
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("mailfetch-fuzz-{}.mbox", std::process::id()))
    })
}

/// Undo one level of mboxrd quoting on a line.
fn unquote(line: &[u8]) -> &[u8] {
    let arrows = line.iter().take_while(|&&b| b == b'>').count();
    if arrows > 0 && line[arrows..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

fuzz_target!(|message: &[u8]| {
    let path = path();
    let _ = std::fs::remove_file(path);
    let mut mbox = Mbox::open(path).expect("open");
    let meta = Meta {
        mailbox: "INBOX",
        delimiter: None,
        flags: Flags::default(),
        internal_date: Some(1_700_000_000),
        size: message.len() as u64,
    };
    mbox.begin().expect("begin");
    mbox.deliver(&meta, &mut &message[..]).expect("deliver");
    mbox.prepare().expect("prepare");
    mbox.commit().expect("commit");
    drop(mbox);
    let entry = std::fs::read(path).expect("read back");
    let _ = std::fs::remove_file(path);

    let first = entry.iter().position(|&b| b == b'\n').expect("a From line");
    assert!(entry.starts_with(b"From "));
    let body = entry[first + 1..]
        .strip_suffix(b"\n")
        .expect("a blank line after the message");
    let mut want = message.to_vec();
    if !want.is_empty() && want.last() != Some(&b'\n') {
        want.push(b'\n');
    }
    let mut got = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        assert!(!line.starts_with(b"From "), "unquoted From line {line:?}");
        got.extend_from_slice(unquote(line));
    }
    assert_eq!(got, want);
});
