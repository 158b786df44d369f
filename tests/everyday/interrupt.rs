//! Ctrl-C and SIGTERM in `pull` and `check` (issue 16): the first signal stops between
//! messages, keeps and records what was delivered, leaves no file in Maildir `tmp/` and no
//! mbox lock, logs out, says what is safe in one line and exits 130 (SIGINT) or 143
//! (SIGTERM); a second signal ends the run at once and the next run still loses nothing.
//! A slow proxy in front of the private Dovecot makes "mid-pull" deterministic.

use crate::dated;
use crate::support::account::Account;
use crate::support::client::{maildir_messages, maildir_tmp_count, Client};
use crate::support::dovecot::{Dovecot, TestUser};
use crate::support::proxy::{Fault, Proxy};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const DATE: &str = "Mon, 02 Jan 2023 10:00:00 +0000";
/// Messages on the server: at the proxy's pace a pull of them takes several seconds.
const N: usize = 400;

/// A POP3 (implicit TLS) account `name` on `user` into `target`, through a proxy that passes
/// the server's bytes on at about 400 KB/s (4 KB every 10 ms), so that a pull is still
/// running when the signal comes.
pub fn slow_account(d: &Dovecot, name: &str, user: &TestUser, target: &str, keep: bool) -> String {
    let slow = Fault::Pace {
        chunk: 4096,
        every: Duration::from_millis(10),
    };
    let proxy = Proxy::to(d.pop3s()).fault(slow).start();
    Account::pop3(d, user)
        .name(name)
        .target(target)
        .keep(keep)
        .port(proxy.detach())
        .toml()
}

/// A client with one slow account `a` (see [`slow_account`]).
fn slow_client(d: &Dovecot, user: &TestUser, target: &str, keep: bool) -> Client {
    Client::new(&slow_account(d, "a", user, target, keep))
}

/// `N` messages of 3 KB on `user`'s server.
pub fn seed(d: &Dovecot, user: &TestUser, tag: &str) {
    let messages: Vec<Vec<u8>> = (1..=N)
        .map(|i| dated(&format!("{tag}-{i}"), DATE, 3000))
        .collect();
    d.seed(user, &messages);
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill has no memory effects; the child is ours and not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Wait up to `limit` for `ready`, or panic with `what`.
fn within(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The exit code and stderr of `child`, which must end within 10 s.
fn finish(mut child: Child) -> (i32, String) {
    within(Duration::from_secs(10), "exit after the signal", || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    let out = child.wait_with_output().expect("pull output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn start_pull(c: &Client) -> Child {
    let mut cmd = c.command(&["pull"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("start mailfetch pull")
}

/// Every message's Message-ID line, once each: none arrived twice.
fn assert_each_once(messages: &[Vec<u8>], want: usize) {
    let mut ids: Vec<String> = messages
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(m);
            let line = text.lines().find(|l| l.starts_with("Message-ID:"));
            line.expect("a Message-ID").to_string()
        })
        .collect();
    assert_eq!(ids.len(), want, "messages in the target");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), want, "a message arrived twice");
}

/// The messages of an mboxrd file, split at its `From ` lines.
fn mbox_messages(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    text.split("\nFrom ")
        .filter(|m| !m.trim().is_empty())
        .map(|m| m.as_bytes().to_vec())
        .collect()
}

/// Files in `dir` whose name starts with `prefix`.
fn files_starting(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The line the first signal ends a pull with, for `saved` messages.
fn interrupted_line(saved: usize) -> String {
    let plural = if saved == 1 { "" } else { "s" };
    format!(
        "mailfetch: interrupted: {saved} message{plural} saved and recorded; the rest will come \
         next run"
    )
}

#[test]
fn ctrl_c_mid_pull_keeps_and_records_what_was_delivered_leaves_no_tmp_file_and_exits_130() {
    let d = Dovecot::shared();
    let user = d.new_user("sigint");
    seed(d, &user, "sigint");
    let c = slow_client(d, &user, "maildir:{dir}/M", false);
    let maildir = c.path("M");
    let child = start_pull(&c);
    within(Duration::from_secs(30), "the first message", || {
        !maildir_messages(&maildir).is_empty() || maildir_tmp_count(&maildir) > 0
    });
    signal(&child, libc::SIGINT);
    let asked = Instant::now();
    let (code, stderr) = finish(child);
    let saved = maildir_messages(&maildir).len();
    eprintln!(
        "{saved} of {N} saved before SIGINT; exit {:?} after the signal",
        asked.elapsed()
    );
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains(&interrupted_line(saved)), "{stderr}");
    assert!((1..N).contains(&saved), "stopped part-way: {saved}");
    assert_eq!(maildir_tmp_count(&maildir), 0, "a file left in tmp/");
    // Deleted on the server: exactly what was saved (keep = false).
    assert_eq!(
        d.count(&user, "INBOX"),
        N - saved,
        "nothing unsaved deleted"
    );

    c.ok(&["pull"]);
    assert_each_once(&maildir_messages(&maildir), N);
    assert_eq!(d.count(&user, "INBOX"), 0);
}

#[test]
fn sigterm_mid_pull_into_an_mbox_leaves_no_lock_file_and_exits_143() {
    let d = Dovecot::shared();
    let user = d.new_user("sigterm");
    seed(d, &user, "sigterm");
    let c = slow_client(d, &user, "mbox:{dir}/box", true);
    let mbox = c.path("box");
    let child = start_pull(&c);
    within(Duration::from_secs(30), "the first message", || {
        std::fs::metadata(&mbox).is_ok_and(|m| m.len() > 0)
    });
    signal(&child, libc::SIGTERM);
    let (code, stderr) = finish(child);
    let saved = mbox_messages(&mbox).len();
    eprintln!("{saved} of {N} saved before SIGTERM");
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains(&interrupted_line(saved)), "{stderr}");
    assert!((1..N).contains(&saved), "stopped part-way: {saved}");
    assert_eq!(
        files_starting(c.dir.path(), "box.lock"),
        Vec::<String>::new()
    );
    assert_eq!(d.count(&user, "INBOX"), N, "keep = true deletes nothing");

    c.ok(&["pull"]);
    assert_each_once(&mbox_messages(&mbox), N);
    assert!(c.ok(&["pull"]).stdout.contains("a: no new mail"));
}

#[test]
fn a_second_ctrl_c_ends_the_pull_at_once_and_the_next_pull_loses_nothing() {
    let d = Dovecot::shared();
    let user = d.new_user("sigint2");
    seed(d, &user, "sigint2");
    let c = slow_client(d, &user, "maildir:{dir}/M", false);
    let maildir = c.path("M");
    let child = start_pull(&c);
    within(Duration::from_secs(30), "the first message", || {
        !maildir_messages(&maildir).is_empty() || maildir_tmp_count(&maildir) > 0
    });
    signal(&child, libc::SIGINT);
    // Apart, or the kernel delivers the two as one.
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, libc::SIGINT);
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        !stderr.contains("interrupted: "),
        "no time to say: {stderr}"
    );
    let on_server = d.count(&user, "INBOX");
    assert!(
        N - on_server <= maildir_messages(&maildir).len(),
        "nothing deleted that is not saved"
    );

    c.ok(&["pull"]);
    assert_each_once(&maildir_messages(&maildir), N);
    assert_eq!(d.count(&user, "INBOX"), 0);
    // The files of the batch the journal named were published by the rerun; the others
    // the aborted run unlinked as it died, instead of leaving them for the 36-hour sweep.
    assert_eq!(maildir_tmp_count(&maildir), 0, "a file left in tmp/");
}

#[test]
fn a_second_sigterm_leaves_no_mbox_dotlock_and_the_next_pull_cuts_the_torn_batch() {
    let d = Dovecot::shared();
    let user = d.new_user("sigterm2");
    seed(d, &user, "sigterm2");
    let c = slow_client(d, &user, "mbox:{dir}/box", true);
    let mbox = c.path("box");
    let child = start_pull(&c);
    within(Duration::from_secs(30), "the first message", || {
        std::fs::metadata(&mbox).is_ok_and(|m| m.len() > 0)
    });
    signal(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, libc::SIGTERM);
    let (code, stderr) = finish(child);
    assert_eq!(code, 143, "{stderr}");
    // FILE.lock.TAG may stay: the next run's recovery reads it.
    let locks = files_starting(c.dir.path(), "box.lock");
    assert!(!locks.contains(&"box.lock".to_string()), "{locks:?}");

    c.ok(&["pull"]);
    assert_each_once(&mbox_messages(&mbox), N);
    assert_eq!(
        files_starting(c.dir.path(), "box.lock"),
        Vec::<String>::new()
    );
}

#[test]
fn ctrl_c_in_check_exits_130_and_says_nothing_was_changed() {
    let d = Dovecot::shared();
    let user = d.new_user("sigcheck");
    seed(d, &user, "sigcheck");
    let c = slow_client(d, &user, "maildir:{dir}/M", true);
    let mut cmd = c.command(&["check"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("start mailfetch check");
    // Once the account has started (its lock taken: the handler is set), while the listing
    // crawls through the proxy.
    let lock = c.state_dir().join("a.lock");
    within(Duration::from_secs(10), "the account's start", || {
        lock.exists()
    });
    signal(&child, libc::SIGINT);
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("mailfetch: interrupted: nothing was changed"),
        "{stderr}"
    );
    assert_eq!(d.count(&user, "INBOX"), N);
}

#[test]
fn an_interrupted_json_pull_says_so_per_account_with_exit_code_143() {
    let d = Dovecot::shared();
    let user = d.new_user("sigjson");
    seed(d, &user, "sigjson");
    let c = slow_client(d, &user, "maildir:{dir}/M", true);
    let maildir = c.path("M");
    let mut cmd = c.command(&["pull", "--json"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start mailfetch pull --json");
    within(Duration::from_secs(30), "the first message", || {
        !maildir_messages(&maildir).is_empty() || maildir_tmp_count(&maildir) > 0
    });
    signal(&child, libc::SIGTERM);
    within(Duration::from_secs(10), "exit after the signal", || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    let saved = maildir_messages(&maildir).len();
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(doc["exit_code"], 143, "{doc}");
    assert_eq!(doc["accounts"][0]["interrupted"], true, "{doc}");
    assert_eq!(doc["accounts"][0]["fetched"], saved, "{doc}");
}
