//! `--json-events`: one JSON object per line on stdout as accounts start, progress and end,
//! for a dashboard or a log collector watching a long run of many accounts (the schema is
//! [`crate::json::Event`]; the `finished`/`failed` lines carry the same entry as the
//! `--json` document). Each line is written whole and flushed, so lines of accounts running
//! side by side never mix.

use crate::json::{self, AccountRun, Event};
use crate::pull::Observer;
use crate::report::out;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress lines of one account come at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Print one event line.
pub fn emit(event: &Event) {
    out(&json::render(event));
}

/// The `finished` or `failed` line of an account's entry.
pub fn ended(run: &AccountRun, class: Option<crate::error::Class>) {
    match class {
        Some(class) => emit(&Event::Failed {
            class: class.name(),
            run,
        }),
        None => emit(&Event::Finished(run)),
    }
}

/// An observer that passes everything on to `inner` and prints `progress` lines.
pub struct Progress<'a> {
    account: &'a str,
    inner: &'a dyn Observer,
    planned: AtomicUsize,
    planned_bytes: AtomicU64,
    delivered: AtomicUsize,
    last: Mutex<Instant>,
}

impl<'a> Progress<'a> {
    /// Progress of `account`, printing its `started` line now.
    pub fn start(account: &'a str, inner: &'a dyn Observer) -> Self {
        emit(&Event::Started { account });
        Progress {
            account,
            inner,
            planned: AtomicUsize::new(0),
            planned_bytes: AtomicU64::new(0),
            delivered: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn report(&self, always: bool) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if !always && last.elapsed() < PROGRESS_EVERY {
            return;
        }
        *last = Instant::now();
        emit(&Event::Progress {
            account: self.account,
            delivered: self.delivered.load(Ordering::Relaxed),
            planned: self.planned.load(Ordering::Relaxed),
            planned_bytes: self.planned_bytes.load(Ordering::Relaxed),
        });
    }
}

impl Observer for Progress<'_> {
    fn planned(&self, mailbox: &str, messages: usize, bytes: u64) {
        self.planned.fetch_add(messages, Ordering::Relaxed);
        self.planned_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.inner.planned(mailbox, messages, bytes);
        if messages > 0 {
            self.report(true);
        }
    }

    fn delivered(&self, bytes: u64) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.inner.delivered(bytes);
        self.report(false);
    }

    fn notice(&self, mailbox: &str, text: &str) {
        self.inner.notice(mailbox, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_line_each_with_their_kind() {
        let run = AccountRun {
            account: "a".into(),
            ok: false,
            exit_code: 77,
            error: Some("a: login refused".into()),
            fetched: 0,
            bytes: 0,
            deleted: 0,
            pending: 0,
            pending_bytes: 0,
            deferred: 0,
            oversized: Vec::new(),
            passed_over: 0,
            already_present: 0,
            target: "mbox:/x".into(),
            interrupted: false,
        };
        let failed = json::render(&Event::Failed {
            class: crate::error::Class::Auth.name(),
            run: &run,
        });
        assert!(!failed.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&failed).unwrap();
        assert_eq!(v["event"], "failed");
        assert_eq!(v["class"], "auth");
        assert_eq!(v["exit_code"], 77);
        assert_eq!(v["account"], "a");
        let started = json::render(&Event::Started { account: "a" });
        assert_eq!(started, r#"{"event":"started","account":"a"}"#);
    }
}
