//! `mailfetch verify`: prove that a copy is complete and byte-identical, modulo line ends.
//!
//! Both sides are read in full and every message is reduced to its text digest
//! (`fingerprint::TextDigest`: CRLF or LF, and a last line with or without its line end, do
//! not matter; one changed byte anywhere does) and its Message-ID. Each message of the
//! original must have a copy with the same digest, each copy standing for one original (so
//! two equal originals need two copies). An original without one is:
//!
//! - *not fetched yet*, when it is new on the server (`verify ACCOUNT`: not in the state);
//! - *different*, when the copy has a message with its Message-ID but other text (damaged,
//!   or changed on the way);
//! - *missing* otherwise.
//!
//! Messages of the copy that match no original are counted, not reported: a copy may hold
//! more (mail that arrived there directly, or was deleted at the source since).
//!
//! What is compared: `verify ACCOUNT` compares the messages on the account's server (every
//! folder it fetches) with its target: each folder's Maildir folder, the mbox file, or the
//! IMAP folder of an `imap:` target. `verify --local PATH --remote ACCOUNT/FOLDER` compares a
//! local Maildir or mbox (what `upload` sent) with an IMAP folder. Nothing is changed on
//! either side; IMAP folders are opened read-only and messages are fetched with `BODY.PEEK`.

use crate::config::{Account, Target};
use crate::error::{Class, Error, Result};
use crate::fingerprint::{self, TextDigest};
use crate::header::Head;
use crate::identity::{MailboxKey, MessageId, Validity};
use crate::imap::append::Destination;
use crate::local::Store;
use crate::session::{self, Access, Ctx};
use crate::sink::folder_to_maildir;
use crate::source::{Known, Source};
use crate::state::{AccountLock, State};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// How long to wait for a pull of the same account to finish.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// One message as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it is: `INBOX message 17`, a file, `UID 52`.
    pub place: String,
    /// How it is named: `message <Message-ID> "Subject"`.
    pub label: String,
    /// Its Message-ID.
    pub message_id: Option<String>,
    /// Its text digest.
    pub digest: String,
    /// Its size as read.
    pub size: u64,
    /// For an original on a server: whether the state records it as delivered.
    pub delivered: bool,
}

impl Entry {
    /// Read a message's text from `body` and describe it as found at `place`.
    pub fn read(place: String, body: &mut dyn Read) -> Result<Entry> {
        let mut digest = TextDigest::default();
        let mut head = Head::default();
        let mut size = 0u64;
        fingerprint::read_all(body, |data| {
            digest.update(data);
            size += data.len() as u64;
            head.push(data);
        })
        .map_err(|e| Error::network("reading a message", e))?;
        let header = head.header();
        Ok(Entry {
            place,
            label: crate::sink::label(header),
            message_id: crate::header::message_id(header),
            digest: digest.finish(),
            size,
            delivered: true,
        })
    }
}

/// Something wrong with the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The original has no copy.
    Missing(Entry),
    /// The copy holds a message with the original's Message-ID, with other text.
    Different {
        /// The original.
        original: Entry,
        /// The copy's message with its Message-ID.
        copy: Entry,
    },
    /// The original is new on the server: not fetched yet, so not copied yet.
    NotFetched(Entry),
}

/// What a comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The original, described.
    pub original: String,
    /// The copy, described.
    pub copy: String,
    /// Messages of the original.
    pub compared: usize,
    /// Messages of the copy that stand for no original.
    pub extra: usize,
    /// What is wrong, in the original's order.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether every original has its copy.
    pub fn complete(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as lines of text: one per problem, then a summary.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.problems {
            out.push(match p {
                Problem::Missing(o) => format!(
                    "missing: {} ({}, {} bytes) is not in {}",
                    o.label, o.place, o.size, self.copy
                ),
                Problem::Different { original, copy } => format!(
                    "different: {} ({}, {} bytes) differs from {} in {} ({} bytes)",
                    original.label, original.place, original.size, copy.place, self.copy, copy.size
                ),
                Problem::NotFetched(o) => format!(
                    "not fetched yet: {} ({}, {} bytes) is new on the server",
                    o.label, o.place, o.size
                ),
            });
        }
        let count = |f: fn(&Problem) -> bool| self.problems.iter().filter(|p| f(p)).count();
        let missing = count(|p| matches!(p, Problem::Missing(_)));
        let different = count(|p| matches!(p, Problem::Different { .. }));
        let unfetched = count(|p| matches!(p, Problem::NotFetched(_)));
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut line = format!(
            "{} -> {}: {} message{} compared",
            self.original,
            self.copy,
            self.compared,
            plural(self.compared)
        );
        if self.complete() {
            line.push_str(", all there and identical");
        } else {
            for (n, what) in [
                (missing, "missing"),
                (different, "different"),
                (unfetched, "not fetched yet"),
            ] {
                if n > 0 {
                    line.push_str(&format!(", {n} {what}"));
                }
            }
        }
        if self.extra > 0 {
            line.push_str(&format!(
                " ({} more in the copy with no original)",
                self.extra
            ));
        }
        out.push(line);
        out
    }
}

/// Compare `original` with `copy` (see the module doc).
pub fn compare(original: &str, copy: &str, originals: &[Entry], copies: &[Entry]) -> Report {
    let mut by_digest: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in copies.iter().enumerate().rev() {
        by_digest.entry(c.digest.as_str()).or_default().push(i);
    }
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, c) in copies.iter().enumerate() {
        if let Some(id) = &c.message_id {
            by_id.entry(id.as_str()).or_insert(i);
        }
    }
    let mut used = vec![false; copies.len()];
    let mut problems = Vec::new();
    for o in originals {
        if let Some(i) = by_digest.get_mut(o.digest.as_str()).and_then(|v| v.pop()) {
            used[i] = true;
            continue;
        }
        let same_id = o
            .message_id
            .as_deref()
            .and_then(|id| by_id.get(id))
            .map(|&i| copies[i].clone());
        problems.push(match same_id {
            Some(c) => Problem::Different {
                original: o.clone(),
                copy: c,
            },
            None if !o.delivered => Problem::NotFetched(o.clone()),
            None => Problem::Missing(o.clone()),
        });
    }
    Report {
        original: original.to_string(),
        copy: copy.to_string(),
        compared: originals.len(),
        extra: used.iter().filter(|u| !**u).count(),
        problems,
    }
}

/// Every message of a local store.
pub fn read_local(store: &Store) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    store.for_each(&mut |m, body| {
        out.push(Entry::read(m.place.clone(), body)?);
        Ok(())
    })?;
    Ok(out)
}

/// Every message of `mailbox` of `source`, with `delivered` telling whether the state has
/// the one with this ID (under the listing's validity), and the mailbox's delimiter.
pub fn read_source(
    source: &mut dyn Source,
    mailbox: &str,
    delivered: &dyn Fn(Validity, &str) -> bool,
) -> Result<(Vec<Entry>, Option<char>)> {
    let listing = source.open(mailbox, &Known::nothing())?;
    let mut out: Vec<Option<Entry>> = listing.messages.iter().map(|_| None).collect();
    if !listing.messages.is_empty() {
        source.fetch(&listing.messages)?;
        while let Some((index, mut body)) = source.next_message()? {
            let place = format!("{mailbox} message {}", index + 1);
            let mut entry = Entry::read(place, &mut body)?;
            entry.delivered = delivered(listing.validity, &listing.messages[index].id);
            out[index] = Some(entry);
        }
    }
    // A message expunged while it was being read is no longer an original.
    Ok((out.into_iter().flatten().collect(), listing.delimiter))
}

/// Every message of the folder of `dest`, each placed by its UID.
pub fn read_folder(dest: &mut Destination) -> Result<Vec<Entry>> {
    let folder = dest.folder().to_string();
    let source = dest.source();
    let listing = source.open(&folder, &Known::nothing())?;
    let mut out: Vec<Option<Entry>> = listing.messages.iter().map(|_| None).collect();
    if !listing.messages.is_empty() {
        source.fetch(&listing.messages)?;
        while let Some((index, mut body)) = source.next_message()? {
            let place = format!("UID {}", listing.messages[index].number);
            out[index] = Some(Entry::read(place, &mut body)?);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// `verify ACCOUNT`: the messages on the account's server against its target, one report
/// per place compared (each folder's Maildir folder; else the one mbox or IMAP folder).
pub fn account(account: &Account, cx: &Ctx) -> Result<Vec<Report>> {
    let ctx = |e: Error| e.context(&account.name);
    if let Target::Mda(_) | Target::Lmtp(_) | Target::Smtp(_) = &account.target {
        return Err(ctx(Error::new(
            Class::Usage,
            format!(
                "its target {} hands mail on, so mailfetch cannot read it back; check where \
                 it ended up with verify --local PATH --remote ACCOUNT/FOLDER",
                account.target
            ),
        )));
    }
    let _lock = AccountLock::acquire(&cx.state_dir, &account.name, LOCK_WAIT).map_err(ctx)?;
    let state = State::open(&cx.state_dir, &account.name, false).map_err(ctx)?;
    let mut source = session::open_source(account, cx, Access::Look).map_err(ctx)?;
    let mut originals = Vec::new();
    for mailbox in source.mailboxes().map_err(ctx)? {
        let delivered = |validity: Validity, id: &str| {
            state.is_seen(MailboxKey::new(&mailbox), validity, MessageId::new(id))
        };
        let (entries, delimiter) =
            read_source(source.as_mut(), &mailbox, &delivered).map_err(ctx)?;
        originals.push((mailbox, delimiter, entries));
    }
    source.close().map_err(ctx)?;
    let name = |mailbox: &str| format!("{} {mailbox}", account.name);
    let mut reports = Vec::new();
    match &account.target {
        Target::Maildir(root) => {
            for (mailbox, delimiter, entries) in &originals {
                let dir = root.join(folder_to_maildir(mailbox, *delimiter));
                let (copy, copies) = match Store::open(&dir) {
                    Ok(store) => (store.describe(), read_local(&store).map_err(ctx)?),
                    Err(_) => (format!("{} (no Maildir yet)", dir.display()), Vec::new()),
                };
                reports.push(compare(&name(mailbox), &copy, entries, &copies));
            }
        }
        Target::Mbox(path) => {
            let (copy, copies) = if path.exists() {
                let store = Store::open(path).map_err(ctx)?;
                (store.describe(), read_local(&store).map_err(ctx)?)
            } else {
                (format!("{} (no mbox yet)", path.display()), Vec::new())
            };
            reports.push(compare_all(account, &originals, &copy, &copies));
        }
        Target::Imap(t) => {
            let mut dest = session::open_folder(t.server(), &t.folder, cx).map_err(ctx)?;
            let copies = read_folder(&mut dest).map_err(ctx)?;
            dest.logout();
            let copy = format!("{}/{}", t.account, t.folder);
            reports.push(compare_all(account, &originals, &copy, &copies));
        }
        Target::Mda(_) | Target::Lmtp(_) | Target::Smtp(_) => unreachable!("refused above"),
    }
    Ok(reports)
}

/// Every folder's originals against one copy (an mbox file or an IMAP folder).
fn compare_all(
    account: &Account,
    originals: &[(String, Option<char>, Vec<Entry>)],
    copy: &str,
    copies: &[Entry],
) -> Report {
    let all: Vec<Entry> = originals
        .iter()
        .flat_map(|(_, _, e)| e.iter().cloned())
        .collect();
    let names: Vec<&str> = originals.iter().map(|(m, _, _)| m.as_str()).collect();
    compare(
        &format!("{} {}", account.name, names.join(",")),
        copy,
        &all,
        copies,
    )
}

/// `verify --local PATH --remote ACCOUNT/FOLDER`: a local store against an IMAP folder.
pub fn local(path: &Path, account: &Account, folder: &str, cx: &Ctx) -> Result<Report> {
    let store = Store::open(path)?;
    let originals = read_local(&store)?;
    let mut dest = session::open_folder(account, folder, cx)?;
    let copies = read_folder(&mut dest)?;
    dest.logout();
    Ok(compare(
        &store.describe(),
        &format!("{}/{folder}", account.name),
        &originals,
        &copies,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(place: &str, text: &[u8]) -> Entry {
        Entry::read(place.to_string(), &mut &text[..]).unwrap()
    }

    #[test]
    fn equal_texts_match_whatever_their_line_ends_and_each_copy_counts_once() {
        let a = b"Message-ID: <a@x>\nSubject: a\n\nbody\n";
        let originals = [entry("o1", a), entry("o2", a)];
        let copies = [entry("c1", b"Message-ID: <a@x>\r\nSubject: a\r\n\r\nbody")];
        let r = compare("orig", "copy", &originals, &copies);
        assert_eq!(r.compared, 2);
        assert_eq!(
            r.problems,
            vec![Problem::Different {
                original: originals[1].clone(),
                copy: copies[0].clone()
            }]
        );
        let r = compare("orig", "copy", &originals[..1], &copies);
        assert!(r.complete() && r.extra == 0);
        assert!(r.lines()[0].ends_with("1 message compared, all there and identical"));
    }

    #[test]
    fn a_changed_byte_is_different_and_an_absent_message_missing_or_unfetched() {
        let originals = [
            entry("o1", b"Message-ID: <a@x>\n\nbody\n"),
            entry("o2", b"Message-ID: <b@x>\n\nbody\n"),
            Entry {
                delivered: false,
                ..entry("o3", b"Message-ID: <c@x>\n\nnew\n")
            },
        ];
        let copies = [
            entry("c1", b"Message-ID: <a@x>\n\nbodY\n"),
            entry("c9", b"Subject: other\n\n"),
        ];
        let r = compare("orig", "copy", &originals, &copies);
        assert!(matches!(&r.problems[0], Problem::Different { copy, .. } if copy.place == "c1"));
        assert!(matches!(&r.problems[1], Problem::Missing(o) if o.place == "o2"));
        assert!(matches!(&r.problems[2], Problem::NotFetched(o) if o.place == "o3"));
        assert_eq!(r.extra, 2);
        let lines = r.lines();
        assert!(
            lines[1].starts_with("missing: message <b@x> (o2"),
            "{lines:?}"
        );
        assert!(
            lines[3].contains("1 missing, 1 different, 1 not fetched yet"),
            "{lines:?}"
        );
    }
}
