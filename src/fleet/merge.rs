//! `mailfetch report SHARD.json...`: the `--json` documents of the shards of a run (or of
//! several runs) merged into one account table — done, failed with its reason, and, given
//! the config, remaining (in no document) — with the messages and bytes that add up; and
//! the account list `pull --accounts-from REPORT --failed` retries.
//!
//! An account in several documents (a shard run again, a retry of the failed) takes its
//! entry from the last document named that has it, so `report shard-*.json retry.json`
//! shows where things stand after the retry; its messages and bytes are summed over all of
//! them, since every run delivered what it says it did.
//!
//! `verify --json` documents merge in too: each account's last verify result (complete,
//! incomplete with how many problems, or failed with its reason) stands beside its pull
//! status, so the report of a migration says which mailboxes were moved *and* checked.

use crate::error::{Class, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A document as read: a `pull`/`check`/`verify --json` document or a merged report.
#[derive(Deserialize)]
struct DocumentIn {
    /// `pull`, `check`, `verify` or `report` (older documents may lack it).
    #[serde(default)]
    command: Option<String>,
    accounts: Vec<EntryIn>,
}

/// One account's entry as read.
#[derive(Deserialize)]
struct EntryIn {
    account: String,
    /// In a run document.
    #[serde(default)]
    ok: Option<bool>,
    /// In a merged report.
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    exit_code: u8,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    fetched: u64,
    #[serde(default)]
    bytes: u64,
    /// In a verify document.
    #[serde(default)]
    complete: bool,
    #[serde(default)]
    compared: u64,
    #[serde(default)]
    problems: u64,
    /// In a merged report.
    #[serde(default)]
    verify: Option<Verified>,
}

/// What the last `verify` of an account found.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// Every message on the server has its identical copy.
    Complete,
    /// Some have none, or a different one.
    Incomplete,
    /// The comparison could not run.
    Failed,
}

/// An account's last verify result.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// What it found.
    pub status: Check,
    /// Messages on the server compared.
    pub compared: u64,
    /// Of them, missing, different or not fetched yet.
    pub problems: u64,
    /// Why it could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The document it comes from.
    pub from: String,
}

/// Where an account stands.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Its last run succeeded.
    Done,
    /// Its last run failed.
    Failed,
    /// It is in the config but in no document.
    Remaining,
}

/// One account of the merged report.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The account's name.
    pub account: String,
    /// Where it stands.
    pub status: Status,
    /// The exit code of its last run (0 when done or remaining).
    pub exit_code: u8,
    /// Why its last run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Messages delivered, over all the documents.
    pub fetched: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The document its status comes from (none when remaining).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Its last verify result, when a verify document has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verified>,
}

/// The merged report, also `report --json`.
#[derive(Serialize, Debug)]
pub struct Report {
    /// `report`.
    pub command: &'static str,
    /// Accounts done.
    pub done: usize,
    /// Accounts failed.
    pub failed: usize,
    /// Accounts of the config in no document (0 without the config).
    pub remaining: usize,
    /// Messages delivered in all.
    pub fetched: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Accounts whose last verify found the copy complete...
    pub verified: usize,
    /// ...found it incomplete...
    pub verify_incomplete: usize,
    /// ...or could not run.
    pub verify_failed: usize,
    /// The accounts, by name.
    pub accounts: Vec<Entry>,
}

/// Merge the documents at `paths`; accounts of `config` (names) that none holds are
/// remaining.
pub fn merge(paths: &[impl AsRef<Path>], config: Option<&[&str]>) -> Result<Report> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for path in paths {
        let path = path.as_ref();
        let document = read(path)?;
        let verify_document = document.command.as_deref() == Some("verify");
        for e in document.accounts {
            let slot = entries
                .entry(e.account.clone())
                .or_insert_with(|| Entry::remaining(&e.account));
            if verify_document {
                let failed = e.ok == Some(false);
                slot.verify = Some(Verified {
                    status: match (failed, e.complete) {
                        (true, _) => Check::Failed,
                        (false, true) => Check::Complete,
                        (false, false) => Check::Incomplete,
                    },
                    compared: e.compared,
                    problems: e.problems,
                    error: if failed { e.error } else { None },
                    from: path.display().to_string(),
                });
                continue;
            }
            if let Some(v) = e.verify {
                slot.verify = Some(v);
            }
            let failed = e.status == Some(Status::Failed) || e.ok == Some(false);
            let remaining = e.status == Some(Status::Remaining);
            slot.fetched += e.fetched;
            slot.bytes += e.bytes;
            if remaining {
                continue;
            }
            slot.status = if failed { Status::Failed } else { Status::Done };
            slot.exit_code = if failed { e.exit_code } else { 0 };
            slot.error = if failed { e.error } else { None };
            slot.from = Some(path.display().to_string());
        }
    }
    for name in config.unwrap_or_default() {
        entries
            .entry(name.to_string())
            .or_insert_with(|| Entry::remaining(name));
    }
    let accounts: Vec<Entry> = entries.into_values().collect();
    let count = |s: Status| accounts.iter().filter(|e| e.status == s).count();
    let checked = |c: Check| {
        accounts
            .iter()
            .filter(|e| e.verify.as_ref().is_some_and(|v| v.status == c))
            .count()
    };
    Ok(Report {
        command: "report",
        done: count(Status::Done),
        failed: count(Status::Failed),
        remaining: count(Status::Remaining),
        fetched: accounts.iter().map(|e| e.fetched).sum(),
        bytes: accounts.iter().map(|e| e.bytes).sum(),
        verified: checked(Check::Complete),
        verify_incomplete: checked(Check::Incomplete),
        verify_failed: checked(Check::Failed),
        accounts,
    })
}

impl Entry {
    /// An account in no document yet.
    fn remaining(name: &str) -> Entry {
        Entry {
            account: name.to_string(),
            status: Status::Remaining,
            exit_code: 0,
            error: None,
            fetched: 0,
            bytes: 0,
            from: None,
            verify: None,
        }
    }
}

/// The accounts of the document at `path` (a run document or a merged report): all of
/// them, or with `failed` only those whose last run failed.
pub fn accounts_from(path: &Path, failed: bool) -> Result<Vec<String>> {
    let report = merge(&[path], None)?;
    Ok(report
        .accounts
        .into_iter()
        .filter(|e| !failed || e.status == Status::Failed)
        .map(|e| e.account)
        .collect())
}

fn read(path: &Path) -> Result<DocumentIn> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            Class::Usage,
            format!("cannot read report {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::new(
            Class::Usage,
            format!(
                "{}:{}:{}: not a mailfetch --json document of pull, check or report: {e}",
                path.display(),
                e.line(),
                e.column()
            ),
        )
    })
}

/// The report as a table: one line per account, then the totals.
pub fn table(report: &Report) -> String {
    let width = report
        .accounts
        .iter()
        .map(|e| e.account.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let verified = report.accounts.iter().any(|e| e.verify.is_some());
    let mut s = format!(
        "{:width$}  {:9}  {:>8}  {:>10}  {}reason\n",
        "account",
        "status",
        "messages",
        "bytes",
        if verified { "verify       " } else { "" }
    );
    for e in &report.accounts {
        let status = match e.status {
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Remaining => "remaining",
        };
        let mut reason = match &e.error {
            Some(why) => format!("exit {}: {}", e.exit_code, crate::text::printable(why)),
            None => String::new(),
        };
        let check = match &e.verify {
            None => "-".to_string(),
            Some(v) => match v.status {
                Check::Complete => "complete".to_string(),
                Check::Incomplete => format!(
                    "{} problem{}",
                    v.problems,
                    if v.problems == 1 { "" } else { "s" }
                ),
                Check::Failed => {
                    if let Some(why) = &v.error {
                        let why = format!("verify: {}", crate::text::printable(why));
                        reason = if reason.is_empty() {
                            why
                        } else {
                            format!("{reason}; {why}")
                        };
                    }
                    "failed".to_string()
                }
            },
        };
        let check = if verified {
            format!("{check:11}  ")
        } else {
            String::new()
        };
        s.push_str(
            format!(
                "{:width$}  {status:9}  {:>8}  {:>10}  {check}{reason}",
                e.account,
                e.fetched,
                crate::report::human_bytes(e.bytes)
            )
            .trim_end(),
        );
        s.push('\n');
    }
    s.push_str(&format!(
        "{} done, {} failed, {} remaining; {} messages, {}",
        report.done,
        report.failed,
        report.remaining,
        report.fetched,
        crate::report::human_bytes(report.bytes)
    ));
    if verified {
        s.push_str(&format!(
            "; verify: {} complete, {} incomplete, {} failed",
            report.verified, report.verify_incomplete, report.verify_failed
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_document_decides_and_counts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("1.json");
        let two = dir.path().join("2.json");
        let retry = dir.path().join("retry.json");
        std::fs::write(&one, r#"{"command":"pull","dry_run":false,"exit_code":77,"accounts":[
            {"account":"a","ok":true,"exit_code":0,"fetched":3,"bytes":300},
            {"account":"b","ok":false,"exit_code":77,"error":"b: login refused","fetched":0,"bytes":0}]}"#).unwrap();
        std::fs::write(&two, r#"{"command":"pull","accounts":[
            {"account":"c","ok":false,"exit_code":75,"error":"c: timeout","fetched":1,"bytes":10}]}"#).unwrap();
        std::fs::write(
            &retry,
            r#"{"command":"pull","accounts":[
            {"account":"c","ok":true,"exit_code":0,"fetched":2,"bytes":20}]}"#,
        )
        .unwrap();
        let r = merge(&[&one, &two, &retry], Some(&["a", "b", "c", "d"])).unwrap();
        assert_eq!((r.done, r.failed, r.remaining), (2, 1, 1));
        assert_eq!((r.fetched, r.bytes), (6, 330));
        let c = &r.accounts[2];
        assert_eq!(
            (c.status, c.fetched, c.error.as_deref()),
            (Status::Done, 3, None)
        );
        assert_eq!(r.accounts[1].error.as_deref(), Some("b: login refused"));
        assert_eq!(r.accounts[3].status, Status::Remaining);
        let t = table(&r);
        assert!(t.contains("b        failed"), "{t}");
        assert!(
            t.ends_with("2 done, 1 failed, 1 remaining; 6 messages, 330 B"),
            "{t}"
        );
        // A merged report reads back as it was written.
        let merged = dir.path().join("merged.json");
        std::fs::write(&merged, crate::json::render(&r)).unwrap();
        assert_eq!(accounts_from(&merged, true).unwrap(), ["b"]);
        let again = merge(&[&merged], None).unwrap();
        assert_eq!((again.done, again.failed, again.remaining), (2, 1, 1));
        assert_eq!(accounts_from(&one, false).unwrap(), ["a", "b"]);
    }

    #[test]
    fn a_file_that_is_not_a_document_is_a_usage_error_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"accounts\": [\n  {\"ok\": true}]}").unwrap();
        let err = merge(&[&bad], None).unwrap_err();
        assert_eq!(err.class(), Class::Usage);
        assert!(err.message().contains("bad.json:2:"), "{}", err.message());
    }

    #[test]
    fn verify_documents_stand_beside_the_pull_status() {
        let dir = tempfile::tempdir().unwrap();
        let pull = dir.path().join("pull.json");
        let verify = dir.path().join("verify.json");
        std::fs::write(
            &pull,
            r#"{"command":"pull","accounts":[
            {"account":"a","ok":true,"exit_code":0,"fetched":3,"bytes":300},
            {"account":"b","ok":true,"exit_code":0,"fetched":2,"bytes":200},
            {"account":"c","ok":false,"exit_code":77,"error":"c: login refused"}]}"#,
        )
        .unwrap();
        std::fs::write(&verify, r#"{"command":"verify","exit_code":1,"accounts":[
            {"account":"a","ok":true,"exit_code":0,"complete":true,"compared":3,"problems":0,"extra":0},
            {"account":"b","ok":true,"exit_code":1,"complete":false,"compared":2,"problems":1,"extra":0},
            {"account":"c","ok":false,"exit_code":77,"error":"c: login refused","complete":false,"compared":0,"problems":0,"extra":0}]}"#).unwrap();
        let r = merge(&[&pull, &verify], None).unwrap();
        assert_eq!(
            (r.done, r.failed, r.remaining),
            (2, 1, 0),
            "verify changes no pull status"
        );
        assert_eq!((r.fetched, r.bytes), (5, 500), "nor the counts");
        assert_eq!(
            (r.verified, r.verify_incomplete, r.verify_failed),
            (1, 1, 1)
        );
        let b = r.accounts[1].verify.as_ref().unwrap();
        assert_eq!(
            (b.status, b.compared, b.problems),
            (Check::Incomplete, 2, 1)
        );
        let t = table(&r);
        assert!(
            t.contains("b        done              2       200 B  1 problem"),
            "{t}"
        );
        assert!(
            t.contains("exit 77: c: login refused; verify: c: login refused"),
            "{t}"
        );
        assert!(
            t.ends_with("; verify: 1 complete, 1 incomplete, 1 failed"),
            "{t}"
        );

        // A merged report read again keeps the verify results.
        let merged = dir.path().join("merged.json");
        std::fs::write(&merged, serde_json::to_string(&r).unwrap()).unwrap();
        let again = merge(&[&merged], None).unwrap();
        assert_eq!(
            again.accounts,
            r.accounts
                .iter()
                .map(|e| Entry {
                    from: Some(merged.display().to_string()),
                    ..e.clone()
                })
                .collect::<Vec<_>>()
        );
    }
}
