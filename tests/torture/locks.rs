//! Stale locks. An mbox dotlock `BOX.lock` left by a dead process is broken at once; one
//! whose owner cannot be told (unreadable or empty content) is broken once it is older than
//! `STALE_DOTLOCK` (5 minutes, src/sink/mbox.rs); a fresh dotlock of a live process, or a
//! fresh one of unknown owner, is respected (only with `--full`: the pull waits its 30 s and
//! exits 75, the lock untouched, nothing delivered or deleted). The account lock (an flock on
//! `<state-dir>/<account>.lock`) dies with its holder: after a kill -9 mid-pull it is free at
//! once and the next pull completes, every message exactly once.

use crate::check::{self, mbox_messages, message, tally, Rng, Row};
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::{Dovecot, TestUser};
use crate::{Ctx, Scenario};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The age after which a dotlock of unknown owner is broken (src/sink/mbox.rs).
const STALE_DOTLOCK: Duration = Duration::from_secs(5 * 60);

pub fn scenarios(ctx: &Ctx) -> Vec<Scenario> {
    let mut v = vec![
        Scenario::new("locks: dotlock of a dead process", |ctx| {
            broken_dotlock(ctx.seed, "dead")
        }),
        Scenario::new("locks: old dotlock of unknown owner", |ctx| {
            broken_dotlock(ctx.seed ^ 1, "old")
        }),
        Scenario::new("locks: account lock after kill -9", |ctx| {
            account_lock(ctx.seed, if ctx.full { 10 } else { 2 })
        }),
    ];
    if ctx.full {
        v.push(Scenario::new(
            "locks: fresh dotlocks are respected",
            |ctx| respected_dotlocks(ctx.seed),
        ));
    }
    v
}

/// A POP3 -> mbox account (delete mode) with `n` messages on the server.
struct Fixture {
    user: TestUser,
    client: Client,
    expected: Vec<Vec<u8>>,
}

impl Fixture {
    fn new(prefix: &str, n: usize, rng: &mut Rng) -> Fixture {
        let d = Dovecot::shared();
        let user = d.new_user(prefix);
        let client = Client::new(
            &Account::pop3(d, &user)
                .name("src")
                .target("mbox:{dir}/box")
                .keep(false)
                .timeout(10)
                .toml(),
        );
        let mut fx = Fixture {
            user,
            client,
            expected: Vec::new(),
        };
        fx.seed(n, rng, "a");
        fx
    }

    fn seed(&mut self, n: usize, rng: &mut Rng, round: &str) {
        let batch: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let size = 500 + rng.below(12_000) as usize;
                message(&format!("{}-{round}-{i}", self.user.name), size)
            })
            .collect();
        Dovecot::shared().seed(&self.user, &batch);
        self.expected.extend(batch);
    }

    fn mbox(&self) -> PathBuf {
        self.client.path("box")
    }

    fn dotlock(&self) -> PathBuf {
        self.client.path("box.lock")
    }

    fn on_server(&self) -> Vec<Vec<u8>> {
        Dovecot::shared().server_messages(&self.user, "INBOX")
    }

    /// The tally now; `finished`: the last pull ran to its end.
    fn tally(&self, finished: bool, torn_tail_ok: bool) -> check::Tally {
        tally(
            &self.expected,
            &mbox_messages(&self.mbox()),
            &self.on_server(),
            finished,
            torn_tail_ok,
        )
    }
}

/// The pid of a process that has just ended (and been reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Set a file's mtime `ago` into the past.
fn age(path: &PathBuf, ago: Duration) {
    File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - ago))
        .expect("set the dotlock's mtime");
}

/// Rounds: a dotlock that must be broken at once, then a pull that must succeed.
fn broken_dotlock(seed: u64, kind: &str) -> Row {
    let mut rng = Rng::new(seed);
    let mut fx = Fixture::new(&format!("locks-{kind}"), 20, &mut rng);
    // (what, lock content, age)
    let locks: Vec<(String, Vec<u8>, Duration)> = if kind == "dead" {
        let pid = dead_pid();
        vec![
            (
                format!("pid {pid} (dead), fresh"),
                format!("{pid}\n").into_bytes(),
                Duration::ZERO,
            ),
            (
                format!("pid {pid} (dead), no newline, 10 s old"),
                format!("{pid}").into_bytes(),
                Duration::from_secs(10),
            ),
        ]
    } else {
        let old = STALE_DOTLOCK + Duration::from_secs(60);
        vec![
            (
                "binary content, 6 min old".into(),
                b"\xff\xfe\x00lock\x01".to_vec(),
                old,
            ),
            ("empty (procmail style), 6 min old".into(), Vec::new(), old),
            ("pid 0, 6 min old".into(), b"0\n".to_vec(), old),
        ]
    };
    let mut row = Row::new(locks.len());
    for (round, (what, content, ago)) in locks.iter().enumerate() {
        if round > 0 {
            fx.seed(15, &mut rng, &format!("r{round}"));
        }
        if let Some(pid) = std::str::from_utf8(content)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .filter(|&p| p > 0)
        {
            row.expect(!pid_alive(pid), || format!("{what}: pid {pid} is alive"));
        }
        fs::write(fx.dotlock(), content).expect("write the dotlock");
        if !ago.is_zero() {
            age(&fx.dotlock(), *ago);
        }
        let exit = check::pull(&fx.client, &[], Some(Duration::from_secs(60)));
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!("{what}: pull: {}", exit.describe())
        });
        // Broken at once: well below the 30 s mailfetch waits for a lock it respects.
        row.expect(exit.elapsed < Duration::from_secs(5), || {
            format!("{what}: the pull took {:.1} s", exit.elapsed.as_secs_f64())
        });
        row.expect(!fx.dotlock().exists(), || {
            format!("{what}: a dotlock is left after the pull")
        });
        let t = fx.tally(true, false);
        row.expect(t.is_zero(), || format!("{what}: {t:?}"));
        row.expect(fx.on_server().is_empty(), || {
            format!("{what}: the server was not emptied")
        });
        worst(&mut row.tally, t);
    }
    row
}

/// Whether the flock of `path` can be taken at once (and is released again).
fn flock_free(path: &PathBuf) -> bool {
    let Ok(f) = File::open(path) else {
        return true;
    };
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// kill -9 a pull mid-run; its account lock must be free at once and the next pull complete.
fn account_lock(seed: u64, rounds: usize) -> Row {
    let mut rng = Rng::new(seed);
    let mut fx = Fixture::new("locks-acct", 300, &mut rng);
    let lock = fx.client.state_dir().join("src.lock");
    let mut row = Row::new(rounds);
    // How long a pull of 300 messages takes; the kill falls in 20..80 % of it.
    let mut whole = Duration::from_millis(1500);
    let mut killed = 0;
    for round in 0..rounds {
        if round > 0 {
            fx.seed(300, &mut rng, &format!("r{round}"));
        }
        let span = whole.as_micros() as u64;
        let at = Duration::from_micros(span / 5 + rng.below(span * 3 / 5));
        let exit = check::pull(&fx.client, &[], Some(at));
        row.saw(&exit);
        if !exit.killed {
            whole = exit.elapsed;
            row.expect(exit.code == Some(0), || {
                format!("round {round}: unkilled pull: {}", exit.describe())
            });
        } else {
            killed += 1;
            row.expect(flock_free(&lock), || {
                format!("round {round}: the account lock is still held after kill -9")
            });
        }
        let t = fx.tally(false, true);
        row.expect(t.is_zero(), || {
            format!("round {round}, after the kill: {t:?}")
        });
        worst(&mut row.tally, t);

        let exit = check::pull(&fx.client, &[], Some(Duration::from_secs(60)));
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!(
                "round {round}: the pull after the kill: {}",
                exit.describe()
            )
        });
        row.expect(!exit.stderr.contains("another mailfetch"), || {
            format!(
                "round {round}: waited for a dead run's lock: {}",
                exit.stderr.trim()
            )
        });
        if round == 0 || !exit.killed {
            whole = whole.max(exit.elapsed);
        }
        let t = fx.tally(true, false);
        row.expect(t.is_zero(), || {
            format!("round {round}, after the rerun: {t:?}")
        });
        row.expect(fx.on_server().is_empty(), || {
            format!("round {round}: the server was not emptied")
        });
        worst(&mut row.tally, t);
    }
    row.expect(killed > 0, || "no pull was killed mid-run".to_string());
    row
}

/// Only with --full (30 s): a fresh dotlock of a live process, and a fresh one of unknown
/// owner, are waited for and not broken.
fn respected_dotlocks(seed: u64) -> Row {
    let mut rng = Rng::new(seed);
    let fixtures: Vec<(String, Fixture, Vec<u8>)> = vec![
        (
            format!("live pid {} (this test)", std::process::id()),
            Fixture::new("locks-live", 10, &mut rng),
            format!("{}\n", std::process::id()).into_bytes(),
        ),
        (
            "binary content, fresh".into(),
            Fixture::new("locks-fresh", 10, &mut rng),
            b"\xff\xfe\x00lock\x01".to_vec(),
        ),
    ];
    let mut row = Row::new(fixtures.len());
    for (_, fx, content) in &fixtures {
        fs::write(fx.dotlock(), content).expect("write the dotlock");
    }
    // Both at once: each waits 30 s.
    let exits: Vec<check::Exit> = std::thread::scope(|s| {
        let handles: Vec<_> = fixtures
            .iter()
            .map(|(_, fx, _)| {
                s.spawn(|| check::pull(&fx.client, &[], Some(Duration::from_secs(90))))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("pull thread"))
            .collect()
    });
    for ((what, fx, content), exit) in fixtures.iter().zip(&exits) {
        let mut mine = check::Tally::default();
        row.saw(exit);
        row.expect(exit.code == Some(75), || {
            format!("{what}: expected exit 75: {}", exit.describe())
        });
        row.expect(
            exit.elapsed >= Duration::from_secs(25) && exit.elapsed < Duration::from_secs(45),
            || {
                format!(
                    "{what}: gave up after {:.1} s, not ~30 s",
                    exit.elapsed.as_secs_f64()
                )
            },
        );
        row.expect(exit.stderr.contains("locked by another program"), || {
            format!("{what}: unclear error: {}", exit.stderr.trim())
        });
        let now = fs::read(fx.dotlock()).ok();
        row.expect(now.as_ref() == Some(content), || {
            format!("{what}: the dotlock was broken or changed")
        });
        row.expect(mbox_messages(&fx.mbox()).is_empty(), || {
            format!("{what}: delivered into a locked mbox")
        });
        let t = fx.tally(false, false);
        row.expect(fx.on_server().len() == fx.expected.len(), || {
            format!("{what}: mail deleted on the server while the mbox was locked")
        });
        worst(&mut mine, t);
        // The owner is done: the next pull delivers everything.
        let _ = fs::remove_file(fx.dotlock());
        let exit = check::pull(&fx.client, &[], Some(Duration::from_secs(60)));
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!("{what}: the pull after the unlock: {}", exit.describe())
        });
        let t = fx.tally(true, false);
        row.expect(t.is_zero(), || format!("{what}, after the unlock: {t:?}"));
        worst(&mut mine, t);
        row.tally.add(mine);
    }
    row
}

/// The mailbox's state is cumulative over rounds: a row counts each breach once, at its
/// worst, not once per round it is still seen.
fn worst(into: &mut check::Tally, t: check::Tally) {
    into.lost = into.lost.max(t.lost);
    into.duplicated = into.duplicated.max(t.duplicated);
    into.partial = into.partial.max(t.partial);
    into.wrongly_deleted = into.wrongly_deleted.max(t.wrongly_deleted);
}
