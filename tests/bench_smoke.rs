//! Smoke test of the benchmark harness (`scripts/bench`, `bench/`): a tiny run from this
//! checkout, with nothing outside the repository, fetches a generated mailbox with the raw
//! client and mailfetch, and every delivery checks out against the manifest. It keeps the
//! harness that the README's figures come from working in CI; the figures themselves are
//! for `scripts/bench` by hand (this test asserts no timing but its own budget).

mod support;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use support::Dovecot;

const ROWS: [&str; 3] = ["raw-pop3", "mailfetch-pop3-maildir", "mailfetch-imap-mbox"];

#[test]
fn a_tiny_benchmark_run_delivers_every_message_intact_within_a_minute() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: scripts/bench needs root (it runs a private Dovecot)");
        return;
    }
    let dovecot = Dovecot::start();
    let work = tempfile::tempdir().expect("work dir");
    let md = work.path().join("results.md");
    let json = work.path().join("results.json");
    let start = Instant::now();
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench"))
        .args(["-n", "20", "--mb", "1", "--repeat", "1"])
        .args(["--only", &ROWS.join(",")])
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_mailfetch"))
        .arg("--state")
        .arg(dovecot.state_dir())
        .arg("--workdir")
        .arg(work.path().join("runs"))
        .arg("--md")
        .arg(&md)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run scripts/bench");
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/bench failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "took {elapsed:?}:\n{stderr}"
    );

    // Each row: all 20 delivered once, none altered (any lost, duplicated, altered or
    // unknown message, a non-zero exit or a changed server mailbox would say FLAGGED).
    let table = fs::read_to_string(&md).expect("the results table");
    for row in ROWS {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("no row {row} in:\n{table}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cells[5], "20/20", "{line}");
        assert_eq!(cells[6], "OK", "{line}");
    }
    let data = fs::read_to_string(&json).expect("the JSON results");
    for key in ["lost", "duplicated", "altered", "unknown"] {
        let zero = format!("\"{key}\": 0");
        assert_eq!(data.matches(&zero).count(), ROWS.len(), "{key} in {data}");
    }
    // The ratio table compares mailfetch with the raw client of the same protocol.
    assert!(
        stdout.contains("| POP3 -> maildir |") && stdout.contains("x |"),
        "{stdout}"
    );
    assert_eq!(dovecot.count("user1", "INBOX"), 20, "kept on the server");
}
