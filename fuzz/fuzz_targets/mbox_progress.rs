//! The mbox recovery (src/sink/mbox.rs `Mbox::recover`) after a crash, on an arbitrary
//! progress file `FILE.lock.TAG` (`mailfetch-mbox-progress OFFSET FROM-LINE`), an arbitrary
//! mbox and an arbitrary journalled length: never panics, never touches the bytes before the
//! journalled length, removes one contiguous run of bytes after it (the crashed batch) and
//! keeps what follows only from another program's `From ` line on; the progress file and
//! the locks are gone afterwards.
//!
//! Input: the journalled length (two bytes, little-endian), the progress file's line (up to
//! and with the first newline), the mbox's bytes (the rest).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::sink::{Mbox, Sink, Unfinished};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "mailfetch-fuzz-mbox-progress-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    })
}

/// A tag no live lock of this process has (ours are `PID-N`).
const TAG: &str = "0-0";

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = u64::from(u16::from_le_bytes(*len));
    let cut = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(rest.len(), |i| i + 1);
    let (progress, before) = rest.split_at(cut);
    let dir = dir();
    let path = dir.join("box");
    let progress_path = dir.join(format!("box.lock.{TAG}"));
    std::fs::write(&path, before).expect("write mbox");
    std::fs::write(&progress_path, progress).expect("write progress");

    let mut mbox = Mbox::open(&path).expect("open");
    let intent = Unfinished::Rollback {
        kind: "mbox".into(),
        data: format!("{len}\n{TAG}").into_bytes(),
    };
    let result = mbox.recover(&intent);
    drop(mbox);
    let after = std::fs::read(&path).expect("read back");
    let progress_left = progress_path.exists();
    let lock_left = dir.join("box.lock").exists();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&progress_path);
    result.expect("recovery on a local file");

    assert!(!progress_left, "the progress file stays");
    assert!(!lock_left, "the dotlock stays");
    let now = before.len() as u64;
    if now <= len {
        assert_eq!(
            after, before,
            "nothing after the journalled length, nothing to cut"
        );
        return;
    }
    let len = len as usize;
    assert!(after.len() <= before.len());
    assert_eq!(
        after[..len],
        before[..len],
        "bytes before the batch changed"
    );
    // What is left after the batch is a tail of the file as it was...
    let cut = before.len() - after.len();
    assert_eq!(after[len..], before[len + cut..], "not one contiguous cut");
    // ...that is all of it, or starts where the crashed message would have begun, or at a
    // `From ` line at a line start (another program's first message), or is empty.
    let kept = &before[len + cut..];
    if cut > 0 && !kept.is_empty() {
        let offset = std::str::from_utf8(progress)
            .ok()
            .and_then(|p| p.strip_prefix("mailfetch-mbox-progress "))
            .and_then(|p| p.split(' ').next())
            .and_then(|o| o.parse::<u64>().ok());
        let at_offset = offset == Some((len + cut) as u64);
        let at_from = kept.starts_with(b"From ") && before[len + cut - 1] == b'\n';
        assert!(at_offset || at_from, "kept {kept:?} after cutting {cut}");
    }
});
