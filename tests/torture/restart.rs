//! The server restarted (Dovecot stopped and started again) in the middle of a pull: a
//! clear error (or, for IMAP, a reconnect that finishes the job), nothing lost or wrongly
//! deleted, and a rerun completes exactly once.

use crate::check::{self, local_messages, message, Mail, Row};
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::{script, Dovecot};
use crate::Scenario;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("server restart: pop3->maildir delete", |_| restarts(false)),
        Scenario::new("server restart: imap->maildir delete", |_| restarts(true)),
    ]
}

/// Stops the private instance `d` the hard way (SIGTERM to the master, SIGKILL to its
/// children, the sessions among them: a session told to shut down may well finish what a
/// pipelining client asked first, so only a kill is sure to cut it off) and starts it again
/// on the same ports and mail.
fn restart(d: &Dovecot) {
    let st = d.state_dir().to_string_lossy().into_owned();
    let pid: i32 = std::fs::read_to_string(d.state_dir().join("run/master.pid"))
        .expect("master.pid")
        .trim()
        .parse()
        .expect("a pid");
    let children: Vec<i32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the comm may hold spaces, so split after ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
                == Some(pid)
        })
        .collect();
    // SAFETY: plain kill(2)s of the instance's master and its children.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        for child in children {
            libc::kill(child, libc::SIGKILL);
        }
    }
    let end = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let run = |args: &[&str]| {
        let out = Command::new(script())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/dovecot");
        assert!(
            out.status.success(),
            "scripts/dovecot {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["down", &st]);
    let base = (d.pop3() - 110).to_string();
    let pid = std::process::id().to_string();
    run(&[
        "up",
        "--state",
        &st,
        "--port-base",
        &base,
        "--users",
        "0",
        "--owner-pid",
        &pid,
        "--quiet",
    ]);
    assert!(
        d.wait_port(d.imaps(), Duration::from_secs(10)),
        "dovecot back up"
    );
}

/// Files in a Maildir's tmp/, new/ and cur/.
fn arrived(maildir: &std::path::Path) -> usize {
    ["tmp", "new", "cur"]
        .iter()
        .map(|sub| {
            std::fs::read_dir(maildir.join(sub))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum()
}

fn restarts(imap: bool) -> Row {
    let d = Dovecot::start();
    let mut row = Row::new(0);
    let config = |user: &crate::support::dovecot::TestUser| {
        if imap {
            Account::imap(&d, user).name("src").keep(false).toml()
        } else {
            Account::pop3(&d, user).name("src").keep(false).toml()
        }
    };
    // The server goes down when a tenth, a fifth, two fifths of the mail has arrived (a
    // stop takes about a second, so more arrives meanwhile).
    let n = 1500;
    for tenths in [1, 2, 4] {
        let user = d.new_user("restart");
        let expected: Vec<Vec<u8>> = (0..n)
            .map(|i| message(&format!("{}-{i}", user.name), 30_000))
            .collect();
        d.seed(&user, &expected);
        let c = Client::new(&config(&user));
        let what = format!("restart after {tenths}/10 of {n} messages");
        let exit = std::thread::scope(|s| {
            let pull = s.spawn(|| check::pull(&c, &[], None));
            let end = Instant::now() + Duration::from_secs(30);
            while arrived(&c.path("M")) < n * tenths / 10 && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(2));
            }
            if std::env::var_os("MAILFETCH_TORTURE_VERBOSE").is_some() {
                eprintln!("    restarting with {} arrived", arrived(&c.path("M")));
            }
            restart(&d);
            pull.join().expect("pull thread")
        });
        row.saw(&exit);
        row.rounds += 1;
        // POP3 fails with 75; IMAP reconnects after 2 s and may find the server back (0), or
        // not yet (69, unavailable, on a loaded machine).
        row.expect(matches!(exit.code, Some(0) | Some(69) | Some(75)), || {
            format!(
                "{what}: want exit 75 (0 after a reconnect, 69 if still down): {}",
                exit.describe()
            )
        });
        if exit.code != Some(0) {
            let last = exit.stderr.trim().lines().last().unwrap_or("");
            row.expect(
                last.starts_with("mailfetch: src:") || last.contains("src"),
                || {
                    format!(
                        "{what}: want an error naming the account: {:?}",
                        exit.stderr
                    )
                },
            );
        }
        let mail = Mail {
            expected: &expected,
            target: Box::new(|| local_messages(&c.path("M"), false)),
            server: Box::new(|| d.server_messages(&user, "INBOX")),
        };
        mail.count(&mut row, &format!("{what}, right after"), false, false);
        if imap {
            // Dovecot, restarted the hard way, now and then forgets expunges it confirmed
            // soon after: a trace showed a tagged OK and an untagged EXPUNGE for each of
            // 1,500 messages, and the next session listed 200 of them again, flagged
            // \Deleted. A rerun deletes those again, and may meet the same, so IMAP gets a
            // first rerun that must exit 0 with nothing lost or duplicated, and then the
            // rerun that must also leave the server empty.
            let first = check::pull(&c, &[], None);
            row.saw(&first);
            row.expect(first.code == Some(0), || {
                format!("{what}, first rerun: {}", first.describe())
            });
            mail.count(
                &mut row,
                &format!("{what}, after a first rerun"),
                true,
                false,
            );
        }
        mail.rerun(&mut row, &what, &c, false);
    }
    row
}
