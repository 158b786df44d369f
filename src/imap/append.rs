//! The IMAP destination: storing messages in a folder of an IMAP account, for the `imap:`
//! target and `mailfetch upload`. It runs on the IMAP source's own session ([`Imap`]:
//! connection, TLS, login, throttling), so the folder can also be listed and read back (for
//! recognising mail that is already there, and for `verify`), and adds:
//!
//! - RFC 3501 section 6.3.11 APPEND, with the message's flags and INTERNALDATE;
//! - RFC 7888 non-synchronizing literals, LITERAL+ (any size) or LITERAL- (up to 4096
//!   bytes), so a message follows its command without a round trip; without them, each
//!   literal waits for the server's `+` go-ahead;
//! - RFC 3502 MULTIAPPEND: many messages in one command, which the server stores all or none;
//!   when it refuses such a command, the messages are sent again one by one so that only the
//!   one it will not take is left out;
//! - RFC 4315 UIDPLUS: the `APPENDUID` the server gave each stored message;
//! - RFC 7889 APPENDLIMIT, RFC 4469 and RFC 5530 (`[TOOBIG]`, or any other refusal of one
//!   message): that message is refused by name, the others go on;
//! - RFC 3501 sections 6.3.3 and 6.3.6: CREATE and SUBSCRIBE of a missing folder, also when
//!   the server answers `[TRYCREATE]` because it vanished meanwhile.
//!
//! Failures that concern the session rather than one message (a dropped connection, BYE,
//! throttling that does not end, an RFC 5530 transient code such as `[OVERQUOTA]`) are
//! errors of the whole call: the caller cannot know which messages arrived and must find out
//! by listing the folder (see `sink::ImapAppend`).

use super::folders::Folder;
use super::session::{quote, Completion, Status, Tag};
use super::wire::{Code, Response, Untagged};
use super::{utf7, Imap, Options, RECONNECTS};
use crate::config::Folders;
use crate::error::{Class, Error, Result};
use crate::fingerprint::{self, BodyDigest, TextDigest};
use crate::net::{Endpoint, Trace};
use crate::sasl::Login;
use crate::source::{Flags, RemoteMessage, Source};
use std::collections::HashMap;

/// Messages larger than this go alone rather than in a MULTIAPPEND with others.
const MULTI_BYTES: u64 = 16 << 20;
/// Messages per MULTIAPPEND command at most.
const MULTI_MESSAGES: usize = 100;
/// The largest literal LITERAL- lets us send without waiting (RFC 7888 section 4).
const LITERAL_MINUS: u64 = 4096;
/// Bytes of message text written at a time.
const WRITE_CHUNK: usize = 256 << 10;

/// One message to store: its flags, its INTERNALDATE (seconds since the epoch; the server
/// uses the time of the APPEND without one) and the length of its text, which is sent with
/// CRLF line ends.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing {
    /// Flags to set (`\Deleted` is never set on a stored message).
    pub flags: Flags,
    /// INTERNALDATE.
    pub date: Option<i64>,
    /// Bytes of text, exactly.
    pub len: u64,
}

/// What became of one message of an [`Destination::append`].
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// The server stored it, under this UID when it said (UIDPLUS).
    Appended(Option<u32>),
    /// The server will not take it, for this reason; the others were not affected.
    Refused(String),
}

/// A message in the folder, as looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its UID.
    pub uid: u32,
    /// RFC822.SIZE: its size with CRLF line ends.
    pub size: u64,
    /// Its Message-ID, if it has one.
    pub message_id: Option<String>,
}

/// Which digest [`Destination::digest_each`] computes.
#[derive(Clone, Copy)]
enum Digest {
    Text,
    Body,
}

/// Message-IDs per SEARCH command (each is one `HEADER Message-ID` key).
const IDS_PER_SEARCH: usize = 50;

/// Streams the text of message `index` (of the batch given to [`Destination::append`]) into
/// the writer it is handed, exactly [`Outgoing::len`] bytes; called again for a message that
/// has to be sent a second time.
pub type Text<'a> = dyn FnMut(usize, &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> + 'a;

/// A folder of an IMAP account that messages are stored into.
pub struct Destination {
    imap: Imap,
    folder: Folder,
    /// Whether the folder was created by us in this session.
    created: bool,
}

/// The tagged end of an APPEND, with the UIDs the server gave (UIDPLUS).
struct Done {
    completion: Completion,
    uids: Vec<u32>,
}

impl Destination {
    /// Connect, log in and make sure `folder` exists: create it (and subscribe to it) when
    /// `create` is set, else a missing folder is a configuration error.
    pub fn connect(
        endpoint: &Endpoint,
        trace: Trace,
        auth: Login,
        folder: &str,
        create: bool,
    ) -> Result<Destination> {
        let options = Options {
            folders: Folders::Named(vec![folder.to_string()]),
            move_to: None,
            gmail: false,
            writable: false,
        };
        let imap = Imap::connect(endpoint, trace, auth, options)?;
        let mut d = Destination {
            imap,
            folder: Folder::assumed(folder, None),
            created: false,
        };
        match d.find()? {
            Some(listed) => d.folder = listed,
            None if create => d.create()?,
            None => {
                return Err(Error::config(format!(
                    "there is no folder {folder:?} on {} (see `mailfetch folders`)",
                    d.imap.session.peer()
                )))
            }
        }
        Ok(d)
    }

    /// `host:port`, for messages.
    pub fn peer(&self) -> &str {
        self.imap.session.peer()
    }

    /// Whether the folder was created in this session.
    pub fn created(&self) -> bool {
        self.created
    }

    /// The session as a [`Source`], to list the folder (`open` with [`Destination::folder`])
    /// and read its messages back.
    pub fn source(&mut self) -> &mut dyn Source {
        &mut self.imap
    }

    /// The folder's name (UTF-8).
    pub fn folder(&self) -> &str {
        &self.folder.name
    }

    /// The largest message the server accepts (RFC 7889 `APPENDLIMIT=N`), if it says.
    pub fn append_limit(&self) -> Option<u64> {
        self.imap
            .session
            .capability_value("APPENDLIMIT")
            .and_then(|v| v.parse().ok())
    }

    /// End the session.
    pub fn logout(&mut self) {
        self.imap.logout();
    }

    /// RFC 3501 section 6.3.10: `STATUS FOLDER (UIDVALIDITY UIDNEXT)`.
    pub fn status(&mut self) -> Result<(u32, u32)> {
        let command = format!("STATUS {} (UIDVALIDITY UIDNEXT)", quote(&self.folder.wire));
        let (mut validity, mut next) = (None, None);
        self.imap.session.run(&command, &mut |resp| {
            if let Response::Untagged(Untagged::Status(_, items)) = resp {
                for (name, value) in items {
                    let value = u32::try_from(value).ok();
                    match name.as_str() {
                        "UIDVALIDITY" => validity = value,
                        "UIDNEXT" => next = value,
                        _ => {}
                    }
                }
            }
            Ok(())
        })?;
        match (validity, next) {
            (Some(v), Some(n)) => Ok((v, n)),
            _ => Err(Error::protocol(format!(
                "{} did not tell the UIDVALIDITY and UIDNEXT of {}",
                self.peer(),
                self.folder.name
            ))),
        }
    }

    /// Open the folder for the searches below, read-only (EXAMINE); returns its UIDVALIDITY
    /// and whether it holds any message. Never SELECT: GNU Mailutils' imap4d writes a
    /// read-write mailbox back when the session ends, from the view it had, and sessions
    /// cut by a kill -9 mid-batch so wiped out messages that later sessions had appended
    /// and seen (17 of 44 in the interop matrix's migration line). [`Destination::append`]
    /// leaves the folder first, since Courier refuses an APPEND into the folder that is
    /// selected read-only.
    fn examine(&mut self) -> Result<(u32, bool)> {
        let folder = self.folder.clone();
        let (validity, _) = self.imap.select(&folder, false, true)?;
        let exists = self.imap.selected.as_ref().is_some_and(|s| s.exists > 0);
        Ok((validity, exists))
    }

    /// The messages whose Message-ID is one of `ids` (RFC 3501 section 6.4.4 `UID SEARCH
    /// HEADER Message-ID`, a substring match, then their exact Message-IDs and sizes). IDs
    /// that are not plain ASCII cannot be searched for without a charset and are left out.
    pub fn with_message_ids(&mut self, ids: &[&str]) -> Result<Vec<Found>> {
        let ids: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| id.is_ascii() && !id.chars().any(|c| c.is_ascii_control()))
            .collect();
        if ids.is_empty() || !self.examine()?.1 {
            return Ok(Vec::new());
        }
        let mut uids = Vec::new();
        for chunk in ids.chunks(IDS_PER_SEARCH) {
            let mut command = "UID SEARCH".to_string();
            for _ in 1..chunk.len() {
                command.push_str(" OR");
            }
            for id in chunk {
                command.push_str(&format!(" HEADER Message-ID {}", quote(id)));
            }
            uids.extend(self.search(&command)?);
        }
        let wanted: std::collections::HashSet<&str> = ids.into_iter().collect();
        let mut found = self.describe(&uids)?;
        found.retain(|f| f.message_id.as_deref().is_some_and(|m| wanted.contains(m)));
        Ok(found)
    }

    /// The messages with a UID of `from` or more (those stored since UIDNEXT was `from`).
    pub fn since(&mut self, from: u32) -> Result<Vec<Found>> {
        if !self.examine()?.1 {
            return Ok(Vec::new());
        }
        let uids = self.imap.search_uids(from, "")?;
        self.describe(&uids)
    }

    /// The messages without a Message-ID field.
    pub fn without_message_id(&mut self) -> Result<Vec<Found>> {
        if !self.examine()?.1 {
            return Ok(Vec::new());
        }
        let uids = self.imap.search_uids(1, "NOT HEADER Message-ID \"\"")?;
        self.describe(&uids)
    }

    fn search(&mut self, command: &str) -> Result<Vec<u32>> {
        let mut uids = Vec::new();
        self.imap.session.run(command, &mut |resp| {
            if let Response::Untagged(Untagged::Search(found)) = resp {
                uids.extend(found);
            }
            Ok(())
        })?;
        Ok(uids)
    }

    /// The size and Message-ID of each of `uids`.
    fn describe(&mut self, uids: &[u32]) -> Result<Vec<Found>> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(super::IDS_PER_COMMAND) {
            let command = format!(
                "UID FETCH {} (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
                super::uid_set(chunk)
            );
            self.imap.session.run(&command, &mut |resp| {
                if let Response::Untagged(Untagged::Fetch(_, data)) = resp {
                    let id = data
                        .body
                        .and_then(|b| b.data)
                        .and_then(|d| crate::header::message_id(&d));
                    if let (Some(uid), Some(size)) = (data.uid, data.size) {
                        out.push(Found {
                            uid,
                            size,
                            message_id: id,
                        });
                    }
                }
                Ok(())
            })?;
        }
        out.sort_by_key(|f| f.uid);
        out.dedup_by_key(|f| f.uid);
        Ok(out)
    }

    /// The text digest ([`TextDigest`]) of each of `found`, by UID (messages that vanished
    /// meanwhile are left out).
    pub fn digests(&mut self, found: &[Found]) -> Result<HashMap<u32, String>> {
        self.digest_each(found, Digest::Text)
    }

    /// The body digest ([`BodyDigest`]) of each of `found`, by UID: what still matches a
    /// message whose stored headers the server rewrote.
    pub fn body_digests(&mut self, found: &[Found]) -> Result<HashMap<u32, String>> {
        self.digest_each(found, Digest::Body)
    }

    fn digest_each(&mut self, found: &[Found], kind: Digest) -> Result<HashMap<u32, String>> {
        let mut out = HashMap::new();
        if found.is_empty() {
            return Ok(out);
        }
        self.examine()?;
        let messages: Vec<RemoteMessage> = found
            .iter()
            .map(|f| RemoteMessage {
                id: f.uid.to_string(),
                number: f.uid,
                size: f.size,
                flags: Flags::default(),
                internal_date: None,
            })
            .collect();
        let source = self.source();
        source.fetch(&messages)?;
        while let Some((index, mut body)) = source.next_message()? {
            let (mut text, mut only_body) = (TextDigest::default(), BodyDigest::default());
            fingerprint::read_all(&mut body, |data| match kind {
                Digest::Text => text.update(data),
                Digest::Body => only_body.update(data),
            })
            .map_err(|e| Error::network("reading a message", e))?;
            let digest = match kind {
                Digest::Text => text.finish(),
                Digest::Body => only_body.finish(),
            };
            out.insert(messages[index].number, digest);
        }
        Ok(out)
    }

    /// RFC 3501 section 6.3.8: `LIST "" FOLDER`, the folder as the server lists it, if it
    /// exists and can hold messages.
    fn find(&mut self) -> Result<Option<Folder>> {
        let command = format!("LIST \"\" {}", quote(&self.folder.wire));
        let mut found = None;
        let wanted = self.folder.wire.clone();
        let inbox = wanted.eq_ignore_ascii_case("INBOX");
        self.imap.session.run(&command, &mut |resp| {
            if let Response::Untagged(Untagged::List(data)) = resp {
                let name = data.name;
                let same = name == wanted || (inbox && name.eq_ignore_ascii_case("INBOX"));
                if same && super::folders::selectable(&data.attributes) {
                    let name = utf7::decode(&name).unwrap_or(name);
                    found = Some(Folder::assumed(&name, data.delimiter));
                }
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// RFC 3501 sections 6.3.3 and 6.3.6: CREATE the folder (an `[ALREADYEXISTS]` answer is
    /// as good: another client was quicker), then SUBSCRIBE to it so mail clients show it.
    fn create(&mut self) -> Result<()> {
        let command = format!("CREATE {}", quote(&self.folder.wire));
        let tag = self.imap.session.send(&command)?;
        let done = self.imap.session.complete(&tag, &mut |_| Ok(()))?;
        if done.status != Status::Ok && !done.has_code("ALREADYEXISTS") {
            return Err(self.imap.session.refused(&command, &done));
        }
        // Not being subscribed only hides the folder in some clients.
        let _ = self.imap.session.run(
            &format!("SUBSCRIBE {}", quote(&self.folder.wire)),
            &mut |_| Ok(()),
        );
        self.created = true;
        Ok(())
    }

    /// Store `batch` in the folder: messages over the server's APPENDLIMIT are refused
    /// without being sent; the rest go in MULTIAPPEND commands when the server offers them,
    /// else one APPEND each. `text` streams each message's text. The result has one entry
    /// per message of `batch`.
    pub fn append(&mut self, batch: &[Outgoing], text: &mut Text<'_>) -> Result<Vec<Stored>> {
        self.imap.deselect()?;
        let limit = self.append_limit();
        let mut out: Vec<Option<Stored>> = batch.iter().map(|_| None).collect();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let multi = self.imap.session.has("MULTIAPPEND");
        let mut bytes = 0;
        for (i, m) in batch.iter().enumerate() {
            if let Some(limit) = limit.filter(|l| m.len > *l) {
                out[i] = Some(Stored::Refused(format!(
                    "it is {} bytes and {} takes at most {limit} bytes per message \
                     (APPENDLIMIT)",
                    m.len,
                    self.peer()
                )));
                continue;
            }
            let join = multi
                && groups.last().is_some_and(|g| g.len() < MULTI_MESSAGES)
                && bytes + m.len <= MULTI_BYTES;
            if join {
                groups.last_mut().expect("checked").push(i);
                bytes += m.len;
            } else {
                groups.push(vec![i]);
                bytes = m.len;
            }
        }
        for group in groups {
            for (i, stored) in group.iter().zip(self.store(batch, &group, text)?) {
                out[*i] = Some(stored);
            }
        }
        Ok(out
            .into_iter()
            .map(|s| s.expect("every message is refused or stored"))
            .collect())
    }

    /// Store the messages `group` of `batch` with one command, waiting out throttling,
    /// creating the folder on `[TRYCREATE]`, and sending them one by one when the server
    /// refuses a MULTIAPPEND.
    fn store(
        &mut self,
        batch: &[Outgoing],
        group: &[usize],
        text: &mut Text<'_>,
    ) -> Result<Vec<Stored>> {
        let mut throttled = 0;
        let mut recreated = false;
        loop {
            let done = self.command(batch, group, text)?;
            let c = &done.completion;
            match c.status {
                Status::Ok => {
                    let uids = if done.uids.len() == group.len() {
                        done.uids.iter().map(|&u| Some(u)).collect()
                    } else {
                        vec![None; group.len()]
                    };
                    return Ok(uids.into_iter().map(Stored::Appended).collect());
                }
                Status::No if c.throttled() && throttled < RECONNECTS => {
                    throttled += 1;
                    self.imap.session.back_off(&c.text);
                }
                Status::No if c.has_code("TRYCREATE") && !recreated => {
                    recreated = true;
                    self.create()?;
                }
                Status::No if !c.transient() && group.len() > 1 => {
                    let mut out = Vec::with_capacity(group.len());
                    for &i in group {
                        out.extend(self.store(batch, &[i], text)?);
                    }
                    return Ok(out);
                }
                Status::No if !c.transient() => {
                    return Ok(vec![Stored::Refused(format!(
                        "{} refused it: {}",
                        self.peer(),
                        c.text.trim()
                    ))])
                }
                _ => return Err(self.imap.session.refused("APPEND", c)),
            }
        }
    }

    /// The part of an APPEND that precedes a message's literal: `(FLAGS) "DATE" {N+}`.
    fn literal_header(&self, m: &Outgoing) -> (String, bool) {
        let s = &self.imap.session;
        let sync = !(s.has("LITERAL+") || (s.has("LITERAL-") && m.len <= LITERAL_MINUS));
        let mut part = String::new();
        let f = m.flags;
        let flags: Vec<&str> = [
            (f.seen, "\\Seen"),
            (f.answered, "\\Answered"),
            (f.flagged, "\\Flagged"),
            (f.draft, "\\Draft"),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| *name)
        .collect();
        if !flags.is_empty() {
            part.push_str(&format!("({}) ", flags.join(" ")));
        }
        if let Some(date) = m.date.and_then(|d| chrono::DateTime::from_timestamp(d, 0)) {
            part.push_str(&format!("\"{}\" ", date.format("%d-%b-%Y %H:%M:%S +0000")));
        }
        part.push_str(&format!("{{{}{}}}", m.len, if sync { "" } else { "+" }));
        (part, sync)
    }

    /// Send one APPEND (a MULTIAPPEND when `group` has several messages) and read its end.
    fn command(
        &mut self,
        batch: &[Outgoing],
        group: &[usize],
        text: &mut Text<'_>,
    ) -> Result<Done> {
        let mut tag = None;
        for &i in group {
            let m = &batch[i];
            let (part, sync) = self.literal_header(m);
            match &tag {
                None => {
                    let line = format!("APPEND {} {part}", quote(&self.folder.wire));
                    tag = Some(self.imap.session.send(&line)?);
                }
                Some(_) => {
                    let line = format!(" {part}\r\n");
                    self.imap
                        .session
                        .write_raw(line.as_bytes(), Some(line.trim()), sync)?;
                }
            }
            let tag = tag.as_ref().expect("just sent");
            if sync {
                if let Some(done) = self.go_ahead(tag)? {
                    return Ok(done);
                }
            }
            self.literal(i, m.len, text)?;
        }
        let tag = tag.ok_or_else(|| Error::protocol("internal: an APPEND of no messages"))?;
        self.imap.session.write_raw(b"\r\n", None, true)?;
        loop {
            let resp = self.imap.session.read()?;
            if let Some(done) = self.done_of(resp, &tag)? {
                return Ok(done);
            }
        }
    }

    /// Wait for the `+` that lets a synchronizing literal go; `Some` when the server ended
    /// the command instead (it will not take the message).
    fn go_ahead(&mut self, tag: &Tag) -> Result<Option<Done>> {
        loop {
            match self.imap.session.read()? {
                Response::Continue(_) => return Ok(None),
                resp => {
                    if let Some(done) = self.done_of(resp, tag)? {
                        return Ok(Some(done));
                    }
                }
            }
        }
    }

    /// Send the text of message `index`, exactly `len` bytes.
    fn literal(&mut self, index: usize, len: u64, text: &mut Text<'_>) -> Result<()> {
        let session = &mut self.imap.session;
        let mut sent = 0u64;
        let mut pending: Vec<u8> = Vec::with_capacity(WRITE_CHUNK.min(len as usize));
        let shown = format!("<{len} bytes of message text>");
        let mut first = true;
        let mut write = |data: &[u8]| -> Result<()> {
            sent += data.len() as u64;
            if sent > len {
                return Err(Error::new(
                    Class::LocalIo,
                    "internal: a message grew while it was sent",
                ));
            }
            pending.extend_from_slice(data);
            if pending.len() >= WRITE_CHUNK {
                let shown = first.then_some(shown.as_str());
                first = false;
                session.write_raw(&pending, shown, false)?;
                pending.clear();
            }
            Ok(())
        };
        text(index, &mut write)?;
        if sent != len {
            return Err(Error::new(
                Class::LocalIo,
                format!("internal: a message of {len} bytes gave {sent}"),
            ));
        }
        let shown = first.then_some(shown.as_str());
        session.write_raw(&pending, shown, false)
    }
}

/// The most UIDs one APPENDUID may name: a MULTIAPPEND stores at most [`MULTI_MESSAGES`],
/// so a server naming more (`1:4000000000`) is not believed, and not expanded.
const MAX_APPENDUID: u64 = MULTI_MESSAGES as u64;

impl Destination {
    /// The end of the command tagged `tag`, if `resp` is it, with the APPENDUID UIDs.
    /// Another command's completion here is the session out of step.
    fn done_of(&mut self, resp: Response, tag: &str) -> Result<Option<Done>> {
        let Response::Tagged(done_tag, completion) = resp else {
            return Ok(None);
        };
        if done_tag != tag {
            if self.imap.session.absorb(&done_tag, &completion) {
                return Ok(None);
            }
            return Err(Error::protocol(format!(
                "{} completed command {} while {tag} was due",
                self.peer(),
                super::wire::printable(done_tag.as_bytes())
            )));
        }
        let mut uids = Vec::new();
        if let Some(Code::AppendUid(_, set)) = &completion.code {
            let count: u64 = set.iter().map(|&(lo, hi)| u64::from(hi - lo) + 1).sum();
            if count <= MAX_APPENDUID {
                uids = set.iter().flat_map(|&(lo, hi)| lo..=hi).collect();
            }
        }
        Ok(Some(Done { completion, uids }))
    }
}
