//! Hostile servers that announce more than they may: an IMAP literal far larger than
//! anything mailfetch asks for is refused when announced (exit 76), before the IMAP parser
//! grows a buffer for it. (POP3's bounded lines and sizes are in tests/pop3_faults.rs.)

mod support;

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};
use support::account::Account;
use support::client::Client;
use support::listen::{greet, serve};

#[test]
fn imap_literal_larger_than_any_request_is_refused_when_announced() {
    let port = serve(|stream| {
        let (mut out, mut lines) = greet(
            stream,
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile\r\n",
        );
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap_or(0) > 0 {
            // 400 MB announced, then silence: a client that believed it would sit on
            // a 400 MB buffer until the timeout.
            let _ = out.write_all(b"* 1 FETCH (BODY[] {400000000}\r\nxyz");
            std::thread::sleep(Duration::from_secs(10));
        }
    });
    let c = Client::new(&Account::fake("imap", port).name("h").toml());
    let started = Instant::now();
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 76, "{out:?}");
    assert!(
        out.stderr
            .contains("literal of 400000000 bytes, over the limit"),
        "{out:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused at once"
    );
}

/// A fake IMAP server on loopback that sends `greeting`, then `reply` after the client's
/// first command line, and then waits; a client for it with `tls`.
fn scripted_imap(greeting: &'static [u8], reply: &'static [u8], tls: &str) -> Client {
    let port = serve(move |stream| {
        let (mut out, mut lines) = greet(stream, greeting);
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = out.write_all(reply);
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    Client::new(
        &Account::fake("imap", port)
            .name("h")
            .tls(tls)
            .timeout(2)
            .toml(),
    )
}

#[test]
fn a_non_ascii_byte_in_a_greeting_before_starttls_is_an_error_not_a_panic() {
    // imap-proto panicked here (`&s[1..]` on a non-ASCII byte): exit 101, before TLS.
    let c = scripted_imap(
        b"* OK [CAPABILITY IMAP4rev1 STARTTLS]\xe9\r\n",
        b"A1 BAD \xe9\xff\r\n",
        "starttls",
    );
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 76, "{out:?}");
    assert!(out.stderr.contains("refused STARTTLS"), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
}

#[test]
fn braces_ending_a_text_line_do_not_hide_a_huge_literal() {
    // The old literal guard took `{38}` ending a text for a literal, skipped the next 38
    // bytes and so never saw the 500 MB announced in them: async-imap zero-filled 500 MB.
    let c = scripted_imap(
        b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi {38}\r\n",
        b"* 1 FETCH (UID 1 BODY[] {500000000}\r\nxyz",
        "none",
    );
    let (code, rss_kb) = c.run_measured(&["pull"]);
    assert_eq!(code, 76);
    assert!(rss_kb < 24 * 1024, "peak RSS {rss_kb} KiB");
}
