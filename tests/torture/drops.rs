//! Connections that break: cut at every message boundary and in the middle of every message
//! (POP3, where the proxy can see the boundaries), cut at evenly spread byte offsets (IMAP),
//! and servers that stall mid-message (the read timeout fires: exit 75, promptly). After
//! every break nothing may be deleted that is not delivered, nothing partial delivered, and
//! an unbroken rerun completes the job exactly once.

use crate::check::{self, local_messages, message, Exit, Mail, Row};
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::{Dovecot, TestUser};
use crate::support::proxy::{Fault, Proxy};
use crate::Scenario;
use std::time::Duration;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("drop: pop3->maildir keep, every boundary", |_| {
            pop3_boundaries(true, false)
        }),
        Scenario::new("drop: pop3->mbox delete, every boundary", |_| {
            pop3_boundaries(false, true)
        }),
        Scenario::new("drop: imap->maildir delete, spread offsets", |ctx| {
            imap_offsets(if ctx.full { 24 } else { 6 })
        }),
        Scenario::new("stall: pop3 mid-message, timeout 2 s", |_| {
            stall(false, false)
        }),
        Scenario::new("stall: imap once, reconnect resumes", |_| stall(true, true)),
        Scenario::new("stall: imap always, timeout 2 s", |_| stall(true, false)),
    ]
}

/// The mailbox every cut is tried on: small messages, one over the pipelining window.
fn mailbox(tag: &str) -> Vec<Vec<u8>> {
    [900, 4_000, 200, 30_000, 1_500, 250_000, 700, 12_000]
        .iter()
        .enumerate()
        .map(|(i, &size)| message(&format!("{tag}-{i}"), size))
        .collect()
}

/// `account` with its server reached in plaintext through `proxy`, with `timeout` seconds.
fn via(account: Account, proxy: &Proxy, timeout: u32) -> Client {
    Client::new(
        &account
            .name("src")
            .plaintext()
            .port(proxy.port())
            .set("host", "127.0.0.1")
            .timeout(timeout)
            .toml(),
    )
}

fn pop3_client(d: &Dovecot, user: &TestUser, proxy: &Proxy, keep: bool, mbox: bool) -> Client {
    let target = if mbox {
        "mbox:{dir}/box"
    } else {
        "maildir:{dir}/M"
    };
    via(Account::pop3(d, user).target(target).keep(keep), proxy, 20)
}

fn imap_client(d: &Dovecot, user: &TestUser, proxy: &Proxy, keep: bool, timeout: u32) -> Client {
    via(Account::imap(d, user).keep(keep), proxy, timeout)
}

/// Judges a broken run and its unbroken rerun on one mailbox: counts into `row`.
struct Trial<'a> {
    d: &'a Dovecot,
    user: TestUser,
    expected: Vec<Vec<u8>>,
    mbox: bool,
}

impl Trial<'_> {
    fn target(&self, c: &Client) -> Vec<Vec<u8>> {
        if self.mbox {
            local_messages(&c.path("box"), true)
        } else {
            local_messages(&c.path("M"), false)
        }
    }

    /// After the broken run `exit` (described by `what`): the instant check; then a rerun
    /// through `proxy` set to pass everything, and the final check.
    fn judge(&self, row: &mut Row, c: &Client, proxy: &Proxy, exit: &Exit, what: &str, keep: bool) {
        row.saw(exit);
        row.expect(matches!(exit.code, Some(0) | Some(75)), || {
            format!(
                "{what}: want exit 75 (or 0 if the cut missed): {}",
                exit.describe()
            )
        });
        let mail = Mail {
            expected: &self.expected,
            target: Box::new(|| self.target(c)),
            server: Box::new(|| self.d.server_messages(&self.user, "INBOX")),
        };
        mail.count(row, &format!("{what}, right after"), false, false);
        proxy.set(Fault::Pass);
        mail.rerun(row, what, c, keep);
    }
}

/// A fresh user holding the test mailbox.
fn trial<'a>(d: &'a Dovecot, tag: &str, mbox: bool) -> Trial<'a> {
    let user = d.new_user(tag);
    let expected = mailbox(&user.name);
    d.seed(&user, &expected);
    Trial {
        d,
        user,
        expected,
        mbox,
    }
}

fn pop3_boundaries(keep: bool, mbox: bool) -> Row {
    let d = Dovecot::shared();
    // The proxy counts the ends of multi-line replies (the previous line ended, then ".\r\n").
    let proxy = Proxy::to(d.pop3()).mark(b"\n.\r\n").start();
    // One unbroken pull to learn how many multi-line replies (CAPA, UIDL, LIST, RETR...) a
    // session has.
    let probe = trial(d, "dropprobe", mbox);
    let c = pop3_client(d, &probe.user, &proxy, true, mbox);
    let exit = check::pull(&c, &[], None);
    assert_eq!(exit.code, Some(0), "probe pull: {}", exit.describe());
    let ends = proxy.marks();
    assert!(
        ends > probe.expected.len(),
        "the proxy saw {ends} reply ends"
    );
    let mut row = Row::new(0);
    // Mid-greeting, then at and 100 bytes after every end.
    let mut cuts = vec![Fault::AfterMarks {
        marks: 0,
        extra: 10,
    }];
    for e in 1..=ends {
        cuts.push(Fault::AfterMarks { marks: e, extra: 0 });
        cuts.push(Fault::AfterMarks {
            marks: e,
            extra: 100,
        });
    }
    // A user per trial in delete mode (a trial empties its mailbox); one in keep mode, with
    // a fresh client (state and target) per cut.
    let shared = keep.then(|| trial(d, "dropkeep", mbox));
    for cut in cuts {
        let fresh;
        let t = match &shared {
            Some(t) => t,
            None => {
                fresh = trial(d, "dropdel", mbox);
                &fresh
            }
        };
        let c = pop3_client(d, &t.user, &proxy, keep, mbox);
        proxy.set(cut);
        let exit = check::pull(&c, &[], None);
        t.judge(&mut row, &c, &proxy, &exit, &format!("{cut:?}"), keep);
        row.rounds += 1;
    }
    row
}

fn imap_offsets(points: u64) -> Row {
    let d = Dovecot::shared();
    let proxy = Proxy::start(d.imap());
    let probe = trial(d, "imapprobe", false);
    let c = imap_client(d, &probe.user, &proxy, false, 20);
    let exit = check::pull(&c, &[], None);
    assert_eq!(exit.code, Some(0), "probe pull: {}", exit.describe());
    let total = proxy.bytes();
    let mut row = Row::new(0);
    for i in 1..=points {
        let t = trial(d, "imapdrop", false);
        let c = imap_client(d, &t.user, &proxy, false, 20);
        // Once: the reconnect that follows a lost IMAP connection gets through and resumes.
        let cut = Fault::AfterBytes(total * i / (points + 1));
        proxy.set_once(cut);
        let exit = check::pull(&c, &[], None);
        t.judge(
            &mut row,
            &c,
            &proxy,
            &exit,
            &format!("{cut:?} of {total}"),
            false,
        );
        row.rounds += 1;
    }
    row
}

/// A server that stops sending half-way through the big message; `once`: only on the first
/// connection (IMAP reconnects and resumes), else on every one.
fn stall(imap: bool, once: bool) -> Row {
    let d = Dovecot::shared();
    let mut row = Row::new(1);
    let (upstream, tag) = if imap {
        (d.imap(), "imapstall")
    } else {
        (d.pop3(), "pop3stall")
    };
    let proxy = Proxy::start(upstream);
    let t = trial(d, tag, false);
    let c = if imap {
        imap_client(d, &t.user, &proxy, false, 2)
    } else {
        via(Account::pop3(d, &t.user).keep(false), &proxy, 2)
    };
    // Half-way through the big message (the sixth, 250 KB, most of the bytes). An IMAP
    // reconnect asks for the rest of a broken-off body (`BODY.PEEK[]<offset.n>`), so every
    // new connection gets further: a server that always stalls does so early (5 KB into the
    // big message on the first connection, some 40 KB a connection after), so that three
    // reconnects cannot finish it.
    let before: usize = t.expected[..5].iter().map(Vec::len).sum();
    let into = if imap && !once { 5_000 } else { 125_000 };
    let cut = Fault::StallAfter((before + into) as u64);
    if once {
        proxy.set_once(cut);
    } else {
        proxy.set(cut);
    }
    let exit = check::pull(&c, &[], None);
    // IMAP reconnects after a pause of 2, 4, 8 s (RECONNECTS = 3 in src/imap), each
    // attempt stalled again for the 2 s timeout; POP3 gives up at the first timeout.
    let (code, within) = match (imap, once) {
        (true, true) => (0, 2 + 2 + 4),
        (true, false) => (75, 4 * 2 + 2 + 4 + 8 + 4),
        (false, _) => (75, 2 + 4),
    };
    row.expect(exit.code == Some(code), || {
        format!("stalled: want exit {code}: {}", exit.describe())
    });
    row.expect(exit.elapsed < Duration::from_secs(within), || {
        format!(
            "stalled: took {:.1} s, want under {within} s",
            exit.elapsed.as_secs_f64()
        )
    });
    if code != 0 {
        let last = exit.stderr.trim().lines().last().unwrap_or("");
        row.expect(
            last.contains("no answer within 2 s") || last.contains("timed out"),
            || {
                format!(
                    "stalled: want the timeout named on stderr: {:?}",
                    exit.stderr
                )
            },
        );
    }
    t.judge(&mut row, &c, &proxy, &exit, "stall", false);
    row
}
