//! Cron manners: silence when all is well with `--quiet`, a quiet end on a closed pipe, no
//! colour with NO_COLOR, and errors one line each, prefixed with the account.

use crate::dated;
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::Dovecot;
use std::process::Stdio;

const DATE: &str = "Mon, 02 Jan 2023 10:00:00 +0000";

#[test]
fn quiet_pull_prints_nothing_at_all_when_all_is_well() {
    let d = Dovecot::shared();
    let user = d.new_user("cron-quiet");
    d.seed(&user, [dated("cron-1", DATE, 100)]);
    let c = Client::new(&format!(
        "{}{}",
        Account::pop3(d, &user)
            .name("p")
            .target("maildir:{dir}/P")
            .toml(),
        Account::imap(d, &user)
            .name("i")
            .target("maildir:{dir}/I")
            .toml()
    ));
    for run in ["with new mail", "without"] {
        let o = c.ok(&["pull", "--quiet"]);
        assert_eq!(o.stdout, "", "{run}: {o:?}");
        assert_eq!(o.stderr, "", "{run}: {o:?}");
    }
    assert!(c.path("P/new").read_dir().unwrap().next().is_some());
}

#[test]
fn a_closed_pipe_ends_quietly_without_a_panic() {
    let d = Dovecot::shared();
    let user = d.new_user("cron-pipe");
    let mut config = String::new();
    for n in 0..50 {
        config.push_str(&Account::pop3(d, &user).name(&format!("a{n}")).toml());
    }
    let c = Client::new(&config);
    for args in [
        &["accounts"][..],
        &["accounts", "--json"],
        &["profiles"],
        &["generate", "man"],
        &["generate", "completions", "bash"],
    ] {
        // `mailfetch ... | head -c0`: the reader is gone before the first write.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = c
            .command(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .expect("run mailfetch");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}: nothing on stderr");
    }
}

#[test]
fn no_color_means_no_escape_sequences_anywhere() {
    let d = Dovecot::shared();
    let user = d.new_user("cron-color");
    d.seed(&user, [dated("color-1", DATE, 100)]);
    let good = Account::imap(d, &user).name("good").toml();
    let bad = Account::pop3(d, &user)
        .name("bad")
        .target("maildir:{dir}/B")
        .password("wrong");
    let c = Client::new(&format!("{good}{bad}"));
    for args in [
        &["pull", "--verbose"][..],
        &["check"],
        &["accounts"],
        &["list", "good"],
        &["--help"],
        &["pull", "--bogus"],
    ] {
        let out = c
            .command(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run mailfetch");
        for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !bytes.contains(&0x1b),
                "{args:?}: escape in {name}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[test]
fn errors_are_one_line_each_prefixed_with_the_account() {
    let d = Dovecot::shared();
    let user = d.new_user("cron-errors");
    let refused = Account::pop3(d, &user)
        .name("refused")
        .target("maildir:{dir}/R")
        .password("wrong");
    let down = Account::imap(d, &user)
        .name("down")
        .target("maildir:{dir}/D")
        .port(1);
    let good = Account::imap(d, &user)
        .name("good")
        .target("maildir:{dir}/G")
        .toml();
    let c = Client::new(&format!("{refused}{down}{good}"));
    for args in [&["pull"][..], &["pull", "--quiet"], &["check"]] {
        let o = c.run(args);
        assert_ne!(o.code, 0, "{o:?}");
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "{args:?}: one line per failing account: {o:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("mailfetch: refused: ")),
            "{args:?}: {o:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("mailfetch: down: ")),
            "{args:?}: {o:?}"
        );
    }
}
