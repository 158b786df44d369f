//! What a pull shows (issue 16): summary lines in config order whatever order the accounts
//! finish in, and a progress bar that fits an 80-column terminal.

use crate::interrupt::{seed, slow_account};
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::Dovecot;
use std::process::Stdio;

#[test]
fn summaries_come_in_config_order_when_a_later_account_finishes_first() {
    let d = Dovecot::shared();
    let (slow, fast) = (d.new_user("order-slow"), d.new_user("order-fast"));
    seed(d, &slow, "order");
    d.seed(
        &fast,
        &[crate::dated(
            "order-fast",
            "Mon, 02 Jan 2023 10:00:00 +0000",
            300,
        )],
    );
    let c = Client::new(
        &(slow_account(d, "first", &slow, "maildir:{dir}/S", true)
            + &Account::pop3(d, &fast)
                .name("second")
                .target("maildir:{dir}/F")
                .toml()),
    );
    let out = c.ok(&["pull", "-j", "2"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(lines[0].starts_with("first: 400 new messages ("), "{out:?}");
    assert!(lines[1].starts_with("second: 1 new message ("), "{out:?}");
    assert!(lines[0].contains(" MiB) -> "), "binary units: {out:?}");
}

/// Visible lines of what a terminal was sent: escape sequences dropped, split at CR and LF.
fn visible_lines(screen: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = screen.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' | '\n' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

#[test]
fn the_progress_bar_fits_an_80_column_terminal() {
    let d = Dovecot::shared();
    let user = d.new_user("bar80");
    seed(d, &user, "bar80");
    let name = "a-rather-long-account-name";
    let c = Client::new(&slow_account(d, name, &user, "maildir:{dir}/M", true));
    let command = format!(
        "stty cols 80 rows 24; exec {} --config {} --state-dir {} pull",
        env!("CARGO_BIN_EXE_mailfetch"),
        c.config().display(),
        c.state_dir().display(),
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    let lines = visible_lines(&screen);
    let bars: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("MiB/s") || l.contains("KiB/s"))
        .collect();
    assert!(!bars.is_empty(), "no bar drawn: {screen:?}");
    // The summary line may be longer (a long target path) and wrap like any text; the bar,
    // redrawn in place, must not.
    for bar in &bars {
        let width = bar.trim_end().chars().count();
        assert!(width <= 80, "{width} columns: {bar:?}");
    }
    eprintln!("{:?}", bars.last());
}
