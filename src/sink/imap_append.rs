//! Delivery into a folder of an IMAP account (`target = "imap:ACCOUNT/FOLDER"`, and the
//! uploads of `mailfetch upload`), over one connection per run: the protocol is
//! `imap::append`, this module is what makes it exactly-once.
//!
//! # A batch
//!
//! 1. `deliver` spools each message (an unlinked temporary file, CRLF line ends, so its
//!    length is known for the literal) and notes its Message-ID, its text digest
//!    (`fingerprint::TextDigest`), its flags and its INTERNALDATE (the source's; for POP3 the
//!    date of its newest `Received:` field, else its `Date:`). A message larger than the
//!    server's APPENDLIMIT is refused here, by name.
//! 2. `stage` looks in the folder for the messages that are already there: by Message-ID
//!    and size (one `UID SEARCH HEADER Message-ID` for many messages, then their exact sizes;
//!    where the sizes differ, because the server rewrote the stored header, by Message-ID and
//!    body digest), and a message without a Message-ID by size and text digest among the
//!    folder's messages without one. Those are not stored again ("already present"): they are recorded like the
//!    others. It then asks the folder's UIDVALIDITY and UIDNEXT and returns the rollback
//!    intent (of kind `imap-append`) that `pull` journals, synced, before anything is stored:
//!
//!    ```text
//!    ACCOUNT/FOLDER
//!    UIDVALIDITY UIDNEXT
//!    SOURCE-MAILBOX
//!    SOURCE-VALIDITY
//!    ID <tab> KEY          one line per message to append; KEY is m:SIZE:MESSAGE-ID,
//!    ...                   or d:SIZE:DIGEST for a message without a Message-ID
//!    ```
//! 3. `prepare` appends them (MULTIAPPEND when offered; the server's refusal of one message
//!    leaves it out, named, and the others go on). Once the server has answered OK, they are
//!    stored: an IMAP server commits an APPEND before answering it.
//! 4. `pull` records the batch (`+` lines and `E`, synced); `commit` drops the spool. Only
//!    then, when the account does not keep mail, does `pull` delete the messages at the
//!    source.
//!
//! # After a crash
//!
//! A kill between the server's OK and the record leaves messages stored but not recorded;
//! fetched and appended again they would be there twice. The journal then ends with the
//! open intent of step 2, so the next run, before anything else, connects and lists the
//! messages the folder gained since that UIDNEXT (every message stored by that APPEND has a
//! UID at least that high, RFC 3501 section 2.3.1.1; the whole folder if the UIDVALIDITY has
//! changed). Each message of the intent whose key is among them (each found message matching
//! at most one) is recorded as delivered (what `recover` returns): found, not appended again. The
//! others were not stored, stay unrecorded, and are fetched and appended by this run. A crash
//! before the intent was journalled stored nothing; a crash after the record changes
//! nothing. The recovery needs the server: when it cannot be reached, the intent stays and
//! the next run tries again.
//!
//! Looking for mail already present in step 2 is what makes a rerun after `--reset-state`,
//! a migration resumed with another tool, or `mailfetch upload` run twice, store nothing
//! twice. The `APPENDUID`s a UIDPLUS server returns identify what this run stored, so that a
//! message fetched twice from the source (two equal copies there) is stored twice rather
//! than taken for its own copy; without UIDPLUS such twins are stored once.

use super::{label, Intent, Meta, Outcome, Prepared, Recovered, Refusal, Rollback, Sink};
use super::{Staged, Unfinished};
use crate::error::{Class, Error, Result};
use crate::fingerprint::{BodyDigest, TextDigest};
use crate::header::{self, Head};
use crate::identity::Validity;
use crate::imap::append::{Destination, Found, Outgoing, Stored};
use crate::net::{Endpoint, Trace};
use crate::sasl::Login;
use crate::source::Flags;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// The longest of the waits of [`ImapAppend::since_settled`] (100, 200, 400, 800 ms).
const SETTLE_WAIT: Duration = Duration::from_millis(800);
/// The kind of this sink's intents.
const KIND: &str = "imap-append";

/// What identifies a message in the folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Its Message-ID and size (CRLF line ends).
    Id(u64, String),
    /// For a message without a Message-ID: its size and text digest.
    Text(u64, String),
}

impl Key {
    fn encode(&self) -> String {
        match self {
            Key::Id(size, id) => format!("m:{size}:{id}"),
            Key::Text(size, digest) => format!("d:{size}:{digest}"),
        }
    }

    fn decode(text: &str) -> Option<Key> {
        let mut parts = text.splitn(3, ':');
        let (kind, size, rest) = (parts.next()?, parts.next()?, parts.next()?);
        let size = size.parse().ok()?;
        match kind {
            "m" => Some(Key::Id(size, rest.to_string())),
            "d" => Some(Key::Text(size, rest.to_string())),
            _ => None,
        }
    }
}

/// One message of the batch.
struct Spooled {
    offset: u64,
    len: u64,
    flags: Flags,
    date: Option<i64>,
    key: Key,
    /// How messages name it: Message-ID and subject.
    label: String,
    /// Found in the folder already.
    present: bool,
}

/// How to reach and log in to the IMAP account that holds the folder.
pub struct Server {
    /// The account's name, for messages and the trace.
    pub account: String,
    /// Its server.
    pub endpoint: Endpoint,
    /// Its login; the secret is taken when the first batch needs the connection, so a run
    /// with nothing to deliver runs no password command and asks nothing.
    pub auth: Login,
    /// Advice to add to a refused login (the provider profile's).
    pub auth_hint: &'static str,
}

/// An IMAP folder as a sink.
pub struct ImapAppend {
    server: Option<Server>,
    /// `ACCOUNT/FOLDER`.
    name: String,
    folder: String,
    trace: Trace,
    dest: Option<Destination>,
    spool: Option<File>,
    spool_len: u64,
    batch: Vec<Spooled>,
    /// UIDs of the folder that stand for a message of this run (found present or stored by
    /// it), so that no folder message stands for two.
    claimed: HashSet<u32>,
    /// The folder's messages without a Message-ID, looked up once per run when needed.
    without_id: Option<Vec<Found>>,
    /// Text digests of folder messages, by UID, as they were computed.
    digests: HashMap<u32, String>,
    /// The messages of the batch the folder did not take, by position, with why.
    refused: Vec<(usize, Refusal)>,
    /// The folder's UIDNEXT before the batch was appended (see [`ImapAppend::read_back`]).
    next: Option<u32>,
    notices: Vec<String>,
}

/// Replace `%`, tab and line ends so a field keeps to its place in an intent.
fn esc(field: &str) -> String {
    field
        .replace('%', "%25")
        .replace('\t', "%09")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

fn unesc(field: &str) -> String {
    field
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%09", "\t")
        .replace("%25", "%")
}

impl ImapAppend {
    /// A sink appending to `folder` on `server`, connecting at the first batch, its session
    /// traced to `trace`.
    pub fn new(server: Server, folder: &str, trace: Trace) -> ImapAppend {
        ImapAppend {
            name: format!("{}/{}", server.account, folder),
            server: Some(server),
            folder: folder.to_string(),
            trace,
            dest: None,
            spool: None,
            spool_len: 0,
            batch: Vec::new(),
            claimed: HashSet::new(),
            without_id: None,
            digests: HashMap::new(),
            refused: Vec::new(),
            next: None,
            notices: Vec::new(),
        }
    }

    /// `ACCOUNT/FOLDER`.
    fn name(&self) -> String {
        self.name.clone()
    }

    /// The session, connected (and the folder created) on first use.
    fn dest(&mut self) -> Result<&mut Destination> {
        if self.dest.is_none() {
            let a = self.server.take().ok_or_else(|| {
                Error::new(
                    Class::Temporary,
                    format!("target {}: no session after a failed login", self.name),
                )
            })?;
            let trace = self.trace.clone();
            let hint = a.auth_hint;
            let dest = Destination::connect(&a.endpoint, trace, a.auth, &self.folder, true)
                .map_err(|e| {
                    let e = if e.blames_credentials() {
                        Error::credentials_refused(format!("{} ({hint})", e.message()))
                    } else {
                        e
                    };
                    e.context(format!("target {}", self.name))
                })?;
            if dest.created() {
                self.notices
                    .push(format!("created folder {} on {}", self.folder, dest.peer()));
            }
            self.dest = Some(dest);
        }
        Ok(self.dest.as_mut().expect("just connected"))
    }

    /// Spool `body` with CRLF line ends; returns its offset, length, header and digest.
    fn spool(&mut self, body: &mut dyn Read) -> Result<(u64, u64, Vec<u8>, String)> {
        if self.spool.is_none() {
            self.spool = Some(
                tempfile::tempfile().map_err(|e| Error::local("cannot create a spool file", e))?,
            );
            self.spool_len = 0;
        }
        let file = self.spool.as_mut().expect("just created");
        let offset = self.spool_len;
        // After a refused message was cut off, the file position is past the end.
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::local("writing the spool file", e))?;
        let mut head = Head::default();
        let mut digest = TextDigest::default();
        let mut buf = vec![0u8; 64 << 10];
        let mut out = Vec::with_capacity(70 << 10);
        let mut last = 0u8;
        let mut len = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::network("receiving a message", e)),
            };
            let data = &buf[..n];
            digest.update(data);
            head.push(data);
            out.clear();
            for &b in data {
                if b == b'\n' && last != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                last = b;
            }
            file.write_all(&out)
                .map_err(|e| Error::local("writing the spool file", e))?;
            len += out.len() as u64;
        }
        self.spool_len += len;
        Ok((offset, len, head.into_bytes(), digest.finish()))
    }

    /// Which of the batch's messages the folder holds already: marks them present.
    fn look_up(&mut self) -> Result<()> {
        let ids: Vec<String> = self
            .batch
            .iter()
            .filter_map(|s| match &s.key {
                Key::Id(_, id) => Some(id.clone()),
                Key::Text(..) => None,
            })
            .collect();
        let mut there: Vec<Found> = Vec::new();
        if !ids.is_empty() {
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            there = self.dest()?.with_message_ids(&refs)?;
        }
        let needs_digests = self.batch.iter().any(|s| matches!(s.key, Key::Text(..)));
        if needs_digests && self.without_id.is_none() {
            let found = self.dest()?.without_message_id()?;
            self.without_id = Some(found);
        }
        for i in 0..self.batch.len() {
            let key = self.batch[i].key.clone();
            let uid = match &key {
                Key::Id(size, id) => {
                    let same_id: Vec<Found> = there
                        .iter()
                        .filter(|f| {
                            f.message_id.as_deref() == Some(id) && !self.claimed.contains(&f.uid)
                        })
                        .cloned()
                        .collect();
                    match same_id.iter().find(|f| f.size == *size) {
                        Some(f) => Some(f.uid),
                        None => self.match_body(i, &same_id)?,
                    }
                }
                Key::Text(size, digest) => self.match_digest(*size, digest)?,
            };
            if let Some(uid) = uid {
                self.claimed.insert(uid);
                self.batch[i].present = true;
            }
        }
        Ok(())
    }

    /// Which of `same_id` (folder messages with the Message-ID of the batch's message `i`,
    /// none of its size) holds its body: the server rewrote the stored header (GNU
    /// Mailutils does, and a killed run's APPEND may be stored only after the rerun's
    /// recovery looked). Message-ID and body together, never the body alone.
    fn match_body(&mut self, i: usize, same_id: &[Found]) -> Result<Option<u32>> {
        if same_id.is_empty() {
            return Ok(None);
        }
        let (offset, len) = (self.batch[i].offset, self.batch[i].len);
        let file = self.spool.as_ref().expect("a spooled batch has a spool");
        let mut ours = BodyDigest::default();
        let mut buf = vec![0u8; (64 << 10).min(len as usize).max(1)];
        let mut done = 0u64;
        while done < len {
            let want = buf.len().min((len - done) as usize);
            let n = file
                .read_at(&mut buf[..want], offset + done)
                .map_err(|e| Error::local("reading the spool file", e))?;
            if n == 0 {
                return Err(Error::new(
                    Class::LocalIo,
                    "the spool file is shorter than written",
                ));
            }
            ours.update(&buf[..n]);
            done += n as u64;
        }
        let ours = ours.finish();
        let theirs = self.dest()?.body_digests(same_id)?;
        Ok(same_id
            .iter()
            .find(|f| theirs.get(&f.uid) == Some(&ours))
            .map(|f| f.uid))
    }

    /// An unclaimed message of the folder without a Message-ID with this size and digest.
    fn match_digest(&mut self, size: u64, digest: &str) -> Result<Option<u32>> {
        let candidates: Vec<Found> = self
            .without_id
            .iter()
            .flatten()
            .filter(|f| f.size == size && !self.claimed.contains(&f.uid))
            .cloned()
            .collect();
        let unknown: Vec<Found> = candidates
            .iter()
            .filter(|f| !self.digests.contains_key(&f.uid))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            let more = self.dest()?.digests(&unknown)?;
            self.digests.extend(more);
        }
        Ok(candidates
            .iter()
            .find(|f| self.digests.get(&f.uid).map(String::as_str) == Some(digest))
            .map(|f| f.uid))
    }

    /// Make sure the folder holds the messages `appended` (batch indices) that the server
    /// said it stored without naming their UIDs (no UIDPLUS): look among the messages it
    /// gained since the UIDNEXT before the APPEND, by Message-ID (whatever their size: GNU
    /// Mailutils rewrites stored headers), else by text digest, else, for messages without
    /// a Message-ID, by position when exactly as many such messages came in. One that is not
    /// there is refused (temporary): not recorded, so never deleted at the source, and
    /// looked for again next run. An OK alone is not trusted with the source's copy.
    fn read_back(&mut self, appended: &[usize]) -> Result<()> {
        let Some(next) = self.next.filter(|_| !appended.is_empty()) else {
            return Ok(());
        };
        let found: Vec<Found> = self
            .since_settled(next, appended.len())?
            .into_iter()
            .filter(|f| !self.claimed.contains(&f.uid))
            .collect();
        let mut taken: HashSet<u32> = HashSet::new();
        let mut missing = Vec::new();
        for &i in appended {
            let hit = match &self.batch[i].key {
                Key::Id(size, id) => found
                    .iter()
                    .filter(|f| !taken.contains(&f.uid) && f.message_id.as_ref() == Some(id))
                    .min_by_key(|f| f.size != *size)
                    .map(|f| f.uid),
                Key::Text(..) => None,
            };
            match hit {
                Some(uid) => {
                    taken.insert(uid);
                }
                None => missing.push(i),
            }
        }
        let texts: Vec<usize> = missing
            .iter()
            .copied()
            .filter(|&i| matches!(self.batch[i].key, Key::Text(..)))
            .collect();
        if !texts.is_empty() {
            let without: Vec<Found> = found
                .iter()
                .filter(|f| f.message_id.is_none() && !taken.contains(&f.uid))
                .cloned()
                .collect();
            let digests = self.dest()?.digests(&without)?;
            let mut left: Vec<usize> = Vec::new();
            for &i in &texts {
                let Key::Text(size, digest) = &self.batch[i].key else {
                    continue;
                };
                match without.iter().find(|f| {
                    !taken.contains(&f.uid)
                        && f.size == *size
                        && digests.get(&f.uid) == Some(digest)
                }) {
                    Some(f) => {
                        taken.insert(f.uid);
                    }
                    None => left.push(i),
                }
            }
            let rest: Vec<&Found> = without.iter().filter(|f| !taken.contains(&f.uid)).collect();
            // UIDs are given in the order of the APPENDs: by position, when the counts agree.
            if !left.is_empty() && rest.len() == left.len() {
                taken.extend(rest.iter().map(|f| f.uid));
                left.clear();
            }
            missing.retain(|i| !texts.contains(i) || left.contains(i));
        }
        self.claimed.extend(taken);
        let peer = self.dest()?.peer().to_string();
        for i in missing {
            let why = Refusal::temporary(format!(
                "{} answered OK to storing {} but it is not in {}: it stays at the source and \
                 is looked for again next run",
                peer,
                self.batch[i].label,
                self.name()
            ));
            self.refused.push((i, why));
        }
        Ok(())
    }

    /// The folder's messages from UID `from` on, looked at again a few times, over about
    /// 1.5 s, while fewer than `expected` are there: a server may answer an APPEND before
    /// its message shows (GNU Mailutils under another session's lock), and one still storing
    /// a killed run's last APPEND shows it only later. What is not there then is appended
    /// again (recovery) or stays at the source (read-back); waiting only narrows the window
    /// in which a late message becomes a duplicate.
    fn since_settled(&mut self, from: u32, expected: usize) -> Result<Vec<Found>> {
        let mut wait = Duration::from_millis(100);
        loop {
            let found = self.dest()?.since(from)?;
            let settled = found
                .iter()
                .filter(|f| !self.claimed.contains(&f.uid))
                .count();
            if settled >= expected || wait > SETTLE_WAIT {
                return Ok(found);
            }
            std::thread::sleep(wait);
            wait *= 2;
        }
    }

    /// Forget the batch.
    fn clear(&mut self) {
        self.batch.clear();
        self.spool = None;
        self.spool_len = 0;
    }

    /// Recover from the intent `data` (see the module doc).
    fn recover_intent(&mut self, data: &[u8]) -> Result<Option<Recovered>> {
        let bad = || Error::new(Class::LocalIo, "the journalled IMAP intent is damaged");
        let text = std::str::from_utf8(data).map_err(|_| bad())?;
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < 4 {
            return Err(bad());
        }
        let (validity, next) = lines[1].split_once(' ').ok_or_else(bad)?;
        let validity: u32 = validity.parse().map_err(|_| bad())?;
        let next: u32 = next.parse().map_err(|_| bad())?;
        if unesc(lines[0]) != self.name {
            // The target was changed since: that batch went to another folder, and mail
            // appended to this one cannot be a duplicate of it.
            return Ok(None);
        }
        let mut wanted = Vec::new();
        for line in &lines[4..] {
            let (id, key) = line.split_once('\t').ok_or_else(bad)?;
            wanted.push((unesc(id), Key::decode(&unesc(key)).ok_or_else(bad)?));
        }
        let (now_validity, _) = self.dest()?.status()?;
        let since = if now_validity == validity { next } else { 1 };
        let found = self.since_settled(since, wanted.len())?;
        let dest = self.dest()?;
        let undigested: Vec<Found> = if wanted.iter().any(|(_, k)| matches!(k, Key::Text(..))) {
            found
                .iter()
                .filter(|f| f.message_id.is_none())
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let digests = dest.digests(&undigested)?;
        let mut taken = HashSet::new();
        let mut ids = Vec::new();
        for (id, key) in &wanted {
            // What came in since that UIDNEXT is what the batch stored: a Message-ID is
            // enough there, whatever the size (a server may rewrite stored headers).
            let hit = found
                .iter()
                .filter(|f| {
                    !taken.contains(&f.uid)
                        && match key {
                            Key::Id(_, mid) => f.message_id.as_deref() == Some(mid.as_str()),
                            Key::Text(size, digest) => {
                                f.size == *size && digests.get(&f.uid) == Some(digest)
                            }
                        }
                })
                .min_by_key(|f| !matches!(key, Key::Id(size, _) if f.size == *size));
            if let Some(f) = hit {
                taken.insert(f.uid);
                ids.push(id.clone());
            }
        }
        self.notices.push(format!(
            "the last run was interrupted while appending {} message{} to {}: {} {} there \
             and {} recorded now, the rest will be appended again",
            wanted.len(),
            if wanted.len() == 1 { "" } else { "s" },
            lines[0],
            ids.len(),
            if ids.len() == 1 { "is" } else { "are" },
            if ids.len() == 1 { "is" } else { "are" },
        ));
        Ok(Some(Recovered {
            mailbox: unesc(lines[2]),
            validity: Validity::parse(&unesc(lines[3])).ok_or_else(bad)?,
            ids,
        }))
    }
}

impl Sink for ImapAppend {
    fn describe(&self) -> String {
        format!("{} (IMAP)", self.name())
    }

    fn begin(&mut self) -> Result<Option<Rollback>> {
        self.clear();
        self.refused.clear();
        self.dest()?;
        Ok(None)
    }

    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<Outcome> {
        let (offset, len, header, digest) = self.spool(body)?;
        let label = label(&header);
        let limit = self.dest.as_ref().and_then(|d| d.append_limit());
        if let Some(limit) = limit.filter(|l| len > *l) {
            self.spool_len = offset;
            if let Some(f) = self.spool.as_mut() {
                let _ = f.set_len(offset);
            }
            return Ok(Outcome::Refused(Refusal::permanent(format!(
                "{label} is {len} bytes, and {} takes at most {limit} bytes per message \
                 (APPENDLIMIT)",
                self.name()
            ))));
        }
        let key = match header::message_id(&header) {
            Some(id) => Key::Id(len, id),
            None => Key::Text(len, digest),
        };
        self.batch.push(Spooled {
            offset,
            len,
            flags: meta.flags,
            date: meta.internal_date.or_else(|| header::arrival_date(&header)),
            key,
            label,
            present: false,
        });
        Ok(Outcome::Delivered)
    }

    fn stage(&mut self, staged: &Staged) -> Result<Option<Rollback>> {
        if self.batch.is_empty() {
            return Ok(None);
        }
        self.look_up()?;
        let to_append: Vec<usize> = (0..self.batch.len())
            .filter(|&i| !self.batch[i].present)
            .collect();
        if to_append.is_empty() {
            return Ok(None);
        }
        let (validity, next) = self.dest()?.status()?;
        self.next = Some(next);
        let mut intent = format!(
            "{}\n{validity} {next}\n{}\n{}",
            esc(&self.name()),
            esc(staged.mailbox),
            esc(&staged.validity.to_string())
        );
        for &i in &to_append {
            let id = staged.ids.get(i).copied().unwrap_or_default();
            intent.push_str(&format!(
                "\n{}\t{}",
                esc(id),
                esc(&self.batch[i].key.encode())
            ));
        }
        Ok(Some(Rollback(Intent {
            kind: KIND,
            data: intent.into_bytes(),
        })))
    }

    fn prepare(&mut self) -> Result<Prepared> {
        let present = self.batch.iter().filter(|s| s.present).count();
        let to_append: Vec<usize> = (0..self.batch.len())
            .filter(|&i| !self.batch[i].present)
            .collect();
        if to_append.is_empty() {
            return Ok(Prepared {
                present,
                ..Prepared::default()
            });
        }
        let outgoing: Vec<Outgoing> = to_append
            .iter()
            .map(|&i| Outgoing {
                flags: self.batch[i].flags,
                date: self.batch[i].date,
                len: self.batch[i].len,
            })
            .collect();
        let regions: Vec<(u64, u64)> = to_append
            .iter()
            .map(|&i| (self.batch[i].offset, self.batch[i].len))
            .collect();
        let mut spool = self
            .spool
            .take()
            .ok_or_else(|| Error::new(Class::LocalIo, "internal: no spool"))?;
        let mut text = |index: usize, write: &mut dyn FnMut(&[u8]) -> Result<()>| -> Result<()> {
            let (offset, len) = regions[index];
            spool
                .seek(SeekFrom::Start(offset))
                .map_err(|e| Error::local("reading the spool file", e))?;
            let mut left = len;
            let mut buf = vec![0u8; (256u64 << 10).min(len.max(1)) as usize];
            while left > 0 {
                let want = buf.len().min(left as usize);
                spool
                    .read_exact(&mut buf[..want])
                    .map_err(|e| Error::local("reading the spool file", e))?;
                write(&buf[..want])?;
                left -= want as u64;
            }
            Ok(())
        };
        let result = self.dest()?.append(&outgoing, &mut text);
        self.spool = Some(spool);
        let mut unconfirmed = Vec::new();
        for (stored, &i) in result?.into_iter().zip(&to_append) {
            match stored {
                Stored::Appended(Some(uid)) => {
                    self.claimed.insert(uid);
                }
                Stored::Appended(None) => unconfirmed.push(i),
                Stored::Refused(why) => {
                    let why = Refusal::permanent(format!(
                        "{} was not stored in {}: {why}",
                        self.batch[i].label,
                        self.name()
                    ));
                    self.refused.push((i, why));
                }
            }
        }
        self.read_back(&unconfirmed)?;
        Ok(Prepared {
            forward: None,
            refused: std::mem::take(&mut self.refused),
            present,
        })
    }

    fn commit(&mut self) -> Result<()> {
        self.clear();
        Ok(())
    }

    fn abort(&mut self) {
        self.clear();
    }

    fn recover(&mut self, unfinished: &Unfinished) -> Result<Option<Recovered>> {
        match unfinished {
            Unfinished::Rollback { kind, data } if kind == KIND => self.recover_intent(data),
            _ => Ok(None),
        }
    }

    fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }
}

impl Drop for ImapAppend {
    fn drop(&mut self) {
        if let Some(d) = self.dest.as_mut() {
            d.logout();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_fields_survive_the_intent() {
        for key in [Key::Id(42, "<a:b@c>".into()), Key::Text(7, "00ff".into())] {
            assert_eq!(Key::decode(&unesc(&esc(&key.encode()))), Some(key));
        }
        let odd = "a\tb\nc%0A";
        assert_eq!(unesc(&esc(odd)), odd);
        assert!(!esc(odd).contains(['\t', '\n']));
    }
}
