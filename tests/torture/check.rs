//! The invariant every scenario checks, counted; running mailfetch with a kill timer and
//! its peak RSS measured; the deterministic random numbers of the kill instants.

use crate::support::client::{maildir_messages, Client};
use crate::support::read_mbox_with_python;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What went wrong with the mail, in the four ways the promise can be broken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Source messages not in the target after the final, uninterrupted pull.
    pub lost: usize,
    /// Deliveries beyond the first of a message.
    pub duplicated: usize,
    /// Messages in the target that are no source message: cut short, or altered.
    pub partial: usize,
    /// Messages gone from the server that were not in the target at that instant.
    pub wrongly_deleted: usize,
}

impl Tally {
    pub fn add(&mut self, o: Tally) {
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.partial += o.partial;
        self.wrongly_deleted += o.wrongly_deleted;
    }
    pub fn is_zero(&self) -> bool {
        *self == Tally::default()
    }
}

/// One line of the table.
pub struct Row {
    pub name: String,
    pub rounds: usize,
    pub tally: Tally,
    /// The largest peak RSS of any mailfetch process the scenario ran, in KiB.
    pub peak_rss_kb: u64,
    /// Anything else that broke the scenario's expectations (exit codes, panics, hangs).
    pub problems: Vec<String>,
}

impl Row {
    pub fn new(rounds: usize) -> Row {
        Row {
            name: String::new(),
            rounds,
            tally: Tally::default(),
            peak_rss_kb: 0,
            problems: Vec::new(),
        }
    }

    /// A scenario that could not run to its end.
    pub fn broken(name: &str, why: String) -> Row {
        let mut r = Row::new(0);
        r.name = name.to_string();
        r.problems.push(why);
        r
    }

    pub fn ok(&self) -> bool {
        self.tally.is_zero() && self.problems.is_empty()
    }

    /// Note a run: its peak RSS.
    pub fn saw(&mut self, exit: &Exit) {
        self.peak_rss_kb = self.peak_rss_kb.max(exit.maxrss_kb);
    }

    /// Record a problem unless `fine`.
    pub fn expect(&mut self, fine: bool, what: impl FnOnce() -> String) {
        if !fine {
            self.problems.push(what());
        }
    }

    pub fn header() -> String {
        format!(
            "{:<44} {:>6} {:>5} {:>5} {:>7} {:>7} {:>8} {:>6}  result",
            "scenario", "rounds", "lost", "dup", "partial", "wr.del", "peak RSS", "secs"
        )
    }

    pub fn line(&self, took: Duration) -> String {
        format!(
            "{:<44} {:>6} {:>5} {:>5} {:>7} {:>7} {:>5.1} MB {:>6.1}  {}",
            self.name,
            self.rounds,
            self.tally.lost,
            self.tally.duplicated,
            self.tally.partial,
            self.tally.wrongly_deleted,
            self.peak_rss_kb as f64 / 1024.0,
            took.as_secs_f64(),
            if self.ok() {
                "ok".to_string()
            } else {
                format!("FAILED ({} problems)", self.problems.len())
            }
        )
    }
}

/// Counts the promise's breaches. `expected`: every message the source ever held, byte
/// for byte as the target should hold it; `delivered`: what the target holds now;
/// `on_server`: what the source still holds. `finished`: the last pull ran to its end
/// (so everything must have arrived); otherwise missing messages are only wrong when the
/// server no longer has them. `torn_tail_ok`: the last delivered message may be cut short
/// (an mbox right after a kill -9, which the next run truncates away).
pub fn tally(
    expected: &[Vec<u8>],
    delivered: &[Vec<u8>],
    on_server: &[Vec<u8>],
    finished: bool,
    torn_tail_ok: bool,
) -> Tally {
    let index: HashMap<&[u8], usize> = expected
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_slice(), i))
        .collect();
    let mut counts = vec![0usize; expected.len()];
    let mut t = Tally::default();
    for (n, m) in delivered.iter().enumerate() {
        match index.get(m.as_slice()) {
            Some(&i) => counts[i] += 1,
            None if torn_tail_ok && n + 1 == delivered.len() => {}
            None => t.partial += 1,
        }
    }
    let server: std::collections::HashSet<&[u8]> = on_server.iter().map(Vec::as_slice).collect();
    for (i, &c) in counts.iter().enumerate() {
        t.duplicated += c.saturating_sub(1);
        if c == 0 {
            if !server.contains(expected[i].as_slice()) {
                t.wrongly_deleted += 1;
            } else if finished {
                t.lost += 1;
            }
        }
    }
    t
}

/// The mail of one trial: what the source ever held, and how to read what the target and
/// the source hold now; a broken run and the rerun that follows are judged by it.
pub struct Mail<'a> {
    pub expected: &'a [Vec<u8>],
    pub target: Box<dyn Fn() -> Vec<Vec<u8>> + 'a>,
    pub server: Box<dyn Fn() -> Vec<Vec<u8>> + 'a>,
}

impl Mail<'_> {
    /// Count the promise's breaches now into `row` (see [`tally`]), naming `when` if any.
    pub fn count(&self, row: &mut Row, when: &str, finished: bool, torn_tail_ok: bool) {
        let t = tally(
            self.expected,
            &(self.target)(),
            &(self.server)(),
            finished,
            torn_tail_ok,
        );
        if !t.is_zero() {
            row.problems.push(format!("{when}: {t:?}"));
        }
        row.tally.add(t);
    }

    /// The rerun after a break (by `client`, with nothing in the way any more) must finish
    /// the job: exit 0, every message once, and unless `keep`, an empty server.
    pub fn rerun(&self, row: &mut Row, what: &str, client: &Client, keep: bool) {
        let rerun = pull(client, &[], None);
        row.saw(&rerun);
        row.expect(rerun.code == Some(0), || {
            format!("{what}, rerun: {}", rerun.describe())
        });
        self.count(row, &format!("{what}, after the rerun"), true, false);
        if !keep {
            let left = (self.server)().len();
            row.expect(left == 0, || {
                format!("{what}: {left} messages left on the server")
            });
        }
    }
}

/// How a mailfetch process ended.
#[derive(Debug)]
pub struct Exit {
    /// Exit code, or None when killed by a signal.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Whether our kill timer fired before it ended.
    pub killed: bool,
    pub maxrss_kb: u64,
    pub elapsed: Duration,
    pub stderr: String,
}

impl Exit {
    /// A short description for problem lines.
    pub fn describe(&self) -> String {
        let how = match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "?".into(),
        };
        format!(
            "{how} after {:.2} s: {}",
            self.elapsed.as_secs_f64(),
            self.stderr.trim()
        )
    }
}

/// The peak RSS (VmHWM, KiB) of process `pid` once it runs mailfetch, else 0. Read while it
/// runs, because the rusage of a reaped child counts the RSS of the (large) test process it
/// was forked from before its exec.
fn peak_rss_of(pid: libc::pid_t) -> u64 {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "mailfetch" {
        return 0;
    }
    crate::support::client::peak_rss_kb(pid as u32).unwrap_or(0)
}

/// Runs `cmd` to its end, or kills it with SIGKILL after `kill_after`; measures its peak RSS
/// (sampled every half millisecond, see [`peak_rss_of`]) and keeps its stderr.
pub fn run(mut cmd: Command, kill_after: Option<Duration>) -> Exit {
    let err = tempfile::tempfile().expect("temp file for stderr");
    cmd.stdout(Stdio::null())
        .stderr(err.try_clone().expect("dup"));
    // Its own process group, so a kill reaches nothing else and nothing else reaches it.
    cmd.process_group(0);
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn mailfetch");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-argument.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    let mut hwm_kb = 0;
    loop {
        // SAFETY: pid is our child; status and usage are valid out-arguments.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            break;
        }
        assert!(rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR));
        hwm_kb = hwm_kb.max(peak_rss_of(pid));
        if let Some(limit) = kill_after {
            if !killed && started.elapsed() >= limit {
                // SAFETY: the child is not reaped yet, so the pid is still ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed = true;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = started.elapsed();
    drop(child);
    let mut text = String::new();
    use std::io::{Read, Seek};
    let mut err = err;
    let _ = err.seek(std::io::SeekFrom::Start(0));
    let _ = err.read_to_string(&mut text);
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else {
        (None, Some(libc::WTERMSIG(status)))
    };
    let exit = Exit {
        code,
        signal,
        killed: killed && signal == Some(libc::SIGKILL),
        maxrss_kb: hwm_kb,
        elapsed,
        stderr: text,
    };
    if std::env::var_os("MAILFETCH_TORTURE_VERBOSE").is_some() {
        eprintln!("    run: {}", exit.describe());
    }
    exit
}

/// `mailfetch pull --quiet ARGS` of `client`, killed after `kill_after`.
pub fn pull(client: &Client, args: &[&str], kill_after: Option<Duration>) -> Exit {
    let mut all = vec!["pull", "--quiet"];
    all.extend_from_slice(args);
    run(client.command(&all), kill_after)
}

/// The messages of an mbox as Python's mailbox module reads them (none if it is absent).
pub fn mbox_messages(path: &Path) -> Vec<Vec<u8>> {
    match File::open(path) {
        Ok(f) if f.metadata().map(|m| m.len() > 0).unwrap_or(false) => read_mbox_with_python(path),
        _ => Vec::new(),
    }
}

/// What a local target holds: `maildir:PATH` or `mbox:PATH`.
pub fn local_messages(target: &Path, mbox: bool) -> Vec<Vec<u8>> {
    if mbox {
        mbox_messages(target)
    } else {
        maildir_messages(target)
    }
}

/// A small deterministic generator (SplitMix64) for kill instants and sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A message with Message-ID `<torture-TAG@mailfetch.test>` and a body of about `size`
/// bytes whose lines include what POP3 and mbox must escape (`.` and `From ` at line start).
pub fn message(tag: &str, size: usize) -> Vec<u8> {
    let mut body = String::with_capacity(size + 200);
    body.push_str(
        "From the start, a line mbox must quote.\n.\n..a dot-stuffed line\n>From quoted\n",
    );
    let mut i = 0;
    while body.len() < size {
        body.push_str(&format!(
            "line {i} of {tag}: the quick brown fox jumps over the lazy dog\n"
        ));
        i += 1;
    }
    crate::support::corpus::simple(&format!("torture-{tag}"), &format!("torture {tag}"), &body)
}

/// Messages that peers have been seen to mangle or skip: header-only (no blank line, no
/// body), one 200,000-character line, a body of lone dots and `From ` lines, CR without LF.
pub fn edge_messages(tag: &str) -> Vec<Vec<u8>> {
    let header =
        |kind: &str| crate::support::corpus::headers(&format!("torture-{tag}-{kind}"), kind);
    let with_body = |kind: &str, body: &[u8]| {
        let mut m = header(kind);
        m.push(b'\n');
        m.extend_from_slice(body);
        m
    };
    let mut long = "x".repeat(200_000);
    long.push('\n');
    vec![
        header("header-only"),
        with_body("long-line", long.as_bytes()),
        with_body(
            "dots",
            b".\n..\n.\nFrom here\n>From there\n>>From everywhere\n.\n",
        ),
        with_body("bare-cr", b"one\rtwo\nthree\n"),
    ]
}
