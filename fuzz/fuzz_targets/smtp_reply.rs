//! The LMTP/SMTP sink (src/sink/smtp.rs) against a hostile server: whatever bytes the
//! server sends as its greeting and replies, over a Unix socket, while one message is
//! delivered. Never panics or hangs; a message counts as delivered only after the server
//! greeted with 220 and took DATA with 354 and its end with 250; and when it was delivered,
//! what went over the wire after DATA is the message itself, CRLF line ends and dots
//! stuffed, ended by the one `.` line.
//!
//! Input: a byte for LMTP (odd) or SMTP (even), what the server sends (all of it, at once,
//! then end of stream) up to the first NUL, and the message after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::sink::{Address, Dialect, Meta, Outcome, Sink, Smtp};
use mailfetch::source::Flags;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A server thread: for each script it is given, it accepts one connection, sends the
/// script, ends its side, and hands back all the client sent.
struct Server {
    path: PathBuf,
    scripts: Sender<Vec<u8>>,
    heard: Receiver<Vec<u8>>,
}

fn server() -> &'static Mutex<Server> {
    static SERVER: OnceLock<Mutex<Server>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = base.join(format!("mailfetch-fuzz-smtp-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind");
        let (scripts, script_rx) = channel::<Vec<u8>>();
        let (heard_tx, heard) = channel();
        std::thread::spawn(move || {
            for script in script_rx {
                let (mut stream, _) = listener.accept().expect("accept");
                let _ = stream.write_all(&script);
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let mut got = Vec::new();
                let _ = stream.read_to_end(&mut got);
                heard_tx.send(got).expect("main thread");
            }
        });
        Mutex::new(Server {
            path,
            scripts,
            heard,
        })
    })
}

/// The message as DATA should carry it: CRLF line ends (a final one added), leading dots
/// doubled.
fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut at_start, mut last) = (true, b'\n');
    for &b in message {
        if at_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && last != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_start = b == b'\n';
        last = b;
    }
    if last != b'\n' {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The reply codes in `script`, of every line that has one.
fn codes(script: &[u8]) -> Vec<&[u8]> {
    script
        .split(|&b| b == b'\n')
        .filter_map(|l| l.get(..3))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let lmtp = mode & 1 == 1;
    let (script, message) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let server = server().lock().unwrap_or_else(|e| e.into_inner());
    server.scripts.send(script.to_vec()).expect("server thread");
    let dialect = if lmtp { Dialect::Lmtp } else { Dialect::Smtp };
    let mut sink = Smtp::new(
        dialect,
        Address::Local(server.path.clone()),
        "rcpt@example.test",
        Duration::from_secs(10),
        mailfetch::net::Trace::off(),
    );
    let meta = Meta {
        mailbox: "INBOX",
        delimiter: None,
        flags: Flags::default(),
        internal_date: None,
        size: message.len() as u64,
    };
    let result = sink.deliver(&meta, &mut &message[..]);
    drop(sink);
    let heard = server.heard.recv().expect("server thread");

    let hello: &[u8] = if lmtp { b"LHLO " } else { b"EHLO " };
    assert!(
        heard.is_empty() || heard.starts_with(hello),
        "{:?}",
        String::from_utf8_lossy(&heard)
    );
    // Refused or failed: nothing to check of what was sent.
    if !matches!(result, Ok(Outcome::Delivered)) {
        return;
    }
    assert!(script.starts_with(b"220"));
    let codes = codes(script);
    assert!(codes.contains(&&b"354"[..]) && codes.contains(&&b"250"[..]));
    let start = memchr::memmem::find(&heard, b"\r\nDATA\r\n").expect("DATA sent") + 8;
    let data = &heard[start..];
    let want = stuffed(message);
    assert!(
        data.starts_with(&want),
        "{:?}",
        String::from_utf8_lossy(data)
    );
    assert!(data[want.len()..].starts_with(b".\r\n"));
});
