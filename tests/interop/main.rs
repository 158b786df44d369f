//! The interop matrix (issue #18, "Proven beyond Dovecot"): the real mailfetch binary
//! against GNU Mailutils, Courier, popa3d, solid-pop3d and Cyrus, each running privately on
//! loopback from its own cached Debian chroot (`scripts/interop`), with the same scenarios
//! for every server: byte-exact POP3 and IMAP pulls into Maildir and mbox, IMAP folders
//! and flags, `--no-keep` in one run, kill -9 during delete-mode pulls and during a
//! POP3 -> IMAP migration, `check` / `list` / `folders`, and `watch`.
//!
//! It prints one line per server x protocol x TLS x scenario with the counts lost /
//! duplicated / partial / left on the server (all must be 0) and exits non-zero if any
//! scenario fails that is not on [`KNOWN_OPEN`]. Servers whose chroot has not been built
//! (`scripts/interop build FAMILY`) are skipped, and said to be.
//!
//! Arguments (after `--` under cargo): words that select scenario lines whose text contains
//! one of them; `--seed S`; `--rounds N` (kill rounds, default 3). The environment variable
//! `MAILFETCH_INTEROP_ONLY` (space-separated families, set by `scripts/interop`) limits the
//! families. Flags of the standard test harness are ignored.

#[path = "../support/mod.rs"]
mod support;

#[path = "../torture/check.rs"]
#[allow(dead_code)]
mod check;

mod scenarios;
mod server;

use scenarios::{Proto, Tls, Verdict};
use server::{Family, Server, FAMILIES};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// (family, scenario line, why): failures known today, printed as OPEN without failing the
/// run. The scenario line is the text printed in the matrix after the server name, e.g.
/// `pop3 implicit maildir`. Shrink this as fixes land; a listed pair that passes is printed
/// as PASS with a note to remove it.
const KNOWN_OPEN: &[(&str, &str, &str)] = &[];

/// How hard to push.
struct Ctx {
    seed: u64,
    rounds: usize,
}

/// What runs one line.
type Run = Box<dyn Fn(&Server, &Ctx) -> Verdict>;

/// One line of the matrix.
struct Line {
    proto: Proto,
    tls: Tls,
    scenario: &'static str,
    run: Run,
}

fn line(
    proto: Proto,
    tls: Tls,
    scenario: &'static str,
    run: impl Fn(&Server, &Ctx) -> Verdict + 'static,
) -> Line {
    Line {
        proto,
        tls,
        scenario,
        run: Box::new(run),
    }
}

impl Line {
    fn text(&self) -> String {
        format!(
            "{} {} {}",
            self.proto.name(),
            self.tls.name(),
            self.scenario
        )
    }
}

/// The matrix rows of one family.
fn lines(f: &Family) -> Vec<Line> {
    use scenarios::*;
    use Proto::*;
    use Tls::*;
    // the second transport: STARTTLS, or plaintext where the POP3 server has no STLS
    let pop3_other = if f.pop3_stls { Starttls } else { Plain };
    let mut v = vec![
        line(Pop3, Implicit, "login", |s, _| login(s, Pop3, Implicit)),
        line(Pop3, Implicit, "maildir", |s, _| {
            pull_twice_then_new(s, Pop3, Implicit, false)
        }),
        line(Pop3, pop3_other, "maildir", move |s, _| {
            pull_twice_then_new(s, Pop3, pop3_other, false)
        }),
        line(Pop3, Implicit, "mbox", |s, _| {
            pull_twice_then_new(s, Pop3, Implicit, true)
        }),
        line(Pop3, Implicit, "auth=auto", |s, _| {
            auth_auto(s, Pop3, Implicit)
        }),
        line(Pop3, Implicit, "no-keep", |s, _| no_keep(s, Pop3, Implicit)),
        line(Pop3, Implicit, "kill-9 delete", |s, c| {
            kill_delete(s, Pop3, Implicit, c.seed, c.rounds)
        }),
        line(Pop3, Implicit, "check/list", |s, _| {
            commands(s, Pop3, Implicit)
        }),
    ];
    if f.imap {
        v.extend([
            line(Imap, Implicit, "login", |s, _| login(s, Imap, Implicit)),
            line(Imap, Implicit, "auth=auto", |s, _| {
                auth_auto(s, Imap, Implicit)
            }),
            line(Imap, Starttls, "auth=auto", |s, _| {
                auth_auto(s, Imap, Starttls)
            }),
            line(Imap, Implicit, "maildir folders+flags", |s, _| {
                imap_folders(s, Implicit)
            }),
            line(Imap, Starttls, "maildir folders+flags", |s, _| {
                imap_folders(s, Starttls)
            }),
            line(Imap, Implicit, "mbox", |s, _| imap_mbox(s, Implicit)),
            line(Imap, Implicit, "no-keep", |s, _| no_keep(s, Imap, Implicit)),
            line(Imap, Implicit, "kill-9 delete", |s, c| {
                kill_delete(s, Imap, Implicit, c.seed, c.rounds)
            }),
            line(Imap, Implicit, "kill-9 migration pop3->imap", |s, c| {
                migration_kill(s, c.seed, c.rounds)
            }),
            line(Imap, Implicit, "check/list/folders", |s, _| {
                commands(s, Imap, Implicit)
            }),
            line(Imap, Implicit, "watch (IDLE)", |s, _| {
                watch(s, Imap, Implicit, Duration::from_secs(10))
            }),
        ]);
    } else {
        v.push(line(Pop3, Implicit, "watch (poll 1 s)", |s, _| {
            watch(s, Pop3, Implicit, Duration::from_secs(10))
        }));
    }
    v
}

fn known_open(family: &str, text: &str) -> Option<&'static str> {
    KNOWN_OPEN
        .iter()
        .find(|(f, t, _)| *f == family && *t == text)
        .map(|(_, _, why)| *why)
}

fn main() {
    let mut ctx = Ctx {
        seed: 0x696e_7465_726f,
        rounds: 3,
    };
    let mut filters: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => ctx.seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(ctx.seed),
            "--rounds" => {
                ctx.rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(ctx.rounds)
            }
            "--test-threads" | "--skip" | "--format" | "--color" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            word => filters.push(word.to_string()),
        }
    }
    let only: Option<Vec<String>> = std::env::var("MAILFETCH_INTEROP_ONLY")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split_whitespace().map(String::from).collect());
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("interop: skipped entirely: needs root (chroots and namespaces)");
        return;
    }

    let started = Instant::now();
    let (mut passed, mut failed, mut open, mut skipped) = (0, 0, 0, Vec::new());
    let mut now_passing = Vec::new();
    println!("interop: seed {}, {} kill rounds", ctx.seed, ctx.rounds);
    for f in FAMILIES {
        if let Some(only) = &only {
            if !only.iter().any(|o| o == f.name) {
                continue;
            }
        }
        let selected: Vec<Line> = lines(f)
            .into_iter()
            .filter(|l| {
                let text = format!("{} {}", f.name, l.text());
                filters.is_empty() || filters.iter().any(|w| text.contains(w.as_str()))
            })
            .collect();
        if selected.is_empty() {
            continue;
        }
        if !server::chroot_ready(f.name) {
            println!(
                "{:<22} SKIPPED: no chroot (run scripts/interop build {})",
                f.server, f.name
            );
            skipped.push(f.name);
            continue;
        }
        let t = Instant::now();
        let s = match Server::start(f) {
            Ok(s) => s,
            Err(e) => {
                println!("{:<22} FAIL: the servers did not start: {e}", f.server);
                failed += 1;
                continue;
            }
        };
        println!(
            "{:<22} started in {:.1} s",
            f.server,
            t.elapsed().as_secs_f64()
        );
        // A protocol whose login fails gets no further lines run: they would each wait out
        // the same failure. (protocol, the login line's text, whether it is known open)
        let mut blocked: Vec<(Proto, String, bool)> = Vec::new();
        for l in &selected {
            let t = Instant::now();
            let text = l.text();
            let open_why = known_open(f.name, &text);
            if let Some((_, login, login_open)) = blocked.iter().find(|(p, _, _)| *p == l.proto) {
                let status = if *login_open {
                    open += 1;
                    "OPEN"
                } else {
                    failed += 1;
                    "FAIL"
                };
                println!(
                    "{:<22} {:<5} {:<8} {:<28} {:<5} not run: '{login}' failed",
                    f.server,
                    l.proto.name(),
                    l.tls.name(),
                    l.scenario,
                    status
                );
                continue;
            }
            let v = match catch_unwind(AssertUnwindSafe(|| (l.run)(&s, &ctx))) {
                Ok(v) => v,
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".into());
                    Verdict {
                        problems: vec![format!("harness panicked: {text}")],
                        ..Verdict::default()
                    }
                }
            };
            if l.scenario == "login" && !v.ok() {
                blocked.push((l.proto, text.clone(), open_why.is_some()));
            }
            let status = match (v.ok(), open_why) {
                (true, None) => {
                    passed += 1;
                    "PASS"
                }
                (true, Some(_)) => {
                    passed += 1;
                    now_passing.push(format!("{} / {text}", f.name));
                    "PASS*"
                }
                (false, Some(_)) => {
                    open += 1;
                    "OPEN"
                }
                (false, None) => {
                    failed += 1;
                    "FAIL"
                }
            };
            println!(
                "{:<22} {:<5} {:<8} {:<28} {:<5} {:>12} lost={} dup={} partial={} left={} {:>5.1}s{}",
                f.server,
                l.proto.name(),
                l.tls.name(),
                l.scenario,
                status,
                v.exact
                    .map_or(String::new(), |(n, of)| format!("exact={n}/{of}")),
                v.tally.lost,
                v.tally.duplicated,
                v.tally.partial + v.tally.wrongly_deleted,
                v.left,
                t.elapsed().as_secs_f64(),
                v.problems
                    .first()
                    .map(|p| format!("  {}", scenarios::one_line(p)))
                    .unwrap_or_default()
            );
            if let Some(why) = open_why.filter(|_| !v.ok()) {
                println!("{:<22}   known open: {why}", "");
            }
            for p in v.problems.iter().skip(1).take(4) {
                println!("{:<22}   {}", "", scenarios::one_line(p));
            }
            let _ = std::io::stdout().flush();
        }
        drop(s);
    }
    println!(
        "interop: {passed} passed, {failed} failed, {open} open (known, see KNOWN_OPEN), {:.0} s{}",
        started.elapsed().as_secs_f64(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped (no chroot): {}", skipped.join(", "))
        }
    );
    for p in &now_passing {
        println!("interop: now passes, remove from KNOWN_OPEN: {p}");
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
