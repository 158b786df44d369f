//! `mailfetch upload PATH --to ACCOUNT/FOLDER`: a local Maildir or mbox (see `local`) into a
//! folder of an IMAP account, through the same sink as an `imap:` target
//! (`sink::ImapAppend`): the folder is created if missing, flags and dates go with each
//! message (Maildir info letters and file times, mbox `Status:` fields and `From ` line
//! dates), and a message the folder already holds (same Message-ID and size, or for one
//! without a Message-ID, same size and text) is not stored again. That lookup is what makes
//! an upload resumable: run again, after a crash or a dropped connection, it stores only what
//! is missing, so it needs no journal of its own.

use crate::config::Account;
use crate::error::{Error, Result};
use crate::local::Store;
use crate::pull::Observer;
use crate::session::{self, Ctx};
use crate::sink::{self, Batcher, Intent, Journal, Meta, Outcome, Refusal, Staged};
use std::path::Path;

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The local store, described.
    pub from: String,
    /// `ACCOUNT/FOLDER`.
    pub to: String,
    /// Messages read from the store.
    pub read: usize,
    /// Messages stored in the folder.
    pub appended: usize,
    /// Messages the folder had already.
    pub present: usize,
    /// Messages the server refused, each with why.
    pub refused: Vec<String>,
}

impl Summary {
    /// `FROM -> TO: 1,240 appended, 3 already present`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} -> {}: {} appended, {} already present",
            self.from,
            self.to,
            thousands(self.appended),
            thousands(self.present)
        );
        if !self.refused.is_empty() {
            line.push_str(&format!(", {} refused", thousands(self.refused.len())));
        }
        line
    }
}

/// `1240` -> `1,240`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An upload keeps no journal: a rerun looks the folder up again, so no intent is needed.
/// Its batches are of the places of messages in the store.
struct NoJournal<'a> {
    /// The store, described: where the batches come from.
    from: &'a str,
}

impl Journal<String> for NoJournal<'_> {
    fn staged<'a>(&'a self, places: &'a [String]) -> Staged<'a> {
        Staged {
            mailbox: self.from,
            validity: crate::identity::Validity::Permanent,
            ids: places.iter().map(String::as_str).collect(),
        }
    }

    fn rollback(&mut self, _intent: &Intent) -> Result<()> {
        Ok(())
    }

    fn record(&mut self, _places: &[String], _forward: Option<&Intent>) -> Result<()> {
        Ok(())
    }

    fn published(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Look the open batch up in the folder, append what is not there, note refusals; returns
/// how many of its messages the folder had already.
fn store_batch(
    batcher: &mut Batcher<String>,
    journal: &mut NoJournal,
    refuse: &mut dyn FnMut(Refusal),
    observer: &dyn Observer,
) -> Result<usize> {
    let mut present = 0;
    if let Some(done) = batcher.commit(journal)? {
        present = done.present;
        done.refused.into_iter().for_each(refuse);
    }
    for text in batcher.sink().take_notices() {
        observer.notice("", &text);
    }
    Ok(present)
}

/// Upload the store at `path` into `folder` of the IMAP `account`. Messages the server
/// refuses are reported to `observer` as they happen and make the result an error at the
/// end (exit 74), after everything else was uploaded.
pub fn upload(
    path: &Path,
    account: &Account,
    folder: &str,
    cx: &Ctx,
    observer: &dyn Observer,
) -> Result<Summary> {
    let store = Store::open(path)?;
    let mut sink = session::imap_sink(account, folder, cx);
    let mut summary = Summary {
        from: store.describe(),
        to: format!("{}/{folder}", account.name),
        ..Summary::default()
    };
    let from = summary.from.clone();
    let mut journal = NoJournal { from: &from };
    let mut batcher = Batcher::new(&mut sink);
    let mut refusals: Vec<Refusal> = Vec::new();
    let mut refuse = |why: Refusal| {
        observer.notice("", why.reason());
        refusals.push(why);
    };
    let mut present = 0;
    store.for_each(&mut |m, mut body| {
        batcher.begin(&mut journal)?;
        summary.read += 1;
        let meta = Meta {
            mailbox: folder,
            delimiter: None,
            flags: m.flags,
            internal_date: m.date,
            size: m.size,
        };
        let outcome = batcher
            .deliver(&meta, &mut body, |_| m.place.clone())
            .map_err(|e| e.context(&m.place))?;
        match outcome {
            Outcome::Delivered => observer.delivered(m.size),
            Outcome::Refused(why) => refuse(why),
        }
        for text in batcher.sink().take_notices() {
            observer.notice("", &text);
        }
        if batcher.full() {
            present += store_batch(&mut batcher, &mut journal, &mut refuse, observer)?;
        }
        Ok(())
    })?;
    present += store_batch(&mut batcher, &mut journal, &mut refuse, observer)?;
    summary.present = present;
    summary.refused = refusals.iter().map(|r| r.reason().to_string()).collect();
    summary.appended = summary.read - summary.present - summary.refused.len();
    match refusals.first() {
        None => Ok(summary),
        Some(first) => Err(Error::new(
            sink::refusal_class(&refusals),
            format!(
                "{}; {} ({} message{} not uploaded; the first: {})",
                summary.line(),
                if refusals.len() == 1 {
                    "it stays in the local store"
                } else {
                    "they stay in the local store"
                },
                refusals.len(),
                if refusals.len() == 1 { "" } else { "s" },
                first.reason()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1240), "1,240");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let s = Summary {
            from: "b (mbox)".into(),
            to: "new/Archive".into(),
            appended: 1240,
            present: 3,
            ..Summary::default()
        };
        assert_eq!(
            s.line(),
            "b (mbox) -> new/Archive: 1,240 appended, 3 already present"
        );
    }
}
