//! The `--json` documents: what `pull`, `check`, `accounts` and `list` print on stdout
//! instead of their human lines, one JSON document per run. These types are the schema; the
//! JSON section of the man page (`crate::manpage`) describes them field by field, so a change
//! here is a change there. Errors still go to stderr one line each, and are also in the
//! document, with the exit code they give.

use crate::config::{Account, Folders, Protocol};
use crate::error::{Error, Exit};
use crate::pull::{Oversized, Summary};
use serde::Serialize;
use std::path::Path;

/// The document of `pull` and `check`.
#[derive(Serialize, Debug)]
pub struct Run {
    /// `pull` or `check`.
    pub command: &'static str,
    /// Whether this was `pull --dry-run` (nothing was changed).
    pub dry_run: bool,
    /// The run's exit code: the first failed account's, in config order, or 0; 130 or 143
    /// when SIGINT or SIGTERM stopped the run.
    pub exit_code: u8,
    /// One entry per account, in config order.
    pub accounts: Vec<AccountRun>,
}

/// What happened to one account in `pull` or `check`.
#[derive(Serialize, Debug)]
pub struct AccountRun {
    /// The account's name.
    pub account: String,
    /// Whether the account succeeded.
    pub ok: bool,
    /// The account's exit code (0 when ok).
    pub exit_code: u8,
    /// The error, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Messages delivered (`pull`).
    pub fetched: usize,
    /// Their size in bytes, as the server counted them.
    pub bytes: u64,
    /// Messages deleted (or moved away) on the server.
    pub deleted: usize,
    /// Messages that are new but were not fetched (`check`, `--dry-run`), or that were left
    /// for a later run by a limit.
    pub pending: usize,
    /// Their size in bytes.
    pub pending_bytes: u64,
    /// New messages left for a later run by `max-messages-per-run`, `max-bytes-per-run` or
    /// `--limit`.
    pub deferred: usize,
    /// Messages over `max-message-size`.
    pub oversized: Vec<Oversized>,
    /// Messages passed over by `--since`.
    pub passed_over: usize,
    /// Messages found at the target already (an IMAP folder that had them): recorded as
    /// delivered without being stored again, not counted in `fetched`.
    pub already_present: usize,
    /// Whether SIGINT or SIGTERM stopped this account's run before it had fetched
    /// everything (what it fetched is saved and recorded; the rest comes next run).
    pub interrupted: bool,
    /// Where mail went.
    pub target: String,
}

impl AccountRun {
    /// The entry of an account that finished.
    pub fn ok(s: &Summary) -> Self {
        AccountRun {
            account: s.account.clone(),
            ok: true,
            exit_code: 0,
            error: None,
            fetched: s.fetched,
            bytes: s.bytes,
            deleted: s.deleted,
            pending: s.pending,
            pending_bytes: s.pending_bytes,
            deferred: s.deferred,
            oversized: s.oversized.clone(),
            passed_over: s.passed_over,
            already_present: s.present,
            interrupted: s.stopped,
            target: s.target.clone(),
        }
    }

    /// The entry of an account that failed with `e`.
    pub fn failed(account: &Account, e: &Error) -> Self {
        AccountRun {
            account: account.name.clone(),
            ok: false,
            exit_code: Exit::Failed(e.class()).code(),
            error: Some(e.message().to_string()),
            fetched: 0,
            bytes: 0,
            deleted: 0,
            pending: 0,
            pending_bytes: 0,
            deferred: 0,
            oversized: Vec::new(),
            passed_over: 0,
            already_present: 0,
            interrupted: false,
            target: account.target.to_string(),
        }
    }
}

/// The document of `verify --json`.
#[derive(Serialize, Debug)]
pub struct Verify {
    /// Always `verify`.
    pub command: &'static str,
    /// The run's exit code: the first account's error's, in config order; else 1 when a
    /// copy is incomplete; else 0.
    pub exit_code: u8,
    /// One entry per account, in config order.
    pub accounts: Vec<AccountVerify>,
}

/// What `verify` found for one account.
#[derive(Serialize, Debug)]
pub struct AccountVerify {
    /// The account's name.
    pub account: String,
    /// Whether the comparison ran (its copy may still be incomplete: see `complete`).
    pub ok: bool,
    /// 0 when the copy is complete, 1 when it is not, else the error's exit code.
    pub exit_code: u8,
    /// The error, when the comparison could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether every message on the server has its identical copy.
    pub complete: bool,
    /// Messages on the server compared.
    pub compared: usize,
    /// Of them, missing, different, or not fetched yet.
    pub problems: usize,
    /// Messages of the copy that stand for no message on the server.
    pub extra: usize,
}

impl AccountVerify {
    /// The entry for `account` from its comparison's reports, or its error.
    pub fn new(account: &Account, result: &Result<Vec<crate::verify::Report>, Error>) -> Self {
        match result {
            Ok(reports) => {
                let complete = reports.iter().all(crate::verify::Report::complete);
                AccountVerify {
                    account: account.name.clone(),
                    ok: true,
                    exit_code: if complete {
                        Exit::Success.code()
                    } else {
                        Exit::Incomplete.code()
                    },
                    error: None,
                    complete,
                    compared: reports.iter().map(|r| r.compared).sum(),
                    problems: reports.iter().map(|r| r.problems.len()).sum(),
                    extra: reports.iter().map(|r| r.extra).sum(),
                }
            }
            Err(e) => AccountVerify {
                account: account.name.clone(),
                ok: false,
                exit_code: Exit::Failed(e.class()).code(),
                error: Some(e.message().to_string()),
                complete: false,
                compared: 0,
                problems: 0,
                extra: 0,
            },
        }
    }
}

/// The document of `accounts`.
#[derive(Serialize, Debug)]
pub struct Accounts {
    /// Always `accounts`.
    pub command: &'static str,
    /// Every account in config order.
    pub accounts: Vec<AccountInfo>,
}

/// One resolved account.
#[derive(Serialize, Debug)]
pub struct AccountInfo {
    /// Its name.
    pub name: String,
    /// The profile it was resolved with.
    pub profile: &'static str,
    /// `pop3` or `imap`.
    pub protocol: &'static str,
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// `implicit`, `starttls` or `none`.
    pub tls: &'static str,
    /// Login name.
    pub user: String,
    /// The folders fetched: a list of names, or `"*"`.
    pub folders: serde_json::Value,
    /// IMAP folder fetched mail is moved to, if set.
    pub move_to: Option<String>,
    /// Where mail goes (`maildir:PATH`, `mbox:PATH`, `mda:COMMAND`).
    pub target: String,
    /// Whether mail is left on the server.
    pub keep: bool,
    /// The state journal.
    pub state_file: String,
}

impl AccountInfo {
    /// Describe `a`, whose state lives in `state_dir`.
    pub fn new(a: &Account, state_dir: &Path) -> Self {
        let folders = match (&a.protocol, &a.folders) {
            (Protocol::Imap, Folders::All) => serde_json::Value::from("*"),
            (_, Folders::Named(names)) => serde_json::Value::from(names.clone()),
            (Protocol::Pop3, Folders::All) => serde_json::Value::from(vec!["INBOX"]),
        };
        AccountInfo {
            name: a.name.clone(),
            profile: a.profile.name,
            protocol: a.protocol.as_str(),
            host: a.endpoint.host.clone(),
            port: a.endpoint.port,
            tls: a.endpoint.tls.as_str(),
            user: a.user.clone(),
            folders,
            move_to: a.move_to.clone(),
            target: a.target.to_string(),
            keep: a.keep,
            state_file: crate::state::State::path_for(state_dir, &a.name)
                .display()
                .to_string(),
        }
    }
}

/// The document of `list`.
#[derive(Serialize, Debug)]
pub struct List<'a> {
    /// Always `list`.
    pub command: &'static str,
    /// The account listed.
    pub account: &'a str,
    /// Every message on the server, folder by folder, in server order.
    pub messages: &'a [crate::list::Entry],
}

/// The document printed when a command fails before it could produce its own (a usage or
/// configuration error).
#[derive(Serialize, Debug)]
pub struct Failure {
    /// The subcommand.
    pub command: &'static str,
    /// The exit code.
    pub exit_code: u8,
    /// What went wrong.
    pub error: String,
}

/// `doc` as one line of JSON.
pub fn render<T: Serialize>(doc: &T) -> String {
    serde_json::to_string(doc).expect("JSON documents are plain data")
}

/// One line of `--json-events`: what just happened to one account, as it happens.
#[derive(Serialize, Debug)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event<'a> {
    /// The account's run began.
    Started {
        /// The account's name.
        account: &'a str,
    },
    /// Messages delivered so far, out of those planned (at most one a second per account).
    Progress {
        /// The account's name.
        account: &'a str,
        /// Messages delivered so far.
        delivered: usize,
        /// Messages planned so far (folders are planned one after another).
        planned: usize,
        /// Bytes planned so far.
        planned_bytes: u64,
    },
    /// The account's server said its host is busy for everyone: the run connects to that
    /// host again after `seconds` and runs the account once more then.
    #[serde(rename = "backing-off")]
    BackingOff {
        /// The account's name.
        account: &'a str,
        /// How long the host cools down.
        seconds: f64,
        /// What the server said.
        error: &'a str,
    },
    /// The account's run ended well: the entry it has in the `--json` document.
    Finished(&'a AccountRun),
    /// The account's run failed: the entry it has in the `--json` document, and the class.
    Failed {
        /// Which kind of failure: usage, unavailable, local-io, temporary, protocol, auth,
        /// config or internal.
        class: &'static str,
        /// The entry, with its exit code and error.
        #[serde(flatten)]
        run: &'a AccountRun,
    },
}
