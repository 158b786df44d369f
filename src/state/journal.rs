//! The journal file and the [`State`] read from it: open and load (with the checks that
//! refuse a damaged, shortened or newer journal), append with the syncs the crash rules need,
//! compaction, and the batches a crash can leave unfinished. What a record says in text is
//! `codec`'s; what is known of each ID, in memory, is `ids`'. See the module doc of `state`
//! for the format and the crash rules.

use super::codec::{self, escape, line, Head, Record, END, FORMAT, HEADER};
use super::ids::{push_span, spanned, Entry, Ids, Kind, Span};
use super::lines::Lines;
use crate::error::{Class, Error, Result};
use crate::fsync::sync_dir;
use crate::identity::{MailboxKey, MessageId, Validity};
// foldhash, not SipHash: a pull with nothing new on a mailbox of 100,000 loads, looks up
// and prunes every ID, and SipHash was the largest item of its profile. foldhash is seeded
// per process, so a server cannot choose UIDLs that collide.
use foldhash::{HashMap, HashMapExt, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
/// none), escaped. KIND is a word: it holds no line end. A journal of format 2 or older holds
/// the same bytes (each target wrote its kind as its intent's first line), so the format
/// stays 2.
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

/// One mailbox of the state: its validity, and its IDs under it.
struct MailboxState {
    validity: Validity,
    /// Delivered IDs, with what is known of each.
    ids: Ids,
}

impl MailboxState {
    fn new(validity: Validity) -> MailboxState {
        MailboxState {
            validity,
            ids: Ids::default(),
        }
    }

    /// Take `validity` on: IDs of another one are dropped.
    fn set_validity(&mut self, validity: Validity) {
        if self.validity != validity {
            self.validity = validity;
            self.ids.clear();
        }
    }
}

/// One delivered message, as recorded.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    /// Its ID in the mailbox (POP3 UIDL, IMAP UID).
    pub id: MessageId<'a>,
    /// What identifies it should the IDs be invalidated (see `crate::fingerprint`).
    pub fingerprint: Option<&'a str>,
    /// What was delivered of it.
    pub kind: Kind,
}

impl<'a> Delivered<'a> {
    /// Whole messages known by their IDs alone, without fingerprints.
    pub fn messages(ids: &'a [String]) -> Vec<Delivered<'a>> {
        Self::all(ids, Kind::Message)
    }

    /// Deliveries of `kind` known by their IDs alone, without fingerprints.
    pub fn all(ids: impl IntoIterator<Item = &'a String>, kind: Kind) -> Vec<Delivered<'a>> {
        ids.into_iter()
            .map(|id| Delivered {
                id: MessageId::new(id),
                fingerprint: None,
                kind,
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

    fn entry(&self, mailbox: MailboxKey, validity: Validity, id: MessageId) -> Option<Entry<'_>> {
        self.mailboxes
            .get(mailbox.as_str())
            .filter(|m| m.validity == validity)
            .and_then(|m| m.ids.get(id.as_str()))
    }

    /// Whether `id` of `mailbox` at `validity` is recorded as delivered (the message itself,
    /// see [`Kind`]).
    pub fn is_seen(&self, mailbox: MailboxKey, validity: Validity, id: MessageId) -> bool {
        self.kind(mailbox, validity, id) == Some(Kind::Message)
    }

    /// What is recorded of `id`, if anything.
    pub fn kind(&self, mailbox: MailboxKey, validity: Validity, id: MessageId) -> Option<Kind> {
        self.entry(mailbox, validity, id).map(|e| e.kind)
    }

    /// When `id` was first delivered (seconds since the epoch), if that was recorded:
    /// deliveries recorded before times were, and some after a crash, have none.
    pub fn first_delivered(
        &self,
        mailbox: MailboxKey,
        validity: Validity,
        id: MessageId,
    ) -> Option<i64> {
        self.entry(mailbox, validity, id).and_then(|e| e.at)
    }

    /// Record now as the first-delivery time of those of `ids` that have none, so that a
    /// retention period (`delete-after-days`) starts for them. Not synced: a lost stamp only
    /// restarts the clock.
    pub fn stamp(
        &mut self,
        mailbox: MailboxKey,
        validity: Validity,
        ids: &[MessageId],
    ) -> Result<()> {
        let Some(m) = self
            .mailboxes
            .get_mut(mailbox.as_str())
            .filter(|m| m.validity == validity)
        else {
            return Ok(());
        };
        let head = Head::new(mailbox.as_str(), validity);
        let at = now();
        let mut records = Vec::new();
        for id in ids {
            if let Some(e) = m.ids.stamp(id.as_str(), at) {
                records.push(head.delivery(id.as_str(), &e));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        self.append(&records, false)
    }

    /// The validity recorded for `mailbox`, if any ID of it was ever recorded.
    pub fn validity(&self, mailbox: MailboxKey) -> Option<Validity> {
        self.mailboxes.get(mailbox.as_str()).map(|m| m.validity)
    }

    /// How many IDs of `mailbox` are recorded.
    pub fn count(&self, mailbox: MailboxKey) -> usize {
        self.mailboxes
            .get(mailbox.as_str())
            .map_or(0, |m| m.ids.len())
    }

    /// The fingerprints of the delivered messages of `mailbox` (one per message that has one;
    /// equal messages give equal fingerprints).
    pub fn fingerprints<'s>(&'s self, mailbox: MailboxKey) -> impl Iterator<Item = &'s str> + 's {
        self.mailboxes
            .get(mailbox.as_str())
            .into_iter()
            .flat_map(|m| m.ids.iter().filter_map(|(_, e)| e.fingerprint))
    }

    /// Record that `mailbox` now has `validity`, dropping IDs of the old one, except `kept`:
    /// messages under the new validity that were recognised (by fingerprint) as delivered
    /// under the old one. One durable write: `V` then a `+` line per kept message.
    pub fn revalidate(
        &mut self,
        mailbox: MailboxKey,
        validity: Validity,
        kept: &[Delivered],
    ) -> Result<()> {
        let m = self
            .mailboxes
            .entry(mailbox.as_str().to_string())
            .or_insert_with(|| MailboxState::new(validity));
        m.validity = validity;
        m.ids.clear();
        let head = Head::new(mailbox.as_str(), validity);
        let mut records = vec![head.validity()];
        let at = now();
        for d in kept {
            let e = Entry {
                fingerprint: d.fingerprint,
                at: Some(at),
                kind: d.kind,
            };
            // `kept` names each ID once (it is a listing); were one named twice, its records
            // would merge here as they do when the journal is loaded.
            let e = m.ids.record(d.id.as_str(), e);
            records.push(head.delivery(d.id.as_str(), &e));
        }
        self.dirty = true;
        self.append(&records, true)
    }

    /// Forget IDs of `mailbox` that the server no longer lists, so the state does not grow
    /// forever. Takes effect in memory now and on disk at the next compaction.
    pub fn retain(&mut self, mailbox: MailboxKey, present: &HashSet<MessageId>) {
        if let Some(m) = self.mailboxes.get_mut(mailbox.as_str()) {
            self.dirty |= m.ids.retain(|id| present.contains(&MessageId::new(id)));
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
        mailbox: MailboxKey,
        validity: Validity,
        delivered: &[Delivered],
        kind: &str,
        intent: &[u8],
    ) -> Result<()> {
        let lines = self.remember(mailbox, validity, delivered)?;
        let head = Head::new(mailbox.as_str(), validity);
        let mut rec = format!("B forward {} {}", head.fields(), intent_field(kind, intent));
        // Only deliveries of messages are named here: this line is what survives a torn write.
        for d in delivered.iter().filter(|d| d.kind == Kind::Message) {
            rec.push(' ');
            rec.push_str(&escape(d.id.as_str()));
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
    pub fn record(
        &mut self,
        mailbox: MailboxKey,
        validity: Validity,
        delivered: &[Delivered],
    ) -> Result<()> {
        let mut records = std::mem::take(&mut self.pending);
        records.extend(self.remember(mailbox, validity, delivered)?);
        records.push(END.to_string());
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
        mailbox: MailboxKey,
        validity: Validity,
        delivered: &[Delivered],
    ) -> Result<()> {
        let records = self.remember(mailbox, validity, delivered)?;
        self.pending.extend(records);
        Ok(())
    }

    /// Note `delivered` in memory; returns their records.
    fn remember(
        &mut self,
        mailbox: MailboxKey,
        validity: Validity,
        delivered: &[Delivered],
    ) -> Result<Vec<String>> {
        let m = self
            .mailboxes
            .entry(mailbox.as_str().to_string())
            .or_insert_with(|| MailboxState::new(validity));
        if m.validity != validity {
            if !m.ids.is_empty() {
                return Err(Error::new(
                    Class::LocalIo,
                    "internal: recording IDs under a new UIDVALIDITY without revalidate",
                ));
            }
            m.validity = validity;
        }
        let head = Head::new(mailbox.as_str(), validity);
        let at = now();
        let mut records = Vec::with_capacity(delivered.len());
        for d in delivered {
            let e = Entry {
                fingerprint: d.fingerprint,
                at: Some(at),
                kind: d.kind,
            };
            let e = m.ids.record(d.id.as_str(), e);
            records.push(head.delivery(d.id.as_str(), &e));
        }
        Ok(records)
    }

    /// End the unfinished batch a crash left, which its target has undone (a `B rollback`):
    /// the journal is written anew without it. Not with an `E`: the crash may have torn the
    /// batch's last write after some of its `+` lines, and an `E` behind them would make
    /// them count at the next load, for messages the rollback took away.
    pub fn abandon_batch(&mut self) -> Result<()> {
        self.unfinished = None;
        self.rewrite()
    }

    /// Journal the end of a batch (`E`). Not synced: losing it only repeats an idempotent
    /// recovery.
    pub fn end_batch(&mut self) -> Result<()> {
        self.unfinished = None;
        self.append(&[END.to_string()], false)
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
            let head = Head::new(&name, m.validity);
            out.write_all(line(&head.validity()).as_bytes())
                .map_err(err)?;
            n += 1;
            for (id, e) in m.ids.iter() {
                out.write_all(line(&head.delivery(id, &e)).as_bytes())
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
        let Some(record) = codec::parse_line(raw) else {
            // A torn final line is what a crash mid-append leaves; anything else is damage,
            // the first line included (it is written whole, under another name, then renamed).
            if lines.at_end() && n > 1 {
                n -= 1;
                break;
            }
            return Err(corrupt(n, "checksum mismatch"));
        };
        if n == 1 {
            let format =
                codec::format(record).ok_or_else(|| corrupt(1, "not a mailfetch state file"))?;
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
        let bad = || corrupt(n, "bad record");
        match codec::decode(record).map_err(|why| corrupt(n, why))? {
            Record::Delivery(d) => {
                if open_batch.is_some() {
                    pending.hold(&d);
                } else {
                    add(&mut mailboxes, &d.mailbox, d.validity, &d.id, d.entry());
                }
            }
            Record::Validity { mailbox, validity } => {
                match mailboxes.get_mut(&*mailbox) {
                    Some(m) => m.set_validity(validity),
                    None => {
                        mailboxes.insert(mailbox.into_owned(), MailboxState::new(validity));
                    }
                };
            }
            Record::Batch { mut fields, plain } => {
                let field = |f| codec::field(f, plain);
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
                        let va = Validity::parse(&va).ok_or_else(|| corrupt(n, "bad validity"))?;
                        for id in fields {
                            let id = field(id).ok_or_else(bad)?;
                            add(&mut mailboxes, &mb, va, &id, Entry::default());
                        }
                        unfinished
                    }
                    _ => return Err(corrupt(n, "bad batch kind")),
                });
            }
            Record::End => {
                // A finished batch's records all count, rollback or not.
                open_batch = None;
                pending.flush(&mut mailboxes, true);
            }
        }
    }
    if n == 0 {
        return Ok((mailboxes, 0, None, FORMAT));
    }
    // `+` lines behind an unfinished rollback batch are undone by its rollback.
    // `+` lines behind an unfinished rollback batch are undone by its rollback.
    let counts = open_batch.as_ref().is_none_or(|b| b.recorded);
    pending.flush(&mut mailboxes, counts);
    Ok((mailboxes, n, open_batch, version))
}

/// The `+`, `H` and `S` records of the batch in progress, which count once it is known how
/// the batch ended: copied out of the read buffer into one arena, not into `String`s of
/// their own (with mbox and Maildir, nearly every record is in a batch).
#[derive(Default)]
struct Pending {
    text: String,
    records: Vec<Held>,
}

/// A [`codec::Delivery`] in [`Pending::text`].
struct Held {
    mb: Span,
    va: Validity,
    id: Span,
    fingerprint: Option<Span>,
    at: Option<i64>,
    kind: Kind,
}

impl Pending {
    fn hold(&mut self, r: &codec::Delivery) {
        let text = &mut self.text;
        self.records.push(Held {
            mb: push_span(text, &r.mailbox),
            va: r.validity,
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
                let (mb, id) = (spanned(text, h.mb), spanned(text, h.id));
                add(mailboxes, mb, h.va, id, e);
            }
        }
        self.text.clear();
        self.records.clear();
    }
}

/// Note what a record says of `id` of `mb` at `va`.
fn add(mailboxes: &mut HashMap<String, MailboxState>, mb: &str, va: Validity, id: &str, e: Entry) {
    let m = match mailboxes.get_mut(mb) {
        Some(m) => m,
        None => mailboxes
            .entry(mb.to_string())
            .or_insert_with(|| MailboxState::new(va)),
    };
    m.set_validity(va);
    // A `B forward` line names its IDs; the `+` lines after it add fingerprints and times.
    m.ids.record(id, e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::codec::crc32;
    use crate::state::lines::READ_BUFFER;

    fn mb(name: &str) -> MailboxKey<'_> {
        MailboxKey::new(name)
    }

    /// The validity of the journal's text `-` or `7`.
    fn va(text: &str) -> Validity {
        Validity::parse(text).expect("a validity")
    }

    fn mid(id: &str) -> MessageId<'_> {
        MessageId::new(id)
    }

    fn plain<'a>(ids: &[&'a str]) -> Vec<Delivered<'a>> {
        ids.iter()
            .map(|id| Delivered {
                id: mid(id),
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
    fn recorded_ids_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record(mb("INBOX"), va("-"), &plain(&["a b", "c%d", ""]))
            .unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.is_seen(mb("INBOX"), va("-"), mid("a b")));
        assert!(s.is_seen(mb("INBOX"), va("-"), mid("c%d")));
        assert!(s.is_seen(mb("INBOX"), va("-"), mid("")));
        assert!(!s.is_seen(mb("INBOX"), va("-"), mid("x")));
        assert!(s.unfinished().is_none());
    }

    #[test]
    fn unfinished_forward_batch_counts_and_asks_for_roll_forward() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record_forward(
            mb("INBOX"),
            va("-"),
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
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("1")) && s.is_seen(mb("INBOX"), va("-"), mid("2"))
        );
        s.end_batch().unwrap();
        drop(s);
        assert!(open(dir.path()).unfinished().is_none());
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
        assert!(!s.is_seen(mb("INBOX"), va("-"), mid("1")));
    }

    #[test]
    fn finished_rollback_batch_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.begin_rollback("mbox", b"len 10").unwrap();
        s.record(mb("INBOX"), va("-"), &plain(&["1"])).unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.unfinished().is_none());
        assert!(s.is_seen(mb("INBOX"), va("-"), mid("1")));
    }

    #[test]
    fn a_journal_cut_short_is_an_error_not_forgotten_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record(mb("INBOX"), va("-"), &plain(&["1", "2"])).unwrap();
        s.record(mb("INBOX"), va("-"), &plain(&["3"])).unwrap();
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
        assert!(!s.is_seen(mb("INBOX"), va("-"), mid("1")));
        drop(s);
        fs::write(&path, &text[..cut]).unwrap();
        fs::remove_file(path.with_extension("state.size")).unwrap();
        let s = open(dir.path());
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("1")) && !s.is_seen(mb("INBOX"), va("-"), mid("3"))
        );
    }

    #[test]
    fn an_emptied_journal_is_an_error_and_a_compacted_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        for i in 0..50 {
            s.record(mb("INBOX"), va("-"), &plain(&[&i.to_string()]))
                .unwrap();
        }
        s.retain(mb("INBOX"), &["7"].map(mid).into_iter().collect());
        s.compact_if_worthwhile().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("7")) && !s.is_seen(mb("INBOX"), va("-"), mid("8"))
        );
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
        s.record(mb("INBOX"), va("-"), &plain(&["1", "2"])).unwrap();
        drop(s);
        let path = State::path_for(dir.path(), "acct");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"0000").unwrap();
        drop(f);
        assert!(open(dir.path()).is_seen(mb("INBOX"), va("-"), mid("2")));

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
        assert!(!s.is_seen(mb("INBOX"), va("-"), mid("2")));
    }

    #[test]
    fn new_validity_keeps_only_recognised_messages() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let old = [
            Delivered {
                id: mid("5"),
                fingerprint: Some("10:<a@x>"),
                kind: Kind::Message,
            },
            Delivered {
                id: mid("6"),
                fingerprint: None,
                kind: Kind::Message,
            },
        ];
        s.record(mb("F"), va("1"), &old).unwrap();
        assert_eq!(s.fingerprints(mb("F")).collect::<Vec<_>>(), ["10:<a@x>"]);
        let kept = [Delivered {
            id: mid("1"),
            fingerprint: Some("10:<a@x>"),
            kind: Kind::Message,
        }];
        s.revalidate(mb("F"), va("2"), &kept).unwrap();
        assert!(!s.is_seen(mb("F"), va("1"), mid("5")));
        assert!(s.is_seen(mb("F"), va("2"), mid("1")));
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.validity(mb("F")), Some(va("2")));
        assert_eq!(s.count(mb("F")), 1);
        assert_eq!(s.fingerprints(mb("F")).collect::<Vec<_>>(), ["10:<a@x>"]);
    }

    #[test]
    fn fingerprints_survive_forward_batches_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let d = [Delivered {
            id: mid("7"),
            fingerprint: Some("3:<m@x>"),
            kind: Kind::Message,
        }];
        s.record_forward(mb("F"), va("9"), &d, "maildir", b"")
            .unwrap();
        s.end_batch().unwrap();
        drop(s);
        let mut s = open(dir.path());
        assert_eq!(s.fingerprints(mb("F")).collect::<Vec<_>>(), ["3:<m@x>"]);
        s.rewrite().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.is_seen(mb("F"), va("9"), mid("7")));
        assert_eq!(s.fingerprints(mb("F")).collect::<Vec<_>>(), ["3:<m@x>"]);
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
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("a")) && s.is_seen(mb("INBOX"), va("-"), mid("b"))
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().ends_with(HEADER), "{text}");
        drop(s);
        let s = open(dir.path());
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("a")) && s.is_seen(mb("INBOX"), va("-"), mid("b"))
        );
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
        assert!(
            s.is_seen(mb("INBOX"), va("4"), mid("17"))
                && s.is_seen(mb("INBOX"), va("4"), mid("18"))
        );
        assert_eq!(s.fingerprints(mb("INBOX")).count(), 0);
    }

    #[test]
    fn compaction_keeps_only_live_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let ids: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        s.record(mb("INBOX"), va("-"), &plain(&refs)).unwrap();
        let present: HashSet<MessageId> = refs[..10].iter().map(|id| mid(id)).collect();
        s.retain(mb("INBOX"), &present);
        s.compact_if_worthwhile().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.count(mb("INBOX")), 10);
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
            s.record(mb("INBOX"), va("-"), &plain(chunk)).unwrap();
        }
        drop(s);
        let start = std::time::Instant::now();
        let s = open(dir.path());
        assert_eq!(s.count(mb("INBOX")), 100_000);
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
        assert!(s.is_seen(mb("INBOX"), va("-"), mid("old")));
        assert_eq!(s.first_delivered(mb("INBOX"), va("-"), mid("old")), None);
        assert_eq!(s.fingerprints(mb("F")).collect::<Vec<_>>(), ["10:<a@x>"]);
        let before = now();
        s.record(mb("INBOX"), va("-"), &plain(&["new"])).unwrap();
        s.stamp(mb("INBOX"), va("-"), &[mid("old"), mid("new")])
            .unwrap();
        drop(s);
        let mut s = open(dir.path());
        let new_at = s.first_delivered(mb("INBOX"), va("-"), mid("new")).unwrap();
        assert!(new_at >= before && new_at <= now());
        assert!(
            s.first_delivered(mb("INBOX"), va("-"), mid("old"))
                .is_some(),
            "stamped"
        );
        // Fetching again (--all) keeps the first time; compaction keeps it too.
        s.record(mb("INBOX"), va("-"), &plain(&["new"])).unwrap();
        s.rewrite().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(
            s.first_delivered(mb("INBOX"), va("-"), mid("new")),
            Some(new_at)
        );
        assert_eq!(s.fingerprints(mb("F")).collect::<Vec<_>>(), ["10:<a@x>"]);
    }

    #[test]
    fn stubs_and_pass_overs_are_not_deliveries_and_a_delivery_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let rec = |id, kind| Delivered {
            id: mid(id),
            fingerprint: None,
            kind,
        };
        s.record_forward(
            mb("INBOX"),
            va("-"),
            &[rec("big", Kind::HeadersOnly), rec("m", Kind::Message)],
            "intent",
            b"",
        )
        .unwrap();
        s.end_batch().unwrap();
        s.record(mb("INBOX"), va("-"), &[rec("old", Kind::PassedOver)])
            .unwrap();
        drop(s);
        let text = fs::read_to_string(State::path_for(dir.path(), "acct")).unwrap();
        assert!(
            text.contains(" B forward INBOX - intent m\n"),
            "a stub is not named as delivered: {text}"
        );
        let mut s = open(dir.path());
        assert_eq!(
            s.kind(mb("INBOX"), va("-"), mid("big")),
            Some(Kind::HeadersOnly)
        );
        assert_eq!(
            s.kind(mb("INBOX"), va("-"), mid("old")),
            Some(Kind::PassedOver)
        );
        assert!(
            !s.is_seen(mb("INBOX"), va("-"), mid("big"))
                && !s.is_seen(mb("INBOX"), va("-"), mid("old"))
        );
        assert!(s.is_seen(mb("INBOX"), va("-"), mid("m")));
        s.record(
            mb("INBOX"),
            va("-"),
            &[rec("big", Kind::Message), rec("m", Kind::HeadersOnly)],
        )
        .unwrap();
        s.rewrite().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("big")),
            "the message replaces its stub"
        );
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("m")),
            "a stub never replaces the message"
        );
        assert_eq!(
            s.kind(mb("INBOX"), va("-"), mid("old")),
            Some(Kind::PassedOver)
        );
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
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("1")) && s.is_seen(mb("INBOX"), va("-"), mid("2"))
        );
        // Written again, it is the same line.
        let mut s = s;
        s.end_batch().unwrap();
        s.record_forward(
            mb("INBOX"),
            va("-"),
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
    fn a_rolled_back_batch_torn_after_its_records_never_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        let size_note = path.with_extension("state.size");
        let mut s = open(dir.path());
        s.begin_rollback("mbox", b"len 10").unwrap();
        let noted = fs::read(&size_note).unwrap();
        s.record(mb("INBOX"), va("-"), &plain(&["a"])).unwrap();
        drop(s);
        // A power loss kept the `+` line of the batch's last write but not its `E` (nor the
        // size noted after it).
        let text = fs::read(&path).unwrap();
        let last = text[..text.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap();
        fs::write(&path, &text[..=last]).unwrap();
        fs::write(&size_note, noted).unwrap();
        let mut s = open(dir.path());
        assert!(!s.is_seen(mb("INBOX"), va("-"), mid("a")));
        assert_eq!(s.unfinished().map(|u| u.recorded), Some(false));
        // The target undid the batch; the state ends it and goes on.
        s.abandon_batch().unwrap();
        s.begin_rollback("mbox", b"len 10").unwrap();
        s.record(mb("INBOX"), va("-"), &plain(&["b"])).unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.unfinished().is_none());
        assert!(
            !s.is_seen(mb("INBOX"), va("-"), mid("a")),
            "undone, so not delivered"
        );
        assert!(s.is_seen(mb("INBOX"), va("-"), mid("b")));
    }

    #[test]
    fn a_line_longer_than_the_read_buffer_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let ids: Vec<String> = (0..8000).map(|i| format!("{i:040}")).collect();
        let refs: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        s.record_forward(mb("INBOX"), va("-"), &plain(&refs), "intent", b"")
            .unwrap();
        s.end_batch().unwrap();
        drop(s);
        let text = fs::read_to_string(State::path_for(dir.path(), "acct")).unwrap();
        assert!(text.lines().any(|l| l.len() > READ_BUFFER));
        let s = open(dir.path());
        assert_eq!(s.count(mb("INBOX")), 8000);
        assert!(refs
            .iter()
            .all(|id| s.is_seen(mb("INBOX"), va("-"), mid(id))));
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
        assert_eq!(s.count(mb("INBOX")), ids, "the torn last line is dropped");
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
        s.record(mb("IN BOX"), va("-"), &plain(&["a b", "c%d", ""]))
            .unwrap();
        let d = [Delivered {
            id: mid("x y"),
            fingerprint: Some("10:<a%b c@x>"),
            kind: Kind::Message,
        }];
        s.record_forward(mb("F%"), va("78"), &d, "in tent", b"%\n")
            .unwrap();
        s.end_batch().unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(["a b", "c%d", ""]
            .iter()
            .all(|id| s.is_seen(mb("IN BOX"), va("-"), mid(id))));
        assert!(s.is_seen(mb("F%"), va("78"), mid("x y")));
        assert_eq!(
            s.fingerprints(mb("F%")).collect::<Vec<_>>(),
            ["10:<a%b c@x>"]
        );
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
        assert!(!s.is_seen(mb("INBOX"), va("-"), mid("1")));
        assert!(
            s.is_seen(mb("INBOX"), va("-"), mid("2")) && s.is_seen(mb("INBOX"), va("-"), mid("3"))
        );
        assert_eq!(s.fingerprints(mb("INBOX")).collect::<Vec<_>>(), ["4:<m@x>"]);
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
        assert_eq!(s.first_delivered(mb("INBOX"), va("-"), mid("a")), Some(12));
        assert_eq!(s.first_delivered(mb("INBOX"), va("-"), mid("b")), Some(-5));
        assert_eq!(s.first_delivered(mb("INBOX"), va("-"), mid("c")), Some(7));
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
                id: mid(id),
                fingerprint: Some(f),
                kind: Kind::Message,
            })
            .collect();
        s.record(mb("F"), va("1"), &d).unwrap();
        let at = s.first_delivered(mb("F"), va("1"), mid("id7"));
        // Most of the arena is forgotten text then, and goes.
        s.retain(mb("F"), &["id7", "id93"].map(mid).into_iter().collect());
        assert_eq!(s.count(mb("F")), 2);
        assert!(
            s.is_seen(mb("F"), va("1"), mid("id7")) && s.is_seen(mb("F"), va("1"), mid("id93"))
        );
        assert!(!s.is_seen(mb("F"), va("1"), mid("id8")));
        assert_eq!(s.first_delivered(mb("F"), va("1"), mid("id7")), at);
        let mut kept: Vec<&str> = s.fingerprints(mb("F")).collect();
        kept.sort();
        assert_eq!(kept, ["7:<7@x>", "93:<93@x>"]);
        s.record(mb("F"), va("1"), &plain(&["new", "id7"])).unwrap();
        s.compact_if_worthwhile().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.count(mb("F")), 3);
        let mut kept: Vec<&str> = s.fingerprints(mb("F")).collect();
        kept.sort();
        assert_eq!(kept, ["7:<7@x>", "93:<93@x>"]);
    }
}
