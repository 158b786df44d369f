//! The torture suite (issue 6): real mailfetch binaries against the private Dovecot (and,
//! where a fault must be injected, a cutting proxy or a fake server), each scenario checking
//! the one promise mailfetch makes: **every source message ends up in the target exactly once
//! and byte-identical, nothing half-written is ever visible as a message, nothing is deleted
//! on the server that is not durable locally, and the state stays consistent** (a further
//! pull delivers nothing).
//!
//! It prints one line per scenario with its counts (lost / duplicated / partial / wrongly
//! deleted), the peak RSS of the mailfetch processes it ran and what else went wrong, and
//! exits non-zero if any count is not 0. `cargo test` runs it with few rounds (the fast
//! subset); `scripts/torture` runs the full suite (200 kill rounds per pipeline).
//!
//! Arguments (after `--` under cargo): `--full` (200 kill rounds and every slow scenario),
//! `--rounds N` (kill rounds per pipeline), `--seed S`, and words that select scenarios
//! whose name contains one of them. Flags of the standard test harness are ignored.

#[path = "../support/mod.rs"]
mod support;

mod check;
mod concurrent;
mod crash_points;
mod disk;
mod drops;
mod hostile;
mod kill;
mod locks;
mod restart;
mod state_file;

use check::Row;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// How hard to torture.
pub struct Ctx {
    /// Kill -9 rounds per pipeline.
    pub rounds: usize,
    /// Seed of every random choice (kill instants, sizes).
    pub seed: u64,
    /// Run the slow scenarios too.
    pub full: bool,
}

/// One scenario: its name and what runs it.
pub struct Scenario {
    pub name: String,
    pub run: Box<dyn Fn(&Ctx) -> Row>,
}

impl Scenario {
    pub fn new(name: impl Into<String>, run: impl Fn(&Ctx) -> Row + 'static) -> Scenario {
        Scenario {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

fn scenarios(ctx: &Ctx) -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(kill::scenarios());
    all.extend(crash_points::scenarios());
    all.extend(drops::scenarios());
    all.extend(disk::scenarios());
    all.extend(restart::scenarios());
    all.extend(concurrent::scenarios());
    all.extend(locks::scenarios(ctx));
    all.extend(state_file::scenarios());
    all.extend(hostile::scenarios());
    all
}

fn main() {
    let mut ctx = Ctx {
        rounds: 6,
        seed: 0x7047_7572_6521,
        full: false,
    };
    let mut rounds_given = None;
    let mut filters: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--full" => ctx.full = true,
            "--rounds" => rounds_given = args.next().and_then(|v| v.parse().ok()),
            "--seed" => {
                if let Some(s) = args.next().and_then(|v| v.parse().ok()) {
                    ctx.seed = s;
                }
            }
            // The standard harness's flags (cargo test -- --nocapture ...), and its
            // --test-threads N / --skip N values.
            "--test-threads" | "--skip" | "--format" | "--color" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            word => filters.push(word.to_string()),
        }
    }
    ctx.rounds = rounds_given.unwrap_or(if ctx.full { 200 } else { ctx.rounds });

    let selected: Vec<Scenario> = scenarios(&ctx)
        .into_iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())))
        .collect();
    println!(
        "torture: {} scenarios, {} kill rounds per pipeline, seed {}{}",
        selected.len(),
        ctx.rounds,
        ctx.seed,
        if ctx.full { ", full" } else { "" }
    );
    println!("{}", Row::header());
    let started = Instant::now();
    let (mut passed, mut failed) = (0, 0);
    for s in &selected {
        let t = Instant::now();
        let row = match catch_unwind(AssertUnwindSafe(|| (s.run)(&ctx))) {
            Ok(row) => row,
            Err(panic) => {
                let text = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                Row::broken(&s.name, format!("harness panicked: {text}"))
            }
        };
        let row = Row {
            name: s.name.clone(),
            ..row
        };
        println!("{}", row.line(t.elapsed()));
        for p in &row.problems {
            println!("    {}", p.replace('\n', "\n    "));
        }
        let _ = std::io::stdout().flush();
        if row.ok() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!(
        "torture: {:.0} s; every count must be 0",
        started.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
