//! A full disk: the target (or the state directory) on a small tmpfs of its own. The pull
//! must fail with exit 74, leave no partial message (an mbox is truncated back, a Maildir
//! keeps the torn file in tmp/), delete nothing on the server that is not durable, and after
//! space is freed a rerun completes the job with no duplicate, also when the disk filled up
//! in the middle of writing the state journal.

use crate::check::{self, local_messages, message, Mail, Row};
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::{Dovecot, TestUser};
use crate::Scenario;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("disk full: pop3->mbox delete, mid-message", |_| {
            target_full(Kind::Pop3Mbox)
        }),
        Scenario::new("disk full: pop3->maildir delete", |_| {
            target_full(Kind::Pop3Maildir)
        }),
        Scenario::new("disk full: imap->maildir delete", |_| {
            target_full(Kind::ImapMaildir)
        }),
        Scenario::new("disk full: state journal, pop3->maildir", |_| {
            state_full(false)
        }),
        Scenario::new("disk full: state journal, pop3->mbox", |_| state_full(true)),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pop3Mbox,
    Pop3Maildir,
    ImapMaildir,
}

/// A tmpfs mounted on a directory of ours, unmounted on drop.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    fn mount(dir: &Path, kb: u64) -> SmallFs {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kb}k,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount a {kb} KB tmpfs on {} (needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs {
            dir: dir.to_path_buf(),
        }
    }

    /// Give it room again.
    fn grow(&self, kb: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={kb}k")])
            .arg(&self.dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
    }
}

fn config(d: &Dovecot, kind: Kind, user: &TestUser, target: &str) -> String {
    match kind {
        Kind::ImapMaildir => Account::imap(d, user)
            .name("src")
            .target(target)
            .keep(false)
            .toml(),
        _ => Account::pop3(d, user)
            .name("src")
            .target(target)
            .keep(false)
            .toml(),
    }
}

/// Messages of 150 KB: a small disk fills up in the middle of one.
fn mailbox(tag: &str, n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| message(&format!("{tag}-{i}"), size))
        .collect()
}

/// The target on a tmpfs of 300 KB, 700 KB, 1100 KB (different messages are cut), 2 MB of
/// mail in delete mode.
fn target_full(kind: Kind) -> Row {
    let d = Dovecot::shared();
    let mut row = Row::new(0);
    for kb in [300, 700, 1100] {
        let user = d.new_user("diskfull");
        let expected = mailbox(&user.name, 13, 150_000);
        d.seed(&user, &expected);
        let mbox = kind == Kind::Pop3Mbox;
        let target = if mbox {
            "mbox:{dir}/T/box"
        } else {
            "maildir:{dir}/T/M"
        };
        let c = Client::new(&config(d, kind, &user, target));
        let fs = SmallFs::mount(&c.path("T"), kb);
        let place = if mbox { c.path("T/box") } else { c.path("T/M") };
        let exit = check::pull(&c, &[], None);
        row.saw(&exit);
        row.rounds += 1;
        let what = format!("{kb} KB disk");
        row.expect(exit.code == Some(74), || {
            format!("{what}: want exit 74: {}", exit.describe())
        });
        row.expect(exit.stderr.contains("No space left"), || {
            format!("{what}: want the cause named: {:?}", exit.stderr)
        });
        let mail = Mail {
            expected: &expected,
            target: Box::new(|| local_messages(&place, mbox)),
            server: Box::new(|| d.server_messages(&user, "INBOX")),
        };
        mail.count(&mut row, &format!("{what}, right after"), false, false);
        fs.grow(64 * 1024);
        mail.rerun(&mut row, &what, &c, false);
    }
    row
}

/// The state directory on a tmpfs of 0 to 14 pages: the journal (or the lock file, or the
/// state file's creation) fails at a different record each round; 150 small messages in
/// delete mode.
fn state_full(mbox: bool) -> Row {
    let d = Dovecot::shared();
    let mut row = Row::new(0);
    let mut full = Vec::new();
    for pages in [0u64, 1, 2, 3, 4, 6, 9, 14] {
        let user = d.new_user("statefull");
        let expected = mailbox(&user.name, 150, 600);
        d.seed(&user, &expected);
        let target = if mbox {
            "mbox:{dir}/box"
        } else {
            "maildir:{dir}/M"
        };
        let place = if mbox { "box" } else { "M" };
        let c = Client::new(
            &Account::pop3(d, &user)
                .name("src")
                .target(target)
                .keep(false)
                .toml(),
        );
        // tmpfs rounds a size of 0 up to "unlimited": one page is the smallest.
        let fs = SmallFs::mount(&c.state_dir(), 4 * pages.max(1));
        if pages == 0 {
            // Fill the one page.
            let _ = std::fs::write(c.state_dir().join("filler"), vec![0u8; 4096]);
        }
        let exit = check::pull(&c, &[], None);
        row.saw(&exit);
        row.rounds += 1;
        let what = format!("{pages} pages for the state");
        if exit.code == Some(74) {
            full.push(pages);
        }
        row.expect(matches!(exit.code, Some(0) | Some(74)), || {
            format!("{what}: want exit 74 (or 0 if it fit): {}", exit.describe())
        });
        let mail = Mail {
            expected: &expected,
            target: Box::new(|| local_messages(&c.path(place), mbox)),
            server: Box::new(|| d.server_messages(&user, "INBOX")),
        };
        mail.count(&mut row, &format!("{what}, right after"), false, false);
        let _ = std::fs::remove_file(c.state_dir().join("filler"));
        fs.grow(64 * 1024);
        mail.rerun(&mut row, &what, &c, false);
        drop(fs);
    }
    // The rounds must have hit the full disk at different places, not all fit.
    row.expect(full.len() >= 3, || {
        format!("only the rounds with {full:?} pages ran out of space")
    });
    row
}
