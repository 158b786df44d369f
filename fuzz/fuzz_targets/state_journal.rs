//! The state journal loader (src/state/journal.rs) on arbitrary journal files: never
//! panics, and a journal it accepts is one it can keep. What was loaded answers consistently
//! (the count of a mailbox is the number of its IDs that are known), forgetting an ID
//! forgets exactly that one, and the compacted journal loads back to the same state.
//!
//! The first input byte picks the file: odd, the rest as it is (checksums and all); even,
//! the rest is records, one a line, each given its checksum and written after the header,
//! so that most runs get past the checksums. A line starting with `!` is written without
//! one (a damaged line), and a last line without a newline stays torn.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::identity::{MailboxKey, MessageId};
use mailfetch::state::State;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("mailfetch-fuzz-state-{}", std::process::id()))
    })
}

/// A journal line as the writer makes it.
fn line(record: &[u8]) -> Vec<u8> {
    let mut out = format!("{:08x} ", crc32fast::hash(record)).into_bytes();
    out.extend_from_slice(record);
    out.push(b'\n');
    out
}

/// Every field of the input, unescaped as the loader would: the names the loader can have
/// seen (and more).
fn candidates(data: &[u8]) -> BTreeSet<String> {
    data.split(|&b| b == b'\n' || b == b' ')
        .filter_map(|f| std::str::from_utf8(f).ok())
        .flat_map(|f| [Some(f.to_string()), mailfetch::percent::decode(f)])
        .flatten()
        .collect()
}

/// What the state says of each candidate name: per mailbox, its validity, count, and the
/// kind and first-delivery time of each candidate ID, and its fingerprints.
type Seen = BTreeMap<String, (String, usize, Vec<(String, String)>, Vec<String>)>;

fn observe(state: &State, names: &BTreeSet<String>) -> Seen {
    let mut seen = Seen::new();
    for mb in names {
        let mbk = MailboxKey::new(mb);
        let Some(validity) = state.validity(mbk) else {
            continue;
        };
        let count = state.count(mbk);
        let ids: Vec<(String, String)> = names
            .iter()
            .filter_map(|id| {
                let kind = state.kind(mbk, validity, MessageId::new(id))?;
                let at = state.first_delivered(mbk, validity, MessageId::new(id));
                Some((id.clone(), format!("{kind:?} {at:?}")))
            })
            .collect();
        // Every recorded ID was a field of the input, so each is a candidate.
        assert_eq!(count, ids.len(), "count of {mb:?}");
        let mut fingerprints: Vec<String> = state.fingerprints(mbk).map(String::from).collect();
        fingerprints.sort();
        assert!(fingerprints.len() <= count);
        seen.insert(mb.clone(), (validity.to_string(), count, ids, fingerprints));
    }
    seen
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dir = dir();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("state dir");
    let file = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let mut file = line(b"mailfetch-state 1");
        let records = rest.split_inclusive(|&b| b == b'\n');
        for record in records {
            let (record, torn) = match record.strip_suffix(b"\n") {
                Some(r) => (r, false),
                None => (record, true),
            };
            if let Some(raw) = record.strip_prefix(b"!") {
                file.extend_from_slice(raw);
                file.push(b'\n');
            } else {
                file.extend_from_slice(&line(record));
            }
            if torn {
                file.pop();
            }
        }
        file
    };
    std::fs::write(State::path_for(dir, "acct"), &file).expect("write journal");
    let Ok(mut state) = State::open(dir, "acct", false) else {
        return;
    };
    let names = candidates(rest);
    let before = observe(&state, &names);

    // Forget the first ID of the first mailbox that has one: exactly that one goes.
    let mut want = before.clone();
    if let Some((mb, (_, count, ids, _))) = want.iter_mut().find(|(_, m)| !m.2.is_empty()) {
        let (gone, _) = ids.remove(0);
        *count -= 1;
        let present = ids.iter().map(|(id, _)| MessageId::new(id)).collect();
        let mb = MailboxKey::new(mb);
        state.retain(mb, &present);
        let validity = state.validity(mb).unwrap();
        assert_eq!(state.kind(mb, validity, MessageId::new(&gone)), None);
    }
    // Fingerprints of the forgotten ID may go too: compare them as "at most".
    let after = observe(&state, &names);
    let strip = |s: &Seen| -> Vec<(String, String, usize, Vec<(String, String)>)> {
        s.iter()
            .map(|(mb, (va, n, ids, _))| (mb.clone(), va.clone(), *n, ids.clone()))
            .collect()
    };
    assert_eq!(strip(&after), strip(&want));

    // A journal without a batch left open is compacted, and must load back as it was.
    if state.unfinished().is_none() {
        state.compact_if_worthwhile().expect("compact");
        drop(state);
        let again = State::open(dir, "acct", false).expect("the compacted journal loads");
        assert_eq!(observe(&again, &names), after);
    }
});
