//! The local Maildir reader (src/local.rs, for `upload` and `verify --local`) on a Maildir
//! of files with arbitrary names, contents and times: never panics, hands out every file of
//! `cur/` and `new/` whose name does not start with a dot (and nothing of `tmp/`), each once,
//! with its contents, size and modification time, oldest first, and with the flags the info
//! of its name says (`:2,` or `!2,`; only in `cur/`).
//!
//! Input: files, NUL-separated, each a byte (odd: in `cur/`, else `new/`; the rest picks
//! the time), the name up to a newline (cut to one path component of at most 200 bytes),
//! and the contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::local::{Kind, Store};
use mailfetch::source::Flags;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("mailfetch-fuzz-maildir-{}", std::process::id()))
    })
}

/// The flags a reader should see in a file name of `cur/`: the letters after the last
/// `:2,` (or, failing that, the last `!2,`).
fn flags_of(name: &str) -> Flags {
    let info = name
        .rfind(":2,")
        .or_else(|| name.rfind("!2,"))
        .map_or("", |i| &name[i + 3..]);
    Flags {
        seen: info.contains('S'),
        answered: info.contains('R'),
        flagged: info.contains('F'),
        draft: info.contains('D'),
        deleted: false,
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = dir();
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("maildir");
    }
    // What the reader should hand out, by path: contents, time, flags.
    let mut want = BTreeMap::new();
    for file in data.split(|&b| b == 0).take(64) {
        let Some((&pick, rest)) = file.split_first() else {
            continue;
        };
        let cur = pick & 1 == 1;
        let time = u32::from(pick >> 1) * 3_000_017;
        let (name, contents) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b""[..]),
        };
        let mut name: String = String::from_utf8_lossy(name)
            .chars()
            .filter(|&c| c != '/')
            .collect();
        while name.len() > 200 {
            name.pop();
        }
        if name.is_empty() || name == "." || name == ".." {
            continue;
        }
        let sub = if cur { "cur" } else { "new" };
        let path = dir.join(sub).join(&name);
        std::fs::write(&path, contents).expect("write message");
        let when = UNIX_EPOCH + Duration::from_secs(u64::from(time));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(when))
            .expect("set time");
        std::fs::write(dir.join("tmp").join(&name), b"half").expect("write tmp");
        if !name.starts_with('.') {
            let flags = if cur {
                flags_of(&name)
            } else {
                Flags::default()
            };
            want.insert(path, (contents.to_vec(), i64::from(time), flags));
        }
    }

    let store = Store::open(dir).expect("a Maildir");
    assert_eq!(store.kind(), Kind::Maildir);
    let mut got = Vec::new();
    let n = store
        .for_each(&mut |m, body| {
            let mut text = Vec::new();
            body.read_to_end(&mut text).expect("read message");
            assert_eq!(m.size, text.len() as u64, "{}", m.place);
            got.push((PathBuf::from(&m.place), text, m.date, m.flags));
            Ok(())
        })
        .expect("read the Maildir");
    assert_eq!(n, got.len());
    assert_eq!(n, want.len(), "one message per file");
    for pair in got.windows(2) {
        assert!(pair[0].2 <= pair[1].2, "not oldest first");
    }
    for (path, text, date, flags) in got {
        let (contents, time, f) = want.remove(&path).expect("a file we wrote, once");
        assert_eq!(text, contents);
        assert_eq!(date, Some(time));
        assert_eq!(flags, f, "{path:?}");
    }
});
