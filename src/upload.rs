//! `mailfetch upload PATH --to ACCOUNT/FOLDER`: a local Maildir or mbox (see `local`) into a
//! folder of an IMAP account, through the same sink as an `imap:` target
//! (`sink::ImapAppend`): the folder is created if missing, flags and dates go with each
//! message (Maildir info letters and file times, mbox `Status:` fields and `From ` line
//! dates), and a message the folder already holds (same Message-ID and size, or for one
//! without a Message-ID, same size and text) is not stored again. That lookup is what makes
//! an upload resumable: run again, after a crash or a dropped connection, it stores only what
//! is missing, so it needs no journal of its own.

use crate::config::Account;
use crate::error::{Class, Error, Result};
use crate::local::Store;
use crate::pull::Observer;
use crate::session::{self, Ctx};
use crate::sink::{Meta, Sink, Staged};
use std::path::Path;

/// Messages per batch (one lookup in the folder, one or a few MULTIAPPENDs)...
const BATCH_MESSAGES: usize = 200;
/// ...and bytes.
const BATCH_BYTES: u64 = 32 << 20;

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

/// The batch being uploaded.
struct Batch {
    places: Vec<String>,
    bytes: u64,
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
    let mut batch: Option<Batch> = None;
    let mut refusals: Vec<Error> = Vec::new();
    store.for_each(&mut |m, body| {
        if batch.is_none() {
            sink.begin()?;
            batch = Some(Batch {
                places: Vec::new(),
                bytes: 0,
            });
        }
        summary.read += 1;
        let meta = Meta {
            mailbox: folder,
            delimiter: None,
            flags: m.flags,
            internal_date: m.date,
            size: m.size,
        };
        let b = batch.as_mut().expect("just begun");
        match sink.deliver(&meta, body) {
            Ok(()) => {
                b.places.push(m.place.clone());
                b.bytes += m.size;
                observer.delivered(m.size);
            }
            Err(e) if e.is_refusal() => {
                observer.notice("", e.message());
                refusals.push(e);
            }
            Err(e) => return Err(e.context(&m.place)),
        }
        for text in sink.take_notices() {
            observer.notice("", &text);
        }
        if b.places.len() >= BATCH_MESSAGES || b.bytes >= BATCH_BYTES {
            let b = batch.take().expect("open");
            store_batch(&mut sink, b, &mut summary, &mut refusals, observer)?;
        }
        Ok(())
    })?;
    if let Some(b) = batch.take() {
        store_batch(&mut sink, b, &mut summary, &mut refusals, observer)?;
    }
    summary.present = sink.already_present();
    summary.refused = refusals.iter().map(|e| e.message().to_string()).collect();
    summary.appended = summary.read - summary.present - summary.refused.len();
    match refusals.first() {
        None => Ok(summary),
        Some(first) => {
            let class = refusals
                .iter()
                .map(Error::class)
                .find(|c| *c != Class::Temporary)
                .unwrap_or(Class::Temporary);
            Err(Error::new(
                class,
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
                    first.message()
                ),
            ))
        }
    }
}

/// Look the batch up in the folder, append what is not there, note refusals.
fn store_batch(
    sink: &mut dyn Sink,
    batch: Batch,
    summary: &mut Summary,
    refusals: &mut Vec<Error>,
    observer: &dyn Observer,
) -> Result<()> {
    let ids: Vec<&str> = batch.places.iter().map(String::as_str).collect();
    // An upload keeps no journal: the intent is not needed, since a rerun looks the
    // folder up again.
    let staged = Staged {
        mailbox: &summary.from,
        validity: "-",
        ids: &ids,
    };
    let result = sink.staged(&staged).and_then(|_| sink.prepare());
    if let Err(e) = result {
        sink.abort();
        return Err(e);
    }
    for (_, e) in sink.take_refused() {
        observer.notice("", e.message());
        refusals.push(e);
    }
    for text in sink.take_notices() {
        observer.notice("", &text);
    }
    sink.commit()
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
