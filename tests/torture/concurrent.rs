//! Concurrent runs. Five mailfetch processes started at once on one account (POP3 -> mbox,
//! delete mode, a few hundred messages): one fetches, the others exit 75 within a few seconds
//! (a pull waits 3 s for the account lock, `LOCK_WAIT` in src/pull.rs) or, having got the
//! lock after the first finished, exit 0 with nothing new; no message twice, none lost, the
//! server emptied (every other round, the first among them, the first pull is held up 5 s by
//! a MUA's dotlock, so the others must give up with 75). And a MUA-like writer, appending its own messages to the same mbox the
//! way mutt and procmail do (dotlock `BOX.lock` made with O_CREAT|O_EXCL holding its pid, then
//! an fcntl F_SETLKW write lock, mboxrd quoting), while mailfetch appends: Python's `mailbox`
//! then reads every message of both sets intact, exactly once; also when the writer appends
//! right after a pull was killed -9 mid-batch, before the next pull's recovery.

use crate::check::{self, mbox_messages, message, tally, Exit, Rng, Row};
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::{Dovecot, TestUser};
use crate::Scenario;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("concurrent: 5 pulls of one account", |ctx| {
            five_at_once(ctx.seed, if ctx.full { 6 } else { 1 })
        }),
        Scenario::new("concurrent: MUA appends during a pull", |ctx| {
            mua_writer(ctx.seed, if ctx.full { 4 } else { 1 })
        }),
        Scenario::new("concurrent: MUA appends after a kill -9", |ctx| {
            mua_after_kill(ctx.seed, if ctx.full { 20 } else { 3 })
        }),
    ]
}

/// A POP3 -> mbox account `src` in delete mode.
fn account(user: &TestUser) -> Client {
    Client::new(
        &Account::pop3(Dovecot::shared(), user)
            .name("src")
            .target("mbox:{dir}/box")
            .keep(false)
            .timeout(10)
            .toml(),
    )
}

/// `n` new messages on the server for `user`, added to `expected`.
fn seed(user: &TestUser, n: usize, rng: &mut Rng, tag: &str, expected: &mut Vec<Vec<u8>>) {
    let batch: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let size = match rng.below(10) {
                0 => 40_000 + rng.below(60_000) as usize,
                _ => 500 + rng.below(10_000) as usize,
            };
            message(&format!("{}-{tag}-{i}", user.name), size)
        })
        .collect();
    Dovecot::shared().seed(user, &batch);
    expected.extend(batch);
}

fn five_at_once(seed_: u64, rounds: usize) -> Row {
    let d = Dovecot::shared();
    let user = d.new_user("concurrent5");
    let c = account(&user);
    let mut rng = Rng::new(seed_);
    let mut row = Row::new(rounds);
    let mut expected = Vec::new();
    for round in 0..rounds {
        seed(&user, 300, &mut rng, &format!("r{round}"), &mut expected);
        // Even rounds: a MUA holds the mbox's dotlock for the first 5 s, so the pull that got
        // the account lock holds it longer than the others wait for it (3 s).
        let slow = round % 2 == 0;
        let dotlock = c.path("box.lock");
        if slow {
            std::fs::write(&dotlock, format!("{}\n", std::process::id())).expect("dotlock");
        }
        let start = Barrier::new(if slow { 6 } else { 5 });
        let exits: Vec<Exit> = std::thread::scope(|s| {
            if slow {
                s.spawn(|| {
                    start.wait();
                    std::thread::sleep(Duration::from_secs(5));
                    let _ = std::fs::remove_file(&dotlock);
                });
            }
            let handles: Vec<_> = (0..5)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        check::pull(&c, &[], Some(Duration::from_secs(60)))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("pull thread"))
                .collect()
        });
        let mut codes = Vec::new();
        for (i, exit) in exits.iter().enumerate() {
            row.saw(exit);
            codes.push(exit.code.unwrap_or(-1));
            match exit.code {
                Some(0) => {}
                Some(75) => {
                    row.expect(exit.elapsed < Duration::from_secs(6), || {
                        format!(
                            "round {round}, pull {i}: exit 75 only after {:.1} s",
                            exit.elapsed.as_secs_f64()
                        )
                    });
                    row.expect(
                        exit.stderr.contains("being fetched by another mailfetch")
                            && exit.stderr.trim().lines().count() == 1,
                        || {
                            format!(
                                "round {round}, pull {i}: unclear error: {}",
                                exit.stderr.trim()
                            )
                        },
                    );
                }
                _ => row
                    .problems
                    .push(format!("round {round}, pull {i}: {}", exit.describe())),
            }
        }
        row.expect(codes.contains(&0), || {
            format!("round {round}: no pull succeeded: exits {codes:?}")
        });
        if slow {
            let waited = codes.iter().filter(|&&c| c == 75).count();
            row.expect(waited == 4, || {
                format!(
                    "round {round} (first pull held 5 s): exits {codes:?}, not one 0 and four 75"
                )
            });
        }
        let delivered = mbox_messages(&c.path("box"));
        let on_server = d.server_messages(&user, "INBOX");
        let t = tally(&expected, &delivered, &on_server, true, false);
        row.expect(t.is_zero(), || {
            format!("round {round} (exits {codes:?}): {t:?}")
        });
        row.expect(on_server.is_empty(), || {
            format!(
                "round {round}: {} messages left on the server",
                on_server.len()
            )
        });
        worst(&mut row.tally, t);
    }
    row
}

/// The mboxrd form of `msg` as a MUA appends it: `From ` line, `^>*From ` quoted, a final
/// newline, one blank line.
fn mboxrd(msg: &[u8], from: &str) -> Vec<u8> {
    let mut out = format!("From {from} Wed Dec  2 06:00:00 2026\n").into_bytes();
    for line in msg.split_inclusive(|&b| b == b'\n') {
        let rest = &line[line.iter().take_while(|&&b| b == b'>').count()..];
        if rest.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    if out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// Append `msg` to the mbox at `path` as mutt/procmail do: take the dotlock (O_CREAT|O_EXCL,
/// our pid inside, retried while it exists, broken when its owner is dead), then an fcntl write lock (F_SETLKW), make sure
/// the file ends with a blank line, append, fsync, unlock, remove the dotlock.
fn mua_append(path: &Path, msg: &[u8]) -> Result<(), String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock = PathBuf::from(name);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&lock)
        {
            Ok(mut f) => {
                writeln!(f, "{}", std::process::id()).map_err(|e| e.to_string())?;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A lock whose owner is dead is broken, as liblockfile and mutt do.
                let owner = std::fs::read_to_string(&lock)
                    .ok()
                    .and_then(|t| t.trim().parse::<libc::pid_t>().ok());
                if let Some(pid) = owner.filter(|&p| p > 0) {
                    // SAFETY: signal 0 only checks for existence.
                    let dead = unsafe { libc::kill(pid, 0) } != 0
                        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
                    if dead {
                        let _ = std::fs::remove_file(&lock);
                        continue;
                    }
                }
                if Instant::now() > deadline {
                    return Err(format!("{} held for 40 s", lock.display()));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("dotlock {}: {e}", lock.display())),
        }
    }
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        // SAFETY: a zeroed flock is a valid argument (whole file); the fd is ours.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: as above.
        if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLKW, &fl) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let len = f.metadata()?.len();
        let mut tail = Vec::new();
        if len > 0 {
            f.seek(SeekFrom::Start(len.saturating_sub(2)))?;
            f.read_to_end(&mut tail)?;
        }
        let mut bytes = Vec::new();
        if len > 0 && !tail.ends_with(b"\n\n") {
            bytes.extend_from_slice(if tail.ends_with(b"\n") {
                b"\n"
            } else {
                b"\n\n"
            });
        }
        bytes.extend_from_slice(&mboxrd(msg, "mua@example.org"));
        f.seek(SeekFrom::End(0))?;
        f.write_all(&bytes)?;
        f.sync_data()?;
        fl.l_type = libc::F_UNLCK as libc::c_short;
        // SAFETY: as above.
        unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl) };
        Ok(())
    })();
    let _ = std::fs::remove_file(&lock);
    result.map_err(|e| format!("appending to {}: {e}", path.display()))
}

/// The writer's own messages.
fn mua_messages(tag: &str, n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| message(&format!("mua-{tag}-{i}"), 300 + rng.below(5000) as usize))
        .collect()
}

/// mailfetch pulls ~300 messages into the mbox while the writer appends 50.
fn mua_writer(seed_: u64, rounds: usize) -> Row {
    let d = Dovecot::shared();
    let user = d.new_user("concurrent-mua");
    let c = account(&user);
    let mbox = c.path("box");
    let mut rng = Rng::new(seed_);
    let mut row = Row::new(rounds);
    let mut expected = Vec::new();
    let mut mine: Vec<Vec<u8>> = Vec::new();
    for round in 0..rounds {
        seed(&user, 300, &mut rng, &format!("r{round}"), &mut expected);
        let batch = mua_messages(&format!("{}-r{round}", user.name), 50, &mut rng);
        let pauses: Vec<u64> = (0..batch.len()).map(|_| rng.below(30)).collect();
        let start = Barrier::new(2);
        let (exit, written) = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                start.wait();
                let mut errors = Vec::new();
                let mut during = 0;
                for (m, pause) in batch.iter().zip(&pauses) {
                    std::thread::sleep(Duration::from_millis(*pause));
                    if let Err(e) = mua_append(&mbox, m) {
                        errors.push(e);
                    } else {
                        during += 1;
                    }
                }
                (errors, during)
            });
            start.wait();
            let exit = check::pull(&c, &[], Some(Duration::from_secs(60)));
            (exit, writer.join().expect("writer thread"))
        });
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!("round {round}: pull: {}", exit.describe())
        });
        for e in &written.0 {
            row.problems.push(format!("round {round}: the writer: {e}"));
        }
        mine.extend(batch);
        // Whatever the pull did not get to (a batch waited for the writer), a second pull.
        let exit = check::pull(&c, &[], Some(Duration::from_secs(60)));
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!("round {round}: second pull: {}", exit.describe())
        });
        let all: Vec<Vec<u8>> = expected.iter().chain(&mine).cloned().collect();
        // The writer's messages count as still at their source: missing ones are lost.
        let mut source: Vec<Vec<u8>> = d.server_messages(&user, "INBOX");
        source.extend(mine.iter().cloned());
        let t = tally(&all, &mbox_messages(&mbox), &source, true, false);
        row.expect(t.is_zero(), || format!("round {round}: {t:?}"));
        worst(&mut row.tally, t);
    }
    row
}

/// A pull killed -9 mid-batch leaves bytes past its journalled length (its `B rollback`); a
/// MUA then appends (breaking the dead pull's dotlock, as liblockfile and mutt do); the next
/// pull recovers. The MUA's messages must survive that. The kill falls once the mbox has
/// grown by a random 1 to 300 KB, so inside the batch being written.
fn mua_after_kill(seed_: u64, rounds: usize) -> Row {
    let d = Dovecot::shared();
    let user = d.new_user("concurrent-kill");
    let c = account(&user);
    let mbox = c.path("box");
    let mut rng = Rng::new(seed_);
    let mut row = Row::new(rounds);
    let mut expected = Vec::new();
    let mut mine: Vec<Vec<u8>> = Vec::new();
    let mut killed = 0;
    for round in 0..rounds {
        seed(&user, 150, &mut rng, &format!("r{round}"), &mut expected);
        let grow = 1 + rng.below(300 << 10);
        let exit = pull_killed_when_grown(&c, &mbox, grow);
        row.saw(&exit);
        let verbose = std::env::var_os("MAILFETCH_TORTURE_VERBOSE").is_some();
        if verbose {
            eprintln!(
                "  round {round}: killed pull: {} ({} KB)",
                exit.describe(),
                exit.maxrss_kb
            );
        }
        let was_killed = exit.killed;
        if was_killed {
            killed += 1;
        } else {
            row.expect(exit.code == Some(0), || {
                format!("round {round}: pull: {}", exit.describe())
            });
        }
        let batch = mua_messages(&format!("{}-k{round}", user.name), 3, &mut rng);
        for m in &batch {
            if let Err(e) = mua_append(&mbox, m) {
                row.problems.push(format!("round {round}: the writer: {e}"));
            }
        }
        mine.extend(batch);
        let exit = check::pull(&c, &[], Some(Duration::from_secs(60)));
        row.saw(&exit);
        if verbose {
            eprintln!(
                "  round {round}: next pull: {} ({} KB)",
                exit.describe(),
                exit.maxrss_kb
            );
        }
        row.expect(exit.code == Some(0), || {
            format!(
                "round {round}: the pull after the kill: {}",
                exit.describe()
            )
        });
        let all: Vec<Vec<u8>> = expected.iter().chain(&mine).cloned().collect();
        let mut source: Vec<Vec<u8>> = d.server_messages(&user, "INBOX");
        source.extend(mine.iter().cloned());
        let delivered = mbox_messages(&mbox);
        let t = tally(&all, &delivered, &source, true, false);
        if !t.is_zero() {
            let gone = mine.iter().filter(|m| !delivered.contains(m)).count();
            row.problems.push(format!(
                "round {round} (killed: {was_killed}, {grow} bytes into the batch): {t:?}; of \
                 the MUA's {} messages so far {gone} are missing",
                mine.len()
            ));
        }
        worst(&mut row.tally, t);
    }
    row.expect(killed > 0, || "no pull was killed mid-batch".to_string());
    row
}

/// `mailfetch pull --quiet` (by `check::pull`, which measures its peak RSS), killed -9 by a
/// watcher as soon as `mbox` has grown by `grow` bytes: the watcher takes the pid from the
/// account lock file, which the pull writes before it touches the mbox.
fn pull_killed_when_grown(c: &Client, mbox: &Path, grow: u64) -> Exit {
    let size = || std::fs::metadata(mbox).map(|m| m.len()).unwrap_or(0);
    let start = size();
    let lock = c.state_dir().join("src.lock");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if size() >= start + grow {
                    // The account lock holds `PID HOST`.
                    let pid = std::fs::read_to_string(&lock)
                        .ok()
                        .and_then(|t| t.split_whitespace().next()?.parse::<libc::pid_t>().ok());
                    if let Some(pid) = pid.filter(|&p| p > 0) {
                        // SAFETY: a plain kill; the pid is the pull's, which holds the lock
                        // (it cannot have been reaped: check::pull is still waiting for it).
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    return;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let mut exit = check::pull(c, &[], Some(Duration::from_secs(60)));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        exit.killed = exit.signal == Some(libc::SIGKILL);
        exit
    })
}

/// The mailbox's state is cumulative over rounds: a row counts each breach once, at its
/// worst, not once per round it is still seen.
fn worst(into: &mut check::Tally, t: check::Tally) {
    into.lost = into.lost.max(t.lost);
    into.duplicated = into.duplicated.max(t.duplicated);
    into.partial = into.partial.max(t.partial);
    into.wrongly_deleted = into.wrongly_deleted.max(t.wrongly_deleted);
}
