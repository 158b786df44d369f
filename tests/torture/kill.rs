//! kill -9 at random instants (seeded) during pulls, with keep and with delete, for POP3 ->
//! Maildir, POP3 -> mbox, IMAP -> Maildir and POP3 -> IMAP (migration into another account's
//! folder). Every round brings new mail and kills a pull somewhere between its start and its
//! end; right after each kill nothing may be deleted on the server that is not in the
//! target, and a Maildir or IMAP folder may show no partial message (an mbox may have a torn
//! last message, which the next run truncates away). After the rounds, two clean pulls: every
//! message exactly once, byte-identical, and the second pull delivers nothing.

use crate::check::{self, local_messages, message, tally, Rng, Row};
use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::dovecot::{Dovecot, TestUser};
use crate::Scenario;
use std::time::Duration;

/// The source protocol and the target of one pipeline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    Pop3Maildir,
    Pop3Mbox,
    ImapMaildir,
    Pop3Imap,
}

impl Pipeline {
    fn name(self) -> &'static str {
        match self {
            Pipeline::Pop3Maildir => "pop3->maildir",
            Pipeline::Pop3Mbox => "pop3->mbox",
            Pipeline::ImapMaildir => "imap->maildir",
            Pipeline::Pop3Imap => "pop3->imap",
        }
    }
}

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();
    for p in [
        Pipeline::Pop3Maildir,
        Pipeline::Pop3Mbox,
        Pipeline::ImapMaildir,
        Pipeline::Pop3Imap,
    ] {
        for keep in [true, false] {
            let name = format!(
                "kill -9: {} {}",
                p.name(),
                if keep { "keep" } else { "delete" }
            );
            v.push(Scenario::new(name, move |ctx| {
                kill_rounds(p, keep, ctx.rounds, ctx.seed)
            }));
        }
    }
    v
}

/// A source account `src` of pipeline `p` on `user`, keeping mail or not, and (for the
/// migration) the account `dest` whose INBOX is the target.
pub fn config(
    d: &Dovecot,
    p: Pipeline,
    user: &TestUser,
    dest: Option<&TestUser>,
    keep: bool,
) -> String {
    let keep = format!("keep = {keep}");
    match p {
        Pipeline::Pop3Maildir => Account::pop3(d, user).name("src").extra(&keep).toml(),
        Pipeline::Pop3Mbox => Account::pop3(d, user)
            .name("src")
            .target("mbox:{dir}/box")
            .extra(&keep)
            .toml(),
        Pipeline::ImapMaildir => Account::imap(d, user).name("src").extra(&keep).toml(),
        Pipeline::Pop3Imap => {
            let dest = dest.expect("a destination user");
            Account::pop3(d, user)
                .name("src")
                .target("imap:dest/INBOX")
                .extra(&keep)
                .toml()
                + &Account::imap(d, dest)
                    .name("dest")
                    .target("maildir:{dir}/unused")
                    .toml()
        }
    }
}

/// What the pipeline's target holds now.
pub fn target_messages(
    d: &Dovecot,
    p: Pipeline,
    c: &Client,
    dest: Option<&TestUser>,
) -> Vec<Vec<u8>> {
    match p {
        Pipeline::Pop3Maildir | Pipeline::ImapMaildir => local_messages(&c.path("M"), false),
        Pipeline::Pop3Mbox => local_messages(&c.path("box"), true),
        Pipeline::Pop3Imap => d.server_messages(dest.expect("a destination user"), "INBOX"),
    }
}

/// Sizes of the mail: mostly small, some over the 64 KB that POP3 pipelining windows and
/// IMAP batches are sized by, a few of half a megabyte.
fn size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=79 => 200 + rng.below(8_000) as usize,
        80..=96 => 8_000 + rng.below(120_000) as usize,
        _ => 300_000 + rng.below(300_000) as usize,
    }
}

fn kill_rounds(p: Pipeline, keep: bool, rounds: usize, seed: u64) -> Row {
    let d = Dovecot::shared();
    let user = d.new_user("kill");
    let dest = (p == Pipeline::Pop3Imap).then(|| d.new_user("killdest"));
    let c = Client::new(&config(d, p, &user, dest.as_ref(), keep));
    let mut rng = Rng::new(seed ^ (p as u64) << 8 ^ keep as u64);
    let mut row = Row::new(rounds);
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let seed_mail = |expected: &mut Vec<Vec<u8>>, rng: &mut Rng, round: usize, n: usize| {
        let batch: Vec<Vec<u8>> = (0..n)
            .map(|i| message(&format!("{}-{}-r{round}-{i}", user.name, keep), size(rng)))
            .collect();
        d.seed(&user, &batch);
        expected.extend(batch);
    };
    // More than one commit batch (200 messages) at first, so kills fall between commits,
    // and the messages peers mangle.
    seed_mail(&mut expected, &mut rng, 0, 260);
    let edge = check::edge_messages(&format!("{}-{keep}", user.name));
    d.seed(&user, &edge);
    expected.extend(edge);
    // How long a pull takes: the kill instant is drawn from 0..1.2x this, and the estimate
    // follows the pulls that end by themselves.
    let mut whole = Duration::from_millis(400);
    let mut interrupted = 0;
    for round in 0..rounds {
        if round > 0 {
            seed_mail(&mut expected, &mut rng, round, 20);
        }
        // The last round, when no kill has fallen inside a pull yet, draws from the first
        // half of a pull: later rounds fetch 20 messages, not 260, and a pull with nothing
        // old to list in full ends sooner than the one whose time was taken.
        let span = if round + 1 == rounds && interrupted == 0 {
            whole.as_micros() as u64 / 2
        } else {
            whole.as_micros() as u64 * 6 / 5
        };
        let at = Duration::from_micros(rng.below(span.max(1)));
        let exit = check::pull(&c, &[], Some(at));
        row.saw(&exit);
        if exit.killed {
            interrupted += 1;
        } else {
            whole = exit.elapsed;
            row.expect(exit.code == Some(0), || {
                format!("round {round}: unkilled pull: {}", exit.describe())
            });
        }
        let delivered = target_messages(d, p, &c, dest.as_ref());
        let on_server = d.server_messages(&user, "INBOX");
        let t = tally(
            &expected,
            &delivered,
            &on_server,
            false,
            p == Pipeline::Pop3Mbox,
        );
        if !t.is_zero() {
            row.problems
                .push(format!("round {round} (killed at {at:?}): {t:?}"));
        }
        row.tally.add(t);
    }
    row.expect(rounds == 0 || interrupted > 0, || {
        "no kill fell inside a pull".into()
    });
    // Two clean pulls: the first finishes what the kills left, the second finds nothing.
    for attempt in 0..2 {
        let exit = check::pull(&c, &[], None);
        row.saw(&exit);
        row.expect(exit.code == Some(0), || {
            format!("clean pull {attempt}: {}", exit.describe())
        });
    }
    let delivered = target_messages(d, p, &c, dest.as_ref());
    let on_server = d.server_messages(&user, "INBOX");
    row.tally
        .add(tally(&expected, &delivered, &on_server, true, false));
    row.expect(delivered.len() == expected.len(), || {
        format!(
            "the target holds {} messages, the source had {}",
            delivered.len(),
            expected.len()
        )
    });
    if !keep {
        row.expect(on_server.is_empty(), || {
            format!(
                "{} messages left on the server in delete mode",
                on_server.len()
            )
        });
    }
    row
}
