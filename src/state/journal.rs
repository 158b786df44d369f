//! The journal file itself: records, checksums, load, append, compaction. See the module doc
//! of `state` for the format and the crash rules.

use crate::error::{Class, Error, Result};
use std::borrow::Cow;
// foldhash, not SipHash: a pull with nothing new on a mailbox of 100,000 loads, looks up
// and prunes every ID, and SipHash was the largest item of its profile. foldhash is seeded
// per process, so a server cannot choose UIDLs that collide.
use foldhash::{HashMap, HashMapExt, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

const HEADER: &str = "mailfetch-state 1";

/// What the sink must do before anything else, after a crash left a batch unfinished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Undo the batch (the data is not recorded).
    Rollback(String),
    /// Finish the batch (the data is durable and recorded).
    Forward(String),
}

#[derive(Default, Debug)]
struct MailboxState {
    validity: String,
    /// Delivered IDs, with what is known of each.
    ids: HashMap<String, Entry>,
}

/// What the state knows of one delivered message.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Its fingerprint, when one was recorded.
    fingerprint: Option<String>,
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
    recovery: Option<Recovery>,
    dirty: bool,
}

/// The CRC-32 (IEEE) table, computed at compile time: loading a journal checks every line.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = (crc >> 8) ^ CRC_TABLE[((crc ^ b as u32) & 0xff) as usize];
    }
    !crc
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
        fs::create_dir_all(dir)
            .map_err(|e| Error::local(format!("cannot create state dir {}", dir.display()), e))?;
        let path = Self::path_for(dir, account);
        if reset && path.exists() {
            let aside = path.with_extension("state.old");
            fs::rename(&path, &aside)
                .map_err(|e| Error::local(format!("cannot move {} aside", path.display()), e))?;
        }
        let size_path = path.with_extension("state.size");
        let size = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&size_path)
            .map_err(|e| Error::local(format!("cannot open {}", size_path.display()), e))?;
        let (mailboxes, records, recovery) = match File::open(&path) {
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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (HashMap::new(), 0, None),
            Err(e) => {
                return Err(Error::local(
                    format!("cannot read state {}", path.display()),
                    e,
                ))
            }
        };
        let mut state = State {
            file: open_append(&path)?,
            size,
            path,
            mailboxes,
            records,
            recovery,
            dirty: false,
        };
        if state.records == 0 {
            state.rewrite()?;
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

    /// What a crash left for the sink to finish or undo, if anything. Call
    /// [`State::end_batch`] once the sink has done it.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    fn entry(&self, mailbox: &str, validity: &str, id: &str) -> Option<&Entry> {
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
            if let Some(e) = m.ids.get_mut(*id).filter(|e| e.at.is_none()) {
                e.at = Some(at);
                records.push(record_of(&mb, &va, id, e));
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
            .flat_map(|m| m.ids.values().filter_map(|e| e.fingerprint.as_deref()))
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
                fingerprint: d.fingerprint.map(str::to_string),
                at: Some(at),
                kind: d.kind,
            };
            records.push(record_of(&mb, &va, d.id, &e));
            m.ids.insert(d.id.to_string(), e);
        }
        self.dirty = true;
        self.append(&records, true)
    }

    /// Forget IDs of `mailbox` that the server no longer lists, so the state does not grow
    /// forever. Takes effect in memory now and on disk at the next compaction.
    pub fn retain(&mut self, mailbox: &str, present: &HashSet<&str>) {
        if let Some(m) = self.mailboxes.get_mut(mailbox) {
            let before = m.ids.len();
            m.ids.retain(|id, _| present.contains(id.as_str()));
            self.dirty |= m.ids.len() != before;
        }
    }

    /// Journal that a batch that writes in place begins, with how to undo it (`B rollback`),
    /// durably, before the sink writes anything.
    pub fn begin_rollback(&mut self, intent: &str) -> Result<()> {
        self.append(&[format!("B rollback {}", escape(intent))], true)
    }

    /// Record `delivered` of `mailbox` as delivered, durably, in one line together with how
    /// to finish publishing them after a crash (`B forward`). Follow with [`State::end_batch`]
    /// once the sink has published them. One line, so a torn write records all or nothing;
    /// the fingerprints follow as `+` lines in the same write (advisory: see the module doc).
    pub fn record_forward(
        &mut self,
        mailbox: &str,
        validity: &str,
        delivered: &[Delivered],
        intent: &str,
    ) -> Result<()> {
        let lines = self.remember(mailbox, validity, delivered)?;
        let (mb, va) = (escape(mailbox), escape(validity));
        let mut rec = format!("B forward {mb} {va} {}", escape(intent));
        // Only deliveries of messages are named here: this line is what survives a torn write.
        for d in delivered.iter().filter(|d| d.kind == Kind::Message) {
            rec.push(' ');
            rec.push_str(&escape(d.id));
        }
        let mut records = vec![rec];
        records.extend(lines);
        self.recovery = Some(Recovery::Forward(intent.to_string()));
        self.append(&records, true)
    }

    /// Record `delivered` of `mailbox` as delivered and end the batch (`+` lines, `E`),
    /// durably.
    pub fn record(&mut self, mailbox: &str, validity: &str, delivered: &[Delivered]) -> Result<()> {
        let mut records = self.remember(mailbox, validity, delivered)?;
        records.push("E".to_string());
        self.recovery = None;
        self.append(&records, true)
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
                fingerprint: d.fingerprint.map(str::to_string),
                at: Some(at),
                kind: d.kind,
            };
            let e = merge(m.ids.get(d.id), e);
            records.push(record_of(&mb, &va, d.id, &e));
            m.ids.insert(d.id.to_string(), e);
        }
        Ok(records)
    }

    /// Journal the end of a batch (`E`). Not synced: losing it only repeats an idempotent
    /// recovery.
    pub fn end_batch(&mut self) -> Result<()> {
        self.recovery = None;
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
        Ok(())
    }

    /// Compact the journal if it has grown well past the live IDs (or IDs were forgotten).
    pub fn compact_if_worthwhile(&mut self) -> Result<()> {
        let live: usize = self.mailboxes.values().map(|m| m.ids.len()).sum();
        if self.recovery.is_none() && (self.dirty || self.records > 2 * live + 1000) {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Write the whole state anew, atomically.
    fn rewrite(&mut self) -> Result<()> {
        let tmp = self.path.with_extension("state.tmp");
        let err = |e| Error::local(format!("cannot write state {}", tmp.display()), e);
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(err)?);
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
            for (id, e) in &m.ids {
                out.write_all(line(&record_of(&mb, &va, id, e)).as_bytes())
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
        Ok(())
    }
}

/// The record of a delivery (mailbox and validity already escaped): `+ MAILBOX VALIDITY ID
/// [FINGERPRINT] [at=SECONDS]`, or `H`/`S MAILBOX VALIDITY ID [at=SECONDS]`.
fn record_of(mb: &str, va: &str, id: &str, e: &Entry) -> String {
    let mut r = format!("{} {mb} {va} {}", e.kind.letter(), escape(id));
    if let (Some(f), Kind::Message) = (&e.fingerprint, e.kind) {
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
fn merge(old: Option<&Entry>, new: Entry) -> Entry {
    match old {
        Some(old) if old.kind == Kind::Message && new.kind == Kind::Message => Entry {
            fingerprint: new.fingerprint.or_else(|| old.fingerprint.clone()),
            at: old.at.or(new.at),
            kind: Kind::Message,
        },
        Some(old) if old.kind == Kind::Message => old.clone(),
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
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::local(format!("cannot open state {}", path.display()), e))
}

/// fsync a directory, so that a rename or a new file in it survives a power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::local(format!("cannot sync directory {}", dir.display()), e))
}

type Loaded = (HashMap<String, MailboxState>, usize, Option<Recovery>);

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
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut raw = Vec::with_capacity(128);
    let mut n = 0;
    // The batch in progress, and the `+` records seen since it began.
    let mut open_batch: Option<Recovery> = None;
    let mut pending: Vec<Record> = Vec::new();
    loop {
        raw.clear();
        let got = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| Error::local(format!("cannot read state {}", path.display()), e))?;
        if got == 0 {
            break;
        }
        n += 1;
        let parsed = parse_line(&raw);
        let Some(record) = parsed else {
            // A torn final line is what a crash mid-append leaves; anything else is damage,
            // the first line included (it is written whole, under another name, then renamed).
            let at_end = reader.fill_buf().map(|b| b.is_empty()).unwrap_or(false);
            if at_end && n > 1 {
                n -= 1;
                break;
            }
            return Err(corrupt(n, "checksum mismatch"));
        };
        if n == 1 {
            if record != HEADER {
                return Err(corrupt(1, "not a mailfetch state file"));
            }
            continue;
        }
        let fields: Vec<&str> = record.split(' ').collect();
        let field = |i: usize| fields.get(i).and_then(|f| unescape(f));
        match fields[0] {
            letter @ ("+" | "H" | "S") => {
                let borrowed = |i: usize| fields.get(i).and_then(|f| unescape_field(f));
                let (Some(mb), Some(va), Some(id)) = (borrowed(1), borrowed(2), field(3)) else {
                    return Err(corrupt(n, "bad record"));
                };
                let kind = match letter {
                    "+" => Kind::Message,
                    "H" => Kind::HeadersOnly,
                    _ => Kind::PassedOver,
                };
                let mut e = Entry {
                    kind,
                    ..Entry::default()
                };
                // Optional fields, each added in a later version: a fingerprint (untagged,
                // fifth; it starts with the size), then `at=SECONDS`. Older lines have fewer;
                // unknown `name=value` fields are skipped.
                for (i, f) in fields.iter().enumerate().skip(4) {
                    if let Some(t) = f.strip_prefix("at=") {
                        e.at = Some(t.parse().map_err(|_| corrupt(n, "bad time"))?);
                    } else if i == 4
                        && kind == Kind::Message
                        && f.starts_with(|c: char| c.is_ascii_digit())
                    {
                        e.fingerprint = Some(unescape(f).ok_or_else(|| corrupt(n, "bad record"))?);
                    }
                }
                if open_batch.is_some() {
                    pending.push((mb.into_owned(), va.into_owned(), id, e));
                } else {
                    add(&mut mailboxes, &mb, &va, id, e);
                }
            }
            "V" => {
                let (Some(mb), Some(va)) = (field(1), field(2)) else {
                    return Err(corrupt(n, "bad record"));
                };
                let m = mailboxes.entry(mb).or_default();
                if m.validity != va {
                    m.validity = va;
                    m.ids.clear();
                }
            }
            "B" => {
                flush_pending(&mut mailboxes, &mut pending, open_batch.take());
                open_batch = Some(match fields.get(1).copied() {
                    Some("rollback") => {
                        Recovery::Rollback(field(2).ok_or_else(|| corrupt(n, "bad record"))?)
                    }
                    Some("forward") => {
                        let (Some(mb), Some(va), Some(intent)) = (field(2), field(3), field(4))
                        else {
                            return Err(corrupt(n, "bad record"));
                        };
                        for id in fields.iter().skip(5) {
                            let id = unescape(id).ok_or_else(|| corrupt(n, "bad record"))?;
                            add(&mut mailboxes, &mb, &va, id, Entry::default());
                        }
                        Recovery::Forward(intent)
                    }
                    _ => return Err(corrupt(n, "bad batch kind")),
                });
            }
            "E" => {
                let finished = open_batch.take();
                // A finished batch's records all count, rollback or not.
                let as_done = finished.map(|r| match r {
                    Recovery::Rollback(i) => Recovery::Forward(i),
                    f => f,
                });
                flush_pending(&mut mailboxes, &mut pending, as_done);
            }
            _ => return Err(corrupt(n, "unknown record")),
        }
    }
    if n == 0 {
        return Ok((mailboxes, 0, None));
    }
    // `+` lines behind an unfinished rollback batch are undone by its rollback.
    let batch = open_batch.clone();
    flush_pending(&mut mailboxes, &mut pending, batch);
    Ok((mailboxes, n, open_batch))
}

/// A `+`, `H` or `S` record: mailbox, validity, ID, what it says of the message.
type Record = (String, String, String, Entry);

fn flush_pending(
    mailboxes: &mut HashMap<String, MailboxState>,
    pending: &mut Vec<Record>,
    batch: Option<Recovery>,
) {
    let keep = !matches!(batch, Some(Recovery::Rollback(_)));
    for (mb, va, id, e) in pending.drain(..) {
        if keep {
            add(mailboxes, &mb, &va, id, e);
        }
    }
}

fn add(mailboxes: &mut HashMap<String, MailboxState>, mb: &str, va: &str, id: String, e: Entry) {
    let m = match mailboxes.get_mut(mb) {
        Some(m) => m,
        None => mailboxes.entry(mb.to_string()).or_default(),
    };
    if m.validity != va {
        m.validity = va.to_string();
        m.ids.clear();
    }
    // A `B forward` line names its IDs; the `+` lines after it add fingerprints and times.
    match m.ids.entry(id) {
        std::collections::hash_map::Entry::Occupied(mut old) => {
            let merged = merge(Some(old.get()), e);
            *old.get_mut() = merged;
        }
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(e);
        }
    }
}

/// A field as recorded, unescaped, borrowed when it holds no escape (most do): loading a
/// journal of 100,000 records then allocates for their IDs only.
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
    let (crc, record) = text.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32(record.as_bytes()) == crc).then_some(record)
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
        assert!(s.recovery().is_none());
    }

    #[test]
    fn unfinished_forward_batch_counts_and_asks_for_roll_forward() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.record_forward("INBOX", "-", &plain(&["1", "2"]), "tmp/a\tnew/a")
            .unwrap();
        drop(s);
        let mut s = open(dir.path());
        assert_eq!(
            s.recovery(),
            Some(&Recovery::Forward("tmp/a\tnew/a".into()))
        );
        assert!(s.is_seen("INBOX", "-", "1") && s.is_seen("INBOX", "-", "2"));
        s.end_batch().unwrap();
        drop(s);
        assert!(open(dir.path()).recovery().is_none());
    }

    #[test]
    fn unfinished_rollback_batch_discards_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.begin_rollback("len 10").unwrap();
        // A torn `+ ... E` write: the `+` made it, the `E` did not.
        s.append(&["+ INBOX - 1".to_string()], true).unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(s.recovery(), Some(&Recovery::Rollback("len 10".into())));
        assert!(!s.is_seen("INBOX", "-", "1"));
    }

    #[test]
    fn finished_rollback_batch_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        s.begin_rollback("len 10").unwrap();
        s.record("INBOX", "-", &plain(&["1"])).unwrap();
        drop(s);
        let s = open(dir.path());
        assert!(s.recovery().is_none());
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
        s.record_forward("F", "9", &d, "maildir").unwrap();
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
    fn journal_without_fingerprints_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path_for(dir.path(), "acct");
        let text: String = [
            HEADER,
            "V INBOX 4",
            "+ INBOX 4 17",
            "B forward INBOX 4 x 18",
            "E",
        ]
        .iter()
        .map(|r| line(r))
        .collect();
        fs::write(&path, text).unwrap();
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
        let text: String = [HEADER, "+ INBOX - old", "+ F 4 17 10:<a@x>"]
            .iter()
            .map(|r| line(r))
            .collect();
        fs::write(&path, text).unwrap();
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
}
