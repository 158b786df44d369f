//! The IMAP source (RFC 3501, with UIDPLUS RFC 4315, MOVE RFC 6851, special-use RFC 6154):
//! folders, UIDVALIDITY + UID state, a batched and pipelined fetch that never marks mail
//! read, flags, and keep or delete (or move).
//!
//! # Our own wire
//!
//! The client runs on the same blocking [`crate::net::Connection`] as POP3 (one connect path,
//! one TLS setup, the account's timeout on every read and write), with our own response
//! parser ([`wire`]), which knows where a literal is because it is parsing the response, and
//! checks each literal's length before a byte of it is read. It replaced async-imap and
//! imap-proto behind a blocking facade: a panic in imap-proto on one non-ASCII byte before
//! TLS, a literal guard outside the parser that a hostile server could desynchronise, a tokio
//! runtime per session, and error classes read from the library's error text.
//!
//! # How memory stays bounded
//!
//! Message bodies are streamed from the socket's buffer to the sink and never held whole;
//! what else is in memory is one response outside its bodies, bounded by
//! [`wire::MAX_RESPONSE`]:
//!
//! - the listing (`UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)`) is read response by
//!   response into the small per-message records; of a folder the state knows, only the
//!   UIDs are listed (`UID SEARCH` answers of at most a thousand), and the new ones in full
//!   ([`Imap::list_unknown`]);
//! - messages up to [`LARGE`] bytes are fetched in batches, one `UID FETCH set BODY.PEEK[]`
//!   for many messages, a batch holding at most [`BATCH_BYTES`] (and [`BATCH_MESSAGES`]
//!   messages); two batches are kept in flight so the link never idles between them;
//! - a message larger than [`LARGE`] is fetched alone in pieces of [`CHUNK`] bytes
//!   (`BODY.PEEK[]<offset.length>`, two pieces in flight) and streamed to the sink, so a 100 MB
//!   message costs a few MB;
//! - a body literal longer than [`session::body_limit`] of the message's listed size (or of
//!   the piece asked for) is refused as a protocol error before a byte of it is read.
//!
//! # Responses are matched by UID and tag, not by position
//!
//! RFC 3501 section 5.5 lets a server run pipelined commands concurrently, and Dovecot does:
//! with two batch fetches in flight, the second batch's messages can arrive in the middle of
//! the first's, and commands can complete in any order. So every response is routed by what
//! it says ([`Imap::pump`]): a body to whichever fetch in flight still waits for its UID, a
//! tagged completion to the command with that tag, wherever it is in the pipeline.
//!
//! A completed fetch that did not return some of its messages does not mean they are gone:
//! they are checked (`NOOP`, then `UID FETCH set (UID)`); those the server no longer has were
//! expunged meanwhile and are reported as such ([`Source::take_vanished`]), the others are
//! fetched again, at most [`REFETCHES`] times before the run fails naming them.
//!
//! Bodies leave here with LF line ends ([`crlf`]); `BODY.PEEK` never sets `\Seen`. Flags go to
//! the sink with the listing (Maildir keeps them as info letters); mbox gets no `Status:`
//! headers, because adding headers would break byte-exact delivery.
//!
//! # Keep, delete, move
//!
//! Mail is only touched after `pull` has made it durable and recorded it. Then, when the
//! account does not keep mail, it is marked `UID STORE +FLAGS.SILENT (\Deleted)` and removed
//! with `UID EXPUNGE` of exactly those UIDs when the server offers UIDPLUS. Without UIDPLUS a
//! plain `EXPUNGE` would remove every `\Deleted` message of the folder, so it is sent only
//! when `UID SEARCH DELETED` shows no message but ours; otherwise ours stay flagged and the
//! user is told. With `move-to`, fetched mail is moved there (`UID MOVE`, or `UID COPY` then
//! the delete above when the server lacks MOVE). These commands join the fetch pipeline. A
//! folder is opened with EXAMINE (read-only) when the account keeps mail, SELECT otherwise.
//! Messages that already carry `\Deleted` when first seen are someone else's deletion in
//! progress: `pull` leaves them alone.
//!
//! # Folders
//!
//! See [`folders`] for what `folders = "*"` selects (and the Gmail rule). Names are decoded
//! from modified UTF-7 ([`utf7`]) for display, the state and local folder names, and the
//! hierarchy delimiter goes to the sink with the listing, so `Work/Receipts` and
//! `Work.Receipts` servers both give the Maildir folder `.Work.Receipts`. From a server
//! offering Gmail's X-GM-EXT-1 the listing also asks X-GM-MSGID and X-GM-LABELS, which `pull`
//! uses to deliver each message once and keep its labels ([`crate::gmail`]); other servers'
//! listings are unchanged.
//!
//! # When the server says BYE or slows us down
//!
//! Throttling (Office 365's `NO [THROTTLED] ... Suggested Backoff Time`) is waited out and
//! the command repeated ([`session`]). A dropped connection or BYE (Office 365 ends busy
//! sessions) is answered by reconnecting after a pause, re-selecting the folder (its
//! UIDVALIDITY must not have changed) and resuming with the messages not yet delivered, at
//! most [`RECONNECTS`] times per run. NetEase's servers refuse SELECT ("Unsafe Login") to a
//! client that sent no ID (RFC 2971): the session sends ID at login where offered, and
//! [`Imap::select`] sends it after such a refusal, once, where it was not.

pub mod append;
mod crlf;
mod folders;
pub mod idle;
pub mod probe;
mod session;
pub mod utf7;
pub mod wire;

pub use folders::FolderInfo;

use crate::config::{Folders, GmailFolders};
use crate::error::{Class, Error, Result};
use crate::net::{Endpoint, Trace};
use crate::sasl::Login;
use crate::source::{Flags, GmailMessage, Known, Listing, RemoteMessage, Source};
use crlf::CrlfToLf;
use folders::Folder;
use session::{quote, Completion, Session, Status, Tag};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read};
use std::time::Duration;
use wire::{Code, Event, FetchData, Response, Untagged};

/// The capability of Gmail's IMAP extensions (X-GM-MSGID, X-GM-LABELS, ...).
pub(crate) const GMAIL_EXT: &str = "X-GM-EXT-1";

/// Messages larger than this are fetched alone, in pieces.
pub const LARGE: u64 = 8 << 20;
/// The size of one piece of a large message.
pub const CHUNK: u64 = 2 << 20;
/// A batch holds at most this many bytes (by RFC822.SIZE)...
pub const BATCH_BYTES: u64 = 16 << 20;
/// ...and this many messages.
pub const BATCH_MESSAGES: usize = 500;
/// Fetch commands kept in flight.
const WINDOW: usize = 2;
/// Reconnections allowed per run after BYE or a dropped connection.
pub const RECONNECTS: u32 = 3;
/// UIDs per command when a whole folder is asked for Message-IDs.
const IDS_PER_COMMAND: usize = 2000;
/// How often a message the server still has may be missing from a completed fetch (each
/// time it is checked and asked for again) before the run fails naming it.
pub const REFETCHES: u32 = 3;

/// What the account wants of its folders.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folders to fetch.
    pub folders: Folders,
    /// Move fetched mail here instead of deleting it.
    pub move_to: Option<String>,
    /// The Gmail profile: Gmail's folder rule for `"*"` even where the server does not offer
    /// X-GM-EXT-1 (see [`folders`]).
    pub gmail: bool,
    /// Whether mail may be changed on the server (SELECT rather than EXAMINE).
    pub writable: bool,
}

/// How to log in (again, after the server dropped us).
struct Credentials {
    endpoint: Endpoint,
    trace: Trace,
    auth: Login,
}

impl Credentials {
    fn login(&mut self) -> Result<Session> {
        let (endpoint, trace) = (&self.endpoint, &self.trace);
        self.auth
            .with_secret(|login, secret| Session::connect(endpoint, trace.clone(), login, secret))
    }
}

/// The selected folder.
struct Selected {
    folder: Folder,
    validity: u32,
    /// Its message count when selected.
    exists: u32,
    /// Its UIDNEXT when selected, if the server said (RFC 3501 requires it).
    uid_next: Option<u32>,
    /// Opened with EXAMINE.
    read_only: bool,
}

/// UIDs per `UID SEARCH` range (see [`Imap::search_uids`]): an answer is then at most
/// 1.1 MB (11 bytes a UID), a quarter of the bound on a response line
/// ([`wire::MAX_RESPONSE as u64`]), however many messages the folder holds.
const SEARCH_SPAN: u32 = 100_000;

/// Messages per `UID SEARCH` of [`Imap::present_uids`]: answers of at most 11 KB.
const SEARCH_NUMBERS: u32 = 1000;

/// `UID SEARCH` commands of [`Imap::present_uids`] pipelined at once (128,000 messages).
const SEARCH_WINDOW: usize = 128;

/// The UID sets that cover UIDs `from` and up in [`SEARCH_SPAN`]-wide ranges, given the
/// folder's UIDNEXT: up to UIDNEXT-1, never with `*` (GNU Mailutils' imap4d matches nothing
/// for `UID n:*`, so a search for our own \Deleted messages came back empty, and one for
/// mail stored after a crash found none). Without a UIDNEXT, one open-ended range.
fn search_ranges(from: u32, uid_next: Option<u32>) -> Vec<String> {
    let from = from.max(1);
    let Some(last) = uid_next.map(|n| n.saturating_sub(1)) else {
        return vec![format!("{from}:*")];
    };
    let mut ranges = Vec::new();
    let mut lo = from;
    while lo <= last {
        let hi = lo.saturating_add(SEARCH_SPAN - 1).min(last);
        ranges.push(format!("{lo}:{hi}"));
        if hi == u32::MAX {
            break;
        }
        lo = hi + 1;
    }
    ranges
}

/// The listing of the selected folder's messages: what `pull` plans with.
const LISTING: &str = "UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)";

/// [`LISTING`] for the UIDs `set`.
fn listing(set: &str) -> String {
    LISTING.replacen("1:*", set, 1)
}

/// UIDs per listing command of [`Imap::list_unknown`]: a set of scattered UIDs stays a
/// command line of some 11 KB.
const LISTING_SET: usize = 1000;

/// A planned fetch.
enum Planned {
    /// One `UID FETCH` for these (index in the fetch list, UID).
    Batch(Vec<(usize, u32)>),
    /// A large message, fetched in pieces.
    Large { index: usize, uid: u32, size: u64 },
}

/// A command whose responses are still to be read.
enum InFlight {
    /// A batch fetch; the messages not yet received.
    Fetch {
        tag: Tag,
        pending: VecDeque<(usize, u32)>,
    },
    /// `UID FETCH set (UID)` for messages a completed fetch did not return: which of them
    /// the server still has (`present`, as their answers arrive).
    Check {
        tag: Tag,
        uids: Vec<(usize, u32)>,
        present: HashSet<u32>,
    },
    /// A store, expunge, copy, move or NOOP: only its completion matters.
    Cleanup { tag: Tag, command: String },
}

impl InFlight {
    fn tag(&self) -> &str {
        match self {
            InFlight::Fetch { tag, .. }
            | InFlight::Check { tag, .. }
            | InFlight::Cleanup { tag, .. } => tag,
        }
    }
}

/// An authenticated IMAP session, the [`Source`] for IMAP accounts.
pub struct Imap {
    session: Session,
    credentials: Credentials,
    options: Options,
    listed: Option<Vec<Folder>>,
    chosen: HashMap<String, Folder>,
    selected: Option<Selected>,
    plan: VecDeque<Planned>,
    in_flight: VecDeque<InFlight>,
    /// UIDs we flagged `\Deleted` in the selected folder and that still await an EXPUNGE
    /// (servers without UIDPLUS).
    to_expunge: Vec<u32>,
    notices: Vec<String>,
    reconnects: u32,
    /// How often each UID of the current fetch was missing from a completed fetch while the
    /// server still had it.
    missed: HashMap<u32, u32>,
    /// Messages of the current fetch (indices) the server no longer had: expunged meanwhile.
    vanished: Vec<usize>,
    /// A body broken off by a lost connection, asked for again from this offset
    /// ([`Imap::resume`]).
    resuming: Option<(u32, u64)>,
    /// The listed size (RFC822.SIZE) of each message of the current fetch, by UID, which
    /// bounds what is accepted for it ([`session::body_limit`]).
    sizes: HashMap<u32, u64>,
    /// Gmail's X-GM-MSGID and labels of the open folder's listed messages, by UID (only from
    /// a server offering X-GM-EXT-1).
    gmail: HashMap<u32, GmailMessage>,
    /// What `"*"` fetches of Gmail beside All Mail ([`Imap::set_gmail_folders`]).
    gmail_folders: GmailFolders,
    /// ID was sent after a refused SELECT (see [`Imap::select`]).
    sent_id: bool,
}

impl Imap {
    /// Connect and log in.
    pub fn connect(
        endpoint: &Endpoint,
        trace: Trace,
        auth: Login,
        options: Options,
    ) -> Result<Imap> {
        let mut credentials = Credentials {
            endpoint: endpoint.clone(),
            trace,
            auth,
        };
        let session = credentials.login()?;
        Ok(Imap {
            session,
            credentials,
            options,
            listed: None,
            chosen: HashMap::new(),
            selected: None,
            plan: VecDeque::new(),
            in_flight: VecDeque::new(),
            to_expunge: Vec::new(),
            notices: Vec::new(),
            reconnects: 0,
            missed: HashMap::new(),
            vanished: Vec::new(),
            resuming: None,
            sizes: HashMap::new(),
            gmail: HashMap::new(),
            gmail_folders: GmailFolders::default(),
            sent_id: false,
        })
    }

    /// What `folders = "*"` fetches of Gmail beside All Mail (`gmail-spam`, `gmail-trash`;
    /// nothing unless set).
    pub fn set_gmail_folders(&mut self, folders: GmailFolders) {
        self.gmail_folders = folders;
    }

    /// The server's folders with their message counts (for `mailfetch folders`).
    pub fn folder_counts(&mut self) -> Result<Vec<FolderInfo>> {
        let listed = self.listed()?.to_vec();
        let move_to = self.options.move_to.clone();
        let gmail = self.gmail_folders();
        folders::counts(&mut self.session, &listed, gmail, move_to.as_deref())
    }

    /// Whether the server is Gmail's: it offers X-GM-EXT-1.
    fn gmail_ext(&self) -> bool {
        self.session.has(GMAIL_EXT)
    }

    /// Gmail's folder rule for `"*"` (see [`folders`]), for Gmail's server or profile.
    fn gmail_folders(&self) -> Option<GmailFolders> {
        (self.options.gmail || self.gmail_ext()).then_some(self.gmail_folders)
    }

    /// [`LISTING`] for the UIDs `set`, with X-GM-MSGID and X-GM-LABELS from Gmail's server.
    fn listing_command(&self, set: &str) -> String {
        let command = listing(set);
        if self.gmail_ext() {
            command.replacen(')', " X-GM-MSGID X-GM-LABELS)", 1)
        } else {
            command
        }
    }

    /// End the session (LOGOUT) without the end-of-folder work of [`Source::close`].
    pub fn logout(&mut self) {
        self.session.logout();
    }

    fn listed(&mut self) -> Result<&[Folder]> {
        if self.listed.is_none() {
            self.listed = Some(self.with_reconnect(|s| folders::list(&mut s.session))?);
        }
        Ok(self.listed.as_deref().unwrap_or_default())
    }

    /// Run `op`; when it failed because the connection is gone, reconnect and run it again
    /// (at most [`RECONNECTS`] times per run).
    fn with_reconnect<T>(&mut self, mut op: impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        loop {
            match op(self) {
                Err(e) if self.may_reconnect(&e) => {
                    self.reconnect(&e)?;
                }
                other => return other,
            }
        }
    }

    /// Whether `e` is a lost connection (EOF, an I/O error, BYE, a timeout: temporary
    /// failures) that a new connection may get past, with reconnects left. A protocol error
    /// leaves the session unusable too, but a broken or hostile server answers the same way
    /// again, so it ends the run at once (exit 76).
    fn may_reconnect(&self, e: &Error) -> bool {
        self.session.lost() && e.class() == Class::Temporary && self.reconnects < RECONNECTS
    }

    /// Replace a lost session: wait, log in again, re-select the folder (whose UIDVALIDITY
    /// must be unchanged), and put the fetches that were in flight back at the front of the
    /// plan. Stores, expunges and moves in flight are sent again (they are idempotent).
    fn reconnect(&mut self, why: &Error) -> Result<()> {
        self.reconnects += 1;
        let wait = Duration::from_secs(1 << self.reconnects.min(5));
        self.credentials.trace.note(&format!(
            "{}; reconnecting in {} s ({}/{RECONNECTS})",
            why.message(),
            wait.as_secs(),
            self.reconnects
        ));
        std::thread::sleep(wait);
        self.session = self.credentials.login()?;
        self.sent_id = false;
        let mut cleanups = Vec::new();
        let mut refetch = Vec::new();
        for f in std::mem::take(&mut self.in_flight) {
            match f {
                InFlight::Fetch { pending, .. } => refetch.extend(pending),
                InFlight::Check { uids, .. } => refetch.extend(uids),
                InFlight::Cleanup { command, .. } => cleanups.push(command),
            }
        }
        if !refetch.is_empty() {
            self.plan.push_front(Planned::Batch(refetch));
        }
        if let Some(selected) = self.selected.take() {
            let (validity, _) = self.select(&selected.folder, false, selected.read_only)?;
            if validity != selected.validity {
                return Err(Error::new(
                    Class::Temporary,
                    format!(
                        "the UIDVALIDITY of {} changed while mailfetch was reconnecting; \
                         the next run will sort it out",
                        selected.folder.name
                    ),
                ));
            }
        }
        for command in cleanups {
            self.queue_cleanup(command)?;
        }
        Ok(())
    }

    /// The connection was lost in the middle of the body of `uid`, `offset` bytes into it:
    /// connect again (see [`Imap::reconnect`]) and ask for the rest with a partial fetch
    /// (`BODY.PEEK[]<offset.n>`), so that the sink, which has the first part already, reads
    /// on as if nothing had happened. Returns once the rest's literal is next on the wire.
    fn resume(&mut self, why: &Error, uid: u32, offset: u64) -> Result<()> {
        self.reconnect(why)?;
        let listed = self.sizes.get(&uid).copied().unwrap_or(LARGE);
        let rest = session::body_limit(listed).saturating_sub(offset).max(1);
        let command = format!("UID FETCH {uid} (UID BODY.PEEK[]<{offset}.{rest}>)");
        self.queue_cleanup(command)?;
        let tag = self.in_flight.back().map(|f| f.tag().to_string());
        self.resuming = Some((uid, offset));
        loop {
            if let Some(Next::Resumed) = self.pump()? {
                return Ok(());
            }
            let answered = !self
                .in_flight
                .iter()
                .any(|f| Some(f.tag()) == tag.as_deref());
            if answered {
                self.resuming = None;
                return Err(Error::new(
                    Class::Temporary,
                    format!(
                        "{} no longer sends UID {uid} after reconnecting; it stays on the server",
                        self.session.peer()
                    ),
                ));
            }
        }
    }

    /// RFC 3501 sections 6.3.1 and 6.3.2: SELECT, or EXAMINE (`read_only`, for an account
    /// that keeps its mail; see [`Source::open`] for when). Returns the UIDVALIDITY and
    /// remembers the folder as selected. With `list`, the listing
    /// ([`LISTING`]) is sent right behind it, saving a round trip (RFC 3501 section 5.5: the
    /// server runs it once the select, which changes the state, is done), and its tag is
    /// returned with the UIDVALIDITY for [`Imap::list_messages`]; should the select fail, the
    /// listing's answer is read and dropped before the error is returned.
    fn select(
        &mut self,
        folder: &Folder,
        list: bool,
        read_only: bool,
    ) -> Result<(u32, Option<Tag>)> {
        let read_only_wanted = read_only;
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        let command = format!("{verb} {}", quote(&folder.wire));
        let mut validity = None;
        let mut uid_next = None;
        let mut exists = 0;
        let mut each = |resp: Response| {
            match resp {
                Response::Untagged(Untagged::State(c)) => match c.code {
                    Some(Code::UidValidity(v)) => validity = Some(v),
                    Some(Code::UidNext(n)) => uid_next = Some(n),
                    _ => {}
                },
                Response::Untagged(Untagged::Exists(n)) => exists = n,
                _ => {}
            }
            Ok(())
        };
        let mut attempts = 0;
        let (done, listing) = loop {
            let tag = self.session.send(&command)?;
            let listing = if list {
                let command = self.listing_command("1:*");
                Some(self.session.send(&command)?)
            } else {
                None
            };
            let done = self.session.complete(&tag, &mut each)?;
            if !done.throttled() || attempts == session::THROTTLE_RETRIES {
                break (done, listing);
            }
            if let Some(listing) = listing {
                self.session.complete(&listing, &mut |_| Ok(()))?;
            }
            attempts += 1;
            self.session.back_off(&done.text);
        };
        if done.status != Status::Ok {
            if let Some(listing) = &listing {
                self.session.complete(listing, &mut |_| Ok(()))?;
            }
        }
        let read_only = done.has_code("READ-ONLY");
        match done.status {
            Status::Ok => {}
            // NetEase (163.com, 126.com) refuses SELECT until the client has sent ID
            // (RFC 2971), which is sent at login where offered; a server that requires it
            // without offering it gets it now, and the select is tried once more.
            Status::No if unsafe_login(&done.text) && !self.sent_id => {
                self.sent_id = true;
                let id = session::ID_COMMAND;
                self.credentials
                    .trace
                    .note("the server wants ID before SELECT; sending it");
                // Its answer does not matter: a server that knows no ID says so.
                let tag = self.session.send(id)?;
                self.session.complete(&tag, &mut |_| Ok(()))?;
                return self.select(folder, list, read_only_wanted);
            }
            Status::No if unsafe_login(&done.text) => {
                return Err(Error::config(format!(
                    "{} refuses to open {:?} to this client even after ID: {} (NetEase \
                     servers want IMAP access and, for some accounts, a client authorization \
                     password enabled in the web mail's settings)",
                    self.session.peer(),
                    folder.name,
                    done.text.trim()
                )))
            }
            Status::No if !done.transient() => {
                return Err(Error::config(format!(
                    "folder {:?} cannot be opened on {}: {} (see `mailfetch folders ACCOUNT` \
                     for the folders there)",
                    folder.name,
                    self.session.peer(),
                    done.text.trim()
                )))
            }
            _ => return Err(self.session.refused(&command, &done)),
        }
        if read_only && self.options.writable {
            return Err(Error::protocol(format!(
                "{} opened {} read-only, so fetched mail could not be deleted; \
                 use keep = true for this folder's account",
                self.session.peer(),
                folder.name
            )));
        }
        let validity = validity.ok_or_else(|| {
            Error::protocol(format!(
                "{} sent no UIDVALIDITY for {}; mailfetch cannot track its messages",
                self.session.peer(),
                folder.name
            ))
        })?;
        self.selected = Some(Selected {
            folder: folder.clone(),
            validity,
            exists,
            uid_next,
            read_only,
        });
        Ok((validity, listing))
    }

    /// Leave the selected folder, if any, expunging nothing: RFC 3691 UNSELECT where
    /// offered, else CLOSE, which expunges only a folder selected read-write (RFC 3501
    /// section 6.4.2), so it is sent only for a read-only one.
    pub(crate) fn deselect(&mut self) -> Result<()> {
        let Some(selected) = self.selected.take() else {
            return Ok(());
        };
        let command = if self.session.has("UNSELECT") {
            "UNSELECT"
        } else if selected.read_only {
            "CLOSE"
        } else {
            return Err(Error::new(
                Class::Internal,
                "a folder selected read-write cannot be left without UNSELECT",
            ));
        };
        self.session.run(command, &mut |_| Ok(()))
    }

    /// RFC 3501 section 6.4.8: [`LISTING`] of the UIDs `set`, or the answer to the listing
    /// of all `sent` with the select. For an empty folder, where some servers refuse `1:*`,
    /// it is not sent, or its answer, whatever it is, means no messages.
    fn list_messages(&mut self, sent: Option<Tag>, set: &str) -> Result<Vec<RemoteMessage>> {
        let mut out = Vec::new();
        if self.selected.as_ref().is_some_and(|s| s.exists == 0) {
            if let Some(tag) = sent {
                self.session.complete(&tag, &mut |_| Ok(()))?;
            }
            return Ok(out);
        }
        let peer = self.session.peer().to_string();
        let folder = self
            .selected
            .as_ref()
            .map_or(String::new(), |s| format!(" in {}", s.folder.name));
        // The message number each UID was listed with: a UID listed for two messages is a
        // broken server (one of them could never be fetched), the same message listed twice
        // is not (a throttled listing is sent again). An EXPUNGE renumbers the messages.
        let mut numbers: HashMap<u32, u32> = HashMap::new();
        let mut gmail = Vec::new();
        let mut each = |resp: Response| {
            if let Response::Untagged(Untagged::Expunge(_)) = resp {
                numbers.clear();
            }
            if let Response::Untagged(Untagged::Fetch(number, data)) = resp {
                let FetchData {
                    uid,
                    size,
                    flags,
                    internal_date,
                    gm_msgid,
                    gm_labels,
                    ..
                } = data;
                let flags = flags.map(|f| map_flags(&f));
                let date = internal_date.as_deref().and_then(parse_internal_date);
                // Flag updates for other reasons come without size: skip them.
                if let (Some(uid), Some(size)) = (uid, size) {
                    let first = *numbers.entry(uid).or_insert(number);
                    if first != number {
                        return Err(Error::protocol(format!(
                            "{peer} listed UID {uid} for two messages ({first} and \
                             {number}){folder}: UIDs must be unique, so mailfetch cannot tell \
                             them apart (broken server)"
                        )));
                    }
                    if let Some(msgid) = gm_msgid {
                        let labels = gm_labels.unwrap_or_default();
                        let labels = labels
                            .iter()
                            .map(|l| utf7::decode(l).unwrap_or_else(|| l.clone()))
                            .collect();
                        gmail.push((uid, GmailMessage { msgid, labels }));
                    }
                    out.push(RemoteMessage {
                        id: uid.to_string(),
                        number: uid,
                        size,
                        flags: flags.unwrap_or_default(),
                        internal_date: date,
                    });
                } else if uid.is_none() {
                    return Err(Error::protocol(format!(
                        "{peer} answered UID FETCH without the UID"
                    )));
                }
            }
            Ok(())
        };
        let command = self.listing_command(set);
        match sent {
            Some(tag) => {
                let done = self.session.complete(&tag, &mut each)?;
                match done.status {
                    Status::Ok => {}
                    // Whatever came before the refusal is listed again: deduplicated below.
                    _ if done.throttled() => self.session.run(&command, &mut each)?,
                    _ => return Err(self.session.refused(&command, &done)),
                }
            }
            None => self.session.run(&command, &mut each)?,
        }
        self.gmail.extend(gmail);
        out.sort_by_key(|m| m.number);
        out.dedup_by_key(|m| m.number);
        Ok(out)
    }

    /// The listing of a folder whose UIDVALIDITY the state holds: its UIDs
    /// ([`Imap::present_uids`], a few bytes each), and [`LISTING`]'s items only for the UIDs
    /// not delivered before, in sets of at most [`LISTING_SET`]. A run with nothing new on a
    /// folder of 100,000 then reads one `* SEARCH` line instead of 100,000 FETCH responses.
    fn list_unknown(&mut self, known: &Known<'_>) -> Result<Vec<RemoteMessage>> {
        let uids = self.present_uids()?;
        let mut out = Vec::with_capacity(uids.len());
        let mut unknown = Vec::new();
        for uid in uids {
            let id = uid.to_string();
            if (known.delivered)(&id) {
                out.push(RemoteMessage::new(id, uid, 0));
            } else {
                unknown.push(uid);
            }
        }
        for chunk in unknown.chunks(LISTING_SET) {
            out.extend(self.list_messages(None, &uid_set(chunk))?);
        }
        out.sort_by_key(|m| m.number);
        out.dedup_by_key(|m| m.number);
        Ok(out)
    }

    /// The UIDs of every message of the selected folder: `UID SEARCH` by message number, in
    /// sets of [`SEARCH_NUMBERS`] messages up to the EXISTS of the select (mail arriving
    /// meanwhile is the next run's), all pipelined. Message numbers are the session's own
    /// and change only with an EXPUNGE response, so the union is exact unless one came: then
    /// it is asked again, and after a second renumbering by UID range
    /// ([`Imap::search_uids`]). Short answers keep every response line small.
    fn present_uids(&mut self) -> Result<Vec<u32>> {
        let exists = self.selected.as_ref().map_or(0, |s| s.exists);
        if exists == 0 {
            return Ok(Vec::new());
        }
        // EXISTS is the server's word: counted in u64, the room made for it bounded, and the
        // commands sent in windows, so a claim of four billion costs no memory up front.
        let exists = u64::from(exists);
        let span = u64::from(SEARCH_NUMBERS);
        for _ in 0..2 {
            let mut uids = Vec::with_capacity(exists.min(1 << 17) as usize);
            let mut renumbered = false;
            let mut lo = 1u64;
            let mut done = false;
            while !done {
                let mut window = Vec::with_capacity(SEARCH_WINDOW);
                while window.len() < SEARCH_WINDOW && !done {
                    let hi = (lo + span - 1).min(exists);
                    window.push(format!("UID SEARCH {lo}:{hi}"));
                    lo = hi + 1;
                    done = lo > exists;
                }
                self.session.run_pipelined(&window, &mut |resp| {
                    match resp {
                        Response::Untagged(Untagged::Search(found)) => uids.extend(found),
                        Response::Untagged(Untagged::Expunge(_)) => renumbered = true,
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            if !renumbered {
                uids.sort_unstable();
                uids.dedup();
                return Ok(uids);
            }
        }
        self.search_uids(1, "")
    }

    /// Send a store, expunge, copy or move now; its completion is read with the fetches.
    fn queue_cleanup(&mut self, command: String) -> Result<()> {
        let tag = self.session.send(&command)?;
        self.in_flight.push_back(InFlight::Cleanup { tag, command });
        Ok(())
    }

    /// Read every response still due, dropping planned fetches and the messages still
    /// awaited (used between folders, and before commands that are not pipelined).
    fn drain(&mut self) -> Result<()> {
        self.plan.clear();
        self.session.no_bodies();
        for f in &mut self.in_flight {
            match f {
                InFlight::Fetch { pending, .. } => pending.clear(),
                InFlight::Check { uids, .. } => uids.clear(),
                InFlight::Cleanup { .. } => {}
            }
        }
        while !self.in_flight.is_empty() {
            self.pump()?;
        }
        self.plan.clear();
        Ok(())
    }

    /// A cleanup command completed.
    fn cleanup_done(&mut self, done: Completion, command: String) -> Result<()> {
        match done.status {
            Status::Ok => Ok(()),
            _ if done.throttled() => {
                self.session.back_off(&done.text);
                self.queue_cleanup(command)
            }
            _ => Err(self.session.refused(&command, &done)),
        }
    }

    /// The selected folder's UIDs from `from` on that match `criteria` (search keys, or
    /// nothing for all), asked for in ranges of [`SEARCH_SPAN`] UIDs up to the folder's
    /// UIDNEXT (one command each, usually one in all), so that no `* SEARCH` answer
    /// outgrows the bound on a response line however large the folder (one answer for a
    /// folder of 400,000 would be 4.4 MB).
    pub(crate) fn search_uids(&mut self, from: u32, criteria: &str) -> Result<Vec<u32>> {
        let uid_next = self.selected.as_ref().and_then(|s| s.uid_next);
        let mut uids = Vec::new();
        for set in search_ranges(from, uid_next) {
            let command = format!("UID SEARCH UID {set} {criteria}");
            self.session.run(command.trim_end(), &mut |resp| {
                if let Response::Untagged(Untagged::Search(found)) = resp {
                    uids.extend(found);
                }
                Ok(())
            })?;
        }
        // `N:*` always includes the highest UID, even when it is below N.
        uids.retain(|&u| u >= from);
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// The end of a folder: everything in flight answered, and on a server without UIDPLUS
    /// the EXPUNGE of what we flagged, if that removes nothing else.
    fn finish_folder(&mut self) -> Result<()> {
        self.with_reconnect(|s| s.drain())?;
        if self.to_expunge.is_empty() {
            return Ok(());
        }
        let ours: HashSet<u32> = std::mem::take(&mut self.to_expunge).into_iter().collect();
        let flagged = self.search_uids(1, "DELETED")?;
        let foreign = flagged.iter().filter(|u| !ours.contains(u)).count();
        let name = self
            .selected
            .as_ref()
            .map_or(String::new(), |s| s.folder.name.clone());
        let seen_ours = ours.iter().filter(|u| flagged.contains(u)).count();
        if seen_ours < ours.len() {
            // The search does not show what we just flagged: it cannot be trusted to show
            // other clients' \Deleted mail either, and a plain EXPUNGE removes all of it.
            self.notices.push(format!(
                "{} fetched message{} in {name} {} flagged \\Deleted but not expunged: {} \
                 lacks UIDPLUS, and its SEARCH DELETED did not find them, so mailfetch cannot \
                 tell whether an EXPUNGE would remove other messages too (the next run tries \
                 again)",
                ours.len(),
                if ours.len() == 1 { "" } else { "s" },
                if ours.len() == 1 { "is" } else { "are" },
                self.session.peer(),
            ));
            return Ok(());
        }
        if foreign == 0 {
            self.session.run("EXPUNGE", &mut |_| Ok(()))?;
        } else {
            self.notices.push(format!(
                "{} fetched message{} in {name} {} flagged \\Deleted but not expunged: {} \
                 lacks UIDPLUS, and {foreign} other message{} there {} flagged \\Deleted too, \
                 which a plain EXPUNGE would remove; expunge the folder in your mail client \
                 (the next run tries again)",
                ours.len(),
                if ours.len() == 1 { "" } else { "s" },
                if ours.len() == 1 { "is" } else { "are" },
                self.session.peer(),
                if foreign == 1 { "" } else { "s" },
                if foreign == 1 { "is" } else { "are" },
            ));
        }
        Ok(())
    }

    /// Plan `messages` into batches by size, large messages alone.
    fn plan(messages: &[RemoteMessage]) -> VecDeque<Planned> {
        let mut plan = VecDeque::new();
        let mut batch: Vec<(usize, u32)> = Vec::new();
        let mut bytes = 0;
        for (index, m) in messages.iter().enumerate() {
            if m.size > LARGE {
                if !batch.is_empty() {
                    plan.push_back(Planned::Batch(std::mem::take(&mut batch)));
                    bytes = 0;
                }
                plan.push_back(Planned::Large {
                    index,
                    uid: m.number,
                    size: m.size,
                });
                continue;
            }
            if !batch.is_empty() && (bytes + m.size > BATCH_BYTES || batch.len() >= BATCH_MESSAGES)
            {
                plan.push_back(Planned::Batch(std::mem::take(&mut batch)));
                bytes = 0;
            }
            batch.push((index, m.number));
            bytes += m.size;
        }
        if !batch.is_empty() {
            plan.push_back(Planned::Batch(batch));
        }
        plan
    }

    /// Keep up to [`WINDOW`] batch fetches in flight.
    fn top_up(&mut self) -> Result<()> {
        loop {
            let fetching = self
                .in_flight
                .iter()
                .filter(|f| matches!(f, InFlight::Fetch { .. }))
                .count();
            if fetching >= WINDOW || !matches!(self.plan.front(), Some(Planned::Batch(_))) {
                return Ok(());
            }
            let Some(Planned::Batch(batch)) = self.plan.pop_front() else {
                return Ok(());
            };
            let uids: Vec<u32> = batch.iter().map(|&(_, uid)| uid).collect();
            for uid in &uids {
                if let Some(&size) = self.sizes.get(uid) {
                    self.session.expect_body(*uid, size);
                }
            }
            let command = format!("UID FETCH {} (UID BODY.PEEK[])", uid_set(&uids));
            let tag = self.session.send(&command)?;
            self.in_flight.push_back(InFlight::Fetch {
                tag,
                pending: batch.into(),
            });
        }
    }

    /// The next message of the pipeline: a body to stream (its literal is next on the
    /// wire), one already read (its UID came after it), a large message to fetch in pieces,
    /// or the end.
    fn next(&mut self) -> Result<Next> {
        loop {
            self.top_up()?;
            if self.in_flight.is_empty() {
                return Ok(match self.plan.pop_front() {
                    None => Next::End,
                    Some(Planned::Large { index, uid, size }) => Next::Large { index, uid, size },
                    Some(Planned::Batch(_)) => unreachable!("batches are sent by top_up"),
                });
            }
            if let Some(next) = self.pump()? {
                return Ok(next);
            }
        }
    }

    /// The fetch in flight that still waits for the body of `uid`: take it off the list and
    /// return its index in the fetch list.
    fn awaited(&mut self, uid: u32) -> Option<usize> {
        for f in &mut self.in_flight {
            if let InFlight::Fetch { pending, .. } = f {
                if let Some(at) = pending.iter().position(|&(_, u)| u == uid) {
                    return pending.remove(at).map(|(index, _)| index);
                }
            }
        }
        None
    }

    /// Read one response of the pipeline and route it by what it says: a body goes to the
    /// fetch in flight that still waits for its UID (and is returned, its bytes still on the
    /// wire), a UID to the checks that asked for it, a tagged completion to the command with
    /// that tag, wherever these are in the pipeline (see the module documentation). A body
    /// nobody waits for (sent twice, or unasked) is skipped.
    fn pump(&mut self) -> Result<Option<Next>> {
        match self.session.read_event()? {
            Event::Body(head)
                if head.section.is_empty()
                    && self.resuming.is_some()
                    && self.resuming == head.items.uid.zip(head.origin) =>
            {
                self.resuming = None;
                let limit = self.session.limit_for(&head, session::MAX_LITERAL);
                self.session.check_body(&head, limit)?;
                Ok(Some(Next::Resumed))
            }
            Event::Body(head) if head.section.is_empty() && head.origin.is_none() => {
                let limit = self.session.limit_for(&head, session::MAX_LITERAL);
                self.session.check_body(&head, limit)?;
                let Some(uid) = head.items.uid else {
                    // The UID comes after the body (RFC 3501 lets items come in any order):
                    // the body is read, within the bound of the largest one expected, and
                    // routed once the rest of the answer names it.
                    let body = self.read_whole_body(head.len)?;
                    let rest = match self.session.read_event()? {
                        Event::Response(Response::Untagged(Untagged::Fetch(_, rest))) => rest,
                        _ => unreachable!("the rest of a FETCH answer is a FETCH answer"),
                    };
                    let Some(uid) = rest.uid else {
                        return Err(Error::protocol(format!(
                            "{} sent a message body without its UID",
                            self.session.peer()
                        )));
                    };
                    self.received(uid);
                    return Ok(self.awaited(uid).map(|index| Next::Read { index, body }));
                };
                self.received(uid);
                Ok(self.awaited(uid).map(|index| Next::Stream { index, uid }))
            }
            Event::Body(_) => Ok(None),
            Event::Response(Response::Tagged(tag, done)) => {
                let Some(at) = self.in_flight.iter().position(|f| f.tag() == tag) else {
                    if self.session.absorb(&tag, &done) {
                        return Ok(None);
                    }
                    return Err(Error::protocol(format!(
                        "{} completed {}, which mailfetch had not sent or saw completed already",
                        self.session.peer(),
                        wire::printable(tag.as_bytes())
                    )));
                };
                match self.in_flight.remove(at).expect("found") {
                    InFlight::Fetch { pending, .. } => self.fetch_done(done, pending)?,
                    InFlight::Check { uids, present, .. } => {
                        self.check_done(done, uids, &present)?
                    }
                    InFlight::Cleanup { command, .. } => self.cleanup_done(done, command)?,
                }
                Ok(None)
            }
            Event::Response(Response::Untagged(Untagged::Fetch(_, data))) => {
                if let Some(uid) = data.uid {
                    self.present(uid);
                }
                Ok(None)
            }
            Event::Response(_) => Ok(None),
        }
    }

    /// The server sent the body of `uid`.
    fn received(&mut self, uid: u32) {
        self.present(uid);
        self.session.body_done(uid);
    }

    /// Read the body literal whose head was just read, `len` bytes (already checked against
    /// its bound), converted to LF.
    fn read_whole_body(&mut self, len: u64) -> Result<Vec<u8>> {
        let mut raw = Vec::new();
        let mut buf = vec![0u8; (64 << 10).min(len as usize)];
        loop {
            let n = self.session.read_body(&mut buf)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let mut body = Vec::with_capacity(raw.len());
        let mut crlf = CrlfToLf::default();
        crlf.convert_all(&raw, &mut body);
        body.extend_from_slice(crlf.finish());
        Ok(body)
    }

    /// The server answered for `uid`: it still has it.
    fn present(&mut self, uid: u32) {
        for f in &mut self.in_flight {
            if let InFlight::Check { uids, present, .. } = f {
                if uids.iter().any(|&(_, u)| u == uid) {
                    present.insert(uid);
                }
            }
        }
    }

    /// A batch fetch completed. When throttled, its messages not received are fetched again;
    /// otherwise those it did not return are checked ([`Imap::check`]): they may have been
    /// expunged meanwhile, or not.
    fn fetch_done(&mut self, done: Completion, pending: VecDeque<(usize, u32)>) -> Result<()> {
        // Not received: expected again once asked for again.
        for &(_, uid) in &pending {
            self.session.body_done(uid);
        }
        if done.throttled() {
            if !pending.is_empty() {
                self.session.back_off(&done.text);
                self.plan.push_front(Planned::Batch(pending.into()));
            }
            return Ok(());
        }
        match done.status {
            Status::Ok => {}
            // RFC 5530 EXPUNGEISSUED: another client expunged some of them meanwhile.
            Status::No if done.text.contains("EXPUNGE") => {}
            _ => return Err(self.session.refused("UID FETCH", &done)),
        }
        self.check(pending.into())
    }

    /// Ask which of `uids` the server still has: a NOOP first, so that what other clients
    /// expunged reaches this session's view, then `UID FETCH set (UID)`, whose answers name
    /// their UIDs wherever they land in the pipeline (unlike `* SEARCH`).
    fn check(&mut self, uids: Vec<(usize, u32)>) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        self.queue_cleanup("NOOP".to_string())?;
        let set = uid_set(&uids.iter().map(|&(_, u)| u).collect::<Vec<_>>());
        let tag = self.session.send(&format!("UID FETCH {set} (UID)"))?;
        self.in_flight.push_back(InFlight::Check {
            tag,
            uids,
            present: HashSet::new(),
        });
        Ok(())
    }

    /// A check completed: what the server no longer has was expunged meanwhile (reported by
    /// [`Source::take_vanished`]); the rest is fetched again, unless the server has already
    /// failed to send it [`REFETCHES`] times, which is an error naming the UIDs.
    fn check_done(
        &mut self,
        done: Completion,
        uids: Vec<(usize, u32)>,
        present: &HashSet<u32>,
    ) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        if done.throttled() {
            self.session.back_off(&done.text);
            return self.check(uids);
        }
        match done.status {
            Status::Ok => {}
            Status::No if done.text.contains("EXPUNGE") => {}
            _ => return Err(self.session.refused("UID FETCH", &done)),
        }
        let (still, gone): (Vec<_>, Vec<_>) =
            uids.into_iter().partition(|(_, u)| present.contains(u));
        let trace = self.credentials.trace.clone();
        if !gone.is_empty() {
            trace.note(&format!(
                "expunged meanwhile, not fetched: UID {}",
                uid_set(&gone.iter().map(|&(_, u)| u).collect::<Vec<_>>())
            ));
            self.vanished.extend(gone.iter().map(|&(i, _)| i));
        }
        if still.is_empty() {
            return Ok(());
        }
        let mut stuck = Vec::new();
        for &(_, uid) in &still {
            let missed = self.missed.entry(uid).or_default();
            *missed += 1;
            if *missed >= REFETCHES {
                stuck.push(uid);
            }
        }
        if !stuck.is_empty() {
            let folder = self
                .selected
                .as_ref()
                .map_or(String::new(), |s| format!(" in {}", s.folder.name));
            return Err(Error::protocol(format!(
                "{} answered {REFETCHES} fetches of UID {}{folder} without sending {}, yet \
                 still has {}; {} on the server",
                self.session.peer(),
                uid_set(&stuck),
                if stuck.len() == 1 { "it" } else { "them" },
                if stuck.len() == 1 { "it" } else { "them" },
                if stuck.len() == 1 {
                    "the message stays"
                } else {
                    "the messages stay"
                },
            )));
        }
        trace.note(&format!(
            "the server still has UID {}, which a completed fetch did not return: asking again",
            uid_set(&still.iter().map(|&(_, u)| u).collect::<Vec<_>>())
        ));
        self.plan.push_front(Planned::Batch(still));
        Ok(())
    }
}

/// What the pipeline produced.
enum Next {
    /// A message whose body literal is next on the wire, to stream ([`Streamed`]).
    Stream { index: usize, uid: u32 },
    /// The rest of a body broken off by a lost connection is next on the wire
    /// ([`Imap::resume`]).
    Resumed,
    /// A message read already, with LF line ends.
    Read { index: usize, body: Vec<u8> },
    /// A large message, to be fetched in pieces.
    Large { index: usize, uid: u32, size: u64 },
    /// Everything planned was fetched.
    End,
}

/// A body streamed from the wire as the sink reads it, converted to LF in the caller's
/// buffer (no copy of our own): a CR that ends one read is held back until the next shows
/// whether an LF follows. Whatever the sink does not read is skipped by the next read of
/// the session.
struct Streamed<'a> {
    imap: &'a mut Imap,
    /// The message, and the bytes of it read off the wire so far: where a new connection
    /// picks up when the old one is lost mid-body ([`Imap::resume`]).
    uid: u32,
    raw: u64,
    held_cr: bool,
    /// A byte read after a held CR that was not LF, owed to the reader.
    owed: Option<u8>,
    done: bool,
}

impl Streamed<'_> {
    /// Read raw bytes of the body; a lost connection is replaced and the body goes on from
    /// where it broke off.
    fn body(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.imap.session.read_body(buf) {
                Ok(n) => {
                    self.raw += n as u64;
                    return Ok(n);
                }
                Err(e) if self.imap.may_reconnect(&e) => self
                    .imap
                    .resume(&e, self.uid, self.raw)
                    .map_err(Error::into_io)?,
                Err(e) => return Err(e.into_io()),
            }
        }
    }

    /// A read of one byte (no room to put a held CR in front of what follows).
    fn read_one(&mut self, out: &mut u8) -> io::Result<usize> {
        loop {
            let mut b = [0u8];
            let n = self.body(&mut b)?;
            if n == 0 {
                self.done = true;
                if std::mem::take(&mut self.held_cr) {
                    *out = b'\r';
                    return Ok(1);
                }
                return Ok(0);
            }
            match (self.held_cr, b[0]) {
                (true, b'\n') => {
                    self.held_cr = false;
                    *out = b'\n';
                }
                // The held CR goes out; the new one is held in its place.
                (true, b'\r') => *out = b'\r',
                (true, other) => {
                    self.held_cr = false;
                    self.owed = Some(other);
                    *out = b'\r';
                }
                (false, b'\r') if self.imap.session.body_left() > 0 => {
                    self.held_cr = true;
                    continue;
                }
                (false, other) => *out = other,
            }
            return Ok(1);
        }
    }
}

impl Read for Streamed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(b) = self.owed.take() {
            buf[0] = b;
            return Ok(1);
        }
        if self.done {
            return Ok(0);
        }
        if buf.len() == 1 {
            return self.read_one(&mut buf[0]);
        }
        loop {
            let start = usize::from(self.held_cr);
            if self.held_cr {
                buf[0] = b'\r';
                self.held_cr = false;
            }
            let n = self.body(&mut buf[start..])?;
            if n == 0 {
                self.done = true;
                return Ok(start);
            }
            let mut out = crlf::to_lf_in_place(&mut buf[..start + n]);
            if out > 0 && buf[out - 1] == b'\r' && self.imap.session.body_left() > 0 {
                out -= 1;
                self.held_cr = true;
            }
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

/// Whether a refused SELECT says what NetEase's servers say to a client that sent no ID:
/// `NO SELECT Unsafe Login. Please contact kefu@188.com for help`.
fn unsafe_login(text: &str) -> bool {
    text.to_ascii_lowercase().contains("unsafe login")
}

/// IMAP flags to the ones a store can keep.
fn map_flags(flags: &[String]) -> Flags {
    let mut out = Flags::default();
    for f in flags {
        match f.to_ascii_lowercase().as_str() {
            "\\seen" => out.seen = true,
            "\\answered" => out.answered = true,
            "\\flagged" => out.flagged = true,
            "\\draft" => out.draft = true,
            "\\deleted" => out.deleted = true,
            _ => {}
        }
    }
    out
}

/// INTERNALDATE (`17-Jul-1996 02:44:25 -0700`) as seconds since the epoch.
fn parse_internal_date(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(text.trim(), "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|d| d.timestamp())
}

/// A UID set in the short form: `1:5,7,9:12` (sorted, duplicates merged).
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

impl Source for Imap {
    fn mailboxes(&mut self) -> Result<Vec<String>> {
        // INBOX alone (the default) needs no LIST: its name is the same on every server
        // and its mail goes to the root of a Maildir, whatever the delimiter. One round
        // trip less on every run.
        if let Folders::Named(names) = &self.options.folders {
            if !names.is_empty() && names.iter().all(|n| n == "INBOX") {
                let inbox = Folder::assumed("INBOX", None);
                self.chosen = HashMap::from([(inbox.name.clone(), inbox)]);
                return Ok(vec!["INBOX".to_string()]);
            }
        }
        let listed = self.listed()?.to_vec();
        let chosen = folders::choose(
            &listed,
            &self.options.folders,
            self.gmail_folders(),
            self.options.move_to.as_deref(),
        );
        let names = chosen.iter().map(|f| f.name.clone()).collect();
        self.chosen = chosen.into_iter().map(|f| (f.name.clone(), f)).collect();
        Ok(names)
    }

    fn open(&mut self, mailbox: &str, known: &Known<'_>) -> Result<Listing> {
        self.finish_folder()?;
        let folder = match self.chosen.get(mailbox) {
            Some(f) => f.clone(),
            None => {
                let delimiter = self.listed()?.iter().find_map(|f| f.delimiter);
                Folder::assumed(mailbox, delimiter)
            }
        };
        self.with_reconnect(|s| {
            s.selected = None;
            s.gmail.clear();
            // A folder that keeps its mail is opened read-only (EXAMINE), so that not even
            // \Recent changes. Courier-IMAP keeps a folder's UIDs only once a client SELECTs
            // it: a folder only ever EXAMINEd can get a new UIDVALIDITY every session, so
            // one that seems to have changed under EXAMINE is checked again with SELECT
            // before its mail is taken for new (BODY.PEEK still leaves \Seen alone).
            let read_only = !s.options.writable;
            // With nothing known, the full listing goes right behind the select.
            let (mut validity, listing) = s.select(&folder, known.validity.is_none(), read_only)?;
            if read_only
                && known.validity.is_some()
                && known.validity != Some(crate::identity::Validity::Uid(validity))
            {
                validity = s.select(&folder, false, false)?.0;
            }
            let validity = crate::identity::Validity::Uid(validity);
            let messages = if known.validity == Some(validity) {
                s.list_unknown(known)?
            } else {
                s.list_messages(listing, "1:*")?
            };
            Ok(Listing {
                validity,
                messages,
                delimiter: folder.delimiter,
            })
        })
    }

    fn fetch(&mut self, messages: &[RemoteMessage]) -> Result<()> {
        self.sizes = messages.iter().map(|m| (m.number, m.size)).collect();
        self.missed.clear();
        self.vanished.clear();
        self.plan.extend(Self::plan(messages));
        Ok(())
    }

    fn take_vanished(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.vanished)
    }

    fn gmail(&self, message: &RemoteMessage) -> Option<&GmailMessage> {
        self.gmail.get(&message.number)
    }

    fn stop_fetch(&mut self) -> Result<()> {
        // The batch fetches in flight are read to their completions, their bodies dropped;
        // the planned ones are never sent.
        self.with_reconnect(|s| s.drain())
    }

    fn next_message(&mut self) -> Result<Option<(usize, Box<dyn Read + '_>)>> {
        match self.with_reconnect(|s| s.next())? {
            Next::End => Ok(None),
            Next::Read { index, body } => Ok(Some((index, Box::new(io::Cursor::new(body))))),
            Next::Resumed => unreachable!("only while resuming"),
            Next::Stream { index, uid } => Ok(Some((
                index,
                Box::new(Streamed {
                    imap: self,
                    uid,
                    raw: 0,
                    held_cr: false,
                    owed: None,
                    done: false,
                }),
            ))),
            Next::Large { index, uid, size } => Ok(Some((
                index,
                Box::new(LargeBody {
                    imap: self,
                    uid,
                    size,
                    next_offset: 0,
                    in_flight: VecDeque::new(),
                    buf: Vec::new(),
                    pos: 0,
                    crlf: CrlfToLf::default(),
                    eof: false,
                    received: 0,
                }),
            ))),
        }
    }

    fn delete(&mut self, messages: &[RemoteMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let uids: Vec<u32> = messages.iter().map(|m| m.number).collect();
        let set = uid_set(&uids);
        let uidplus = self.session.has("UIDPLUS");
        let mut commands = Vec::new();
        match &self.options.move_to {
            Some(to) if self.session.has("MOVE") => {
                commands.push(format!("UID MOVE {set} {}", quote(&utf7::encode(to))));
            }
            Some(to) => {
                commands.push(format!("UID COPY {set} {}", quote(&utf7::encode(to))));
                commands.push(format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"));
            }
            None => commands.push(format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)")),
        }
        let moved = commands[0].starts_with("UID MOVE");
        if !moved {
            if uidplus {
                commands.push(format!("UID EXPUNGE {set}"));
            } else {
                self.to_expunge.extend(&uids);
            }
        }
        self.with_reconnect(|s| {
            for c in &commands {
                s.queue_cleanup(c.clone())?;
            }
            Ok(())
        })
    }

    fn close(&mut self) -> Result<()> {
        let result = self.finish_folder();
        self.session.logout();
        result
    }

    fn message_ids(&mut self, messages: &[RemoteMessage]) -> Result<Vec<Option<String>>> {
        let mut by_uid: HashMap<u32, String> = HashMap::new();
        self.headers(messages, Some(&["Message-ID"]), &mut |i, header| {
            if let Some(id) = crate::header::message_id(header) {
                by_uid.insert(messages[i].number, id);
            }
            Ok(())
        })?;
        Ok(messages.iter().map(|m| by_uid.remove(&m.number)).collect())
    }

    /// RFC 3501 section 6.4.8: `UID FETCH set (UID BODY.PEEK[HEADER]<0.N>)` (or
    /// `HEADER.FIELDS (...)`) in batches; the partial fetch bounds what the server sends.
    fn headers(
        &mut self,
        messages: &[RemoteMessage],
        fields: Option<&[&str]>,
        each: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let section = match fields {
            Some(f) => format!("HEADER.FIELDS ({})", f.join(" ").to_ascii_uppercase()),
            None => "HEADER".to_string(),
        };
        let index: HashMap<u32, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.number, i))
            .collect();
        // Commands run one at a time from here: first the answers still due (deletions).
        self.with_reconnect(|s| s.drain())?;
        for chunk in messages.chunks(IDS_PER_COMMAND) {
            let uids: Vec<u32> = chunk.iter().map(|m| m.number).collect();
            let command = format!(
                "UID FETCH {} (UID BODY.PEEK[{section}]<0.{}>)",
                uid_set(&uids),
                crate::header::MAX
            );
            self.with_reconnect(|s| {
                for &uid in &uids {
                    s.session.expect_body(uid, crate::header::MAX as u64 / 2);
                }
                let result = s.session.run(&command, &mut |resp| {
                    let Response::Untagged(Untagged::Fetch(_, data)) = resp else {
                        return Ok(());
                    };
                    let header = data.body.and_then(|b| b.data);
                    let (Some(i), Some(header)) = (data.uid.and_then(|u| index.get(&u)), header)
                    else {
                        return Ok(());
                    };
                    let mut lf = Vec::with_capacity(header.len());
                    let mut crlf = CrlfToLf::default();
                    crlf.convert_all(&header, &mut lf);
                    lf.extend_from_slice(crlf.finish());
                    crate::header::cut(&mut lf);
                    each(*i, &lf)
                });
                s.session.no_bodies();
                result
            })?;
        }
        Ok(())
    }

    fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }
}

/// A large message, fetched in pieces of [`CHUNK`] bytes as it is read (two pieces in
/// flight), converted to LF on the way. The server's size only decides how many pieces to ask
/// for ahead: the message ends with the first short piece. Pieces are matched to their
/// requests by origin offset and completions by tag, as the server may answer the two
/// requests in flight interleaved or in either order.
struct LargeBody<'a> {
    imap: &'a mut Imap,
    uid: u32,
    size: u64,
    next_offset: u64,
    in_flight: VecDeque<Asked>,
    /// The piece being read, converted to LF.
    buf: Vec<u8>,
    pos: usize,
    crlf: CrlfToLf,
    eof: bool,
    /// Bytes of the message received so far, as the server sent them.
    received: u64,
}

/// A piece asked for: its command's tag and offset, and what has arrived of its answer (the
/// piece as the server sent it, and the completion).
struct Asked {
    tag: Tag,
    offset: u64,
    data: Option<Vec<u8>>,
    done: Option<Completion>,
}

/// A response read while pieces are in flight.
enum PieceEvent {
    Done(Tag, Completion),
    /// A piece of our message: its origin offset and bytes.
    Data(u64, Vec<u8>),
    Other,
}

impl LargeBody<'_> {
    /// Ask for the next piece.
    fn request(&mut self) -> Result<()> {
        let offset = self.next_offset;
        let command = format!("UID FETCH {} (UID BODY.PEEK[]<{offset}.{CHUNK}>)", self.uid);
        self.imap.session.expect_body(self.uid, CHUNK);
        let tag = self.imap.session.send(&command)?;
        self.in_flight.push_back(Asked {
            tag,
            offset,
            data: None,
            done: None,
        });
        self.next_offset += CHUNK;
        Ok(())
    }

    /// Read one response and file it with the request it answers.
    fn read_response(&mut self) -> Result<()> {
        let uid = self.uid;
        let event = match self.imap.session.read()? {
            Response::Tagged(tag, completion) => PieceEvent::Done(tag, completion),
            Response::Untagged(Untagged::Fetch(_, data)) if data.uid == Some(uid) => {
                match data.body {
                    Some(wire::Body {
                        section,
                        origin,
                        data: Some(data),
                    }) if section.is_empty() => PieceEvent::Data(origin.unwrap_or(0), data),
                    _ => PieceEvent::Other,
                }
            }
            _ => PieceEvent::Other,
        };
        match event {
            PieceEvent::Done(tag, completion) => {
                let Some(asked) = self.in_flight.iter_mut().find(|a| a.tag == tag) else {
                    if self.imap.session.absorb(&tag, &completion) {
                        return Ok(());
                    }
                    return Err(Error::protocol(format!(
                        "{} completed {}, which mailfetch had not sent or saw completed already",
                        self.imap.session.peer(),
                        wire::printable(tag.as_bytes())
                    )));
                };
                asked.done = Some(completion);
            }
            PieceEvent::Data(origin, data) => {
                if let Some(asked) = self
                    .in_flight
                    .iter_mut()
                    .find(|a| a.offset == origin && a.done.is_none())
                {
                    asked.data = Some(data);
                }
            }
            PieceEvent::Other => {}
        }
        Ok(())
    }

    /// Receive the piece at the head of the pipeline.
    fn receive(&mut self) -> Result<Piece> {
        while self.in_flight.len() < WINDOW
            && (self.next_offset < self.size || self.in_flight.is_empty())
        {
            self.request()?;
        }
        while self.in_flight.front().is_some_and(|a| a.done.is_none()) {
            self.read_response()?;
        }
        let Some(Asked {
            offset, data, done, ..
        }) = self.in_flight.pop_front()
        else {
            return Ok(Piece::Data(None));
        };
        let done = done.expect("read to its completion");
        match done.status {
            Status::Ok => Ok(Piece::Data(data.map(|data| {
                let mut converted = Vec::with_capacity(data.len() + 1);
                self.crlf.convert_all(&data, &mut converted);
                (data.len() as u64, converted)
            }))),
            _ if done.throttled() => {
                self.imap.session.back_off(&done.text);
                self.restart(offset)?;
                Ok(Piece::Again)
            }
            _ => Err(self.imap.session.refused("UID FETCH", &done)),
        }
    }

    /// Forget what is in flight and go on from `offset` (after throttling or a reconnect).
    fn restart(&mut self, offset: u64) -> Result<()> {
        while self.in_flight.iter().any(|a| a.done.is_none()) {
            self.read_response()?;
        }
        self.in_flight.clear();
        self.next_offset = offset;
        Ok(())
    }

    /// The next piece (`None` past the end), waiting out throttling and reconnecting if
    /// the server dropped us (the piece is then asked for again), both a bounded number of
    /// times.
    fn next_piece(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        let mut throttled = 0;
        loop {
            let offset = self
                .in_flight
                .front()
                .map_or(self.next_offset, |a| a.offset);
            match self.receive() {
                Ok(Piece::Data(piece)) => return Ok(piece),
                Ok(Piece::Again) if throttled < session::THROTTLE_RETRIES => throttled += 1,
                Ok(Piece::Again) => {
                    return Err(Error::new(
                        Class::Temporary,
                        format!("{} keeps throttling; try later", self.imap.session.peer()),
                    ))
                }
                Err(e) if self.imap.may_reconnect(&e) => {
                    self.in_flight.clear();
                    self.imap.reconnect(&e)?;
                    self.imap.drain_cleanups()?;
                    self.next_offset = offset;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What asking for a piece gave.
enum Piece {
    /// The piece: its size on the wire and its bytes with LF line ends (`None`: nothing
    /// there, the message has ended).
    Data(Option<(u64, Vec<u8>)>),
    /// The server was throttling; ask again.
    Again,
}

impl Imap {
    /// Read the completions of cleanup commands resent by a reconnect, before the large
    /// message's pieces are asked for again.
    fn drain_cleanups(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.pump()?;
        }
        Ok(())
    }
}

impl Read for LargeBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.buf.len() {
                let n = buf.len().min(self.buf.len() - self.pos);
                buf[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.eof {
                return Ok(0);
            }
            self.buf.clear();
            self.pos = 0;
            match self.next_piece().map_err(Error::into_io)? {
                Some((wire, data)) => {
                    self.buf = data;
                    self.received += wire;
                    let limit = session::body_limit(self.size);
                    if self.received > limit {
                        // Pieces that keep coming full, long past the listed size.
                        return Err(Error::protocol(format!(
                            "{} sent more than {limit} bytes for UID {}, which it listed as {} \
                             bytes (RFC822.SIZE) (broken or hostile server)",
                            self.imap.session.peer(),
                            self.uid,
                            self.size
                        ))
                        .into_io());
                    }
                    if wire < CHUNK {
                        self.eof = true;
                    }
                }
                None => self.eof = true,
            }
            if self.eof && self.received == 0 && self.size > 0 {
                // Nothing at all came back: the message went away (expunged by another
                // client) after it was listed. Delivering it empty would be wrong.
                return Err(Error::new(
                    Class::Temporary,
                    format!(
                        "{} sent no data for UID {} ({} bytes listed); was it expunged meanwhile?",
                        self.imap.session.peer(),
                        self.uid,
                        self.size
                    ),
                )
                .into_io());
            }
            if self.eof {
                // Answers to pieces asked for ahead are read before the session is used on.
                let offset = self.next_offset;
                self.restart(offset).map_err(Error::into_io)?;
                self.buf.extend_from_slice(self.crlf.finish());
            }
        }
    }
}

/// Run a whole session against a server that sends `script` whatever is asked (served on
/// a loopback port, then the connection is closed): connect, log in, list the folders, open
/// each, fetch what is listed, delete it, close. Errors are the expected outcome; a panic,
/// a hang or an allocation sized by the script is the bug. For the fuzz target that drives
/// the client's state machine with arbitrary server bytes.
#[doc(hidden)]
pub fn drive_for_fuzzing(script: &[u8]) {
    use std::io::Write;
    let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
        return;
    };
    let Ok(port) = listener.local_addr().map(|a| a.port()) else {
        return;
    };
    let script = script.to_vec();
    let server = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = conn.write_all(&script);
            let _ = conn.shutdown(std::net::Shutdown::Write);
            // Drain what the client sends until it hangs up.
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = io::copy(&mut conn, &mut io::sink());
        }
    });
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port,
        tls: crate::net::TlsMode::None,
        tls_settings: Default::default(),
        timeout: Duration::from_secs(2),
    };
    let auth = Login {
        user: "u".into(),
        method: crate::sasl::AuthMethod::Auto,
        allow_plaintext: true,
        credential: Box::new(crate::secret::Fixed(crate::secret::Secret::new("p".into()))),
    };
    let options = Options {
        folders: Folders::All,
        move_to: None,
        gmail: false,
        writable: true,
    };
    if let Ok(mut imap) = Imap::connect(&endpoint, Trace::off(), auth, options) {
        imap.reconnects = RECONNECTS;
        let _ = (|| -> Result<()> {
            for mailbox in imap.mailboxes()? {
                let listing = imap.open(&mailbox, &Known::nothing())?;
                imap.fetch(&listing.messages)?;
                while let Some((_, mut body)) = imap.next_message()? {
                    io::copy(&mut body, &mut io::sink())
                        .map_err(|e| Error::network("reading", e))?;
                }
                imap.delete(&listing.messages)?;
            }
            imap.close()
        })();
    }
    let _ = server.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_asks_for_spans_of_uids_up_to_uidnext_never_star() {
        assert_eq!(search_ranges(1, None), ["1:*"]);
        assert_eq!(search_ranges(0, Some(50)), ["1:49"]);
        assert_eq!(search_ranges(1, Some(100_001)), ["1:100000"]);
        assert_eq!(
            search_ranges(1, Some(250_001)),
            ["1:100000", "100001:200000", "200001:250000"]
        );
        assert!(search_ranges(300_000, Some(250_001)).is_empty());
        assert!(search_ranges(1, Some(1)).is_empty());
        assert_eq!(
            search_ranges(u32::MAX - 150_000, Some(u32::MAX))
                .last()
                .unwrap(),
            &format!("{}:{}", u32::MAX - 50_000, u32::MAX - 1)
        );
    }

    #[test]
    fn no_search_range_answer_can_outgrow_the_line_bound() {
        let longest = "* SEARCH".len() as u64 + u64::from(SEARCH_SPAN) * 11 + 2;
        assert!(longest * 3 < wire::MAX_RESPONSE as u64, "{longest}");
    }

    fn msg(uid: u32, size: u64) -> RemoteMessage {
        RemoteMessage {
            id: uid.to_string(),
            number: uid,
            size,
            flags: Flags::default(),
            internal_date: None,
        }
    }

    #[test]
    fn uid_sets_are_compressed_into_ranges() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 7, 9, 10, 11, 3]), "1:3,5,7,9:11");
        assert_eq!(uid_set(&[42]), "42");
    }

    #[test]
    fn batches_are_bounded_and_large_messages_go_alone() {
        let messages = vec![
            msg(1, 10 << 20),
            msg(2, 7 << 20),
            msg(3, 7 << 20),
            msg(4, 7 << 20),
            msg(5, 100 << 20),
            msg(6, 1),
        ];
        let plan: Vec<String> = Imap::plan(&messages)
            .into_iter()
            .map(|p| match p {
                Planned::Batch(b) => format!("{:?}", b.iter().map(|x| x.1).collect::<Vec<_>>()),
                Planned::Large { uid, .. } => format!("L{uid}"),
            })
            .collect();
        assert_eq!(plan, ["L1", "[2, 3]", "[4]", "L5", "[6]"]);
        let many: Vec<RemoteMessage> = (1..=1200).map(|u| msg(u, 100)).collect();
        assert_eq!(Imap::plan(&many).len(), 3);
    }

    #[test]
    fn internal_date_and_flags_are_mapped() {
        assert_eq!(
            parse_internal_date("17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_internal_date(" 1-Jan-2001 00:00:00 +0000"),
            Some(978_307_200)
        );
        let flags = map_flags(&["\\Seen".into(), "\\ANSWERED".into(), "$Junk".into()]);
        assert!(flags.seen && flags.answered && !flags.flagged && !flags.deleted);
    }
}
