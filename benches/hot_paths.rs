//! Micro-benchmarks of the per-byte and per-message hot paths (`cargo bench`): POP3
//! dot-unstuffing with CRLF conversion, mboxrd escaping, Maildir delivery (naming, write,
//! background fsync), and the state journal's append and load. Stores live on /dev/shm when
//! it exists, so the disk does not drown the CPU cost.

use divan::{black_box, Bencher};
use mailfetch::identity::{MailboxKey, MessageId, Validity};
use mailfetch::pop3::DotReader;
use mailfetch::sink::{Maildir, Mbox, Meta, Sink};
use mailfetch::source::Flags;
use mailfetch::state::{Delivered, Kind, State};
use std::io::{BufReader, Cursor, Read};

fn main() {
    divan::main();
}

fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    tempfile::tempdir_in(base).expect("scratch dir")
}

/// A message of about `size` bytes of 76-character lines, some starting with `.` or `From `.
fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\nSubject: bench\n\n".to_vec();
    let mut i = 0;
    while m.len() < size {
        match i % 40 {
            7 => m.extend_from_slice(b".a line that starts with a dot\n"),
            19 => m.extend_from_slice(b"From the body, a line mbox must quote\n"),
            _ => m.extend_from_slice(&[b'x'; 75]),
        }
        m.push(b'\n');
        i += 1;
    }
    m
}

/// `msg` as a POP3 server sends it: CRLF, dot-stuffed, terminated.
fn on_the_wire(msg: &[u8]) -> Vec<u8> {
    let mut w = Vec::with_capacity(msg.len() * 2);
    for line in msg.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            w.push(b'.');
        }
        w.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b".\r\n");
    w
}

#[divan::bench(args = [4 << 10, 1 << 20])]
fn pop3_unstuff_crlf(bencher: Bencher, size: usize) {
    let wire = on_the_wire(&message(size));
    let mut out = vec![0u8; 256 * 1024];
    bencher
        .counter(divan::counter::BytesCount::new(wire.len()))
        .bench_local(|| {
            let mut r = BufReader::with_capacity(128 * 1024, Cursor::new(&wire));
            let mut d = DotReader::new(&mut r, u64::MAX);
            let mut total = 0;
            loop {
                let n = d.read(&mut out).unwrap();
                if n == 0 {
                    break;
                }
                total += n;
            }
            black_box(total)
        });
}

fn meta() -> Meta<'static> {
    Meta {
        mailbox: "INBOX",
        delimiter: Some('/'),
        flags: Flags::default(),
        internal_date: Some(1_700_000_000),
        size: 0,
    }
}

#[divan::bench(args = [4 << 10, 1 << 20])]
fn mboxrd_escape_and_append(bencher: Bencher, size: usize) {
    let dir = scratch();
    let msg = message(size);
    let mut mbox = Mbox::open(&dir.path().join("box")).unwrap();
    bencher
        .counter(divan::counter::BytesCount::new(msg.len()))
        .bench_local(|| {
            mbox.begin().unwrap();
            mbox.deliver(&meta(), &mut &msg[..]).unwrap();
            // Undo the batch (truncate), so the file does not grow across iterations.
            mbox.abort();
        });
}

#[divan::bench]
fn maildir_deliver_small(bencher: Bencher) {
    let dir = scratch();
    let msg = message(4 << 10);
    let mut md = Maildir::open(dir.path()).unwrap();
    bencher.bench_local(|| {
        md.deliver(&meta(), &mut &msg[..]).unwrap();
        md.abort();
    });
}

/// The state's mailbox of the benchmarks, a POP3 inbox.
const INBOX: MailboxKey = MailboxKey::new("INBOX");

fn delivered(ids: &[String]) -> Vec<Delivered<'_>> {
    ids.iter()
        .map(|id| Delivered {
            id: MessageId::new(id),
            fingerprint: None,
            kind: Kind::Message,
        })
        .collect()
}

#[divan::bench(args = [1, 200])]
fn state_record_batch(bencher: Bencher, batch: usize) {
    let dir = scratch();
    let mut state = State::open(dir.path(), "bench", false).unwrap();
    let ids: Vec<String> = (0..batch)
        .map(|i| format!("1700000000.M{i}P42.host,S=5000"))
        .collect();
    let mut round = 0u64;
    bencher.bench_local(|| {
        round += 1;
        let these: Vec<String> = ids.iter().map(|id| format!("{round}-{id}")).collect();
        state
            .record(INBOX, Validity::Permanent, &delivered(&these))
            .unwrap();
    });
}

/// `n` IDs as Dovecot's maildir makes its UIDLs (`<secs>.M<usecs>P<pid>.<host>,S=,W=`).
fn dovecot_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let size = 4000 + (i * 7919) % 60000;
            format!(
                "{}.M{:06}P{}.mailbench,S={size},W={}",
                1_704_067_201 + i / 7,
                (i * 104_729) % 1_000_000,
                1 + i % 5,
                size + size / 40
            )
        })
        .collect()
}

/// The journal of a pull of `ids` 1,000 a batch, as the `sink` would have it journalled:
/// about 8 MB of `+ INBOX - ID at=SECONDS` lines for 100,000, in `B rollback ... E` batches
/// (mbox) or after the `B forward` line naming them (Maildir).
fn state_of(dir: &std::path::Path, ids: &[String], sink: &str) {
    let mut state = State::open(dir, "bench", false).unwrap();
    for chunk in ids.chunks(1000) {
        if sink == "maildir" {
            state
                .record_forward(
                    INBOX,
                    Validity::Permanent,
                    &delivered(chunk),
                    "maildir",
                    b"tmp/1\tnew/1",
                )
                .unwrap();
            state.end_batch().unwrap();
        } else {
            state.begin_rollback("mbox", b"1000").unwrap();
            state
                .record(INBOX, Validity::Permanent, &delivered(chunk))
                .unwrap();
        }
    }
}

/// Open (load) a journal of 100,000 IDs and close it again (the drop counts too: a pull
/// frees its state at exit).
#[divan::bench(sample_count = 20, args = ["mbox", "maildir"])]
fn state_load_100k(bencher: Bencher, sink: &str) {
    let dir = scratch();
    state_of(dir.path(), &dovecot_ids(100_000), sink);
    bencher.bench_local(|| drop(black_box(State::open(dir.path(), "bench", false).unwrap())));
}

/// What a pull with nothing new asks of the state of a mailbox of 100,000: load, prune to
/// what the server lists (all of it), look every listed ID up, close.
#[divan::bench(sample_count = 20)]
fn state_nonew_100k(bencher: Bencher) {
    let dir = scratch();
    let ids = dovecot_ids(100_000);
    state_of(dir.path(), &ids, "mbox");
    let present: foldhash::HashSet<MessageId> = ids.iter().map(|id| MessageId::new(id)).collect();
    bencher.bench_local(|| {
        let mut state = State::open(dir.path(), "bench", false).unwrap();
        state.retain(INBOX, &present);
        let seen = ids
            .iter()
            .filter(|id| {
                state
                    .kind(INBOX, Validity::Permanent, MessageId::new(id))
                    .is_some()
            })
            .count();
        assert_eq!(seen, ids.len());
        drop(black_box(state));
    });
}
