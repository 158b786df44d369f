//! POP3 pulls against a real, private Dovecot: byte-exact delivery of the edge-case corpus
//! into Maildir and mbox, "only new mail", delete mode, TLS modes and login methods, and
//! exactly-once delivery under kill -9.

mod support;

use std::time::{Duration, Instant};
use support::account::Account;
use support::client::{maildir_messages, maildir_tmp_count, Client};
use support::corpus::{corpus, simple};
use support::dovecot::Dovecot;
use support::mbox::read_mbox_with_python;

/// What a POP3 fetch can reproduce of a stored message: POP3 has no way to say "no final
/// newline", so RETR ends every message with a line break (RFC 1939 section 3).
fn as_pop3_delivers(msg: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    if !m.is_empty() && m.last() != Some(&b'\n') {
        m.push(b'\n');
    }
    m
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

#[test]
fn corpus_is_delivered_byte_exact_into_maildir_over_pop3s() {
    let d = Dovecot::shared();
    let user = d.new_user("p3md");
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
    d.seed(&user, &messages);
    let c = Client::new(
        &Account::pop3(d, &user)
            .name("box")
            .target("maildir:{dir}/Mail")
            .toml(),
    );
    let out = c.ok(&["pull"]);
    assert!(
        out.stdout
            .contains(&format!("box: {} new messages", messages.len())),
        "{out:?}"
    );
    let want = sorted(messages.iter().map(|m| as_pop3_delivers(m)).collect());
    assert_eq!(maildir_messages(&c.path("Mail")), want);
    assert_eq!(maildir_tmp_count(&c.path("Mail")), 0);
    assert_eq!(
        d.count(&user, "INBOX"),
        messages.len(),
        "keep is the default"
    );
}

#[test]
fn corpus_is_delivered_byte_exact_into_mbox_as_python_reads_it() {
    let d = Dovecot::shared();
    let user = d.new_user("p3mb");
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
    d.seed(&user, &messages);
    let c = Client::new(
        &Account::pop3(d, &user)
            .name("box")
            .tls("starttls")
            .target("mbox:{dir}/box.mbox")
            .toml(),
    );
    c.ok(&["pull"]);
    let got = read_mbox_with_python(c.path("box.mbox"));
    let want: Vec<Vec<u8>> = messages.iter().map(|m| as_pop3_delivers(m)).collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g == w,
            "message {i} differs:\n got {:?}\nwant {:?}",
            String::from_utf8_lossy(&g[..g.len().min(300)]),
            String::from_utf8_lossy(&w[..w.len().min(300)])
        );
    }
    assert!(!c.path("box.mbox.lock").exists(), "dotlock released");
}

#[test]
fn second_pull_fetches_nothing_and_all_fetches_everything_again() {
    let d = Dovecot::shared();
    let user = d.new_user("p3again");
    d.seed(
        &user,
        (0..5).map(|i| simple(&format!("again-{i}"), "s", "b\n")),
    );
    let c = Client::new(&Account::pop3(d, &user).toml());
    c.ok(&["pull"]);
    let out = c.ok(&["pull"]);
    assert!(out.stdout.contains("a: no new mail"), "{out:?}");
    assert_eq!(maildir_messages(&c.path("M")).len(), 5);
    d.seed(&user, [simple("again-new", "s", "new\n")]);
    let out = c.ok(&["check"]);
    assert!(out.stdout.contains("a: 1 new message"), "{out:?}");
    let out = c.ok(&["pull"]);
    assert!(out.stdout.contains("a: 1 new message"), "{out:?}");
    c.ok(&["pull", "--all"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 12);
}

/// With the mailbox in the state, UIDL alone lists it: the sizes of a few new messages are
/// asked for one by one (`LIST n`), of many with one LIST, and of none when nothing is new.
#[test]
fn a_known_mailbox_is_listed_by_uidl_and_only_new_mail_is_sized() {
    let d = Dovecot::shared();
    let user = d.new_user("p3brief");
    d.seed(
        &user,
        (0..3).map(|i| simple(&format!("brief-{i}"), "s", "b\n")),
    );
    let c = Client::new(&Account::pop3(d, &user).toml());
    let sent = |out: &support::client::Outcome| -> Vec<String> {
        out.stderr
            .lines()
            .filter_map(|l| l.split_once("C: ").map(|(_, c)| c.to_string()))
            .filter(|c| c.starts_with("LIST") || c.starts_with("UIDL"))
            .collect()
    };
    let out = c.ok(&["pull", "-v"]);
    assert_eq!(
        sent(&out),
        ["UIDL", "LIST"],
        "nothing known yet: {}",
        out.stderr
    );
    d.seed(
        &user,
        (0..2).map(|i| simple(&format!("brief-new-{i}"), "s", "n\n")),
    );
    let out = c.ok(&["pull", "-v"]);
    assert!(out.stdout.contains("a: 2 new messages"), "{out:?}");
    assert_eq!(sent(&out), ["UIDL", "LIST 4", "LIST 5"], "{}", out.stderr);
    let out = c.ok(&["pull", "-v"]);
    assert!(out.stdout.contains("a: no new mail"), "{out:?}");
    assert_eq!(sent(&out), ["UIDL"], "{}", out.stderr);
    d.seed(
        &user,
        (0..70).map(|i| simple(&format!("brief-many-{i}"), "s", "m\n")),
    );
    let out = c.ok(&["pull", "-v"]);
    assert!(out.stdout.contains("a: 70 new messages"), "{out:?}");
    assert_eq!(sent(&out), ["UIDL", "LIST"], "{}", out.stderr);
    assert_eq!(maildir_messages(&c.path("M")).len(), 75);
}

#[test]
fn delete_mode_leaves_the_server_empty_after_safe_delivery() {
    let d = Dovecot::shared();
    let user = d.new_user("p3del");
    d.seed(
        &user,
        (0..30).map(|i| simple(&format!("del-{i}"), "s", "body\n")),
    );
    let c = Client::new(
        &Account::pop3(d, &user)
            .target("mbox:{dir}/box")
            .keep(false)
            .toml(),
    );
    let out = c.ok(&["pull"]);
    assert!(out.stdout.contains("30 deleted"), "{out:?}");
    assert_eq!(d.count(&user, "INBOX"), 0);
    assert_eq!(read_mbox_with_python(c.path("box")).len(), 30);
}

#[test]
fn no_keep_flag_overrides_the_config_and_dry_run_changes_nothing() {
    let d = Dovecot::shared();
    let user = d.new_user("p3flags");
    d.seed(
        &user,
        (0..3).map(|i| simple(&format!("fl-{i}"), "s", "b\n")),
    );
    let c = Client::new(&Account::pop3(d, &user).toml());
    let out = c.ok(&["pull", "--dry-run"]);
    assert!(out.stdout.contains("a: would fetch 3 messages"), "{out:?}");
    assert!(maildir_messages(&c.path("M")).is_empty());
    c.ok(&["pull", "--limit", "2", "--no-keep"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 2);
    assert_eq!(d.count(&user, "INBOX"), 1);
}

#[test]
fn stls_and_implicit_tls_and_every_login_method_work() {
    let d = Dovecot::shared();
    let user = d.new_user("p3auth");
    d.seed(&user, [simple("auth-1", "s", "b\n")]);
    for (tls, auth) in [
        ("implicit", "auto"),
        ("starttls", "auto"),
        ("implicit", "user"),
        ("implicit", "plain"),
        ("starttls", "login"),
        ("implicit", "cram-md5"),
        ("implicit", "apop"),
    ] {
        let c = Client::new(
            &Account::pop3(d, &user)
                .tls(tls)
                .extra(&format!("auth = \"{auth}\""))
                .toml(),
        );
        let out = c.run(&["pull"]);
        assert_eq!(out.code, 0, "tls={tls} auth={auth}: {out:?}");
        assert_eq!(
            maildir_messages(&c.path("M")).len(),
            1,
            "tls={tls} auth={auth}"
        );
    }
}

#[test]
fn certificate_from_an_unknown_ca_is_refused() {
    let d = Dovecot::shared();
    let user = d.new_user("p3ca");
    let wrong_ca = d.wrong_ca_file().display().to_string();
    let c = Client::new(&Account::pop3(d, &user).set("ca-file", wrong_ca).toml());
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 69, "{out:?}");
    assert!(out.stderr.contains("certificate"), "{out:?}");
}

#[test]
fn wrong_password_is_exit_77_and_never_printed() {
    let d = Dovecot::shared();
    let user = d.new_user("p3pw");
    let c = Client::new(&Account::pop3(d, &user).password("Wrong-Secret-42").toml());
    let out = c.run(&["-v", "pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    assert!(out.stderr.contains("refused the login"), "{out:?}");
    assert!(!out.stderr.contains("Wrong-Secret-42") && !out.stdout.contains("Wrong-Secret-42"));
}

#[test]
fn plaintext_password_needs_the_explicit_allow() {
    let d = Dovecot::shared();
    let user = d.new_user("p3plain");
    d.seed(&user, [simple("plain-1", "s", "b\n")]);
    let c = Client::new(
        &Account::pop3(d, &user)
            .tls("none")
            .extra("auth = \"user\"")
            .toml(),
    );
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("allow-plaintext-password"), "{out:?}");
    c.set_config(
        &Account::pop3(d, &user)
            .tls("none")
            .extra("auth = \"user\"\nallow-plaintext-password = true")
            .toml(),
    );
    c.ok(&["pull"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 1);
}

#[test]
fn second_run_on_a_locked_account_exits_75_naming_the_pid() {
    let d = Dovecot::shared();
    let user = d.new_user("p3lock");
    let c = Client::new(&Account::pop3(d, &user).toml());
    std::fs::create_dir_all(c.state_dir()).unwrap();
    let lock = std::fs::File::create(c.state_dir().join("a.lock")).unwrap();
    use std::os::fd::AsRawFd;
    // Hold the lock as another mailfetch would.
    assert_eq!(unsafe { libc_flock(lock.as_raw_fd()) }, 0);
    std::fs::write(c.state_dir().join("a.lock"), "4242\n").unwrap();
    let start = Instant::now();
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 75, "{out:?}");
    assert!(
        out.stderr
            .contains("being fetched by another mailfetch (pid 4242)"),
        "{out:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

extern "C" {
    fn flock(fd: i32, op: i32) -> i32;
}

/// flock(LOCK_EX | LOCK_NB)
unsafe fn libc_flock(fd: i32) -> i32 {
    flock(fd, 2 | 4)
}

#[test]
fn config_errors_exit_78_with_file_and_line() {
    let c = Client::new(
        "[accounts.a]\nprofile = \"gmail\"\nuser = \"u\"\ntarget = \"maildir:/x\"\nkep = true\n",
    );
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("config.toml:5:1"), "{out:?}");
    c.set_config("[accounts.a]\nprofile = \"nope\"\nuser = \"u\"\ntarget = \"maildir:/x\"\n");
    let out = c.run(&["accounts"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("config.toml:2:11") && out.stderr.contains("unknown profile"),
        "{out:?}"
    );
    let out = c.run(&["pull", "--bogus"]);
    assert_eq!(out.code, 64, "{out:?}");
}

#[test]
fn a_100_mb_message_is_streamed_with_less_than_64_mb_of_memory() {
    let d = Dovecot::shared();
    let user = d.new_user("p3big");
    let big = support::corpus::large("p3big", 100 << 20);
    let small = simple("p3small", "s", "b\n");
    d.seed(&user, [&small, &big, &small]);
    let c = Client::new(&Account::pop3(d, &user).toml());
    let (code, peak_kb) = c.run_measured(&["pull", "--quiet"]);
    assert_eq!(code, 0);
    let got = maildir_messages(&c.path("M"));
    assert_eq!(got.len(), 3);
    assert!(got.contains(&big), "the big message arrived byte-exact");
    eprintln!("POP3, a 100 MB message: peak RSS {} kB", peak_kb);
    assert!(peak_kb < 64 * 1024, "peak RSS {peak_kb} kB");
}
