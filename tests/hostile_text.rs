//! A server's words reach the user's terminal only through `text::printable`: an IMAP
//! server refuses the login with a text full of terminal escapes (retitle the window, clear
//! the screen, rewrite the line), and what mailfetch prints of it holds no control
//! character but the line end.

mod support;

use std::io::{BufRead, Write};
use support::account::Account;
use support::client::Client;
use support::listen::{greet, serve};

/// What the hostile server says when it refuses.
/// (Everything IMAP's resp-text allows: no NUL, CR or LF.)
const HOSTILE: &str = "\x1b]0;you have been pwned\x07\x1b[2J\x1b[1A\u{9b}2Kbad \x7f\x08password";

#[test]
fn escapes_in_a_refused_login_do_not_reach_the_terminal() {
    let port = serve(|stream| {
        let (mut out, mut lines) = greet(
            stream,
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile\r\n",
        );
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            let tag = line.split(' ').next().unwrap_or("*").to_string();
            let verb = line
                .split(' ')
                .nth(1)
                .unwrap_or("")
                .trim()
                .to_ascii_uppercase();
            let reply = match verb.as_str() {
                "CAPABILITY" => {
                    format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n")
                }
                "LOGOUT" => format!("* BYE\r\n{tag} OK bye\r\n"),
                _ => format!("{tag} NO [AUTHENTICATIONFAILED] {HOSTILE}\r\n"),
            };
            let _ = out.write_all(reply.as_bytes());
            line.clear();
        }
    });
    let c = Client::new(&Account::fake("imap", port).name("h").toml());
    for args in [&["pull"][..], &["pull", "--verbose"], &["check"]] {
        let out = c.run(args);
        assert_ne!(out.code, 0, "{args:?}: {out:?}");
        let printed = out.stdout.clone() + &out.stderr;
        assert!(
            !printed.chars().any(|ch| ch.is_control() && ch != '\n'),
            "{args:?} printed a control character: {out:?}"
        );
        if args == ["pull"] {
            // The refusal is shown, made harmless.
            assert!(out.stderr.contains("you have been pwned"), "{out:?}");
        }
    }
}
