//! The scenarios every server runs: each returns a [`Verdict`] with the promise's counts
//! (lost, duplicated, partial, left on the server) and what else went wrong.
//!
//! Expected bytes are what the server serves (read back by `mailtool.py`, CRLF as LF), and
//! both sides are compared without the headers the server rewrites ([`Server::normalize`]).

use crate::check::{self, tally, Rng, Tally};
use crate::server::{Server, User};
use crate::support::client::{maildir_messages, Client};
use crate::support::corpus;
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long any one mailfetch run may take before it counts as hung (and is killed).
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// The outcome of one scenario.
#[derive(Default)]
pub struct Verdict {
    pub tally: Tally,
    /// Messages still on the server where the scenario emptied it.
    pub left: usize,
    /// Of the last comparison: how many expected messages the target held byte-exact, of
    /// how many (`None`: the scenario compares no messages).
    pub exact: Option<(usize, usize)>,
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.tally.is_zero() && self.left == 0 && self.problems.is_empty()
    }
    fn expect(&mut self, fine: bool, what: impl FnOnce() -> String) {
        if !fine {
            self.problems.push(what());
        }
    }
    fn add(&mut self, when: &str, t: Tally) {
        if !t.is_zero() {
            self.problems.push(format!("{when}: {t:?}"));
        }
        self.tally.add(t);
    }
    /// [`Verdict::add`] of the tally, and where the first message that matches no expected
    /// one differs from the expected message with its Message-ID.
    fn add_diff(&mut self, when: &str, expected: &[Vec<u8>], got: &[Vec<u8>], t: Tally) {
        self.add(when, t);
        let held: std::collections::HashSet<&[u8]> = got.iter().map(Vec::as_slice).collect();
        let exact = expected
            .iter()
            .filter(|m| held.contains(m.as_slice()))
            .count();
        self.exact = Some((exact, expected.len()));
        if t.partial > 0 {
            if let Some(d) = first_difference(expected, got) {
                self.problems.push(format!("{when}: {d}"));
            }
        }
    }
    /// A mailfetch run that must exit 0.
    fn ran(&mut self, what: &str, exit: &check::Exit) -> bool {
        let fine = exit.code == Some(0);
        self.expect(fine, || format!("{what}: {}", one_line(&exit.describe())));
        fine
    }
}

/// The Message-ID header's value of `m`.
fn message_id(m: &[u8]) -> Option<&[u8]> {
    m.split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty())
        .find(|l| l.len() > 11 && l[..11].eq_ignore_ascii_case(b"message-id:"))
        .map(|l| l[11..].trim_ascii())
}

/// For the first message of `got` that is none of `expected`: its Message-ID and the first
/// line where it differs from the expected message with the same Message-ID.
pub fn first_difference(expected: &[Vec<u8>], got: &[Vec<u8>]) -> Option<String> {
    let m = got.iter().find(|m| !expected.contains(m))?;
    let id = message_id(m);
    let show = |l: Option<&[u8]>| match l {
        Some(l) => format!("{:?}", String::from_utf8_lossy(&l[..l.len().min(80)])),
        None => "(end)".into(),
    };
    let idtext = id
        .map(|i| String::from_utf8_lossy(i).into_owned())
        .unwrap_or_else(|| "(no Message-ID)".into());
    // the expected message with this Message-ID, else the undelivered one most like it
    let common = |e: &Vec<u8>| e.iter().zip(m.iter()).take_while(|(a, b)| a == b).count();
    let Some(want) = expected
        .iter()
        .find(|e| id.is_some() && message_id(e) == id)
        .or_else(|| {
            expected
                .iter()
                .filter(|e| !got.contains(e))
                .max_by_key(|e| common(e))
        })
    else {
        return Some(format!(
            "{idtext}: stored, but the server serves no such message"
        ));
    };
    let (a, b): (Vec<&[u8]>, Vec<&[u8]>) = (
        want.split(|&b| b == b'\n').collect(),
        m.split(|&b| b == b'\n').collect(),
    );
    let n = (0..a.len().max(b.len()))
        .find(|&i| a.get(i) != b.get(i))
        .unwrap_or(0);
    Some(format!(
        "{idtext}: line {} served {} stored {} (sizes {} / {})",
        n + 1,
        show(a.get(n).copied()),
        show(b.get(n).copied()),
        want.len(),
        m.len()
    ))
}

/// The first line that says something, cut to a readable length.
pub fn one_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(220).collect();
    if s.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
        out.push_str(" ...");
    }
    out
}

/// Source protocol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    Pop3,
    Imap,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Pop3 => "pop3",
            Proto::Imap => "imap",
        }
    }
}

/// How the connection is secured (`tls` in the config).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tls {
    Implicit,
    Starttls,
    /// Plaintext with `allow-plaintext-password` (servers without STLS on the plain port).
    Plain,
}

impl Tls {
    pub fn name(self) -> &'static str {
        match self {
            Tls::Implicit => "implicit",
            Tls::Starttls => "starttls",
            Tls::Plain => "none",
        }
    }
}

/// `[accounts.NAME]` for `user` on `s`.
pub fn account(
    s: &Server,
    name: &str,
    proto: Proto,
    tls: Tls,
    user: &User,
    target: &str,
    extra: &str,
) -> String {
    let key = match (proto, tls) {
        (Proto::Pop3, Tls::Implicit) => "POP3S",
        (Proto::Pop3, _) => "POP3",
        (Proto::Imap, Tls::Implicit) => "IMAPS",
        (Proto::Imap, _) => "IMAP",
    };
    let mut extra = extra.to_string();
    if !extra.contains("auth =") {
        let auth = match proto {
            Proto::Pop3 => s.family.pop3_auth,
            Proto::Imap => s.family.imap_auth,
        };
        extra.push_str(&format!("\nauth = \"{auth}\""));
    }
    if tls == Tls::Plain {
        extra.push_str("\nallow-plaintext-password = true");
    }
    format!(
        "[accounts.{name}]\nprofile = \"custom\"\nprotocol = \"{p}\"\nhost = \"localhost\"\n\
         port = {port}\ntls = \"{t}\"\nca-file = \"{ca}\"\nuser = \"{u}\"\npassword = \"{pw}\"\n\
         target = \"{target}\"\ntimeout = 15\n{extra}\n",
        p = proto.name(),
        port = s.port(key).unwrap_or(0),
        t = tls.name(),
        ca = s.ca().display(),
        u = user.name,
        pw = user.password,
    )
}

fn pull(c: &Client, args: &[&str]) -> check::Exit {
    check::pull(c, args, Some(RUN_LIMIT))
}

/// The corpus, as a local store holds it.
fn corpus_messages() -> Vec<Vec<u8>> {
    corpus::corpus().into_iter().map(|(_, m)| m).collect()
}

/// Small messages tagged `tag`.
fn small(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| check::message(&format!("{tag}-{i}"), 300 + i * 37))
        .collect()
}

/// What the server serves now in `user`'s INBOX, normalized.
fn served(s: &Server, user: &User, proto: Proto, v: &mut Verdict) -> Vec<Vec<u8>> {
    match s.inbox(user, proto == Proto::Imap) {
        Ok(ms) => ms.iter().map(|m| s.normalize(m)).collect(),
        Err(e) => {
            v.problems.push(format!("reading the server back: {e}"));
            Vec::new()
        }
    }
}

/// The served messages as the target can hold them: an mbox message ends with a line end
/// (one without, as IMAP may serve it byte-exact, gets one: the mbox format has no way to
/// say otherwise).
fn as_stored(messages: Vec<Vec<u8>>, mbox: bool) -> Vec<Vec<u8>> {
    messages
        .into_iter()
        .map(|mut m| {
            if mbox && !m.ends_with(b"\n") {
                m.push(b'\n');
            }
            m
        })
        .collect()
}

fn local(s: &Server, c: &Client, mbox: bool) -> Vec<Vec<u8>> {
    let target = if mbox { c.path("box") } else { c.path("M") };
    check::local_messages(&target, mbox)
        .iter()
        .map(|m| s.normalize(m))
        .collect()
}

fn target(mbox: bool) -> &'static str {
    if mbox {
        "mbox:{dir}/box"
    } else {
        "maildir:{dir}/M"
    }
}

/// Byte-exact pulls (keep): the corpus arrives once; a second pull delivers nothing; new
/// mail arrives on the third.
pub fn pull_twice_then_new(s: &Server, proto: Proto, tls: Tls, mbox: bool) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    s.deliver(&user, "INBOX", "", &corpus_messages());
    let c = Client::new(&account(s, "a", proto, tls, &user, target(mbox), ""));
    let expected = as_stored(served(s, &user, proto, &mut v), mbox);
    v.expect(!expected.is_empty(), || {
        "the server serves no messages".into()
    });
    if !v.ran("first pull", &pull(&c, &[])) {
        return v;
    }
    let first = local(s, &c, mbox);
    v.add_diff(
        "first pull",
        &expected,
        &first,
        tally(&expected, &first, &expected, true, false),
    );
    v.ran("second pull", &pull(&c, &[]));
    let second = local(s, &c, mbox);
    v.expect(second.len() == first.len(), || {
        format!(
            "second pull: {} messages, after the first {}",
            second.len(),
            first.len()
        )
    });
    v.tally.duplicated += second.len().saturating_sub(first.len());
    s.deliver(&user, "INBOX", "", &small(&format!("{}-new", user.name), 2));
    let all = as_stored(served(s, &user, proto, &mut v), mbox);
    v.ran("third pull", &pull(&c, &[]));
    let third = local(s, &c, mbox);
    v.add_diff(
        "third pull",
        &all,
        &third,
        tally(&all, &third, &all, true, false),
    );
    v.expect(third.len() == all.len(), || {
        format!(
            "third pull: {} messages, the server has {}",
            third.len(),
            all.len()
        )
    });
    v
}

/// The Maildir info letters of IMAP flags.
fn letters(flags: &str) -> String {
    let mut out: Vec<char> = flags
        .split_whitespace()
        .filter_map(|f| match f.to_ascii_lowercase().as_str() {
            "\\draft" => Some('D'),
            "\\flagged" => Some('F'),
            "\\answered" => Some('R'),
            "\\seen" => Some('S'),
            "\\deleted" => Some('T'),
            _ => None,
        })
        .collect();
    out.sort();
    out.into_iter().collect()
}

/// `(folder dir, info letters, message)` of every message in a Maildir and its Maildir++
/// subfolders (`""` for the root).
fn maildir_tree(root: &Path) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![(String::new(), root.to_path_buf())];
    if let Ok(d) = fs::read_dir(root) {
        for e in d.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && e.path().is_dir() {
                dirs.push((name, e.path()));
            }
        }
    }
    for (name, dir) in dirs {
        for sub in ["new", "cur"] {
            let Ok(entries) = fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                let info = file
                    .split_once(":2,")
                    .map(|(_, i)| i.to_string())
                    .unwrap_or_default();
                out.push((name.clone(), info, fs::read(e.path()).unwrap_or_default()));
            }
        }
    }
    out
}

/// IMAP -> Maildir with three folders and flags: every message once, in the right Maildir++
/// folder, with its flags as info letters; a second pull delivers nothing.
pub fn imap_folders(s: &Server, tls: Tls) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    let corpus = corpus_messages();
    s.deliver(&user, "INBOX", "", &corpus[..corpus.len() / 2]);
    s.deliver(&user, "INBOX", "\\Seen", &corpus[corpus.len() / 2..]);
    let f = s.family;
    let receipts = format!("{}Receipts", f.folder_prefix);
    let archive = format!("{}Archive", f.folder_prefix);
    s.deliver(
        &user,
        &receipts,
        "\\Seen \\Flagged",
        &small(&format!("{}-r", user.name), 3),
    );
    s.deliver(
        &user,
        &archive,
        "\\Answered \\Seen",
        &small(&format!("{}-a", user.name), 2),
    );
    s.deliver(&user, &archive, "", &small(&format!("{}-a2", user.name), 1));
    let c = Client::new(&account(
        s,
        "a",
        Proto::Imap,
        tls,
        &user,
        "maildir:{dir}/M",
        &format!("folders = [\"INBOX\", \"{receipts}\", \"{archive}\"]"),
    ));
    // The Maildir++ folder of a remote one: "." + its components joined by "."
    let dir_of = |folder: &str| -> String {
        if folder == "INBOX" {
            return String::new();
        }
        folder.split(f.delimiter).map(|p| format!(".{p}")).collect()
    };
    // (Maildir++ dir, letters, normalized message) as the server has them
    let mut expected = Vec::new();
    for folder in ["INBOX", receipts.as_str(), archive.as_str()] {
        let dir = dir_of(folder);
        match s.imap_messages(&user, folder) {
            Ok(ms) => expected.extend(
                ms.into_iter()
                    .map(|(m, f)| (dir.to_string(), letters(&f), s.normalize(&m))),
            ),
            Err(e) => v.problems.push(format!("reading {folder} back: {e}")),
        }
    }
    if !v.ran("first pull", &pull(&c, &[])) {
        return v;
    }
    let got: Vec<(String, String, Vec<u8>)> = maildir_tree(&c.path("M"))
        .into_iter()
        .map(|(d, l, m)| (d, l, s.normalize(&m)))
        .collect();
    compare_tree(&mut v, &expected, &got);
    v.ran("second pull", &pull(&c, &[]));
    let again = maildir_tree(&c.path("M")).len();
    v.expect(again == got.len(), || {
        format!(
            "second pull: {again} messages, after the first {}",
            got.len()
        )
    });
    v.tally.duplicated += again.saturating_sub(got.len());
    v
}

/// Count lost / duplicated / partial between (folder, letters, message) lists; a message
/// in the right folder with other letters is a problem, not a loss.
fn compare_tree(
    v: &mut Verdict,
    expected: &[(String, String, Vec<u8>)],
    got: &[(String, String, Vec<u8>)],
) {
    let mut want: HashMap<(&str, &[u8]), (usize, &str)> = HashMap::new();
    for (d, l, m) in expected {
        want.entry((d.as_str(), m.as_slice()))
            .or_insert((0, l.as_str()))
            .0 += 1;
    }
    let mut seen: HashMap<(&str, &[u8]), usize> = HashMap::new();
    let mut flag_problems = 0;
    for (d, l, m) in got {
        match want.get(&(d.as_str(), m.as_slice())) {
            Some(&(_, letters)) => {
                *seen.entry((d.as_str(), m.as_slice())).or_default() += 1;
                if l != letters {
                    flag_problems += 1;
                    if flag_problems == 1 {
                        v.problems.push(format!(
                            "folder '{d}': info letters '{l}', the server's flags say '{letters}'"
                        ));
                    }
                }
            }
            None => v.tally.partial += 1,
        }
    }
    for (k, (n, _)) in &want {
        let s = seen.get(k).copied().unwrap_or(0);
        v.tally.lost += n.saturating_sub(s);
        v.tally.duplicated += s.saturating_sub(*n);
    }
    if flag_problems > 1 {
        v.problems.push(format!(
            "{flag_problems} messages with other info letters than the server's flags"
        ));
    }
    if !v.tally.is_zero() {
        v.problems.push(format!("maildir tree: {:?}", v.tally));
    }
}

/// IMAP -> mbox (INBOX, the corpus), byte-exact, second pull nothing.
pub fn imap_mbox(s: &Server, tls: Tls) -> Verdict {
    pull_twice_then_new(s, Proto::Imap, tls, true)
}

/// `--no-keep` empties the server in one run, every message delivered once.
pub fn no_keep(s: &Server, proto: Proto, tls: Tls) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    let mut mail = small(&format!("{}-nk", user.name), 12);
    mail.extend(corpus_messages().into_iter().take(6));
    s.deliver(&user, "INBOX", "", &mail);
    let expected = served(s, &user, proto, &mut v);
    let c = Client::new(&account(s, "a", proto, tls, &user, "maildir:{dir}/M", ""));
    v.ran("pull --no-keep", &pull(&c, &["--no-keep"]));
    let got = local(s, &c, false);
    let left = served(s, &user, proto, &mut v);
    v.add_diff(
        "after the pull",
        &expected,
        &got,
        tally(&expected, &got, &left, true, false),
    );
    v.left = left.len();
    v.expect(left.is_empty(), || {
        format!(
            "{} messages left on the server after one --no-keep run",
            left.len()
        )
    });
    v
}

/// kill -9 at seeded random instants during delete-mode pulls, new mail each round; then
/// two clean pulls: nothing lost, nothing twice, the server empty.
pub fn kill_delete(s: &Server, proto: Proto, tls: Tls, seed: u64, rounds: usize) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    let mut sizes = Rng::new(seed ^ proto as u64);
    let c = Client::new(&account(
        s,
        "a",
        proto,
        tls,
        &user,
        "maildir:{dir}/M",
        "keep = false",
    ));
    let mut expected: Vec<Vec<u8>> = Vec::new();
    add_mail(s, &user, proto, &mut v, &mut expected, &mut sizes, 0, 60);
    let mut whole = Duration::from_millis(800);
    let mut rng = Rng::new(seed ^ 0x6b69_6c6c ^ proto as u64);
    let mut interrupted = 0;
    // When no seeded instant fell inside a pull (a loaded machine, a quick server), up to
    // three more rounds kill at a third of the last whole pull's time.
    let mut round = 0;
    while round < rounds || (interrupted == 0 && round < rounds + 3) {
        if round > 0 {
            add_mail(
                s,
                &user,
                proto,
                &mut v,
                &mut expected,
                &mut sizes,
                round,
                10,
            );
        }
        let at = if round < rounds {
            Duration::from_micros(rng.below(whole.as_micros() as u64 * 9 / 10 + 1))
        } else {
            whole / 3
        };
        let exit = check::pull(&c, &[], Some(at));
        if exit.killed {
            interrupted += 1;
        } else {
            whole = exit.elapsed;
            v.ran(&format!("round {round}, unkilled pull"), &exit);
        }
        let delivered = local(s, &c, false);
        let on_server = served(s, &user, proto, &mut v);
        v.add(
            &format!("round {round} (kill at {at:?})"),
            tally(&expected, &delivered, &on_server, false, false),
        );
        round += 1;
    }
    v.expect(interrupted > 0, || "no kill fell inside a pull".into());
    v.ran("clean pull 1", &pull(&c, &[]));
    v.ran("clean pull 2", &pull(&c, &[]));
    let delivered = local(s, &c, false);
    let on_server = served(s, &user, proto, &mut v);
    v.add_diff(
        "after the clean pulls",
        &expected,
        &delivered,
        tally(&expected, &delivered, &on_server, true, false),
    );
    v.left = on_server.len();
    v
}

/// Deliver `n` messages of random size to `user`; what the server then serves joins
/// `expected`.
#[allow(clippy::too_many_arguments)]
fn add_mail(
    s: &Server,
    user: &User,
    proto: Proto,
    v: &mut Verdict,
    expected: &mut Vec<Vec<u8>>,
    sizes: &mut Rng,
    round: usize,
    n: usize,
) {
    let batch: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let size = 300 + sizes.below(30_000) as usize;
            check::message(&format!("{}-k{round}-{i}", user.name), size)
        })
        .collect();
    s.deliver(user, "INBOX", "", &batch);
    for m in served(s, user, proto, v) {
        if !expected.contains(&m) {
            expected.push(m);
        }
    }
}

/// kill -9 during a migration from this server's POP3 (delete mode) into another user's
/// INBOX on its IMAP (`imap:dest/INBOX`); rerun: nothing lost or doubled in the destination.
pub fn migration_kill(s: &Server, seed: u64, rounds: usize) -> Verdict {
    let mut v = Verdict::default();
    let src = s.new_user();
    let dest = s.new_user();
    let mut mail = small(&format!("{}-mig", src.name), 30);
    mail.extend(corpus_messages().into_iter().filter(|m| m.len() < 100_000));
    s.deliver(&src, "INBOX", "", &mail);
    let expected = served(s, &src, Proto::Pop3, &mut v);
    let config = account(
        s,
        "src",
        Proto::Pop3,
        Tls::Implicit,
        &src,
        "imap:dest/INBOX",
        "keep = false",
    ) + &account(
        s,
        "dest",
        Proto::Imap,
        Tls::Implicit,
        &dest,
        "maildir:{dir}/unused",
        "",
    );
    let c = Client::new(&config);
    let in_dest = |v: &mut Verdict| served(s, &dest, Proto::Imap, v);
    let mut rng = Rng::new(seed ^ 0x6d69_6772);
    let mut whole = Duration::from_millis(1500);
    let mut interrupted = 0;
    let mut expected = expected;
    // When no seeded instant fell inside a pull (a loaded machine, a quick server: an
    // unkilled pull empties the source), up to three more rounds bring new mail and kill at
    // a third of the last whole pull's time.
    let mut round = 0;
    while round < rounds || (rounds > 0 && interrupted == 0 && round < rounds + 3) {
        let at = if round < rounds {
            // The first kill falls early, so that one falls inside a pull whatever the
            // server's speed.
            let span = if round == 0 {
                whole.min(Duration::from_millis(400))
            } else {
                whole
            };
            Duration::from_micros(rng.below(span.as_micros() as u64 * 9 / 10 + 1))
        } else {
            let more = small(&format!("{}-mig{round}", src.name), 20);
            s.deliver(&src, "INBOX", "", &more);
            for m in served(s, &src, Proto::Pop3, &mut v) {
                if !expected.contains(&m) {
                    expected.push(m);
                }
            }
            whole / 3
        };
        let exit = check::pull(&c, &["src"], Some(at));
        if exit.killed {
            interrupted += 1;
        } else {
            whole = exit.elapsed;
            v.ran(&format!("round {round}, unkilled pull"), &exit);
        }
        let d = in_dest(&mut v);
        let on_server = served(s, &src, Proto::Pop3, &mut v);
        v.add_diff(
            &format!("round {round} (kill at {at:?})"),
            &expected,
            &d,
            tally(&expected, &d, &on_server, false, false),
        );
        round += 1;
    }
    v.expect(interrupted > 0 || rounds == 0, || {
        "no kill fell inside a pull".into()
    });
    v.ran("rerun", &pull(&c, &["src"]));
    v.ran("second rerun", &pull(&c, &["src"]));
    let d = in_dest(&mut v);
    let on_server = served(s, &src, Proto::Pop3, &mut v);
    v.add_diff(
        "after the reruns",
        &expected,
        &d,
        tally(&expected, &d, &on_server, true, false),
    );
    v.expect(d.len() == expected.len(), || {
        format!(
            "the destination holds {} messages, the source had {}",
            d.len(),
            expected.len()
        )
    });
    v.left = on_server.len();
    v
}

/// `check`, `list` (and for IMAP `folders`) exit 0 and count the messages right.
pub fn commands(s: &Server, proto: Proto, tls: Tls) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    let n = 5;
    s.deliver(&user, "INBOX", "", &small(&format!("{}-cmd", user.name), n));
    let c = Client::new(&account(s, "a", proto, tls, &user, "maildir:{dir}/M", ""));
    let json = |v: &mut Verdict, args: &[&str]| -> Option<serde_json::Value> {
        let o = c.run(args);
        if o.code != 0 {
            v.problems.push(format!(
                "{}: exit {}: {}",
                args.join(" "),
                o.code,
                one_line(&o.stderr)
            ));
            return None;
        }
        match serde_json::from_str(&o.stdout) {
            Ok(doc) => Some(doc),
            Err(e) => {
                v.problems
                    .push(format!("{}: not JSON ({e})", args.join(" ")));
                None
            }
        }
    };
    if let Some(doc) = json(&mut v, &["check", "--json", "a"]) {
        let pending = doc["accounts"][0]["pending"].as_u64();
        v.expect(pending == Some(n as u64), || {
            format!("check: pending {pending:?}, want {n}")
        });
    }
    if let Some(doc) = json(&mut v, &["list", "a", "--json"]) {
        let listed = doc["messages"].as_array().map(Vec::len);
        v.expect(listed == Some(n), || {
            format!("list: {listed:?} messages, want {n}")
        });
    }
    if proto == Proto::Imap {
        let o = c.run(&["folders", "a"]);
        if o.code != 0 {
            v.problems
                .push(format!("folders: exit {}: {}", o.code, one_line(&o.stderr)));
        } else {
            let inbox = o
                .stdout
                .lines()
                .map(str::trim)
                .any(|l| l == format!("{n}  INBOX"));
            v.expect(inbox, || {
                format!("folders: no line '{n}  INBOX' in {:?}", o.stdout)
            });
        }
    }
    v
}

/// `mailfetch watch` fetches the first message at its start, then a newly delivered one
/// within `bound` (IMAP: IDLE; POP3: poll-interval = 1).
pub fn watch(s: &Server, proto: Proto, tls: Tls, bound: Duration) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    s.deliver(&user, "INBOX", "", &small(&format!("{}-w1", user.name), 1));
    // GNU Mailutils' imap4d never tells of mail appended to an mbox another session has
    // rewritten: mailfetch reopens the folder at each IDLE renewal (every poll-interval),
    // which this line shortens there.
    let extra = if proto == Proto::Pop3 || s.family.name == "mailutils" {
        "poll-interval = 1"
    } else {
        ""
    };
    let c = Client::new(&account(
        s,
        "a",
        proto,
        tls,
        &user,
        "maildir:{dir}/M",
        extra,
    ));
    let mut cmd = c.command(&["watch"]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("start mailfetch watch");
    let count = || maildir_messages(&c.path("M")).len();
    let wait_for = |n: usize, limit: Duration| -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if count() >= n {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    };
    if wait_for(1, Duration::from_secs(30)).is_none() {
        v.problems
            .push("watch: the first message did not arrive within 30 s".into());
    } else {
        // let it settle into IDLE (or its poll sleep)
        std::thread::sleep(Duration::from_millis(1500));
        s.deliver(&user, "INBOX", "", &small(&format!("{}-w2", user.name), 1));
        if wait_for(2, bound).is_none() {
            v.problems.push(format!(
                "watch: the new message did not arrive within {bound:?}"
            ));
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("watch output");
    if !v.problems.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.trim().is_empty() {
            v.problems.push(format!("watch stderr: {}", one_line(&err)));
        }
    }
    let got = count();
    v.tally.duplicated += got.saturating_sub(2);
    v
}

/// `mailfetch check` logs in and exits 0 (the gate of a protocol's other lines).
pub fn login(s: &Server, proto: Proto, tls: Tls) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    let c = Client::new(&account(s, "a", proto, tls, &user, "maildir:{dir}/M", ""));
    let exit = check::run(c.command(&["check", "a"]), Some(RUN_LIMIT));
    v.ran("check", &exit);
    v
}

/// `auth = "auto"`: `check` logs in and exits 0.
pub fn auth_auto(s: &Server, proto: Proto, tls: Tls) -> Verdict {
    let mut v = Verdict::default();
    let user = s.new_user();
    s.deliver(
        &user,
        "INBOX",
        "",
        &small(&format!("{}-auto", user.name), 1),
    );
    let c = Client::new(&account(
        s,
        "a",
        proto,
        tls,
        &user,
        "maildir:{dir}/M",
        "auth = \"auto\"",
    ));
    let exit = check::run(c.command(&["check", "a"]), Some(RUN_LIMIT));
    v.ran("check with auth = auto", &exit);
    v
}
