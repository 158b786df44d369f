//! A damaged state journal: flipped bits, garbage, binary, truncation at random bytes and at
//! line boundaries, an empty file. An account (POP3 -> Maildir, keep mode, 30 messages
//! already delivered in three runs, so the journal holds three batches) gets its
//! `<state-dir>/<account>.state` damaged, one damage per round, and is pulled again. The pull
//! must either refuse (non-zero exit, one line on stderr naming the file, nothing delivered,
//! the file left as it is) or deliver nothing twice: a damage read as "nothing seen" re-delivers
//! mail, and every re-delivery counts as `duplicated`. Then the user asks for a fresh start
//! (`pull --reset-state`): exit 0, the damaged file moved aside to `.state.old` byte for byte,
//! every message on the server delivered exactly once more by that run, and a further pull
//! delivers nothing. Between rounds the journal and the Maildir are put back as they were.

use crate::check::{self, mbox_messages, message, tally, Rng, Row};
use crate::support::account::Account;
use crate::support::client::{maildir_messages, Client};
use crate::support::dovecot::Dovecot;
use crate::Scenario;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

const ACCOUNT: &str = "acct";
/// Messages per seeding run, and runs.
const PER_RUN: usize = 10;
const RUNS: usize = 3;

/// One way to damage the journal.
type Damage = Box<dyn Fn(&[u8], &mut Rng) -> Vec<u8>>;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("state: bit flips, garbage, binary", |ctx| {
            rounds(
                ctx.seed,
                "flip",
                damages_flips(if ctx.full { 5 } else { 2 }),
            )
        }),
        Scenario::new("state: truncated at random bytes", |ctx| {
            rounds(
                ctx.seed ^ 1,
                "trunc",
                damages_truncated_bytes(if ctx.full { 10 } else { 3 }),
            )
        }),
        Scenario::new("state: truncated at line boundaries", |ctx| {
            rounds(ctx.seed ^ 2, "lines", damages_truncated_lines())
        }),
        Scenario::new("state: damaged, mbox and delete mode", |ctx| {
            mbox_delete_rounds(ctx.seed ^ 4, damages_mbox(ctx.full))
        }),
        Scenario::new("state: empty file", |ctx| {
            rounds(
                ctx.seed ^ 3,
                "empty",
                vec![(
                    "empty file".to_string(),
                    Box::new(|_: &[u8], _: &mut Rng| Vec::new()) as Damage,
                )],
            )
        }),
    ]
}

/// Start offsets of the lines of `text` (line i spans starts[i]..starts[i+1]).
fn line_starts(text: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' && i + 1 < text.len() {
            v.push(i + 1);
        }
    }
    v
}

/// Flip one bit of a random byte of line `line` (never its newline).
fn flip_in_line(text: &[u8], rng: &mut Rng, line: usize) -> Vec<u8> {
    let starts = line_starts(text);
    let start = starts[line];
    let end = starts.get(line + 1).copied().unwrap_or(text.len()) - 1; // the newline
    let at = start + rng.below((end - start).max(1) as u64) as usize;
    let mut out = text.to_vec();
    out[at] ^= 1 << rng.below(7);
    if out[at] == b'\n' {
        out[at] ^= 0x40; // a flip that made a newline would be a different damage
    }
    out
}

fn damages_flips(middle: usize) -> Vec<(String, Damage)> {
    let mut v: Vec<(String, Damage)> = Vec::new();
    for k in 0..middle {
        v.push((
            format!("bit flip in a middle line ({k})"),
            Box::new(|t: &[u8], rng: &mut Rng| {
                let n = line_starts(t).len();
                let line = 1 + rng.below((n - 2) as u64) as usize;
                flip_in_line(t, rng, line)
            }),
        ));
    }
    v.push((
        "bit flip in the header line".into(),
        Box::new(|t: &[u8], rng: &mut Rng| flip_in_line(t, rng, 0)),
    ));
    v.push((
        "bit flip in the last line".into(),
        Box::new(|t: &[u8], rng: &mut Rng| {
            let n = line_starts(t).len();
            flip_in_line(t, rng, n - 1)
        }),
    ));
    v.push((
        "garbage text lines".into(),
        Box::new(|_: &[u8], rng: &mut Rng| {
            let mut out = Vec::new();
            for _ in 0..40 {
                for _ in 0..(10 + rng.below(70)) {
                    out.push(b' ' + rng.below(95) as u8);
                }
                out.push(b'\n');
            }
            out
        }),
    ));
    v.push((
        "one garbage line, no newline".into(),
        Box::new(|_: &[u8], _: &mut Rng| b"this is not a mailfetch journal".to_vec()),
    ));
    v.push((
        "binary (random bytes)".into(),
        Box::new(|_: &[u8], rng: &mut Rng| (0..4096).map(|_| rng.next() as u8).collect()),
    ));
    v.push((
        "binary without a newline".into(),
        Box::new(|_: &[u8], rng: &mut Rng| {
            (0..4096)
                .map(|_| match rng.next() as u8 {
                    b'\n' => 0,
                    b => b,
                })
                .collect()
        }),
    ));
    v.push((
        "another program's file (JSON)".into(),
        Box::new(|_: &[u8], _: &mut Rng| b"{\"seen\": []}\n".to_vec()),
    ));
    v.push((
        "journal with a middle line deleted".into(),
        Box::new(|t: &[u8], rng: &mut Rng| {
            let starts = line_starts(t);
            let line = 1 + rng.below((starts.len() - 2) as u64) as usize;
            let mut out = t[..starts[line]].to_vec();
            out.extend_from_slice(&t[starts[line + 1]..]);
            out
        }),
    ));
    v
}

fn damages_truncated_bytes(n: usize) -> Vec<(String, Damage)> {
    (0..n)
        .map(|k| {
            (
                format!("truncated at a random byte ({k})"),
                Box::new(|t: &[u8], rng: &mut Rng| {
                    // Anywhere past the header line, never at a line boundary (those are
                    // the other scenario).
                    let starts = line_starts(t);
                    loop {
                        let at = starts[1] + rng.below((t.len() - starts[1]) as u64) as usize;
                        if !starts.contains(&at) {
                            return t[..at].to_vec();
                        }
                    }
                }) as Damage,
            )
        })
        .collect()
}

/// Where to cut a journal.
type Cut = fn(&[u8]) -> usize;

fn damages_truncated_lines() -> Vec<(String, Damage)> {
    // After the header only; after the first batch's E; after its B line; in the middle of
    // the journal; before the last line (the final E).
    let pick: Vec<(&str, Cut)> = vec![
        ("after the header line", |t| line_starts(t)[1]),
        ("after the first batch", |t| {
            let starts = line_starts(t);
            let e = starts
                .iter()
                .position(|&s| record(t, s) == "E")
                .expect("an E line");
            starts.get(e + 1).copied().unwrap_or(t.len())
        }),
        ("after a B line", |t| {
            let starts = line_starts(t);
            let b = starts
                .iter()
                .rposition(|&s| record(t, s).starts_with("B "))
                .expect("a B line");
            starts[b + 1]
        }),
        ("in the middle", |t| {
            let starts = line_starts(t);
            starts[starts.len() / 2]
        }),
        ("before the last line", |t| *line_starts(t).last().unwrap()),
    ];
    pick.into_iter()
        .map(|(what, at)| {
            (
                format!("truncated at a line boundary, {what}"),
                Box::new(move |t: &[u8], _: &mut Rng| t[..at(t)].to_vec()) as Damage,
            )
        })
        .collect()
}

/// The record of the line starting at `start` (without checksum and newline).
fn record(t: &[u8], start: usize) -> String {
    let end = t[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(t.len(), |p| start + p);
    let line = String::from_utf8_lossy(&t[start..end]).into_owned();
    line.split_once(' ')
        .map(|(_, r)| r.to_string())
        .unwrap_or(line)
}

/// Message files of the Maildir (new/ and cur/).
fn maildir_files(root: &Path) -> HashSet<PathBuf> {
    let mut out = HashSet::new();
    for sub in ["new", "cur"] {
        if let Ok(d) = fs::read_dir(root.join(sub)) {
            out.extend(d.flatten().map(|e| e.path()));
        }
    }
    out
}

/// `after` minus `before`, as multisets.
fn added(before: &[Vec<u8>], after: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut count: HashMap<&[u8], usize> = HashMap::new();
    for m in before {
        *count.entry(m.as_slice()).or_default() += 1;
    }
    let mut out = Vec::new();
    for m in after {
        match count.get_mut(m.as_slice()) {
            Some(c) if *c > 0 => *c -= 1,
            _ => out.push(m.clone()),
        }
    }
    out
}

fn rounds(seed: u64, prefix: &str, damages: Vec<(String, Damage)>) -> Row {
    let d = Dovecot::shared();
    let user = d.new_user(&format!("state-{prefix}"));
    let c = Client::new(
        &Account::pop3(d, &user)
            .name(ACCOUNT)
            .target("maildir:{dir}/M")
            .keep(true)
            .timeout(5)
            .toml(),
    );
    let maildir = c.path("M");
    let state = c.state_dir().join(format!("{ACCOUNT}.state"));
    let aside = c.state_dir().join(format!("{ACCOUNT}.state.old"));
    let mut rng = Rng::new(seed);
    let mut row = Row::new(damages.len());

    // 30 messages, delivered in three runs: three batches in the journal.
    let mut expected: Vec<Vec<u8>> = Vec::new();
    for run in 0..RUNS {
        let batch: Vec<Vec<u8>> = (0..PER_RUN)
            .map(|i| {
                let size = 300 + rng.below(6000) as usize;
                message(&format!("{}-{run}-{i}", user.name), size)
            })
            .collect();
        d.seed(&user, &batch);
        expected.extend(batch);
        let exit = check::pull(&c, &[], None);
        row.saw(&exit);
        if exit.code != Some(0) {
            row.problems
                .push(format!("setup pull {run}: {}", exit.describe()));
            return row;
        }
    }
    let pristine_state = fs::read(&state).expect("the state journal after setup");
    let pristine_files = maildir_files(&maildir);
    let pristine = maildir_messages(&maildir);
    let t = tally(&expected, &pristine, &expected, true, false);
    if !t.is_zero() {
        row.problems.push(format!("setup: {t:?}"));
        return row;
    }

    for (name, damage) in &damages {
        // Back to the state after setup.
        for f in maildir_files(&maildir).difference(&pristine_files) {
            let _ = fs::remove_file(f);
        }
        let _ = fs::remove_file(&aside);
        let damaged = damage(&pristine_state, &mut rng);
        fs::write(&state, &damaged).expect("write the damaged journal");

        // The pull after the damage.
        let exit = check::pull(&c, &[], None);
        row.saw(&exit);
        let after = maildir_messages(&maildir);
        let on_server = d.server_messages(&user, "INBOX");
        let t = tally(&expected, &after, &on_server, true, false);
        let new = added(&pristine, &after).len();
        let mut told = false;
        match exit.code {
            Some(0) => {
                if new > 0 {
                    row.problems.push(format!(
                        "{name}: exit 0, {new} messages delivered again (read as \"not seen\"): \
                         {t:?}"
                    ));
                    told = true;
                }
            }
            Some(code) => {
                let err = exit.stderr.trim();
                row.expect(code == 74 || code == 78, || {
                    format!("{name}: refused with exit {code}, not 74: {err}")
                });
                row.expect(err.lines().count() == 1, || {
                    format!("{name}: not one line on stderr: {err:?}")
                });
                row.expect(err.contains(&state.display().to_string()), || {
                    format!("{name}: the error does not name {}: {err}", state.display())
                });
                row.expect(new == 0, || {
                    format!("{name}: refused, yet {new} messages delivered")
                });
                let now = fs::read(&state).unwrap_or_default();
                row.expect(now == damaged, || {
                    format!("{name}: refused, yet the journal was changed")
                });
            }
            None => row
                .problems
                .push(format!("{name}: pull died: {}", exit.describe())),
        }
        if !t.is_zero() && !told {
            row.problems.push(format!("{name}: after the pull: {t:?}"));
        }
        row.tally.add(t);

        // The user asks for a fresh start.
        let before = maildir_messages(&maildir);
        let on_disk = fs::read(&state).unwrap_or_default();
        let exit = check::pull(&c, &["--reset-state"], None);
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!("{name}: pull --reset-state: {}", exit.describe())
        });
        row.expect(fs::read(&aside).ok().as_ref() == Some(&on_disk), || {
            format!(
                "{name}: --reset-state did not move the journal aside to {} as it was",
                aside.display()
            )
        });
        let after = maildir_messages(&maildir);
        let fresh = added(&before, &after);
        let t = tally(&expected, &fresh, &expected, true, false);
        row.expect(t.is_zero(), || {
            format!("{name}: the --reset-state run did not deliver each message once: {t:?}")
        });
        // Counted: beyond each message once, what this run delivered is a duplicate.
        row.tally.add(t);

        // And then the state holds: nothing more.
        let exit = check::pull(&c, &[], None);
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!("{name}: pull after --reset-state: {}", exit.describe())
        });
        let again = maildir_messages(&maildir);
        let more = added(&after, &again);
        row.expect(more.is_empty(), || {
            format!(
                "{name}: the pull after --reset-state delivered {} again",
                more.len()
            )
        });
        row.tally.duplicated += more.len();
    }
    row
}

/// For the mbox scenario (whose journal, once the server has deleted what was delivered, is
/// compacted down to the header, a `V` line and the last run's `+` lines).
fn damages_mbox(full: bool) -> Vec<(String, Damage)> {
    let mut v: Vec<(String, Damage)> = vec![
        (
            "the last line cut off".into(),
            Box::new(|t: &[u8], _: &mut Rng| t[..*line_starts(t).last().unwrap()].to_vec()),
        ),
        (
            "cut at a random byte".into(),
            Box::new(|t: &[u8], rng: &mut Rng| {
                let from = line_starts(t)[1];
                t[..from + rng.below((t.len() - from) as u64) as usize].to_vec()
            }),
        ),
        (
            "bit flip in a middle line".into(),
            Box::new(|t: &[u8], rng: &mut Rng| {
                let n = line_starts(t).len();
                let line = 1 + rng.below((n - 2) as u64) as usize;
                flip_in_line(t, rng, line)
            }),
        ),
    ];
    if full {
        v.push((
            "cut after the header line".into(),
            Box::new(|t: &[u8], _: &mut Rng| t[..line_starts(t)[1]].to_vec()),
        ));
        v.push((
            "empty file".into(),
            Box::new(|_: &[u8], _: &mut Rng| Vec::new()),
        ));
    }
    v
}

/// POP3 -> mbox, delete mode: whatever the damage, the next run must not cut the mbox (a
/// rollback of a batch it takes for unfinished) when the server no longer has the messages.
/// Each round starts afresh (the server cannot be put back): 30 messages delivered in three
/// runs and deleted on the server, the journal damaged, one pull. Refusing is fine; a pull
/// that goes on must lose nothing (`lost` / `wrongly deleted`) and deliver nothing twice.
fn mbox_delete_rounds(seed: u64, damages: Vec<(String, Damage)>) -> Row {
    let d = Dovecot::shared();
    let mut rng = Rng::new(seed);
    let mut row = Row::new(damages.len());
    for (name, damage) in &damages {
        let user = d.new_user("state-mbox");
        let c = Client::new(
            &Account::pop3(d, &user)
                .name(ACCOUNT)
                .target("mbox:{dir}/box")
                .keep(false)
                .timeout(5)
                .toml(),
        );
        let mbox = c.path("box");
        let state = c.state_dir().join(format!("{ACCOUNT}.state"));
        let mut expected: Vec<Vec<u8>> = Vec::new();
        let mut setup_ok = true;
        for run in 0..RUNS {
            let batch: Vec<Vec<u8>> = (0..PER_RUN)
                .map(|i| {
                    let size = 300 + rng.below(6000) as usize;
                    message(&format!("{}-{run}-{i}", user.name), size)
                })
                .collect();
            d.seed(&user, &batch);
            expected.extend(batch);
            let exit = check::pull(&c, &[], None);
            row.saw(&exit);
            if exit.code != Some(0) {
                row.problems
                    .push(format!("{name}: setup pull {run}: {}", exit.describe()));
                setup_ok = false;
                break;
            }
        }
        if !setup_ok {
            continue;
        }
        let before = mbox_messages(&mbox);
        let t = tally(
            &expected,
            &before,
            &d.server_messages(&user, "INBOX"),
            true,
            false,
        );
        if !t.is_zero() {
            row.problems.push(format!("{name}: setup: {t:?}"));
            continue;
        }
        let pristine = fs::read(&state).expect("the journal after setup");
        let damaged = damage(&pristine, &mut rng);
        fs::write(&state, &damaged).expect("write the damaged journal");
        let exit = check::pull(&c, &[], None);
        row.saw(&exit);
        let after = mbox_messages(&mbox);
        let t = tally(
            &expected,
            &after,
            &d.server_messages(&user, "INBOX"),
            true,
            false,
        );
        match exit.code {
            Some(0) => {}
            Some(_) => {
                row.expect(after == before, || {
                    format!(
                        "{name}: refused ({}), yet the mbox changed",
                        exit.describe()
                    )
                });
            }
            None => row
                .problems
                .push(format!("{name}: pull died: {}", exit.describe())),
        }
        row.expect(t.is_zero(), || {
            format!(
                "{name}: exit {:?}, {} of {} messages left in the mbox: {t:?}",
                exit.code,
                after.len(),
                expected.len()
            )
        });
        row.tally.add(t);
    }
    row
}
