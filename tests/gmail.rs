//! Gmail as Google documents its IMAP (X-GM-EXT-1), against a scripted fake
//! (tests/support/fake_gmail.rs) behind TLS: `folders = "*"` is All Mail (archived mail
//! included) with Spam and Trash only by choice, each message arrives once whatever its
//! labels, byte-exact, its labels in the `gmail-labels` sidecar, and explicitly named label
//! folders deliver a message they share once, across runs. Then the other providers'
//! quirks the same fake scripts: NetEase's ID gate and Office 365's BYE mid-fetch.

mod support;

use serde_json::Value;
use std::fs;
use support::account::Account;
use support::client::{maildir_messages, Client};
use support::fake_gmail::{FakeGmail, Message, Quirks, PASSWORD, USER};
use support::tls::{ServerCert, TlsFront};

/// The fake behind a TLS front, and an account `g` for it with `keys`, into a Maildir.
struct Fixture {
    server: FakeGmail,
    front: TlsFront,
    cert: ServerCert,
    client: Client,
}

impl Fixture {
    fn start(messages: Vec<Message>, quirks: Quirks, keys: &str) -> Fixture {
        let server = FakeGmail::start(messages, quirks);
        let cert = ServerCert::issued_for(&["localhost"]);
        let front = TlsFront::start(&cert, server.port());
        let client = Client::new("");
        let fx = Fixture {
            server,
            front,
            cert,
            client,
        };
        fx.keys(keys);
        fx
    }

    /// Rewrite the account with `keys`.
    fn keys(&self, keys: &str) {
        let account = Account::fake("imap", self.front.port())
            .name("g")
            .set("host", "localhost")
            .tls("implicit")
            .without("allow-plaintext-password")
            .set("ca-file", self.cert.ca_file().display().to_string())
            .set("user", USER)
            .password(PASSWORD)
            .timeout(10);
        self.client.set_config(&account.extra(keys).toml());
    }

    /// The Maildir's messages (root and every subfolder), sorted.
    fn delivered(&self) -> Vec<Vec<u8>> {
        let root = self.client.path("M");
        let mut all = maildir_messages(&root);
        for e in fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && e.path().is_dir() {
                all.extend(maildir_messages(&e.path()));
            }
        }
        all.sort();
        all
    }

    /// The sidecar's lines.
    fn labels(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.client.path("M/gmail-labels")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// The commands the server received since `from`.
    fn commands_since(&self, from: usize) -> Vec<String> {
        self.server.commands()[from..].to_vec()
    }
}

/// A message's text, CRLF as the server holds it.
fn text(subject: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{subject}@example.com>\r\nFrom: a@example.com\r\nSubject: {subject}\r\n\r\n\
         Body of {subject}.\r\nWith a trailing space \r\n"
    )
    .into_bytes()
}

/// `text` as delivered: LF line ends.
fn delivered(subject: &str) -> Vec<u8> {
    String::from_utf8(text(subject))
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes()
}

/// An account's mail: a message with three labels (Inbox, Work, Receipts), an archived
/// one (no folder but All Mail), one sent, one in Spam, one in Trash.
fn mailbox() -> Vec<Message> {
    let mut spam = Message::new(1004, &text("spam"), &[]);
    spam.spam = true;
    let mut trash = Message::new(1005, &text("trash"), &[]);
    trash.trash = true;
    vec![
        Message::new(
            1001,
            &text("labelled"),
            &["\\Inbox", "Work", "Receipts", "\\Important"],
        ),
        Message::new(1002, &text("archived"), &["Entw&APw-rfe"]),
        Message::new(1003, &text("sent"), &["\\Sent"]),
        spam,
        trash,
    ]
}

fn expected(subjects: &[&str]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = subjects.iter().map(|s| delivered(s)).collect();
    v.sort();
    v
}

/// The labels of the sidecar line of `msgid` that was a delivery.
fn labels_of(lines: &[Value], msgid: u64) -> Vec<String> {
    let id = msgid.to_string();
    let line = lines
        .iter()
        .find(|l| l["x-gm-msgid"] == id && l["delivered"] == true)
        .unwrap_or_else(|| panic!("no delivery line for {msgid} in {lines:?}"));
    line["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn selected(commands: &[String]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|c| {
            let (_, rest) = c.split_once(' ')?;
            let up = rest.to_ascii_uppercase();
            (up.starts_with("SELECT ") || up.starts_with("EXAMINE ")).then(|| {
                rest.split_once(' ')
                    .unwrap()
                    .1
                    .trim_matches('"')
                    .to_string()
            })
        })
        .collect()
}

#[test]
fn star_fetches_all_mail_once_archived_mail_included_with_labels_beside_it() {
    let fx = Fixture::start(mailbox(), Quirks::gmail(), "folders = \"*\"\nkeep = true");
    let out = fx.client.ok(&["pull"]);
    assert_eq!(
        fx.delivered(),
        expected(&["labelled", "archived", "sent"]),
        "{out:?}"
    );
    // All Mail only: no label folder, no Spam or Trash.
    assert_eq!(selected(&fx.server.commands()), ["[Gmail]/All Mail"]);
    let lines = fx.labels();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        labels_of(&lines, 1001),
        ["\\Inbox", "Work", "Receipts", "\\Important"]
    );
    assert_eq!(labels_of(&lines, 1002), ["Entwürfe"]);
    let line = lines.iter().find(|l| l["x-gm-msgid"] == "1001").unwrap();
    assert_eq!(line["folder"], "[Gmail]/All Mail");
    assert_eq!(line["message-id"], "<labelled@example.com>");

    // Nothing new: no body fetched.
    let before = fx.server.commands().len();
    fx.client.ok(&["pull"]);
    let again = fx.commands_since(before);
    assert!(!again.iter().any(|c| c.contains("BODY.PEEK")), "{again:?}");
    assert_eq!(fx.delivered().len(), 3);

    // New mail arrives once; a label added later to a delivered message brings nothing.
    fx.server
        .put(Message::new(1006, &text("new"), &["\\Inbox", "Work"]));
    fx.server.put(Message::new(
        1001,
        &text("labelled"),
        &["\\Inbox", "Work", "Receipts", "\\Important", "\\Starred"],
    ));
    fx.client.ok(&["pull"]);
    assert_eq!(
        fx.delivered(),
        expected(&["labelled", "archived", "sent", "new"])
    );
    assert_eq!(labels_of(&fx.labels(), 1006), ["\\Inbox", "Work"]);
}

#[test]
fn spam_and_trash_come_only_when_chosen() {
    let fx = Fixture::start(mailbox(), Quirks::gmail(), "folders = \"*\"\nkeep = true");
    fx.client.ok(&["pull"]);
    assert_eq!(fx.delivered().len(), 3);
    fx.keys("folders = \"*\"\nkeep = true\ngmail-spam = true");
    fx.client.ok(&["pull"]);
    assert_eq!(
        fx.delivered(),
        expected(&["labelled", "archived", "sent", "spam"])
    );
    fx.keys("folders = \"*\"\nkeep = true\ngmail-spam = true\ngmail-trash = true");
    fx.client.ok(&["pull"]);
    assert_eq!(
        fx.delivered(),
        expected(&["labelled", "archived", "sent", "spam", "trash"])
    );
    // A message moved to Trash after its delivery is not delivered again.
    let mut moved = Message::new(1003, &text("sent"), &[]);
    moved.trash = true;
    fx.server.put(moved);
    fx.client.ok(&["pull"]);
    assert_eq!(fx.delivered().len(), 5);
}

#[test]
fn named_label_folders_deliver_a_message_they_share_once() {
    let fx = Fixture::start(
        mailbox(),
        Quirks::gmail(),
        "folders = [\"INBOX\", \"Work\", \"Receipts\"]\nkeep = true",
    );
    let out = fx.client.ok(&["pull"]);
    assert_eq!(fx.delivered(), expected(&["labelled"]), "{out:?}");
    let lines = fx.labels();
    let delivered: Vec<&Value> = lines.iter().filter(|l| l["delivered"] == true).collect();
    assert_eq!(delivered.len(), 1, "{lines:?}");
    assert_eq!(delivered[0]["folder"], "INBOX");
    // Seen again in Work and Receipts: recorded there, with a line of its labels.
    let seen: Vec<&str> = lines
        .iter()
        .filter(|l| l["delivered"] == false)
        .map(|l| l["folder"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["Work", "Receipts"]);

    // The next run has nothing to do.
    let before = fx.server.commands().len();
    fx.client.ok(&["pull"]);
    assert!(!fx
        .commands_since(before)
        .iter()
        .any(|c| c.contains("BODY.PEEK")));

    // A message delivered from INBOX and labelled Work later is not delivered again.
    fx.server
        .put(Message::new(1007, &text("later"), &["\\Inbox"]));
    fx.client.ok(&["pull"]);
    fx.server
        .put(Message::new(1007, &text("later"), &["\\Inbox", "Work"]));
    let before = fx.server.commands().len();
    fx.client.ok(&["pull"]);
    assert!(!fx
        .commands_since(before)
        .iter()
        .any(|c| c.contains("BODY.PEEK")));
    assert_eq!(fx.delivered(), expected(&["labelled", "later"]));
}

/// Mail in several label folders, for the crash test.
fn labelled_mail() -> Vec<Message> {
    vec![
        Message::new(1001, &text("everywhere"), &["\\Inbox", "Work", "Receipts"]),
        Message::new(1008, &text("work"), &["Work"]),
        Message::new(1009, &text("inbox-receipt"), &["\\Inbox", "Receipts"]),
        Message::new(1010, &text("receipt"), &["Receipts"]),
    ]
}

#[test]
fn a_kill_at_any_journal_write_neither_loses_nor_doubles_labelled_mail() {
    let all = expected(&["everywhere", "work", "inbox-receipt", "receipt"]);
    let keys = "folders = [\"INBOX\", \"Work\", \"Receipts\"]\nkeep = true";
    // Enough writes to pass every record of the run; past its last one the run ends well.
    let mut killed = 0;
    for n in 1..=8 {
        let fx = Fixture::start(labelled_mail(), Quirks::gmail(), keys);
        let crashed = fx
            .client
            .command(&["pull"])
            .env("MAILFETCH_TEST_CRASH_AT_WRITE", n.to_string())
            .output()
            .unwrap();
        killed += usize::from(crashed.status.code().is_none());
        let out = fx.client.ok(&["pull"]);
        assert_eq!(
            fx.delivered(),
            all,
            "crash at write {n} ({:?}), then {out:?}",
            crashed.status
        );
        let before = fx.server.commands().len();
        fx.client.ok(&["pull"]);
        assert!(
            !fx.commands_since(before)
                .iter()
                .any(|c| c.contains("BODY.PEEK")),
            "crash at write {n}: a third run fetched again"
        );
        // Every delivery has its labels line.
        let lines = fx.labels();
        for msgid in [1001, 1008, 1009, 1010] {
            labels_of(&lines, msgid);
        }
    }
    assert!(killed >= 4, "only {killed} runs were killed");
}

/// Plain INBOX mail (no Gmail) for the other providers' quirks.
fn inbox(n: u64) -> Vec<Message> {
    (1..=n)
        .map(|i| Message::new(i, &text(&format!("m{i}")), &["\\Inbox"]))
        .collect()
}

fn subjects(n: u64) -> Vec<Vec<u8>> {
    let names: Vec<String> = (1..=n).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    expected(&refs)
}

#[test]
fn netease_opens_inboxes_only_after_id_sent_whether_offered_or_not() {
    for advertise_id in [true, false] {
        let quirks = Quirks {
            require_id: true,
            advertise_id,
            ..Quirks::default()
        };
        let fx = Fixture::start(inbox(2), quirks, "keep = true");
        let out = fx.client.ok(&["pull"]);
        assert_eq!(fx.delivered(), subjects(2), "{out:?}");
        let commands = fx.server.commands();
        let id = commands.iter().position(|c| c.contains(" ID (")).unwrap();
        let examine = commands
            .iter()
            .rposition(|c| c.contains(" EXAMINE "))
            .unwrap();
        assert!(id < examine, "advertised {advertise_id}: {commands:?}");
    }
}

#[test]
fn netease_refusing_even_after_id_is_an_error_that_says_so() {
    let quirks = Quirks {
        require_id: true,
        id_does_not_help: true,
        ..Quirks::default()
    };
    let fx = Fixture::start(inbox(1), quirks, "keep = true");
    let out = fx.client.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("even after ID"), "{out:?}");
    assert!(out.stderr.contains("Unsafe Login"), "{out:?}");
    assert!(fx.delivered().is_empty());
}

#[test]
fn office365_bye_mid_fetch_is_resumed_and_nothing_is_lost_or_doubled() {
    let quirks = Quirks {
        bye_after_bodies: Some(2),
        ..Quirks::default()
    };
    let fx = Fixture::start(inbox(5), quirks, "keep = true");
    let out = fx.client.ok(&["pull"]);
    assert!(fx.server.said_bye());
    assert_eq!(fx.delivered(), subjects(5), "{out:?}");
    let before = fx.server.commands().len();
    fx.client.ok(&["pull"]);
    assert!(!fx
        .commands_since(before)
        .iter()
        .any(|c| c.contains("BODY.PEEK")));
    assert_eq!(fx.delivered(), subjects(5));
}

#[test]
fn office365_throttling_is_waited_out_and_unavailable_ends_with_75_for_the_rerun() {
    let quirks = Quirks {
        throttled_fetches: 2,
        ..Quirks::default()
    };
    let fx = Fixture::start(inbox(3), quirks, "keep = true");
    let out = fx.client.ok(&["pull"]);
    assert_eq!(fx.delivered(), subjects(3), "{out:?}");

    let quirks = Quirks {
        unavailable_selects: 1,
        ..Quirks::default()
    };
    let fx = Fixture::start(inbox(3), quirks, "keep = true");
    let out = fx.client.run(&["pull"]);
    assert_eq!(out.code, 75, "{out:?}");
    assert!(out.stderr.contains("UNAVAILABLE"), "{out:?}");
    assert!(fx.delivered().is_empty());
    fx.client.ok(&["pull"]);
    assert_eq!(fx.delivered(), subjects(3));
    let before = fx.server.commands().len();
    fx.client.ok(&["pull"]);
    assert!(!fx
        .commands_since(before)
        .iter()
        .any(|c| c.contains("BODY.PEEK")));
}
