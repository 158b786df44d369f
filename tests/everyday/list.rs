//! `mailfetch list`: the messages on the server, without their bodies.

use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::Dovecot;

fn seed(d: &Dovecot, user: &crate::support::dovecot::TestUser) {
    d.seed(
        user,
        [
            b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\n\
              Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\n =?UTF-8?B?S8O2bG4=?=\n\
              Date: Mon, 02 Jan 2023 10:00:00 +0000\n\
              Message-ID: <list-1@mailfetch.test>\n\nHallo\n"
                .to_vec(),
            crate::dated("list-2", "Tue, 03 Jan 2023 10:00:00 +0000", 5000),
        ],
    );
}

#[test]
fn list_shows_decoded_headers_sizes_and_what_was_fetched_without_fetching() {
    let d = Dovecot::shared();
    for protocol in ["pop3", "imap"] {
        let user = d.new_user(&format!("list-{protocol}"));
        seed(d, &user);
        let config = if protocol == "pop3" {
            Account::pop3(d, &user).toml()
        } else {
            Account::imap(d, &user).toml()
        };
        let c = Client::new(&config);
        let out = c.ok(&["list", "a"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{protocol}: {out:?}");
        assert!(
            lines[0].contains("Jürgen Müller"),
            "{protocol}: {}",
            lines[0]
        );
        assert!(
            lines[0].contains("Grüße aus Köln"),
            "{protocol}: {}",
            lines[0]
        );
        assert!(
            lines[0].trim_end().ends_with("new"),
            "{protocol}: {}",
            lines[0]
        );
        assert!(lines[1].contains("Carol") && lines[1].contains("list-2"));
        assert!(!c.path("M").exists(), "{protocol}: nothing fetched");

        c.ok(&["pull", "--limit", "1"]);
        let doc: serde_json::Value =
            serde_json::from_str(&c.ok(&["list", "a", "--json"]).stdout).unwrap();
        let messages = doc["messages"].as_array().unwrap();
        assert_eq!(doc["account"], "a");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["state"], "fetched", "{protocol}");
        assert_eq!(messages[1]["state"], "new", "{protocol}");
        assert_eq!(messages[0]["subject"], "Grüße aus Köln");
        assert_eq!(messages[1]["date"], 1_672_740_000);
        assert!(messages[1]["size"].as_u64().unwrap() > 5000);
        assert_eq!(messages[0]["mailbox"], "INBOX");
        if protocol == "imap" {
            assert_eq!(messages[0]["number"], 1, "the UID");
        }
        assert_eq!(d.count(&user, "INBOX"), 2);
    }
}
