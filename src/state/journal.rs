//! The journal file itself: records, checksums, load, append, compaction. See the module doc
//! of `state` for the format and the crash rules.

use crate::error::{Class, Error, Result};
use crate::fsync::sync_dir;
use std::borrow::Cow;
// foldhash, not SipHash: a pull with nothing new on a mailbox of 100,000 loads, looks up
// and prunes every ID, and SipHash was the largest item of its profile. foldhash is seeded
// per process, so a server cannot choose UIDLs that collide.
use foldhash::{HashMap, HashMapExt, HashSet};
use hashbrown::HashTable;
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The first word of a journal's first line; the second is its format.
const MAGIC: &str = "mailfetch-state";
/// The format this build writes. It goes up whenever a record is added or changes meaning
/// that an older build would misread; a journal of a higher format is refused (exit 74,
/// naming it), and one of a lower format is read and rewritten in this one. Format 1 grew
/// fingerprints, times and `H`/`S` records while it stayed 1; 2 is the same records plus
/// fingerprints by text digest for messages without a Message-ID, and the promise above.
const FORMAT: u32 = 2;
/// The first line of a journal of this build.
const HEADER: &str = "mailfetch-state 2";

/// A batch a crash left unfinished, as the journal holds it: whether its records count, and
/// the target's own description of how to finish or undo it (its intent). The journal stores
/// an intent as opaque bytes under the kind of target that wrote it, and hands both back as
/// they were: it never reads them, and knows no target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// Whether the batch's records count: true for a batch recorded before its target
    /// published it (`B forward`: the target finishes it), false for one its target writes in
    /// place (`B rollback`: the target undoes it, and the records behind it do not count).
    pub recorded: bool,
    /// The kind of target that journalled the intent (`maildir`).
    pub kind: String,
    /// The intent's bytes.
    pub intent: Vec<u8>,
}

/// An intent as one journal field: KIND, a line end, then its bytes (KIND alone when there are
/// none), escaped. KIND is a word: it holds no line end. A journal of
/// format 2 or older holds the same bytes (each target wrote its kind as its intent's first
/// line), so the format stays 2.
fn intent_field(kind: &str, intent: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(kind.len() + 1 + intent.len());
    bytes.extend_from_slice(kind.as_bytes());
    if !intent.is_empty() {
        bytes.push(b'\n');
        bytes.extend_from_slice(intent);
    }
    crate::percent::encode_bytes(&bytes)
}

/// Undo [`intent_field`]: the kind and the bytes (an intent without a line end is all kind).
fn parse_intent(field: &str, recorded: bool) -> Option<Unfinished> {
    let bytes = crate::percent::decode_bytes(field)?;
    let (kind, intent) = match memchr::memchr(b'\n', &bytes) {
        Some(i) => (&bytes[..i], bytes[i + 1..].to_vec()),
        None => (&bytes[..], Vec::new()),
    };
    Some(Unfinished {
        recorded,
        kind: String::from_utf8(kind.to_vec()).ok()?,
        intent,
    })
}

#[derive(Default)]
struct MailboxState {
    validity: String,
    /// Delivered IDs, with what is known of each.
    ids: Ids,
}

/// What the state knows of one delivered message.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Entry<'a> {
    /// Its fingerprint, when one was recorded.
    fingerprint: Option<&'a str>,
    /// When it was first delivered (seconds since the epoch), when recorded.
    at: Option<i64>,
    /// What was delivered.
    kind: Kind,
}

/// What was delivered of a message. Only [`Kind::Message`] counts as delivered: the others
/// are recorded so that a run does not repeat them, and never lead to a deletion on the
/// server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// The message itself (`+` records).
    #[default]
    Message,
    /// A stub of its header, marked truncated (`H` records; `oversize = "headers"`).
    HeadersOnly,
    /// Nothing: passed over by `pull --since` (`S` records), and by later runs too.
    PassedOver,
}

impl Kind {
    /// The record letter.
    fn letter(self) -> &'static str {
        match self {
            Kind::Message => "+",
            Kind::HeadersOnly => "H",
            Kind::PassedOver => "S",
        }
    }
}

/// The IDs of one mailbox and what is known of each: a hash table of [`Slot`]s whose IDs and
/// fingerprints all live end to end in one `String` (an arena).
///
/// Why not a `HashMap<String, Entry>`: a pull with nothing new on a mailbox of 100,000 loads
/// every ID, and once the parsing was made cheap, allocating a `String` per ID (and freeing
/// it at exit) was a quarter of the instructions of the load and a third of its time
/// (measured: a fresh process loading 100,000, 48 ms then 32 ms). Here loading 100,000 IDs
/// makes a few dozen allocations, and less memory: a slot of 48 bytes and the ID's text,
/// where a map entry was 72 bytes and an allocation. The price: the text of a forgotten ID
/// (or of a replaced fingerprint) stays in the arena until [`Ids::retain`] finds it is most
/// of it, or the mailbox is cleared.
#[derive(Default)]
struct Ids {
    /// Every ID and fingerprint, end to end; the slots' spans point into it.
    text: String,
    table: HashTable<Slot>,
    /// Hashes the IDs (their text, as a `str`): foldhash, seeded per process, so that a
    /// server cannot choose UIDLs that collide.
    hasher: foldhash::fast::RandomState,
}

/// Where a string is in [`Ids::text`]: `u32`s, so that a slot is 48 bytes. An arena of 4 GiB
/// would need a journal larger still, which no mailbox makes.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// One ID of [`Ids`], and what is known of it (see [`Entry`]).
struct Slot {
    /// The hash of the ID, kept so that growing the table does not read every ID again
    /// (from all over the arena).
    hash: u64,
    id: Span,
    fingerprint: Option<Span>,
    at: Option<i64>,
    kind: Kind,
}

/// The string at `span` of `text`.
fn spanned(text: &str, span: Span) -> &str {
    &text[span.start as usize..][..span.len as usize]
}

/// Append `s` to `text`; where it is.
fn push_span(text: &mut String, s: &str) -> Span {
    let span = Span {
        start: u32::try_from(text.len()).expect("state arena under 4 GiB"),
        len: u32::try_from(s.len()).expect("state arena under 4 GiB"),
    };
    text.push_str(s);
    span
}

impl Slot {
    /// Whether this is the slot of `id` (whose hash is `hash`), its text in `text`.
    fn is(&self, hash: u64, id: &str, text: &str) -> bool {
        self.hash == hash && spanned(text, self.id) == id
    }

    fn entry<'t>(&self, text: &'t str) -> Entry<'t> {
        Entry {
            fingerprint: self.fingerprint.map(|f| spanned(text, f)),
            at: self.at,
            kind: self.kind,
        }
    }
}

impl Ids {
    fn len(&self) -> usize {
        self.table.len()
    }

    fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.table.clear();
    }

    fn get(&self, id: &str) -> Option<Entry<'_>> {
        let hash = self.hasher.hash_one(id);
        let slot = self.table.find(hash, |s| s.is(hash, id, &self.text))?;
        Some(slot.entry(&self.text))
    }

    /// Each ID with what is known of it, in no particular order.
    fn iter(&self) -> impl Iterator<Item = (&str, Entry<'_>)> + '_ {
        self.table
            .iter()
            .map(|s| (spanned(&self.text, s.id), s.entry(&self.text)))
    }

    /// Record `new` of `id`, merged (see [`merge`]) with what is known of it; what is known
    /// now.
    fn record(&mut self, id: &str, new: Entry) -> Entry<'_> {
        let hash = self.hasher.hash_one(id);
        let Ids { text, table, .. } = self;
        let slot = match table.find_mut(hash, |s| s.is(hash, id, text)) {
            Some(slot) => {
                let old = slot.entry(text);
                let merged = merge(Some(old), new);
                // A fingerprint other than the old one can only be the new one.
                let new_fingerprint = merged.fingerprint != old.fingerprint;
                (slot.at, slot.kind) = (merged.at, merged.kind);
                if new_fingerprint {
                    slot.fingerprint = new.fingerprint.map(|f| push_span(text, f));
                }
                slot
            }
            None => {
                let slot = Slot {
                    hash,
                    id: push_span(text, id),
                    fingerprint: new.fingerprint.map(|f| push_span(text, f)),
                    at: new.at,
                    kind: new.kind,
                };
                table.insert_unique(hash, slot, |s| s.hash).into_mut()
            }
        };
        slot.entry(text)
    }

    /// Note `at` as the first-delivery time of `id`, if it is recorded without one; what is
    /// known of it then.
    fn stamp(&mut self, id: &str, at: i64) -> Option<Entry<'_>> {
        let hash = self.hasher.hash_one(id);
        let Ids { text, table, .. } = self;
        let slot = table
            .find_mut(hash, |s| s.is(hash, id, text))
            .filter(|s| s.at.is_none())?;
        slot.at = Some(at);
        Some(slot.entry(text))
    }

    /// Keep only the IDs for which `keep` holds; whether any went.
    fn retain(&mut self, keep: impl Fn(&str) -> bool) -> bool {
        let before = self.table.len();
        let mut live = 0;
        let Ids { text, table, .. } = self;
        table.retain(|s| {
            let kept = keep(spanned(text, s.id));
            if kept {
                live += s.id.len as usize + s.fingerprint.map_or(0, |f| f.len as usize);
            }
            kept
        });
        // The text of forgotten IDs goes once it is most of the arena: after a retain, the
        // arena holds at most twice the text of the live IDs.
        if live * 2 < text.len() {
            let mut packed = String::with_capacity(live);
            for s in table.iter_mut() {
                s.id = push_span(&mut packed, spanned(text, s.id));
                s.fingerprint = s
                    .fingerprint
                    .map(|f| push_span(&mut packed, spanned(text, f)));
            }
            *text = packed;
        }
        self.table.len() != before
    }
}

/// One delivered message, as recorded.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    /// Its ID in the mailbox (POP3 UIDL, IMAP UID).
    pub id: &'a str,
    /// What identifies it should the IDs be invalidated (see `crate::fingerprint`).
    pub fingerprint: Option<&'a str>,
    /// What was delivered of it.
    pub kind: Kind,
}

impl<'a> Delivered<'a> {
    /// Whole messages known by their IDs alone, without fingerprints.
    pub fn messages(ids: &'a [String]) -> Vec<Delivered<'a>> {
        ids.iter()
            .map(|id| Delivered {
                id,
                fingerprint: None,
                kind: Kind::Message,
            })
            .collect()
    }
}

/// Seconds since the epoch, now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An account's state, loaded and open for appending.
pub struct State {
    path: PathBuf,
    file: File,
    /// `<account>.state.size`: the journal's length after its last synced write (see
    /// [`State::open`]).
    size: File,
    mailboxes: HashMap<String, MailboxState>,
    records: usize,
    unfinished: Option<Unfinished>,
    dirty: bool,
    /// Records of [`State::also_record`], written with the next batch's.
    pending: Vec<String>,
}

/// The CRC-32 (IEEE) of `data`, as every journal line carries it. `crc32fast` folds with
/// the CPU's carry-less multiply: loading a journal checks every line, megabytes of them.
fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Escape a field: bytes outside 0x21..0x7E and `%` become `%XX`.
fn escape(field: &str) -> String {
    crate::percent::encode(field, |c| !c.is_ascii_graphic())
}

fn unescape(field: &str) -> Option<String> {
    crate::percent::decode(field)
}

fn line(record: &str) -> String {
    format!("{:08x} {record}\n", crc32(record.as_bytes()))
}

impl State {
    /// The journal path of `account` in `dir`.
    pub fn path_for(dir: &Path, account: &str) -> PathBuf {
        dir.join(format!("{account}.state"))
    }

    /// Open (or create) the state of `account` in `dir`. A corrupt journal is an error unless
    /// `reset` is set, in which case it is moved aside and a new one started.
    ///
    /// A journal cut short is an error too: each synced write records the journal's length in
    /// `<account>.state.size` (after the sync, and before the rename of a compaction, so a
    /// crash leaves it at most as long as the journal), and a journal shorter than that has
    /// lost records that no checksum can miss: the mail they recorded would be fetched again.
    pub fn open(dir: &Path, account: &str, reset: bool) -> Result<State> {
        super::private::ensure_dir(dir)?;
        let path = Self::path_for(dir, account);
        if reset && path.exists() {
            let aside = path.with_extension("state.old");
            fs::rename(&path, &aside)
                .map_err(|e| Error::local(format!("cannot move {} aside", path.display()), e))?;
        }
        let size_path = path.with_extension("state.size");
        let size = super::private::open(
            &size_path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
            "state size file",
        )?;
        let existing = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path);
        let (mailboxes, records, unfinished, format) = match existing {
            Ok(f) => {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                match recorded_size(&size) {
                    Some(want) if len < want && !reset => {
                        return Err(Error::new(
                            Class::LocalIo,
                            format!(
                                "state file {} is shorter ({len} bytes) than mailfetch left it \
                                 ({want} bytes): cut short, or an older copy; mailfetch will \
                                 not guess what was delivered. Run with --reset-state to start \
                                 afresh (every message on the server is then fetched again), or \
                                 delete {} to go on with it as it is (what the lost part \
                                 recorded is fetched again)",
                                path.display(),
                                size_path.display()
                            ),
                        ));
                    }
                    _ => load(&path, f)?,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (HashMap::new(), 0, None, FORMAT),
            Err(e) => return Err(super::private::refused(&path, "state file", e)),
        };
        let mut state = State {
            file: open_append(&path)?,
            size,
            path,
            mailboxes,
            records,
            unfinished,
            dirty: false,
            pending: Vec::new(),
        };
        if state.records == 0 || (format < FORMAT && state.unfinished.is_none()) {
            state.rewrite()?;
        } else if format < FORMAT {
            // After the unfinished batch: its records are in this file only.
            state.dirty = true;
        }
        Ok(state)
    }

    /// Note the journal's length `len`, once what it covers is synced. Best effort: a note
    /// that fails leaves an older, smaller one, which only weakens the check in
    /// [`State::open`].
    fn note_size(&self, len: u64) {
        use std::os::unix::fs::FileExt;
        let _ = self.size.write_all_at(format!("{len:020}\n").as_bytes(), 0);
    }

    /// The batch a crash left for its target to finish or undo, if any. Call
    /// [`State::end_batch`] (or [`State::record`]) once the target has done it.
    pub fn unfinished(&self) -> Option<&Unfinished> {
        self.unfinished.as_ref()
    }

    fn entry(&self, mailbox: &str, validity: &str, id: &str) -> Option<Entry<'_>> {
        self.mailboxes
            .get(mailbox)
            .filter(|m| m.validity == validity)
            .and_then(|m| m.ids.get(id))
    }

    /// Whether `id` of `mailbox` at `validity` is recorded as delivered (the message itself,
    /// see [`Kind`]).
    pub fn is_seen(&self, mailbox: &str, validity: &str, id: &str) -> bool {
        self.kind(mailbox, validity, id) == Some(Kind::Message)
    }

    /// What is recorded of `id`, if anything.
    pub fn kind(&self, mailbox: &str, validity: &str, id: &str) -> Option<Kind> {
        self.entry(mailbox, validity, id).map(|e| e.kind)
    }

    /// When `id` was first delivered (seconds since the epoch), if that was recorded:
    /// deliveries recorded before times were, and some after a crash, have none.
    pub fn first_delivered(&self, mailbox: &str, validity: &str, id: &str) -> Option<i64> {
        self.entry(mailbox, validity, id).and_then(|e| e.at)
    }

    /// Record now as the first-delivery time of those of `ids` that have none, so that a
    /// retention period (`delete-after-days`) starts for them. Not synced: a lost stamp only
    /// restarts the clock.
    pub fn stamp(&mut self, mailbox: &str, validity: &str, ids: &[&str]) -> Result<()> {
        let Some(m) = self
            .mailboxes
            .get_mut(mailbox)
            .filter(|m| m.validity == validity)
        else {
            return Ok(());
        };
        let (mb, va) = (escape(mailbox), escape(validity));
        let at = now();
        let mut records = Vec::new();
        for id in ids {
            if let Some(e) = m.ids.stamp(id, at) {
                records.push(record_of(&mb, &va, id, &e));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        self.append(&records, false)
    }

    /// The validity recorded for `mailbox`, if any ID of it was ever recorded.
    pub fn validity(&self, mailbox: &str) -> Option<&str> {
        self.mailboxes.get(mailbox).map(|m| m.validity.as_str())
    }

    /// How many IDs of `mailbox` are recorded.
    pub fn count(&self, mailbox: &str) -> usize {
        self.mailboxes.get(mailbox).map_or(0, |m| m.ids.len())
    }

    /// The fingerprints of the delivered messages of `mailbox` (one per message that has one;
    /// equal messages give equal fingerprints).
    pub fn fingerprints<'s>(&'s self, mailbox: &str) -> impl Iterator<Item = &'s str> + 's {
        self.mailboxes
            .get(mailbox)
            .into_iter()
            .flat_map(|m| m.ids.iter().filter_map(|(_, e)| e.fingerprint))
    }

    /// Record that `mailbox` now has `validity`, dropping IDs of the old one, except `kept`:
    /// messages under the new validity that were recognised (by fingerprint) as delivered
    /// under the old one. One durable write: `V` then a `+` line per kept message.
    pub fn revalidate(&mut self, mailbox: &str, validity: &str, kept: &[Delivered]) -> Result<()> {
        let m = self.mailboxes.entry(mailbox.to_string()).or_default();
        m.validity = validity.to_string();
        m.ids.clear();
        let (mb, va) = (escape(mailbox), escape(validity));
        let mut records = vec![format!("V {mb} {va}")];
        let at = now();
        for d in kept {
            let e = Entry {
                fingerprint: d.fingerprint,
                at: Some(at),
                kind: d.kind,
            };
            // `kept` names each ID once (it is a listing); were one named twice, its records
            // would merge here as they do when the journal is loaded.
            let e = m.ids.record(d.id, e);
            records.push(record_of(&mb, &va, d.id, &e));
        }
        self.dirty = true;
        self.append(&records, true)
    }

    /// Forget IDs of `mailbox` that the server no longer lists, so the state does not grow
    /// forever. Takes effect in memory now and on disk at the next compaction.
    pub fn retain(&mut self, mailbox: &str, present: &HashSet<&str>) {
        if let Some(m) = self.mailboxes.get_mut(mailbox) {
            self.dirty |= m.ids.retain(|id| present.contains(id));
        }
    }

    /// Journal that a batch that writes in place begins, with the target's intent saying how
    /// to undo it (`B rollback`), durably, before the target writes anything.
    pub fn begin_rollback(&mut self, kind: &str, intent: &[u8]) -> Result<()> {
        self.append(
            &[format!("B rollback {}", intent_field(kind, intent))],
            true,
        )
    }

    /// Record `delivered` of `mailbox` as delivered, durably, in one line together with the
    /// target's intent saying how to finish publishing them after a crash (`B forward`; `kind`
    /// and `intent` as for [`State::begin_rollback`]). Follow with [`State::end_batch`]
    /// once the sink has published them. One line, so a torn write records all or nothing;
    /// the fingerprints follow as `+` lines in the same write (advisory: see the module doc).
    pub fn record_forward(
        &mut self,
        mailbox: &str,
        validity: &str,
        delivered: &[Delivered],
        kind: &str,
        intent: &[u8],
    ) -> Result<()> {
        let lines = self.remember(mailbox, validity, delivered)?;
        let (mb, va) = (escape(mailbox), escape(validity));
        let mut rec = format!("B forward {mb} {va} {}", intent_field(kind, intent));
        // Only deliveries of messages are named here: this line is what survives a torn write.
        for d in delivered.iter().filter(|d| d.kind == Kind::Message) {
            rec.push(' ');
            rec.push_str(&escape(d.id));
        }
        let mut records = vec![rec];
        records.extend(lines);
        records.extend(std::mem::take(&mut self.pending));
        self.unfinished = Some(Unfinished {
            recorded: true,
            kind: kind.to_string(),
            intent: intent.to_vec(),
        });
        self.append(&records, true)
    }

    /// Record `delivered` of `mailbox` as delivered and end the batch (`+` lines, `E`),
    /// durably.
    pub fn record(&mut self, mailbox: &str, validity: &str, delivered: &[Delivered]) -> Result<()> {
        let mut records = std::mem::take(&mut self.pending);
        records.extend(self.remember(mailbox, validity, delivered)?);
        records.push("E".to_string());
        self.unfinished = None;
        self.append(&records, true)
    }

    /// Record `delivered` of `mailbox` too, in the same write as the next [`State::record`]
    /// or [`State::record_forward`] (before its lines, after the `B forward` line): what is
    /// delivered in one batch under two names, such as a Gmail message's UID and its
    /// X-GM-MSGID (see `crate::gmail`). Call it right before that record, once the batch
    /// is durable.
    pub fn also_record(
        &mut self,
        mailbox: &str,
        validity: &str,
        delivered: &[Delivered],
    ) -> Result<()> {
        let records = self.remember(mailbox, validity, delivered)?;
        self.pending.extend(records);
        Ok(())
    }

    /// Note `delivered` in memory; returns their records.
    fn remember(
        &mut self,
        mailbox: &str,
        validity: &str,
        delivered: &[Delivered],
    ) -> Result<Vec<String>> {
        let m = self.mailboxes.entry(mailbox.to_string()).or_default();
        if m.validity != validity {
            if !m.ids.is_empty() {
                return Err(Error::new(
                    Class::LocalIo,
                    "internal: recording IDs under a new UIDVALIDITY without revalidate",
                ));
            }
            m.validity = validity.to_string();
        }
        let (mb, va) = (escape(mailbox), escape(validity));
        let at = now();
        let mut records = Vec::with_capacity(delivered.len());
        for d in delivered {
            let e = Entry {
                fingerprint: d.fingerprint,
                at: Some(at),
                kind: d.kind,
            };
            let e = m.ids.record(d.id, e);
            records.push(record_of(&mb, &va, d.id, &e));
        }
        Ok(records)
    }

    /// Journal the end of a batch (`E`). Not synced: losing it only repeats an idempotent
    /// recovery.
    pub fn end_batch(&mut self) -> Result<()> {
        self.unfinished = None;
        self.append(&["E".to_string()], false)
    }

    fn append(&mut self, records: &[String], sync: bool) -> Result<()> {
        let mut buf = String::with_capacity(records.len() * 48);
        for r in records {
            buf.push_str(&line(r));
        }
        self.file
            .write_all(buf.as_bytes())
            .and_then(|_| if sync { self.file.sync_data() } else { Ok(()) })
            .map_err(|e| Error::local(format!("cannot write state {}", self.path.display()), e))?;
        if sync {
            if let Ok(m) = self.file.metadata() {
                self.note_size(m.len());
            }
        }
        self.records += records.len();
        crash_point();
        Ok(())
    }

    /// Compact the journal if it has grown well past the live IDs (or IDs were forgotten).
    pub fn compact_if_worthwhile(&mut self) -> Result<()> {
        let live: usize = self.mailboxes.values().map(|m| m.ids.len()).sum();
        if self.unfinished.is_none() && (self.dirty || self.records > 2 * live + 1000) {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Write the whole state anew, atomically.
    fn rewrite(&mut self) -> Result<()> {
        let tmp = self.path.with_extension("state.tmp");
        let err = |e| Error::local(format!("cannot write state {}", tmp.display()), e);
        let mut out = std::io::BufWriter::new(super::private::create(&tmp, "state file")?);
        let mut n = 1;
        out.write_all(line(HEADER).as_bytes()).map_err(err)?;
        let mut names: Vec<_> = self.mailboxes.keys().cloned().collect();
        names.sort();
        for name in names {
            let m = &self.mailboxes[&name];
            let (mb, va) = (escape(&name), escape(&m.validity));
            out.write_all(line(&format!("V {mb} {va}")).as_bytes())
                .map_err(err)?;
            n += 1;
            for (id, e) in m.ids.iter() {
                out.write_all(line(&record_of(&mb, &va, id, &e)).as_bytes())
                    .map_err(err)?;
                n += 1;
            }
        }
        let file = out.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        // Before the rename: a crash between the two leaves the longer, old journal.
        self.note_size(file.metadata().map_err(err)?.len());
        fs::rename(&tmp, &self.path).map_err(err)?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        self.file = open_append(&self.path)?;
        self.records = n;
        self.dirty = false;
        crash_point();
        Ok(())
    }
}

/// The record of a delivery (mailbox and validity already escaped): `+ MAILBOX VALIDITY ID
/// [FINGERPRINT] [at=SECONDS]`, or `H`/`S MAILBOX VALIDITY ID [at=SECONDS]`.
fn record_of(mb: &str, va: &str, id: &str, e: &Entry) -> String {
    let mut r = format!("{} {mb} {va} {}", e.kind.letter(), escape(id));
    if let (Some(f), Kind::Message) = (e.fingerprint, e.kind) {
        r.push(' ');
        r.push_str(&escape(f));
    }
    if let Some(at) = e.at {
        r.push_str(&format!(" at={at}"));
    }
    r
}

/// What is known of a message after `new` is recorded over `old`: a delivery of the message
/// keeps the time of its first delivery and is never replaced by a stub or a pass-over;
/// otherwise the newer record wins.
fn merge<'a>(old: Option<Entry<'a>>, new: Entry<'a>) -> Entry<'a> {
    match old {
        Some(old) if old.kind == Kind::Message && new.kind == Kind::Message => Entry {
            fingerprint: new.fingerprint.or(old.fingerprint),
            at: old.at.or(new.at),
            kind: Kind::Message,
        },
        Some(old) if old.kind == Kind::Message => old,
        _ => new,
    }
}

/// The length `<account>.state.size` holds, if it holds one.
fn recorded_size(size: &File) -> Option<u64> {
    let mut text = String::new();
    (&*size).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn open_append(path: &Path) -> Result<File> {
    super::private::open(
        path,
        OpenOptions::new().create(true).append(true),
        "state file",
    )
}

/// The test hook: `MAILFETCH_TEST_CRASH_AT_WRITE=N` kills the process with SIGKILL right
/// after its N-th journal write (counted over every account of the run, each write complete
/// and synced as it asked), so that the torture suite can stop a run at every point where
/// the journal changes, in order, and prove the rerun neither loses nor doubles a message
/// (isync's crash-after-N-writes, where random kill instants only sample). Honoured in
/// release builds, which the tests run: all it can do is what a kill -9 does, and a
/// variable with this name is set by no one by accident.
pub const TEST_CRASH_AT_WRITE: &str = "MAILFETCH_TEST_CRASH_AT_WRITE";

/// Count a journal write, and die here if [`TEST_CRASH_AT_WRITE`] says so.
fn crash_point() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static AT: OnceLock<Option<usize>> = OnceLock::new();
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let at = AT.get_or_init(|| {
        std::env::var(TEST_CRASH_AT_WRITE)
            .ok()
            .and_then(|n| n.parse().ok())
    });
    if let Some(at) = *at {
        if WRITES.fetch_add(1, Ordering::SeqCst) + 1 == at {
            // SAFETY: getpid and kill have no preconditions; SIGKILL ends the process here.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
}

/// A loaded journal: its mailboxes, its record count, an unfinished batch, its format.
type Loaded = (
    HashMap<String, MailboxState>,
    usize,
    Option<Unfinished>,
    u32,
);

fn load(path: &Path, file: File) -> Result<Loaded> {
    let corrupt = |n: usize, why: &str| {
        Error::new(
            Class::LocalIo,
            format!(
                "state file {} is corrupt at line {n} ({why}); mailfetch will not guess what \
                 was delivered. Run with --reset-state to start afresh (every message on the \
                 server is then fetched again)",
                path.display()
            ),
        )
    };
    let mut mailboxes: HashMap<String, MailboxState> = HashMap::new();
    let mut lines = Lines::new(file);
    let mut n = 0;
    // The batch in progress, and the `+` records seen since it began.
    let mut open_batch: Option<Unfinished> = None;
    let mut pending = Pending::default();
    let mut version = FORMAT;
    loop {
        let raw = lines
            .next()
            .map_err(|e| Error::local(format!("cannot read state {}", path.display()), e))?;
        let Some(raw) = raw else {
            break;
        };
        n += 1;
        let Some(record) = parse_line(raw) else {
            // A torn final line is what a crash mid-append leaves; anything else is damage,
            // the first line included (it is written whole, under another name, then renamed).
            if lines.at_end() && n > 1 {
                n -= 1;
                break;
            }
            return Err(corrupt(n, "checksum mismatch"));
        };
        if n == 1 {
            let format = record
                .strip_prefix(MAGIC)
                .and_then(|f| f.strip_prefix(' '))
                .and_then(|f| f.parse::<u32>().ok())
                .filter(|&f| f >= 1)
                .ok_or_else(|| corrupt(1, "not a mailfetch state file"))?;
            if format > FORMAT {
                return Err(Error::new(
                    Class::LocalIo,
                    format!(
                        "state file {} was written by a newer mailfetch (state format \
                         {format}; this one reads formats 1 to {FORMAT}): run that version, \
                         or --reset-state to start afresh (every message on the server is \
                         then fetched again)",
                        path.display()
                    ),
                ));
            }
            version = format;
            continue;
        }
        let mut fields = Fields(Some(record));
        // Most records hold no escape: their fields are then borrowed as they are, unchecked.
        let plain = memchr::memchr(b'%', record.as_bytes()).is_none();
        let field = |f| {
            if plain {
                Some(Cow::Borrowed(f))
            } else {
                unescape_field(f)
            }
        };
        let bad = || corrupt(n, "bad record");
        match fields.next().unwrap_or_default() {
            letter @ ("+" | "H" | "S") => {
                let mut next = || fields.next().and_then(field);
                let (Some(mb), Some(va), Some(id)) = (next(), next(), next()) else {
                    return Err(bad());
                };
                let kind = match letter {
                    "+" => Kind::Message,
                    "H" => Kind::HeadersOnly,
                    _ => Kind::PassedOver,
                };
                let mut r = Record {
                    mb,
                    va,
                    id,
                    fingerprint: None,
                    at: None,
                    kind,
                };
                // Optional fields, each added in a later version: a fingerprint (untagged,
                // fifth; it starts with the size), then `at=SECONDS`. Older lines have fewer;
                // unknown `name=value` fields are skipped.
                for (i, f) in fields.enumerate() {
                    if let Some(t) = f.strip_prefix("at=") {
                        r.at = Some(parse_time(t).ok_or_else(|| corrupt(n, "bad time"))?);
                    } else if i == 0
                        && kind == Kind::Message
                        && f.starts_with(|c: char| c.is_ascii_digit())
                    {
                        r.fingerprint = Some(field(f).ok_or_else(bad)?);
                    }
                }
                if open_batch.is_some() {
                    pending.hold(&r);
                } else {
                    r.add_to(&mut mailboxes);
                }
            }
            "V" => {
                let mut next = || fields.next().and_then(field);
                let (Some(mb), Some(va)) = (next(), next()) else {
                    return Err(bad());
                };
                let m = match mailboxes.get_mut(&*mb) {
                    Some(m) => m,
                    None => mailboxes.entry(mb.into_owned()).or_default(),
                };
                if m.validity != va {
                    m.validity = va.into_owned();
                    m.ids.clear();
                }
            }
            "B" => {
                // A batch left unfinished before this one ended as it was journalled.
                let counts = open_batch.take().is_none_or(|b| b.recorded);
                pending.flush(&mut mailboxes, counts);
                open_batch = Some(match fields.next() {
                    Some("rollback") => fields
                        .next()
                        .and_then(|f| parse_intent(f, false))
                        .ok_or_else(bad)?,
                    Some("forward") => {
                        let mut next = || fields.next().and_then(field);
                        let (Some(mb), Some(va)) = (next(), next()) else {
                            return Err(bad());
                        };
                        let unfinished = fields
                            .next()
                            .and_then(|f| parse_intent(f, true))
                            .ok_or_else(bad)?;
                        for id in fields {
                            let id = field(id).ok_or_else(bad)?;
                            add(&mut mailboxes, &mb, &va, &id, Entry::default());
                        }
                        unfinished
                    }
                    _ => return Err(corrupt(n, "bad batch kind")),
                });
            }
            "E" => {
                // A finished batch's records all count, rollback or not.
                open_batch = None;
                pending.flush(&mut mailboxes, true);
            }
            _ => return Err(corrupt(n, "unknown record")),
        }
    }
    if n == 0 {
        return Ok((mailboxes, 0, None, FORMAT));
    }
    // `+` lines behind an unfinished rollback batch are undone by its rollback.
    let counts = open_batch.as_ref().is_none_or(|b| b.recorded);
    pending.flush(&mut mailboxes, counts);
    Ok((mailboxes, n, open_batch, version))
}

/// The space-separated fields of a record, as `str::split(' ')` gives them, but found with
/// `memchr` and not collected. (A byte at a time was slower, even for short fields.)
struct Fields<'a>(Option<&'a str>);

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match memchr::memchr(b' ', rest.as_bytes()) {
            Some(i) => {
                self.0 = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

/// How much of a journal [`Lines`] reads at a time (more for a longer line).
const READ_BUFFER: usize = 256 * 1024;

/// The lines of a journal, read a buffer at a time. Not the whole file at once: the journal
/// of a mailbox of 100,000 is 8 MB, and reading it into one buffer cost 2,000 page faults
/// more, a tenth of the time of the load (measured).
struct Lines {
    file: File,
    buf: Vec<u8>,
    /// What of `buf` is read and not yet returned.
    start: usize,
    end: usize,
}

impl Lines {
    fn new(file: File) -> Lines {
        Lines {
            file,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// The next line, with its newline (the last line may lack it); `None` at the end.
    fn next(&mut self) -> std::io::Result<Option<&[u8]>> {
        let mut scanned = 0;
        loop {
            let unread = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', &unread[scanned..]) {
                let line = self.start..self.start + scanned + i + 1;
                self.start = line.end;
                return Ok(Some(&self.buf[line]));
            }
            scanned = unread.len();
            // No whole line left: move the part of one to the front, and read more (a line
            // longer than the buffer doubles it).
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, scanned);
            if self.end == self.buf.len() {
                self.buf.resize(2 * self.buf.len(), 0);
            }
            if self.fill()? == 0 {
                self.start = self.end;
                return Ok((self.end > 0).then(|| &self.buf[..self.end]));
            }
        }
    }

    /// Whether nothing follows the line last returned (a read error counts as something).
    fn at_end(&mut self) -> bool {
        if self.start < self.end {
            return false;
        }
        (self.start, self.end) = (0, 0);
        matches!(self.fill(), Ok(0))
    }

    /// Read more after `end`; how much.
    fn fill(&mut self) -> std::io::Result<usize> {
        loop {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(got) => {
                    self.end += got;
                    return Ok(got);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A `+`, `H` or `S` record, as read: its fields borrow from the line (unless unescaped).
struct Record<'a> {
    mb: Cow<'a, str>,
    va: Cow<'a, str>,
    id: Cow<'a, str>,
    fingerprint: Option<Cow<'a, str>>,
    at: Option<i64>,
    kind: Kind,
}

impl Record<'_> {
    fn add_to(&self, mailboxes: &mut HashMap<String, MailboxState>) {
        let e = Entry {
            fingerprint: self.fingerprint.as_deref(),
            at: self.at,
            kind: self.kind,
        };
        add(mailboxes, &self.mb, &self.va, &self.id, e);
    }
}

/// The `+`, `H` and `S` records of the batch in progress, which count once it is known how
/// the batch ended: copied out of the read buffer into one arena, not into `String`s of
/// their own (with mbox and Maildir, nearly every record is in a batch).
#[derive(Default)]
struct Pending {
    text: String,
    records: Vec<Held>,
}

/// A [`Record`] in [`Pending::text`].
struct Held {
    mb: Span,
    va: Span,
    id: Span,
    fingerprint: Option<Span>,
    at: Option<i64>,
    kind: Kind,
}

impl Pending {
    fn hold(&mut self, r: &Record) {
        let text = &mut self.text;
        self.records.push(Held {
            mb: push_span(text, &r.mb),
            va: push_span(text, &r.va),
            id: push_span(text, &r.id),
            fingerprint: r.fingerprint.as_deref().map(|f| push_span(text, f)),
            at: r.at,
            kind: r.kind,
        });
    }

    /// Count the records held if `counts` (the batch they belong to was recorded, or
    /// finished), else forget them (it is to be undone).
    fn flush(&mut self, mailboxes: &mut HashMap<String, MailboxState>, counts: bool) {
        if counts {
            let text = &self.text;
            for h in &self.records {
                let e = Entry {
                    fingerprint: h.fingerprint.map(|f| spanned(text, f)),
                    at: h.at,
                    kind: h.kind,
                };
                let (mb, va, id) = (
                    spanned(text, h.mb),
                    spanned(text, h.va),
                    spanned(text, h.id),
                );
                add(mailboxes, mb, va, id, e);
            }
        }
        self.text.clear();
        self.records.clear();
    }
}

fn add(mailboxes: &mut HashMap<String, MailboxState>, mb: &str, va: &str, id: &str, e: Entry) {
    let m = match mailboxes.get_mut(mb) {
        Some(m) => m,
        None => mailboxes.entry(mb.to_string()).or_default(),
    };
    if m.validity != va {
        m.validity = va.to_string();
        m.ids.clear();
    }
    // A `B forward` line names its IDs; the `+` lines after it add fingerprints and times.
    m.ids.record(id, e);
}

/// A field as recorded, unescaped, borrowed when it holds no escape.
fn unescape_field(field: &str) -> Option<Cow<'_, str>> {
    if field.contains('%') {
        unescape(field).map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(field))
    }
}

fn parse_line(raw: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?;
    let text = text.strip_suffix('\n')?;
    let (crc, record) = match text.as_bytes().get(..9).and_then(hex8) {
        // As writers write them: eight hex digits and a space.
        Some(crc) => (crc, &text[9..]),
        None => {
            let (crc, record) = text.split_once(' ')?;
            (u32::from_str_radix(crc, 16).ok()?, record)
        }
    };
    (crc32(record.as_bytes()) == crc).then_some(record)
}

/// The value of eight hex digits and a space, as `u32::from_str_radix` reads them.
fn hex8(field: &[u8]) -> Option<u32> {
    let (&b' ', digits) = field.split_last()? else {
        return None;
    };
    digits.iter().try_fold(0u32, |v, &b| {
        let d = (b as char).to_digit(16)?;
        Some(v << 4 | d)
    })
}

/// The seconds of `at=SECONDS`, as `i64::from_str` reads them: plain digits at once.
fn parse_time(t: &str) -> Option<i64> {
    if (1..=18).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(t.bytes().fold(0, |v, b| v * 10 + i64::from(b - b'0')));
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain<'a>(ids: &[&'a str]) -> Vec<Delivered<'a>> {
        ids.iter()
            .map(|id| Delivered {
                id,
                fingerprint: None,
                kind: Kind::Message,
            })
            .collect()
    }

    fn open(dir: &Path) -> State {
        State::open(dir, "acct", false).unwrap()
    }

    /// Write a journal of `records` (each checksummed as the journal does) at `path`.
    fn write_journal(path: &Path, records: &[&str]) {
        let text: String = records.iter().map(|r| line(r)).collect();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn recorded_ids_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record("INBOX", "-", &plain(&["a b", "c%d", ""])).unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.is_seen("INBOX", "-", "a b"));
        assert!(s.is_seen("INBOX", "-", "c%d"));
        assert!(s.is_seen("INBOX", "-", ""));
        assert!(!s.is_seen("INBOX", "-", "x"));
        assert!(s.unfinished().is_none());
    }

    #[test]
    fn unfinished_forward_batch_counts_and_asks_for_roll_forward() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record_forward(
            "INBOX",
            "-",
            &plain(&["1", "2"]),
            "maildir",
            b"tmp/a\tnew/a",
        )
        .unwrap();
        drop(s);
        let mut s = open(dir.path());
        assert_eq!(
            s.unfinished(),
            Some(&Unfinished {
                recorded: true,
                kind: "maildir".into(),
                intent: b"tmp/a\tnew/a".to_vec()
            })
        );
        assert!(s.is_seen("INBOX", "-", "1") && s.is_seen("INBOX", "-", "2"));
        s.end_batch().unwrap();
        drop(s);
        assert!(open(dir.path()).unfinished().is_none());
    }

    #[test]
    fn intents_are_opaque_bytes_under_their_kind_and_read_as_format_2_wrote_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let bytes = b"\x00\xff line\nend %".to_vec();
        s.begin_rollback("imap-append", &bytes).unwrap();
        drop(s);
        let unfinished = open(dir.path()).unfinished().cloned();
        assert_eq!(
            unfinished,
            Some(Unfinished {
                recorded: false,
                kind: "imap-append".into(),
                intent: bytes
            })
        );
        // A Maildir batch as format 2 journalled it: its kind was its intent's first line.
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        write_journal(
            &path,
            &[
                HEADER,
                "B forward INBOX - maildir%0Atmp/a%09new/a%0Atmp/b%09new/b 1 2",
            ],
        );
        let s = open(dir.path());
        assert_eq!(
            s.unfinished(),
            Some(&Unfinished {
                recorded: true,
                kind: "maildir".into(),
                intent: b"tmp/a\tnew/a\ntmp/b\tnew/b".to_vec()
            })
        );
        assert!(s.is_seen("INBOX", "-", "1") && s.is_seen("INBOX", "-", "2"));
        // Written again, it is the same line.
        let mut s = s;
        s.end_batch().unwrap();
        s.record_forward(
            "INBOX",
            "-",
            &plain(&["1", "2"]),
            "maildir",
            b"tmp/a\tnew/a\ntmp/b\tnew/b",
        )
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches(" B forward INBOX - maildir%0Atmp/a%09new/a%0Atmp/b%09new/b 1 2\n")
                .count(),
            2,
            "{text}"
        );
    }

    #[test]
    fn unfinished_rollback_batch_discards_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.begin_rollback("mbox", b"len 10").unwrap();
        // A torn `+ ... E` write: the `+` made it, the `E` did not.
        s.append(&["+ INBOX - 1".to_string()], true).unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(
            s.unfinished(),
            Some(&Unfinished {
                recorded: false,
                kind: "mbox".into(),
                intent: b"len 10".to_vec()
            })
        );
        assert!(!s.is_seen("INBOX", "-", "1"));
    }

    #[test]
    fn finished_rollback_batch_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.begin_rollback("mbox", b"len 10").unwrap();
        s.record("INBOX", "-", &plain(&["1"])).unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.unfinished().is_none());
        assert!(s.is_seen("INBOX", "-", "1"));
    }

    #[test]
    fn a_journal_cut_short_is_an_error_not_forgotten_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record("INBOX", "-", &plain(&["1", "2"])).unwrap();
        s.record("INBOX", "-", &plain(&["3"])).unwrap();
        drop(s);
        let path = State::path_for(dir.path(), "acct");
        let text = fs::read_to_string(&path).unwrap();
        // Cut at a line boundary, after the first record: every checksum still holds.
        let cut = text.match_indices('\n').nth(1).unwrap().0 + 1;
        fs::write(&path, &text[..cut]).unwrap();
        let err = State::open(dir.path(), "acct", false).err().unwrap();
        assert_eq!(err.class(), Class::LocalIo);
        assert!(err.message().contains("is shorter"), "{}", err.message());
        assert!(err.message().contains("--reset-state"), "{}", err.message());
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            text[..cut],
            "left as it was"
        );
        // The user's way on: start afresh, or accept the file as it is.
        let s = State::open(dir.path(), "acct", true).unwrap();
        assert!(!s.is_seen("INBOX", "-", "1"));
        drop(s);
        fs::write(&path, &text[..cut]).unwrap();
        fs::remove_file(path.with_extension("state.size")).unwrap();
        let s = open(dir.path());
        assert!(s.is_seen("INBOX", "-", "1") && !s.is_seen("INBOX", "-", "3"));
    }

    #[test]
    fn an_emptied_journal_is_an_error_and_a_compacted_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        for i in 0..50 {
            s.record("INBOX", "-", &plain(&[&i.to_string()])).unwrap();
        }
        s.retain("INBOX", &["7"].into_iter().collect());
        s.compact_if_worthwhile().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.is_seen("INBOX", "-", "7") && !s.is_seen("INBOX", "-", "8"));
        drop(s);
        fs::write(State::path_for(dir.path(), "acct"), "").unwrap();
        assert!(State::open(dir.path(), "acct", false).is_err());
    }

    #[test]
    fn a_first_line_that_is_not_the_header_is_damage_even_unterminated() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(State::path_for(dir.path(), "acct"), "garbage, no newline").unwrap();
        let err = State::open(dir.path(), "acct", false).err().unwrap();
        assert!(
            err.message().contains("corrupt at line 1"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn torn_last_line_is_dropped_but_damage_inside_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record("INBOX", "-", &plain(&["1", "2"])).unwrap();
        drop(s);
        let path = State::path_for(dir.path(), "acct");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"0000").unwrap();
        drop(f);
        assert!(open(dir.path()).is_seen("INBOX", "-", "2"));

        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("+ INBOX - 1", "+ INBOX - 7");
        fs::write(&path, text).unwrap();
        let err = State::open(dir.path(), "acct", false).err().unwrap();
        assert!(
            err.message().contains("corrupt at line"),
            "{}",
            err.message()
        );
        let s = State::open(dir.path(), "acct", true).unwrap();
        assert!(!s.is_seen("INBOX", "-", "2"));
    }

    #[test]
    fn new_validity_keeps_only_recognised_messages() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let old = [
            Delivered {
                id: "5",
                fingerprint: Some("10:<a@x>"),
                kind: Kind::Message,
            },
            Delivered {
                id: "6",
                fingerprint: None,
                kind: Kind::Message,
            },
        ];
        s.record("F", "1", &old).unwrap();
        assert_eq!(s.fingerprints("F").collect::<Vec<_>>(), ["10:<a@x>"]);
        let kept = [Delivered {
            id: "1",
            fingerprint: Some("10:<a@x>"),
            kind: Kind::Message,
        }];
        s.revalidate("F", "2", &kept).unwrap();
        assert!(!s.is_seen("F", "1", "5"));
        assert!(s.is_seen("F", "2", "1"));
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.validity("F"), Some("2"));
        assert_eq!(s.count("F"), 1);
        assert_eq!(s.fingerprints("F").collect::<Vec<_>>(), ["10:<a@x>"]);
    }

    #[test]
    fn fingerprints_survive_forward_batches_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let d = [Delivered {
            id: "7",
            fingerprint: Some("3:<m@x>"),
            kind: Kind::Message,
        }];
        s.record_forward("F", "9", &d, "maildir", b"").unwrap();
        s.end_batch().unwrap();
        drop(s);
        let mut s = open(dir.path());
        assert_eq!(s.fingerprints("F").collect::<Vec<_>>(), ["3:<m@x>"]);
        s.rewrite().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.is_seen("F", "9", "7"));
        assert_eq!(s.fingerprints("F").collect::<Vec<_>>(), ["3:<m@x>"]);
    }

    #[test]
    fn a_journal_of_a_newer_format_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        write_journal(&path, &["mailfetch-state 3", "+ INBOX - a"]);
        let err = State::open(dir.path(), "acct", false)
            .err()
            .expect("refused");
        assert_eq!(err.class().exit_code(), 74);
        assert!(
            err.message().contains("state format 3"),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains("reads formats 1 to 2"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_format_1_journal_is_read_and_rewritten_in_this_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        write_journal(&path, &["mailfetch-state 1", "+ INBOX - a", "+ INBOX - b"]);
        let s = open(dir.path());
        assert!(s.is_seen("INBOX", "-", "a") && s.is_seen("INBOX", "-", "b"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().ends_with(HEADER), "{text}");
        drop(s);
        let s = open(dir.path());
        assert!(s.is_seen("INBOX", "-", "a") && s.is_seen("INBOX", "-", "b"));
    }

    #[test]
    fn journal_without_fingerprints_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        write_journal(
            &path,
            &[
                HEADER,
                "V INBOX 4",
                "+ INBOX 4 17",
                "B forward INBOX 4 x 18",
                "E",
            ],
        );
        let s = open(dir.path());
        assert!(s.is_seen("INBOX", "4", "17") && s.is_seen("INBOX", "4", "18"));
        assert_eq!(s.fingerprints("INBOX").count(), 0);
    }

    #[test]
    fn compaction_keeps_only_live_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let ids: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        s.record("INBOX", "-", &plain(&refs)).unwrap();
        let present: HashSet<&str> = refs[..10].iter().copied().collect();
        s.retain("INBOX", &present);
        s.compact_if_worthwhile().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.count("INBOX"), 10);
        let lines = fs::read_to_string(State::path_for(dir.path(), "acct"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, 12);
    }

    #[test]
    fn hundred_thousand_ids_load_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let ids: Vec<String> = (0..100_000).map(|i| format!("UID{i:09}.example")).collect();
        let refs: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        for chunk in refs.chunks(1000) {
            s.record("INBOX", "-", &plain(chunk)).unwrap();
        }
        drop(s);
        let start = std::time::Instant::now();
        let s = open(dir.path());
        assert_eq!(s.count("INBOX"), 100_000);
        // Generous for debug builds on a loaded machine; release loads in tens of ms.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn deliveries_record_their_first_time_and_old_lines_load_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        // A journal as written before times and kinds existed.
        write_journal(&path, &[HEADER, "+ INBOX - old", "+ F 4 17 10:<a@x>"]);
        let mut s = open(dir.path());
        assert!(s.is_seen("INBOX", "-", "old"));
        assert_eq!(s.first_delivered("INBOX", "-", "old"), None);
        assert_eq!(s.fingerprints("F").collect::<Vec<_>>(), ["10:<a@x>"]);
        let before = now();
        s.record("INBOX", "-", &plain(&["new"])).unwrap();
        s.stamp("INBOX", "-", &["old", "new"]).unwrap();
        drop(s);
        let mut s = open(dir.path());
        let new_at = s.first_delivered("INBOX", "-", "new").unwrap();
        assert!(new_at >= before && new_at <= now());
        assert!(s.first_delivered("INBOX", "-", "old").is_some(), "stamped");
        // Fetching again (--all) keeps the first time; compaction keeps it too.
        s.record("INBOX", "-", &plain(&["new"])).unwrap();
        s.rewrite().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.first_delivered("INBOX", "-", "new"), Some(new_at));
        assert_eq!(s.fingerprints("F").collect::<Vec<_>>(), ["10:<a@x>"]);
    }

    #[test]
    fn stubs_and_pass_overs_are_not_deliveries_and_a_delivery_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let rec = |id, kind| Delivered {
            id,
            fingerprint: None,
            kind,
        };
        s.record_forward(
            "INBOX",
            "-",
            &[rec("big", Kind::HeadersOnly), rec("m", Kind::Message)],
            "intent",
            b"",
        )
        .unwrap();
        s.end_batch().unwrap();
        s.record("INBOX", "-", &[rec("old", Kind::PassedOver)])
            .unwrap();
        drop(s);
        let text = fs::read_to_string(State::path_for(dir.path(), "acct")).unwrap();
        assert!(
            text.contains(" B forward INBOX - intent m\n"),
            "a stub is not named as delivered: {text}"
        );
        let mut s = open(dir.path());
        assert_eq!(s.kind("INBOX", "-", "big"), Some(Kind::HeadersOnly));
        assert_eq!(s.kind("INBOX", "-", "old"), Some(Kind::PassedOver));
        assert!(!s.is_seen("INBOX", "-", "big") && !s.is_seen("INBOX", "-", "old"));
        assert!(s.is_seen("INBOX", "-", "m"));
        s.record(
            "INBOX",
            "-",
            &[rec("big", Kind::Message), rec("m", Kind::HeadersOnly)],
        )
        .unwrap();
        s.rewrite().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(
            s.is_seen("INBOX", "-", "big"),
            "the message replaces its stub"
        );
        assert!(
            s.is_seen("INBOX", "-", "m"),
            "a stub never replaces the message"
        );
        assert_eq!(s.kind("INBOX", "-", "old"), Some(Kind::PassedOver));
    }

    #[test]
    fn a_line_longer_than_the_read_buffer_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let ids: Vec<String> = (0..8000).map(|i| format!("{i:040}")).collect();
        let refs: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        s.record_forward("INBOX", "-", &plain(&refs), "intent", b"")
            .unwrap();
        s.end_batch().unwrap();
        drop(s);
        let text = fs::read_to_string(State::path_for(dir.path(), "acct")).unwrap();
        assert!(text.lines().any(|l| l.len() > READ_BUFFER));
        let s = open(dir.path());
        assert_eq!(s.count("INBOX"), 8000);
        assert!(refs.iter().all(|id| s.is_seen("INBOX", "-", id)));
    }

    #[test]
    fn damage_at_the_end_of_a_read_buffer_is_torn_only_if_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        let mut text = line(HEADER);
        let mut ids = 0;
        while text.len() < READ_BUFFER - 200 {
            text.push_str(&line(&format!("+ INBOX - {ids}")));
            ids += 1;
        }
        // A line whose checksum fails, ending where the first read ends.
        let pad = READ_BUFFER - text.len() - "00000000 + INBOX - \n".len();
        text.push_str(&format!("00000000 + INBOX - {}\n", "x".repeat(pad)));
        assert_eq!(text.len(), READ_BUFFER);
        fs::write(&path, &text).unwrap();
        let s = open(dir.path());
        assert_eq!(s.count("INBOX"), ids, "the torn last line is dropped");
        drop(s);
        text.push_str(&line("E"));
        fs::write(&path, &text).unwrap();
        let err = State::open(dir.path(), "acct", false).err().unwrap();
        let at = format!("corrupt at line {}", ids + 2);
        assert!(err.message().contains(&at), "{}", err.message());
    }

    #[test]
    fn escaped_fields_load_inside_batches_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.begin_rollback("len", b"0").unwrap();
        s.record("IN BOX", "-", &plain(&["a b", "c%d", ""]))
            .unwrap();
        let d = [Delivered {
            id: "x y",
            fingerprint: Some("10:<a%b c@x>"),
            kind: Kind::Message,
        }];
        s.record_forward("F%", "7 8", &d, "in tent", b"%\n")
            .unwrap();
        s.end_batch().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(["a b", "c%d", ""]
            .iter()
            .all(|id| s.is_seen("IN BOX", "-", id)));
        assert!(s.is_seen("F%", "7 8", "x y"));
        assert_eq!(s.fingerprints("F%").collect::<Vec<_>>(), ["10:<a%b c@x>"]);
    }

    #[test]
    fn a_rollback_batch_left_unfinished_before_another_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        write_journal(
            &path,
            &[
                HEADER,
                "B rollback len%200",
                "+ INBOX - 1",
                "B rollback len%2010",
                "+ INBOX - 2",
                "E",
                "B forward INBOX - x 3",
                "+ INBOX - 3 4:<m@x>",
                "E",
            ],
        );
        let s = open(dir.path());
        assert!(!s.is_seen("INBOX", "-", "1"));
        assert!(s.is_seen("INBOX", "-", "2") && s.is_seen("INBOX", "-", "3"));
        assert_eq!(s.fingerprints("INBOX").collect::<Vec<_>>(), ["4:<m@x>"]);
        assert!(s.unfinished().is_none());
    }

    #[test]
    fn checksums_and_times_read_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        // As no writer writes them, but as they were always read: upper case, a leading
        // zero more, a signed time.
        let upper = |r: &str| format!("{:08X} {r}\n", crc32(r.as_bytes()));
        let longer = |r: &str| format!("0{:08x} {r}\n", crc32(r.as_bytes()));
        let text = [
            line(HEADER),
            upper("+ INBOX - a at=12"),
            longer("+ INBOX - b at=-5"),
            line("+ INBOX - c at=+7"),
        ]
        .concat();
        fs::write(&path, text).unwrap();
        let s = open(dir.path());
        assert_eq!(s.first_delivered("INBOX", "-", "a"), Some(12));
        assert_eq!(s.first_delivered("INBOX", "-", "b"), Some(-5));
        assert_eq!(s.first_delivered("INBOX", "-", "c"), Some(7));
        drop(s);
        fs::write(
            &path,
            [line(HEADER), line("+ INBOX - a at=1x"), line("E")].concat(),
        )
        .unwrap();
        let err = State::open(dir.path(), "acct", false).err().unwrap();
        assert!(err.message().contains("(bad time)"), "{}", err.message());
    }

    #[test]
    fn retain_keeps_what_is_known_of_the_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let ids: Vec<String> = (0..100).map(|i| format!("id{i}")).collect();
        let fps: Vec<String> = (0..100).map(|i| format!("{i}:<{i}@x>")).collect();
        let d: Vec<Delivered> = ids
            .iter()
            .zip(&fps)
            .map(|(id, f)| Delivered {
                id,
                fingerprint: Some(f),
                kind: Kind::Message,
            })
            .collect();
        s.record("F", "1", &d).unwrap();
        let at = s.first_delivered("F", "1", "id7");
        // Most of the arena is forgotten text then, and goes.
        s.retain("F", &["id7", "id93"].into_iter().collect());
        assert_eq!(s.count("F"), 2);
        assert!(s.is_seen("F", "1", "id7") && s.is_seen("F", "1", "id93"));
        assert!(!s.is_seen("F", "1", "id8"));
        assert_eq!(s.first_delivered("F", "1", "id7"), at);
        let mut kept: Vec<&str> = s.fingerprints("F").collect();
        kept.sort();
        assert_eq!(kept, ["7:<7@x>", "93:<93@x>"]);
        s.record("F", "1", &plain(&["new", "id7"])).unwrap();
        s.compact_if_worthwhile().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.count("F"), 3);
        let mut kept: Vec<&str> = s.fingerprints("F").collect();
        kept.sort();
        assert_eq!(kept, ["7:<7@x>", "93:<93@x>"]);
    }
}
