//! Migration and delivery against the private Dovecot (one user as the POP3 source, another as
//! the IMAP destination or LMTP recipient): POP3 -> IMAP migration of the edge-case corpus,
//! byte-exact and once, under kill -9 and a connection lost right after the server stored a
//! batch; mail already at the destination; APPENDLIMIT; a server without UIDPLUS, LITERAL+
//! and MULTIAPPEND; `upload` of a Maildir and of an mbox; `verify` passing and naming what is
//! missing or different; MDA failures; LMTP into Dovecot and a fake LMTP server's 4xx/5xx.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};
use support::account::Account;
use support::client::Client;
use support::corpus::{corpus, message_id, simple};
use support::dovecot::{Dovecot, TestUser};
use support::listen::serve;
use support::proxy::{self, Framing, Proxy, ToClient};

/// The corpus as POP3 hands it out: RETR ends every message with a line end.
fn corpus_via_pop3() -> Vec<Vec<u8>> {
    corpus()
        .into_iter()
        .map(|(_, mut m)| {
            if m.last() != Some(&b'\n') {
                m.push(b'\n');
            }
            m
        })
        .collect()
}

/// The corpus as an LMTP or SMTP target stores it: as POP3 hands it out, with each bare CR
/// sent as a line end (a bare CR must not reach DATA, see `sink::smtp`).
fn corpus_via_lmtp() -> Vec<Vec<u8>> {
    corpus_via_pop3()
        .into_iter()
        .map(|m| {
            m.iter()
                .map(|&b| if b == b'\r' { b'\n' } else { b })
                .collect()
        })
        .collect()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// How many times each message is in `got`, for every message of `want` (and anything else).
fn assert_each_once(got: Vec<Vec<u8>>, want: &[Vec<u8>]) {
    let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
    for m in got {
        *counts.entry(m).or_default() += 1;
    }
    for (i, m) in want.iter().enumerate() {
        let n = counts.get(m).copied().unwrap_or(0);
        assert_eq!(
            n,
            1,
            "message {i} ({:?}...) is there {n} times",
            String::from_utf8_lossy(&m[..m.len().min(120)])
        );
    }
    assert_eq!(counts.len(), want.len(), "nothing else, nothing partial");
}

/// An IMAP account `[accounts.NAME]` on the test Dovecot into `maildir:{dir}/NAME`.
fn imap(d: &Dovecot, name: &str, user: &TestUser) -> Account {
    let target = format!("maildir:{{dir}}/{name}");
    Account::imap(d, user).name(name).target(&target)
}

/// The same account reached in plaintext through a proxy on `port`.
fn proxied_imap_account(d: &Dovecot, name: &str, user: &TestUser, port: u16) -> String {
    imap(d, name, user).plaintext().port(port).toml()
}

/// A POP3 source `old` that migrates into `new`'s `folder`.
fn migration(d: &Dovecot, src: &TestUser, folder: &str, extra: &str) -> String {
    Account::pop3(d, src)
        .name("old")
        .target(&format!("imap:new/{folder}"))
        .extra(extra)
        .toml()
}

/// INTERNALDATEs (seconds) of a folder's messages, in UID order.
fn received(d: &Dovecot, user: &TestUser, folder: &str) -> Vec<i64> {
    d.doveadm(&[
        "-f",
        "tab",
        "fetch",
        "-u",
        &user.name,
        "date.received.unixtime",
        "mailbox",
        folder,
        "all",
    ])
    .lines()
    .skip(1)
    .map(|l| l.trim().parse().expect("unixtime"))
    .collect()
}

/// What the proxy changes in what the server says.
#[derive(Clone, Default)]
struct Edit {
    /// Capability words to hide.
    hide: Vec<&'static str>,
    /// Capability words to add.
    add: Vec<&'static str>,
    /// Close both connections instead of passing on the first tagged OK of an APPEND: the
    /// server has stored the messages, the client never hears so.
    lose_first_append_ok: bool,
}

/// [`Edit`] played on one session; `fired` says whether the answer was lost.
struct Editing {
    edit: Edit,
    fired: Arc<AtomicBool>,
}

impl proxy::Script for Editing {
    fn framing(&self) -> Framing {
        Framing::ImapResponses
    }

    fn server(&mut self, response: Vec<u8>) -> ToClient {
        let line = proxy::first_line(&response);
        if self.edit.lose_first_append_ok
            && line.contains(" OK ")
            && line.contains("Append completed")
            && !self.fired.swap(true, Ordering::SeqCst)
        {
            return ToClient::Hangup;
        }
        if !line.contains("CAPABILITY ") {
            return ToClient::Send(vec![response]);
        }
        let mut t = String::from_utf8_lossy(&response).into_owned();
        for word in &self.edit.hide {
            t = t.replace(&format!(" {word}"), "");
        }
        for word in &self.edit.add {
            t = t.replacen("CAPABILITY ", &format!("CAPABILITY {word} "), 1);
        }
        ToClient::Send(vec![t.into_bytes()])
    }
}

/// A proxy in front of Dovecot's plain IMAP port that edits the server's capabilities and
/// can lose the answer to an APPEND. Returns its port and whether the loss happened.
fn imap_proxy(d: &Dovecot, edit: Edit) -> (u16, Arc<AtomicBool>) {
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    let proxy = Proxy::to(d.imap()).script(move || Editing {
        edit: edit.clone(),
        fired: flag.clone(),
    });
    (proxy.start().detach(), fired)
}

#[test]
fn pop3_to_imap_migration_stores_the_corpus_byte_exact_once_with_dates_in_a_new_folder() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("mig-src"), d.new_user("mig-dst"));
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
    d.seed(&src, &messages);
    let c = Client::new(&format!(
        "{}{}",
        migration(d, &src, "Migrated/Old ISP", ""),
        imap(d, "new", &dst).toml()
    ));
    let out = c.ok(&["pull", "old"]);
    let n = messages.len();
    assert!(
        out.stdout.contains(&format!("old: {n} new messages")),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("-> new/Migrated/Old ISP (IMAP)"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("created folder Migrated/Old ISP"),
        "{out:?}"
    );
    assert_eq!(
        sorted(d.server_messages(&dst, "Migrated/Old ISP")),
        sorted(corpus_via_pop3()),
        "byte-identical but for CRLF, each once"
    );
    // POP3 has no INTERNALDATE: the Date: field stands in (all corpus messages share one).
    assert!(received(d, &dst, "Migrated/Old ISP")
        .iter()
        .all(|&t| t == 1_672_653_600));
    assert_eq!(d.count(&src, "INBOX"), n, "keep is the default");
    let out = c.ok(&["pull", "old"]);
    assert!(out.stdout.contains("old: no new mail"), "{out:?}");
    assert_eq!(d.count(&dst, "Migrated/Old ISP"), n);
    let out = c.ok(&["verify", "old"]);
    assert!(
        out.stdout
            .contains(&format!("{n} messages compared, all there and identical")),
        "{out:?}"
    );
}

#[test]
fn mail_already_in_the_folder_is_recorded_not_appended_again_even_after_reset_state() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("pre-src"), d.new_user("pre-dst"));
    let mail: Vec<Vec<u8>> = (0..6)
        .map(|i| simple(&format!("pre-{i}"), "s", &format!("body {i}\n")))
        .collect();
    d.seed(&src, &mail);
    // Copied by hand (or by another tool) before: three of them, and a message without a
    // Message-ID that only its text can identify.
    let anonymous = b"From: a@b\nSubject: no id\n\nanonymous\n".to_vec();
    d.seed(&src, [&anonymous]);
    d.seed(&dst, [&mail[1], &mail[3], &mail[4], &anonymous]);
    let c = Client::new(&format!(
        "{}{}",
        migration(d, &src, "INBOX", ""),
        imap(d, "new", &dst).tls("starttls").toml()
    ));
    let out = c.ok(&["pull", "old"]);
    assert!(
        out.stdout.contains("old: 3 new messages") && out.stdout.contains("4 already there"),
        "{out:?}"
    );
    let mut want = mail.clone();
    want.push(anonymous);
    assert_each_once(d.server_messages(&dst, "INBOX"), &want);
    let out = c.ok(&["pull", "old", "--reset-state"]);
    assert!(out.stdout.contains("7 already there"), "{out:?}");
    assert_each_once(d.server_messages(&dst, "INBOX"), &want);
}

#[test]
fn a_batch_stored_just_before_the_connection_died_is_found_and_recorded_not_appended_twice() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("lost-src"), d.new_user("lost-dst"));
    let mail: Vec<Vec<u8>> = (0..5)
        .map(|i| simple(&format!("lost-{i}"), "s", &format!("body {i}\n")))
        .collect();
    d.seed(&src, &mail);
    // One APPEND per message, so the lost answer leaves one stored and four not.
    let (port, fired) = imap_proxy(
        d,
        Edit {
            hide: vec!["MULTIAPPEND", "UIDPLUS", "LITERAL+"],
            lose_first_append_ok: true,
            ..Edit::default()
        },
    );
    let c = Client::new(&format!(
        "{}{}",
        migration(d, &src, "INBOX", "keep = false"),
        proxied_imap_account(d, "new", &dst, port)
    ));
    let out = c.run(&["pull", "old"]);
    assert!(
        fired.load(Ordering::SeqCst),
        "the proxy lost an APPEND's answer"
    );
    assert_eq!(out.code, 75, "a dropped connection is temporary: {out:?}");
    assert_eq!(
        d.count(&dst, "INBOX"),
        1,
        "stored, but the client never heard"
    );
    assert_eq!(
        d.count(&src, "INBOX"),
        5,
        "nothing deleted that is not recorded"
    );
    let out = c.ok(&["pull", "old"]);
    assert!(
        out.stderr
            .contains("interrupted while appending 5 messages to new/INBOX: 1 is there"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("old: 4 new messages") && out.stdout.contains("5 deleted"),
        "{out:?}"
    );
    assert_each_once(d.server_messages(&dst, "INBOX"), &mail);
    assert_eq!(d.count(&src, "INBOX"), 0);
}

#[test]
fn a_message_over_appendlimit_is_refused_by_name_stays_on_the_server_and_the_rest_migrate() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("lim-src"), d.new_user("lim-dst"));
    let small: Vec<Vec<u8>> = (0..3)
        .map(|i| simple(&format!("lim-{i}"), "small", "b\n"))
        .collect();
    let big = simple("lim-big", "too big", &"x".repeat(5000));
    d.seed(&src, [&small[0], &big, &small[1], &small[2]]);
    let (port, _) = imap_proxy(
        d,
        Edit {
            add: vec!["APPENDLIMIT=3000"],
            ..Edit::default()
        },
    );
    let c = Client::new(&format!(
        "{}{}",
        migration(d, &src, "INBOX", "keep = false"),
        proxied_imap_account(d, "new", &dst, port)
    ));
    for round in 0..2 {
        let out = c.run(&["pull", "old"]);
        assert_eq!(out.code, 74, "{out:?}");
        assert!(
            out.stderr.contains(&format!("<{}>", message_id("lim-big")))
                && out.stderr.contains("takes at most 3000 bytes")
                && out.stderr.contains("APPENDLIMIT"),
            "round {round}: {out:?}"
        );
        assert_each_once(d.server_messages(&dst, "INBOX"), &small);
        assert_eq!(
            d.server_messages(&src, "INBOX"),
            vec![big.clone()],
            "only the refused message is left on the server"
        );
    }
}

#[test]
fn without_uidplus_literal_plus_and_multiappend_the_corpus_still_arrives_once() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("plain-src"), d.new_user("plain-dst"));
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
    d.seed(&src, &messages);
    let (port, _) = imap_proxy(
        d,
        Edit {
            hide: vec!["UIDPLUS", "LITERAL+", "MULTIAPPEND"],
            ..Edit::default()
        },
    );
    let c = Client::new(&format!(
        "{}{}",
        migration(d, &src, "INBOX", ""),
        proxied_imap_account(d, "new", &dst, port)
    ));
    c.ok(&["pull", "old", "-v"]);
    assert_each_once(d.server_messages(&dst, "INBOX"), &corpus_via_pop3());
    let out = c.ok(&["pull", "old", "--reset-state"]);
    assert!(
        out.stdout
            .contains(&format!("{} already there", messages.len())),
        "{out:?}"
    );
    assert_eq!(d.count(&dst, "INBOX"), messages.len());
}

/// A Maildir with the corpus: flags and modification times chosen per message.
fn corpus_maildir(root: &Path) -> Vec<(Vec<u8>, &'static str, i64)> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let flags = ["FS", "R", "", "D", "S"];
    let mut out = Vec::new();
    for (i, (_, m)) in corpus().into_iter().enumerate() {
        let info = flags[i % flags.len()];
        let when = 1_000_000_000 + i as i64 * 86_400;
        let path = if info.is_empty() {
            root.join(format!("new/{when}.M{i}P1.host"))
        } else {
            root.join(format!("cur/{when}.M{i}P1.host:2,{info}"))
        };
        std::fs::write(&path, &m).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(when as u64))
            .unwrap();
        out.push((m, info, when));
    }
    out
}

#[test]
fn upload_of_a_maildir_keeps_flags_and_dates_and_a_second_upload_stores_nothing() {
    let d = Dovecot::shared();
    let dst = d.new_user("up-md");
    let c = Client::new(&imap(d, "new", &dst).toml());
    let root = c.path("backup");
    let local = corpus_maildir(&root);
    let n = local.len();
    let out = c.ok(&["upload", root.to_str().unwrap(), "--to", "new/Archive"]);
    assert!(
        out.stdout.contains(&format!(
            "(Maildir) -> new/Archive: {n} appended, 0 already present"
        )),
        "{out:?}"
    );
    let stored = d.server_messages(&dst, "Archive");
    let flags = d.flags(&dst, "Archive");
    let dates = received(d, &dst, "Archive");
    let mut seen = 0;
    for (m, info, when) in &local {
        let at = stored
            .iter()
            .position(|s| s == m)
            .expect("stored byte-exact");
        seen += 1;
        assert_eq!(dates[at], *when, "the file's time is the INTERNALDATE");
        let f = &flags[at];
        for (letter, flag) in [
            ('S', "\\Seen"),
            ('R', "\\Answered"),
            ('F', "\\Flagged"),
            ('D', "\\Draft"),
        ] {
            assert_eq!(
                f.iter().any(|x| x == flag),
                info.contains(letter),
                "{info:?} -> {f:?}"
            );
        }
    }
    assert_eq!(seen, n);
    let out = c.ok(&["upload", root.to_str().unwrap(), "--to", "new/Archive"]);
    assert!(
        out.stdout
            .contains(&format!("0 appended, {n} already present")),
        "{out:?}"
    );
    assert_eq!(d.count(&dst, "Archive"), n);
    let out = c.ok(&[
        "verify",
        "--local",
        root.to_str().unwrap(),
        "--remote",
        "new/Archive",
    ]);
    assert!(out.stdout.contains("all there and identical"), "{out:?}");
}

#[test]
fn an_mbox_backup_uploads_byte_exact_and_verify_names_a_deleted_and_a_changed_message() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("mb-src"), d.new_user("mb-dst"));
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
    d.seed(&src, &messages);
    // The backup: the POP3 mailbox pulled into an mbox by mailfetch itself.
    let c = Client::new(&format!(
        "{}{}",
        Account::pop3(d, &src)
            .name("old")
            .target("mbox:{dir}/backup.mbox")
            .toml(),
        imap(d, "new", &dst).toml()
    ));
    c.ok(&["pull", "old"]);
    let mbox = c.path("backup.mbox");
    let mbox = mbox.to_str().unwrap();
    let out = c.ok(&["upload", mbox, "--to", "new/Old Mail"]);
    let n = messages.len();
    assert!(
        out.stdout
            .contains(&format!("{n} appended, 0 already present")),
        "{out:?}"
    );
    assert_each_once(d.server_messages(&dst, "Old Mail"), &corpus_via_pop3());
    assert_eq!(
        c.ok(&["upload", mbox, "--to", "new/Old Mail"])
            .stdout
            .trim_end(),
        format!("{mbox} (mbox) -> new/Old Mail: 0 appended, {n} already present")
    );
    let verify = ["verify", "--local", mbox, "--remote", "new/Old Mail"];
    let out = c.ok(&verify);
    assert!(out.stdout.contains("all there and identical"), "{out:?}");
    // One message deleted at the destination, another replaced by a changed copy.
    let gone = message_id("plain-reply");
    let changed = message_id("dot-lines");
    for id in [&gone, &changed] {
        d.doveadm(&[
            "expunge",
            "-u",
            &dst.name,
            "mailbox",
            "Old Mail",
            "header",
            "Message-ID",
            id,
        ]);
    }
    let mut altered = support::corpus::corpus_message("dot-lines");
    let at = altered.len() - 3;
    altered[at] ^= 0x20;
    d.seed_folder(&dst, "Old Mail", [&altered]);
    let out = c.run(&verify);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&format!("missing: message <{gone}>"))),
        "{out:?}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&format!("different: message <{changed}>"))),
        "{out:?}"
    );
    assert!(out.stdout.contains("1 missing, 1 different"), "{out:?}");
    // verify ACCOUNT compares the POP3 server with the mbox: complete.
    let out = c.ok(&["verify", "old"]);
    assert!(out.stdout.contains("all there and identical"), "{out:?}");
}

/// An MDA script: appends each message to DIR/delivered (separated by a line `----`), says
/// something on stderr, fails for subject `fail`, hangs for subject `hang`.
fn mda_script(dir: &Path) -> String {
    let script = dir.join("mda.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nmsg=$(cat)\necho \"mda saw $(printf '%s' \"$msg\" | grep -c '')  lines\" >&2\n\
             case \"$msg\" in\n*'Subject: fail'*) echo 'no such user' >&2; exit 1;;\n\
             *'Subject: hang'*) sleep 600;;\nesac\n\
             printf '%s\\n----\\n' \"$msg\" >> {}/delivered\n",
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

#[test]
fn an_mda_that_exits_1_loses_nothing_the_message_stays_and_its_stderr_is_shown() {
    let d = Dovecot::shared();
    let src = d.new_user("mda-src");
    let good = simple("mda-good", "fine", "ok\n");
    let bad = simple("mda-bad", "fail", "refused\n");
    let later = simple("mda-later", "fine too", "ok\n");
    d.seed(&src, [&good, &bad, &later]);
    let c = Client::new("");
    let script = mda_script(c.dir.path());
    c.set_config(
        &Account::pop3(d, &src)
            .target(&format!("mda:{script}"))
            .keep(false)
            .toml(),
    );
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 74, "{out:?}");
    assert!(
        out.stderr.contains("exit status 1")
            && out.stderr.contains("no such user")
            && out.stderr.contains(&format!("<{}>", message_id("mda-bad"))),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("mda saw"),
        "the MDA's stderr is shown: {out:?}"
    );
    let delivered = std::fs::read_to_string(c.path("delivered")).unwrap();
    assert_eq!(delivered.matches("----").count(), 2, "{delivered}");
    assert!(!delivered.contains("Subject: fail"));
    assert_eq!(d.server_messages(&src, "INBOX"), vec![bad.clone()]);
    // Next run: only the refused message is tried again; still refused, still there.
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 74, "{out:?}");
    let delivered = std::fs::read_to_string(c.path("delivered")).unwrap();
    assert_eq!(delivered.matches("----").count(), 2);
    assert_eq!(d.server_messages(&src, "INBOX"), vec![bad]);
}

#[test]
fn an_mda_that_hangs_is_killed_after_the_timeout_and_the_message_stays() {
    let d = Dovecot::shared();
    let src = d.new_user("mda-hang");
    let hang = simple("mda-hang", "hang", "forever\n");
    let good = simple("mda-fine", "fine", "ok\n");
    d.seed(&src, [&hang, &good]);
    let c = Client::new("");
    let script = mda_script(c.dir.path());
    // The MDA gets the account's timeout, but at least 60 s.
    c.set_config(
        &Account::pop3(d, &src)
            .target(&format!("mda:{script}"))
            .keep(false)
            .timeout(2)
            .toml(),
    );
    let start = Instant::now();
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 74, "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "{:?}",
        start.elapsed()
    );
    assert!(
        out.stderr.contains("no exit within 60 s, killed"),
        "{out:?}"
    );
    let delivered = std::fs::read_to_string(c.path("delivered")).unwrap();
    assert!(delivered.contains("Subject: fine") && !delivered.contains("Subject: hang"));
    assert_eq!(d.server_messages(&src, "INBOX"), vec![hang]);
}

/// A message as Dovecot's LMTP stored it: the original after the fields it added on top.
fn without_added_fields(stored: &[u8]) -> &[u8] {
    let mut rest = stored;
    loop {
        let added = ["Return-Path:", "Delivered-To:", "Received:"]
            .iter()
            .any(|f| rest.starts_with(f.as_bytes()));
        if !added {
            return rest;
        }
        // Skip the field with its continuation lines.
        let mut end = rest.iter().position(|&b| b == b'\n').unwrap() + 1;
        while rest.get(end).is_some_and(|&b| b == b' ' || b == b'\t') {
            end += rest[end..].iter().position(|&b| b == b'\n').unwrap() + 1;
        }
        rest = &rest[end..];
    }
}

#[test]
fn lmtp_delivers_the_corpus_into_a_second_users_inbox_once() {
    let d = Dovecot::shared();
    let (src, rcpt) = (d.new_user("lmtp-src"), d.new_user("lmtp-rcpt"));
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
    d.seed(&src, &messages);
    let c = Client::new(
        &Account::pop3(d, &src)
            .target(&format!("lmtp:{}", d.lmtp_socket().display()))
            .extra(&format!("deliver-to = \"{}\"\nkeep = false", rcpt.name))
            .toml(),
    );
    let out = c.ok(&["pull"]);
    assert!(
        out.stdout
            .contains(&format!("a: {} new messages", messages.len()))
            && out.stdout.contains(&format!("{} via LMTP", rcpt.name)),
        "{out:?}"
    );
    let got: Vec<Vec<u8>> = d
        .server_messages(&rcpt, "INBOX")
        .iter()
        .map(|m| without_added_fields(m).to_vec())
        .collect();
    assert_each_once(got, &corpus_via_lmtp());
    assert_eq!(d.count(&src, "INBOX"), 0);
    assert!(c.ok(&["pull"]).stdout.contains("no new mail"));
}

/// What the fake LMTP server received.
#[derive(Default)]
struct Received {
    commands: Vec<String>,
    messages: Vec<Vec<u8>>,
}

/// A fake LMTP (or SMTP) server on TCP: offers PIPELINING, answers the end of a message's data with
/// 451 when its subject is `busy`, 550 when it is `unknown`, else 250.
fn fake_lmtp() -> (u16, Arc<Mutex<Received>>) {
    let got = Arc::new(Mutex::new(Received::default()));
    let seen = got.clone();
    let port = serve(move |conn| {
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        let _ = w.write_all(b"220 fake LMTP\r\n");
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                return;
            }
            let cmd = String::from_utf8_lossy(&line).trim_end().to_string();
            seen.lock().unwrap().commands.push(cmd.clone());
            let verb = cmd.split([' ', ':']).next().unwrap_or("").to_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "LHLO" | "EHLO" => b"250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
                "MAIL" | "RCPT" | "RSET" => b"250 OK\r\n",
                "QUIT" => b"221 bye\r\n",
                "DATA" => {
                    let _ = w.write_all(b"354 go ahead\r\n");
                    let mut data = Vec::new();
                    loop {
                        line.clear();
                        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == b".\r\n" {
                            break;
                        }
                        data.extend_from_slice(&line);
                    }
                    let text = String::from_utf8_lossy(&data).into_owned();
                    seen.lock().unwrap().messages.push(data);
                    if text.contains("Subject: busy") {
                        b"451 4.2.0 mailbox busy, try later\r\n"
                    } else if text.contains("Subject: unknown") {
                        b"550 5.1.1 no such user here\r\n"
                    } else {
                        b"250 2.0.0 delivered\r\n"
                    }
                }
                _ => b"500 what?\r\n",
            };
            if w.write_all(reply).is_err() {
                return;
            }
        }
    });
    (port, got)
}

#[test]
fn lmtp_4xx_keeps_the_message_for_next_run_and_5xx_is_reported_with_exit_74() {
    let d = Dovecot::shared();
    let src = d.new_user("lmtp-codes");
    let dots = support::corpus::corpus_message("dot-lines");
    let busy = simple("busy", "busy", "later\n");
    let unknown = simple("unknown", "unknown", "never\n");
    d.seed(&src, [&dots, &busy]);
    let (port, got) = fake_lmtp();
    let c = Client::new(
        &Account::pop3(d, &src)
            .target(&format!("lmtp:127.0.0.1:{port}"))
            .extra("deliver-to = \"alice@example.org\"\nkeep = false")
            .toml(),
    );
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 75, "only a temporary refusal: {out:?}");
    assert!(
        out.stderr.contains("451 4.2.0 mailbox busy")
            && out.stderr.contains("tried again next run"),
        "{out:?}"
    );
    assert_eq!(d.server_messages(&src, "INBOX"), vec![busy.clone()]);
    {
        let got = got.lock().unwrap();
        assert!(got
            .commands
            .iter()
            .any(|c| c == "RCPT TO:<alice@example.org>"));
        assert!(got
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<> BODY=8BITMIME")));
        // Dot-stuffed, CRLF, and the stuffing undone gives the message back.
        let wire = &got.messages[0];
        let text = String::from_utf8_lossy(wire);
        assert!(
            text.contains("\r\n..\r\n") && !text.contains("\n\n"),
            "{text}"
        );
        let unstuffed: Vec<u8> = String::from_utf8_lossy(wire)
            .split("\r\n")
            .map(|l| l.strip_prefix('.').unwrap_or(l).to_string())
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        assert_eq!(unstuffed, dots);
    }
    d.seed(&src, [&unknown]);
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 74, "a permanent refusal wins: {out:?}");
    assert!(
        out.stderr.contains("550 5.1.1 no such user here")
            && out.stderr.contains(&format!("<{}>", message_id("unknown"))),
        "{out:?}"
    );
    assert_eq!(
        sorted(d.server_messages(&src, "INBOX")),
        sorted(vec![busy, unknown]),
        "never silently dropped"
    );
    assert_eq!(
        got.lock().unwrap().messages.len(),
        4,
        "each tried once per run"
    );
}

#[test]
fn lmtp_and_imap_targets_are_checked_with_file_and_line() {
    let d = Dovecot::shared();
    let src = d.new_user("cfg");
    let c = Client::new(&Account::pop3(d, &src).target("lmtp:localhost:24").toml());
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("needs deliver-to"), "{out:?}");
    let c = Client::new(&Account::pop3(d, &src).target("imap:nowhere/INBOX").toml());
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("config.toml:10:") && out.stderr.contains("no account \"nowhere\""),
        "{out:?}"
    );
    let out = c.run(&["upload", "/nonexistent", "--to", "a/INBOX"]);
    assert_eq!(out.code, 78, "the config is read first: {out:?}");
}

#[test]
fn accounts_shows_the_new_targets() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("acc-src"), d.new_user("acc-dst"));
    let c = Client::new(&format!(
        "{}{}",
        migration(d, &src, "INBOX", ""),
        imap(d, "new", &dst).toml()
    ));
    let out = c.ok(&["accounts"]);
    assert!(out.stdout.contains("-> imap:new/INBOX"), "{out:?}");
    let folder = Path::new("/nonexistent-maildir");
    let out = c.run(&[
        "verify",
        "--local",
        folder.to_str().unwrap(),
        "--remote",
        "new/INBOX",
    ]);
    assert_eq!(out.code, 64, "{out:?}");
    let mut f = std::fs::File::create(c.path("notes.txt")).unwrap();
    f.write_all(b"just text\n").unwrap();
    let out = c.run(&[
        "upload",
        c.path("notes.txt").to_str().unwrap(),
        "--to",
        "new/X",
    ]);
    assert_eq!(out.code, 64, "{out:?}");
    assert!(
        out.stderr.contains("neither a Maildir nor an mbox"),
        "{out:?}"
    );
}

#[test]
fn smtp_hands_each_message_over_with_its_return_path() {
    let d = Dovecot::shared();
    let src = d.new_user("smtp-src");
    let mail = [
        b"Return-Path: <list-bounces@example.org>\nMessage-ID: <s1@x>\nSubject: one\n\nfirst\n"
            .to_vec(),
        simple("smtp-2", "two", "second\n"),
    ];
    d.seed(&src, &mail);
    let (port, got) = fake_lmtp();
    let c = Client::new(
        &Account::pop3(d, &src)
            .target(&format!("smtp:localhost:{port}"))
            .extra("deliver-to = \"bob@example.net\"\nkeep = false")
            .toml(),
    );
    let out = c.ok(&["pull"]);
    assert!(out.stdout.contains("a: 2 new messages"), "{out:?}");
    assert!(out.stdout.contains("bob@example.net via SMTP"), "{out:?}");
    let got = got.lock().unwrap();
    assert!(got.commands.iter().any(|c| c.starts_with("EHLO ")));
    assert!(got
        .commands
        .iter()
        .any(|c| c.starts_with("MAIL FROM:<list-bounces@example.org>")));
    assert_eq!(got.messages.len(), 2);
    assert_eq!(d.count(&src, "INBOX"), 0);
}

#[test]
fn verify_of_a_maildir_target_says_which_message_is_not_fetched_yet() {
    let d = Dovecot::shared();
    let src = d.new_user("vmd");
    d.seed(
        &src,
        (0..3).map(|i| simple(&format!("vmd-{i}"), "s", "b\n")),
    );
    let c = Client::new(&Account::pop3(d, &src).toml());
    c.ok(&["pull"]);
    assert!(c.ok(&["verify", "a"]).stdout.contains("a INBOX -> "));
    d.seed(&src, [simple("vmd-new", "late", "b\n")]);
    let out = c.run(&["verify", "a"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "not fetched yet: message <{}> \"late\"",
            message_id("vmd-new")
        )),
        "{out:?}"
    );
    c.ok(&["pull"]);
    let out = c.ok(&["verify", "a"]);
    assert!(
        out.stdout
            .contains("4 messages compared, all there and identical"),
        "{out:?}"
    );
}

#[test]
fn imap_to_imap_keeps_flags_and_internaldates() {
    let d = Dovecot::shared();
    let (src, dst) = (d.new_user("i2i-src"), d.new_user("i2i-dst"));
    let mail: Vec<Vec<u8>> = (0..4)
        .map(|i| simple(&format!("i2i-{i}"), "s", &format!("b {i}\n")))
        .collect();
    d.seed(&src, &mail);
    for (uid, flag) in [("1", "\\Seen"), ("2", "\\Flagged"), ("3", "\\Answered")] {
        d.doveadm(&[
            "flags", "add", "-u", &src.name, flag, "mailbox", "INBOX", "uid", uid,
        ]);
    }
    let c = Client::new(&format!(
        "{}{}",
        imap(d, "old", &src).target("imap:new/From Old"),
        imap(d, "new", &dst).tls("starttls").toml()
    ));
    let out = c.ok(&["pull", "old"]);
    assert!(out.stdout.contains("old: 4 new messages"), "{out:?}");
    assert_eq!(
        d.server_messages(&dst, "From Old"),
        mail,
        "in order, byte-exact"
    );
    assert_eq!(received(d, &dst, "From Old"), received(d, &src, "INBOX"));
    let flags = d.flags(&dst, "From Old");
    assert!(flags[0].contains(&"\\Seen".to_string()), "{flags:?}");
    assert!(flags[1].contains(&"\\Flagged".to_string()), "{flags:?}");
    assert!(flags[2].contains(&"\\Answered".to_string()), "{flags:?}");
    assert!(
        !flags[3]
            .iter()
            .any(|f| f.starts_with('\\') && f != "\\Recent"),
        "{flags:?}"
    );
    assert!(c
        .ok(&["verify", "old"])
        .stdout
        .contains("all there and identical"));
}
