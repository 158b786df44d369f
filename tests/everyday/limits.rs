//! Limits and retention: max-message-size (skip, or a header stub), per-run limits,
//! delete-after-days, --since.

use crate::dated;
use crate::support::account::Account;
use crate::support::client::{maildir_messages, Client};
use crate::support::corpus::simple;
use crate::support::dovecot::Dovecot;
use std::process::Command;

const DATE: &str = "Mon, 02 Jan 2023 10:00:00 +0000";

#[test]
fn a_message_over_max_message_size_is_left_on_the_server_and_reported() {
    let d = Dovecot::shared();
    let user = d.new_user("oversize");
    d.seed(
        &user,
        [
            dated("small-1", DATE, 100),
            dated("huge", DATE, 50_000),
            dated("small-2", DATE, 100),
        ],
    );
    let c = Client::new(
        &Account::pop3(d, &user)
            .extra("keep = false\nmax-message-size = 10000")
            .toml(),
    );
    let out = c.ok(&["pull"]);
    assert!(
        out.stdout.contains("a: 2 new messages (")
            && out
                .stdout
                .contains("2 deleted, 1 over max-message-size: left on the server"),
        "{out:?}"
    );
    assert_eq!(maildir_messages(&c.path("M")).len(), 2);
    assert_eq!(d.count(&user, "INBOX"), 1, "the large one stays");
    let json: serde_json::Value = serde_json::from_str(&c.ok(&["pull", "--json"]).stdout).unwrap();
    let oversized = &json["accounts"][0]["oversized"];
    assert_eq!(oversized.as_array().unwrap().len(), 1, "reported every run");
    assert!(oversized[0]["size"].as_u64().unwrap() > 50_000);
    assert_eq!(oversized[0]["header_delivered"], false);
}

#[test]
fn oversize_headers_delivers_a_marked_stub_once_and_the_message_when_it_fits() {
    let d = Dovecot::shared();
    for protocol in ["pop3", "imap"] {
        let user = d.new_user(&format!("stub-{protocol}"));
        d.seed(
            &user,
            [dated("big", DATE, 40_000), dated("small", DATE, 100)],
        );
        let account = |extra: &str| {
            if protocol == "pop3" {
                Account::pop3(d, &user).extra(extra).toml()
            } else {
                Account::imap(d, &user).extra(extra).toml()
            }
        };
        let c = Client::new(&account(
            "keep = false\nmax-message-size = 10000\noversize = \"headers\"",
        ));
        let out = c.ok(&["pull"]);
        assert!(
            out.stdout.contains("1 over max-message-size: header only"),
            "{protocol}: {out:?}"
        );
        let got = maildir_messages(&c.path("M"));
        assert_eq!(got.len(), 2, "{protocol}");
        let stub = got
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .find(|m| m.starts_with("X-Mailfetch-Truncated: "))
            .unwrap_or_else(|| panic!("{protocol}: no stub"));
        assert!(stub.contains("over max-message-size = 10000"), "{stub}");
        assert!(
            stub.contains("\nSubject: big\n") && stub.ends_with("\n\n"),
            "{stub}"
        );
        assert!(!stub.contains("0123456789"), "no body: {stub}");
        assert_eq!(d.count(&user, "INBOX"), 1, "{protocol}: the message stays");

        let out = c.ok(&["pull"]);
        assert!(out.stdout.contains("a: no new mail"), "{protocol}: {out:?}");
        assert_eq!(
            maildir_messages(&c.path("M")).len(),
            2,
            "{protocol}: stub once"
        );
        assert_eq!(
            d.count(&user, "INBOX"),
            1,
            "{protocol}: a stub deletes nothing"
        );

        c.set_config(&account("keep = false\nmax-message-size = 100000"));
        let out = c.ok(&["pull"]);
        assert!(
            out.stdout.contains("a: 1 new message ("),
            "{protocol}: {out:?}"
        );
        let got = maildir_messages(&c.path("M"));
        assert_eq!(got.len(), 3, "{protocol}");
        assert!(
            got.iter().any(|m| m.len() > 40_000),
            "{protocol}: the full message"
        );
        assert_eq!(d.count(&user, "INBOX"), 0, "{protocol}: now it is deleted");
    }
}

#[test]
fn per_run_limits_leave_the_rest_for_the_next_run() {
    let d = Dovecot::shared();
    let user = d.new_user("perrun");
    d.seed(&user, (0..5).map(|i| dated(&format!("pr-{i}"), DATE, 1000)));
    let c = Client::new(
        &Account::pop3(d, &user)
            .extra("max-messages-per-run = 2")
            .toml(),
    );
    let out = c.ok(&["pull"]);
    assert!(
        out.stdout.contains("a: 2 new messages (")
            && out.stdout.contains("3 left for the next run"),
        "{out:?}"
    );
    c.ok(&["pull"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 4);
    // --limit and max-bytes-per-run: the smaller bound wins; one message always fits.
    c.set_config(
        &Account::pop3(d, &user)
            .extra("max-bytes-per-run = 10")
            .toml(),
    );
    let out = c.ok(&["pull", "--all", "--limit", "3"]);
    assert!(out.stdout.contains("a: 1 new message ("), "{out:?}");
    let out = c.ok(&["pull"]);
    assert!(out.stdout.contains("a: 1 new message ("), "{out:?}");
    assert!(!out.stdout.contains("left for the next run"), "{out:?}");
    assert_eq!(maildir_messages(&c.path("M")).len(), 6);
}

/// Move every first-delivery time in the state journal back by `days`, re-checksummed, as if
/// the deliveries had happened that long ago.
fn age_state(c: &Client, account: &str, days: i64) {
    let path = c.state_dir().join(format!("{account}.state"));
    let script = r#"
import re, sys, zlib
path, shift = sys.argv[1], int(sys.argv[2])
out = []
for line in open(path, encoding="utf-8"):
    crc, record = line.rstrip("\n").split(" ", 1)
    record = re.sub(r"at=(\d+)", lambda m: "at=%d" % (int(m.group(1)) - shift), record)
    out.append("%08x %s\n" % (zlib.crc32(record.encode()), record))
open(path, "w", encoding="utf-8").write("".join(out))
"#;
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .arg((days * 86_400).to_string())
        .status()
        .expect("python3");
    assert!(status.success());
}

#[test]
fn delete_after_days_deletes_kept_mail_once_its_days_are_over() {
    let d = Dovecot::shared();
    for protocol in ["pop3", "imap"] {
        let user = d.new_user(&format!("retain-{protocol}"));
        d.seed(
            &user,
            (0..3).map(|i| simple(&format!("keep-{i}"), "s", "b\n")),
        );
        let config = if protocol == "pop3" {
            Account::pop3(d, &user)
                .extra("delete-after-days = 3")
                .toml()
        } else {
            Account::imap(d, &user)
                .extra("delete-after-days = 3")
                .toml()
        };
        let c = Client::new(&config);
        c.ok(&["pull"]);
        c.ok(&["pull"]);
        assert_eq!(
            d.count(&user, "INBOX"),
            3,
            "{protocol}: kept within the period"
        );
        d.seed(
            &user,
            [simple(&format!("keep-late-{protocol}"), "s", "b\n")],
        );
        c.ok(&["pull"]);
        age_state(&c, "a", 2);
        let out = c.ok(&["pull", "--keep"]);
        assert!(
            !out.stdout.contains("deleted"),
            "{protocol}: --keep keeps: {out:?}"
        );
        age_state(&c, "a", 1);
        let out = c.ok(&["pull"]);
        // The late one was delivered a run later, but the whole journal was aged: all due.
        assert!(out.stdout.contains("4 deleted"), "{protocol}: {out:?}");
        assert_eq!(d.count(&user, "INBOX"), 0, "{protocol}");
        assert_eq!(
            maildir_messages(&c.path("M")).len(),
            4,
            "{protocol}: nothing twice"
        );
    }
}

#[test]
fn since_passes_over_older_mail_now_and_in_later_runs() {
    let d = Dovecot::shared();
    let user = d.new_user("since");
    d.seed(
        &user,
        [
            dated("old", "Sun, 01 Jan 2023 10:00:00 +0000", 100),
            dated("new", "Sat, 01 Jun 2024 10:00:00 +0000", 100),
            simple("undated", "s", "b\n")
                .split(|&b| b == b'\n')
                .filter(|l| !l.starts_with(b"Date:"))
                .collect::<Vec<_>>()
                .join(&b'\n'),
        ],
    );
    let c = Client::new(&Account::pop3(d, &user).keep(false).toml());
    let out = c.ok(&["pull", "--since", "2024-01-01"]);
    assert!(
        out.stdout.contains("a: 2 new messages (")
            && out.stdout.contains("1 older than --since: passed over"),
        "a message without a date is fetched: {out:?}"
    );
    assert_eq!(d.count(&user, "INBOX"), 1, "passed over, not deleted");
    let out = c.ok(&["pull"]);
    assert!(out.stdout.contains("a: no new mail"), "{out:?}");
    assert_eq!(d.count(&user, "INBOX"), 1);
    c.ok(&["pull", "--all", "--keep"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 3, "--all fetches it");
    let out = c.run(&["pull", "--since", "2024-13-01"]);
    assert_eq!(out.code, 64, "{out:?}");

    // IMAP compares the arrival date: everything here arrived today.
    let user = d.new_user("since-imap");
    d.seed(
        &user,
        [dated("today", "Sun, 01 Jan 2023 10:00:00 +0000", 100)],
    );
    let c = Client::new(&Account::imap(d, &user).toml());
    let tomorrow = day_from_today(1);
    let out = c.ok(&["pull", "--since", &tomorrow]);
    assert!(out.stdout.contains("1 older than --since"), "{out:?}");
    let out = c.ok(&["pull", "--all", "--since", &day_from_today(-1)]);
    assert!(out.stdout.contains("a: 1 new message ("), "{out:?}");
}

/// Today plus `days`, as YYYY-MM-DD (local time), from date(1).
fn day_from_today(days: i64) -> String {
    let out = Command::new("date")
        .arg("+%Y-%m-%d")
        .arg("-d")
        .arg(format!("{days} days"))
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
