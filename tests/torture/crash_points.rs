//! A crash at every journal write, in order: `MAILFETCH_TEST_CRASH_AT_WRITE=N` (see
//! `state::journal::TEST_CRASH_AT_WRITE`) kills a pull with SIGKILL right after its N-th
//! journal write, for N = 1, 2, ... until a pull ends by itself. Where the kill -9 rounds
//! (`kill.rs`) sample random instants, this visits every point at which the state changes,
//! the ones between "delivered", "durable", "recorded" and "deleted" included. After each
//! crash a rerun that itself crashes at its first write (the recovery's), then a clean
//! rerun: every message exactly once, byte-identical, and in delete mode none left on the
//! server.

use crate::check::{self, message, Mail, Row};
use crate::kill::{config, target_messages, Pipeline};
use crate::support::client::Client;
use crate::support::dovecot::Dovecot;
use crate::Scenario;

const HOOK: &str = "MAILFETCH_TEST_CRASH_AT_WRITE";
/// More crash points than any of these pipelines has in one pull: the loop ends when a pull
/// finishes before its N-th write, and a pull that never does is a failure.
const MOST_POINTS: usize = 40;

pub fn scenarios() -> Vec<Scenario> {
    [
        (Pipeline::Pop3Maildir, "pop3->maildir"),
        (Pipeline::Pop3Mbox, "pop3->mbox"),
        (Pipeline::ImapMaildir, "imap->maildir"),
        (Pipeline::Pop3Imap, "pop3->imap"),
    ]
    .into_iter()
    .map(|(p, name)| {
        Scenario::new(
            format!("crash at every journal write: {name} delete"),
            move |_| every_point(p),
        )
    })
    .collect()
}

/// A pull of `client` that dies right after its `at`-th journal write (if it gets there).
fn pull_crashing_at(client: &Client, at: usize) -> check::Exit {
    let mut cmd = client.command(&["pull", "--quiet"]);
    cmd.env(HOOK, at.to_string());
    check::run(cmd, None)
}

fn every_point(p: Pipeline) -> Row {
    let d = Dovecot::shared();
    let mut row = Row::new(0);
    for at in 1..=MOST_POINTS {
        let user = d.new_user("crash");
        let dest = (p == Pipeline::Pop3Imap).then(|| d.new_user("crashdest"));
        let mail: Vec<Vec<u8>> = (0..5)
            .map(|i| message(&format!("{}-{at}-{i}", user.name), 300 + 900 * i))
            .collect();
        d.seed(&user, &mail);
        let c = Client::new(&config(d, p, &user, dest.as_ref(), false));
        let judge = Mail {
            expected: &mail,
            target: Box::new(|| target_messages(d, p, &c, dest.as_ref())),
            server: Box::new(|| d.server_messages(&user, "INBOX")),
        };
        let crashed = pull_crashing_at(&c, at);
        row.saw(&crashed);
        if crashed.signal != Some(libc::SIGKILL) {
            row.expect(crashed.code == Some(0), || {
                format!("no crash at write {at}: {}", crashed.describe())
            });
            judge.count(&mut row, &format!("write {at}, no crash"), true, false);
            row.expect(at > 1, || "no journal write at all".into());
            // The table's "rounds": how many crash points were visited.
            row.rounds = at - 1;
            return row;
        }
        let when = format!("crash after write {at}");
        judge.count(&mut row, &when, false, p == Pipeline::Pop3Mbox);
        // The recovery's own first write is a crash point too.
        let again = pull_crashing_at(&c, 1);
        row.saw(&again);
        judge.count(
            &mut row,
            &format!("{when}, then after the rerun's first"),
            false,
            p == Pipeline::Pop3Mbox,
        );
        judge.rerun(&mut row, &when, &c, false);
        let rerun = check::pull(&c, &[], None);
        row.expect(rerun.code == Some(0), || {
            format!("{when}: second clean pull: {}", rerun.describe())
        });
        judge.count(&mut row, &format!("{when}, second clean pull"), true, false);
    }
    row.problems
        .push(format!("a pull still crashed at write {MOST_POINTS}"));
    row
}
