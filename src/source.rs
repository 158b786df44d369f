//! What `pull` needs from any mail source (POP3, IMAP): the mailboxes, a listing of each with
//! stable ids, a stream of message bodies, and deletion. A source knows nothing of where mail
//! goes; `pull` knows nothing of the protocol.

use crate::error::Result;
use crate::identity::Validity;
use std::io::Read;

/// IMAP system flags that have a Maildir equivalent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// \Seen
    pub seen: bool,
    /// \Answered
    pub answered: bool,
    /// \Flagged
    pub flagged: bool,
    /// \Draft
    pub draft: bool,
    /// \Deleted
    pub deleted: bool,
}

impl Flags {
    /// Whether any flag is set.
    pub fn any(&self) -> bool {
        self.seen || self.answered || self.flagged || self.draft || self.deleted
    }
}

/// One message as the server lists it.
#[derive(Debug, Clone)]
pub struct RemoteMessage {
    /// The stable id recorded in the state: the POP3 UIDL, or the IMAP UID in decimal.
    pub id: String,
    /// The protocol's handle: POP3 message number, IMAP UID.
    pub number: u32,
    /// Size in octets as the server counts it (CRLF line ends).
    pub size: u64,
    /// Flags (IMAP only).
    pub flags: Flags,
    /// INTERNALDATE as seconds since the epoch (IMAP only).
    pub internal_date: Option<i64>,
}

impl RemoteMessage {
    /// A message known by its ID, number and size only: no flags, no date (POP3 has
    /// neither; a brief listing leaves them out).
    pub fn new(id: String, number: u32, size: u64) -> RemoteMessage {
        RemoteMessage {
            id,
            number,
            size,
            flags: Flags::default(),
            internal_date: None,
        }
    }
}

/// Gmail's identity and labels of a listed message (X-GM-EXT-1): the same message shows in
/// the folder of each of its labels, under one X-GM-MSGID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailMessage {
    /// X-GM-MSGID, unique in the account and never reused.
    pub msgid: u64,
    /// X-GM-LABELS, decoded from modified UTF-7 (system labels such as `\Inbox` as sent).
    pub labels: Vec<String>,
}

/// What the state already holds of a mailbox, so that a source can list less of it: a
/// message delivered before needs no size, flags or date, only whether it is still there. A
/// pull with nothing new on a large IMAP folder then asks for its UIDs alone.
#[derive(Clone, Copy)]
pub struct Known<'a> {
    /// The validity the state's IDs are relative to; `None`: nothing is known.
    pub validity: Option<Validity>,
    /// Whether the message with this ID (under `validity`) was delivered.
    pub delivered: &'a dyn Fn(&str) -> bool,
}

impl Known<'_> {
    /// Nothing known: every message is listed in full.
    pub fn nothing() -> Known<'static> {
        Known {
            validity: None,
            delivered: &|_| false,
        }
    }
}

/// A mailbox's contents.
#[derive(Debug, Clone)]
pub struct Listing {
    /// What the ids are relative to: the IMAP UIDVALIDITY; permanent for POP3, whose UIDLs
    /// are permanent by definition.
    pub validity: Validity,
    /// Every message, in server order. Those [`Known`] says were delivered under this
    /// validity may come with their ID and number only (size 0, no flags, no date).
    pub messages: Vec<RemoteMessage>,
    /// The mailbox's hierarchy delimiter (IMAP LIST), so that a store can mirror the folder
    /// tree: `Work/Receipts` and `Work.Receipts` name the same local folder when `/` and `.`
    /// are their servers' delimiters. `None` for flat names (POP3, or a server without one).
    pub delimiter: Option<char>,
}

/// A mail source: one authenticated session.
pub trait Source {
    /// The mailboxes to fetch from, in order (POP3: only `INBOX`).
    fn mailboxes(&mut self) -> Result<Vec<String>>;

    /// Select `mailbox` and list it; what is `known` of it may be listed in brief.
    fn open(&mut self, mailbox: &str, known: &Known<'_>) -> Result<Listing>;

    /// Start fetching `messages` (from the open mailbox's listing), in this order. The source
    /// may pipeline or batch as it likes; bodies come out of [`Source::next_message`] in order,
    /// but for a message the source had to ask for again, which comes later.
    fn fetch(&mut self, messages: &[RemoteMessage]) -> Result<()>;

    /// The next fetched message: its index in the `fetch` list and its body with LF line
    /// ends. The body must be read to its end before the next call. `None` once every message
    /// of the `fetch` list was either handed over or found gone ([`Source::take_vanished`]).
    fn next_message(&mut self) -> Result<Option<(usize, Box<dyn Read + '_>)>>;

    /// The messages of the current fetch (indices in the `fetch` list) that the server no
    /// longer had when asked for them (expunged by another client meanwhile), collected since
    /// the last call. Only those may be missing from what [`Source::next_message`] hands over.
    fn take_vanished(&mut self) -> Vec<usize> {
        Vec::new()
    }

    /// Abandon the rest of the current fetch (the run was asked to stop): send nothing more
    /// of it, and read and discard the answers already in flight, so that the session is
    /// ready for [`Source::delete`] and [`Source::close`]. The messages not handed over yet
    /// are not delivered; the caller neither records nor deletes them.
    fn stop_fetch(&mut self) -> Result<()>;

    /// Delete `messages` from the open mailbox. Only called for messages whose local copy is
    /// durable and recorded; may be queued and take effect at [`Source::close`] at the latest.
    fn delete(&mut self, messages: &[RemoteMessage]) -> Result<()>;

    /// End the session cleanly, committing deletions (POP3 QUIT, IMAP EXPUNGE+LOGOUT).
    fn close(&mut self) -> Result<()>;

    /// The Message-ID of each of `messages` (from the open mailbox's listing), in order, for
    /// recognising already delivered mail after the mailbox's IDs were invalidated (see
    /// `crate::fingerprint`). A source whose IDs are permanent need not implement it.
    fn message_ids(&mut self, messages: &[RemoteMessage]) -> Result<Vec<Option<String>>> {
        Ok(vec![None; messages.len()])
    }

    /// The header of each of `messages` (from the open mailbox's listing) with LF line ends,
    /// handed to `each` with the message's index in `messages`, in order; pipelined or
    /// batched like [`Source::fetch`], and never with a fetch in progress. With `fields`, the
    /// source may send only those header fields (IMAP does; POP3 has only the whole header).
    /// A header longer than [`crate::header::MAX`] bytes is cut there, at a line end when it can be.
    /// A message the server no longer has is left out.
    fn headers(
        &mut self,
        messages: &[RemoteMessage],
        fields: Option<&[&str]>,
        each: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()>;

    /// Gmail's identity and labels of `message` (of the open mailbox's listing), from a
    /// server offering X-GM-EXT-1; `None` elsewhere, and for messages listed in brief.
    fn gmail(&self, _message: &RemoteMessage) -> Option<&GmailMessage> {
        None
    }

    /// What the source has to tell the user that is not an error (mail it left in place, and
    /// why), collected since the last call.
    fn take_notices(&mut self) -> Vec<String> {
        Vec::new()
    }
}
