//! Where fetched mail goes: Maildir, mbox, an MDA command, an LMTP or SMTP server, or a folder
//! of an IMAP account, behind one [`Sink`] trait.
//!
//! A sink knows nothing of POP3 or of the IMAP source: it receives a body stream (LF line
//! ends) and the little metadata a store can keep (folder, flags, date). It takes part in the
//! exactly-once protocol described in the `state` module, and each step returns what it can:
//! `begin` may return a [`Rollback`] (how to undo a batch written in place), `stage` may
//! replace it once the batch's messages are known, `prepare` makes the batch durable and
//! returns it [`Prepared`] (with a [`Forward`] intent when it still has to be published, and
//! the messages the target refused), `commit` makes it visible, and `recover` carries out
//! an [`Unfinished`] intent left by a crash. An intent is the sink's own: an [`Intent`] of
//! its kind and bytes only it reads, which the journal stores without knowing any sink.
//!
//! A target may refuse one message and still take the next (an MDA's non-zero exit, an LMTP
//! 5xx, an IMAP server's NO): `deliver` then returns [`Outcome::Refused`], or `prepare` lists
//! it in [`Prepared::refused`]; the message is not recorded and stays on the server, and the
//! run goes on with the others. The [`Batcher`] drives these steps, the same for `pull` and
//! `upload`.

mod batch;
mod imap_append;
mod maildir;
mod mbox;
mod mda;
mod smtp;
mod syncer;

pub use batch::{refusal_class, Batcher, Committed, Journal, Limits};
pub use imap_append::{ImapAppend, Server};
pub use maildir::{folder_to_maildir, maildir_to_folder, Maildir};
pub use mbox::Mbox;
pub use mda::Mda;
pub use smtp::{valid_recipient, Address, Dialect, Smtp};

use crate::error::{Class, Error, Result};
use crate::identity::Validity;
use crate::source::Flags;
use std::io::Read;

/// What a sink may keep of a message besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// The remote mailbox (`INBOX` for POP3).
    pub mailbox: &'a str,
    /// The remote mailbox's hierarchy delimiter, if it has one (see `source::Listing`).
    pub delimiter: Option<char>,
    /// Flags to keep (Maildir info).
    pub flags: Flags,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: Option<i64>,
    /// Announced size, for buffers and messages.
    pub size: u64,
}

/// A local (or onward) store for messages.
pub trait Sink {
    /// A short description for summaries: `~/Mail (Maildir)`.
    fn describe(&self) -> String;

    /// Start a batch. A sink that writes in place returns how to undo the batch, which is
    /// journalled durably before the first `deliver`.
    fn begin(&mut self) -> Result<Option<Rollback>>;

    /// Write one message, or say why the target refused it. It need not be durable yet, but
    /// it must be complete or absent: when refused or on any error, nothing of it may remain.
    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<Outcome>;

    /// Called after the batch's last `deliver` and before `prepare`, with where the batch
    /// comes from: a sink whose `prepare` stores messages where it cannot take them back
    /// returns a rollback intent saying how to find out which of them it stored, journalled
    /// (in place of `begin`'s) before `prepare` runs.
    fn stage(&mut self, _batch: &Staged) -> Result<Option<Rollback>> {
        Ok(None)
    }

    /// Make every message delivered since `begin` durable: the batch, with how to finish
    /// publishing it after a crash if the sink still has to (journalled with the records),
    /// the messages the target refused, and how many it had already.
    fn prepare(&mut self) -> Result<Prepared>;

    /// Publish the batch (Maildir renames) and release any locks.
    fn commit(&mut self) -> Result<()>;

    /// Give up the batch after an error: remove what is not durable, release locks.
    fn abort(&mut self);

    /// Carry out what a crash left undone (an intent from `begin`, `stage` or `prepare`, as
    /// the journal kept it); returns the messages it found safely stored, to be recorded as
    /// delivered. An intent of another kind of sink is this sink's to judge: the target was
    /// changed since.
    fn recover(&mut self, unfinished: &Unfinished) -> Result<Option<Recovered>>;

    /// How many messages a batch may hold (see [`Limits`]).
    fn limits(&self) -> Limits {
        Limits::BATCH
    }

    /// What the sink has to tell the user that is not an error (what an MDA wrote on its
    /// standard error, a folder it created), collected since the last call.
    fn take_notices(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// What became of one message handed to [`Sink::deliver`].
#[derive(Debug)]
pub enum Outcome {
    /// Written (durable once the batch is prepared).
    Delivered,
    /// The target did not take it, and is fine for the next.
    Refused(Refusal),
}

/// Why the target did not take one message (an MDA's non-zero exit, an SMTP 4xx or 5xx, an
/// IMAP server's NO to an APPEND). Not an error: the message stays at the source, the run
/// goes on with the others, and ends with the class of its refusals ([`refusal_class`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    class: Class,
    reason: String,
}

impl Refusal {
    /// A refusal that retrying later may cure (an SMTP 4xx): exit 75.
    pub fn temporary(reason: impl Into<String>) -> Refusal {
        Refusal {
            class: Class::Temporary,
            reason: reason.into(),
        }
    }

    /// A refusal that will stand until someone acts (an MDA's non-zero exit, an SMTP 5xx):
    /// exit 74.
    pub fn permanent(reason: impl Into<String>) -> Refusal {
        Refusal {
            class: Class::LocalIo,
            reason: reason.into(),
        }
    }

    /// The class of a run that ends with this refusal.
    pub fn class(&self) -> Class {
        self.class
    }

    /// Why, for the user.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The refusal as the error that ends a run.
    pub fn into_error(self) -> Error {
        Error::new(self.class, self.reason)
    }
}

/// A sink's own description of how to finish or undo a batch after a crash: the kind of sink
/// that wrote it (a word) and bytes only that sink reads. The journal keeps both as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The kind of sink: `maildir`, `mbox`, `imap-append`.
    pub kind: &'static str,
    /// What the sink needs to know again.
    pub data: Vec<u8>,
}

/// How to undo a batch, from [`Sink::begin`] or [`Sink::stage`]: journalled before the sink
/// stores anything it could not take back, and the batch's records do not count until it
/// ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback(pub Intent);

/// How to finish publishing a durable batch, from [`Sink::prepare`]: journalled with the
/// batch's records, which count at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward(pub Intent);

/// A batch a crash left unfinished, for [`Sink::recover`]: the intent as journalled, of
/// whatever kind of sink wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfinished {
    /// Undo it (a [`Rollback`] was journalled).
    Rollback {
        /// The kind of sink that journalled it.
        kind: String,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// Finish it (a [`Forward`] was journalled).
    Forward {
        /// The kind of sink that journalled it.
        kind: String,
        /// Its bytes.
        data: Vec<u8>,
    },
}

impl From<Rollback> for Unfinished {
    /// The intent as the journal hands it back after a crash.
    fn from(Rollback(intent): Rollback) -> Unfinished {
        Unfinished::Rollback {
            kind: intent.kind.to_string(),
            data: intent.data,
        }
    }
}

impl From<Forward> for Unfinished {
    /// The intent as the journal hands it back after a crash.
    fn from(Forward(intent): Forward) -> Unfinished {
        Unfinished::Forward {
            kind: intent.kind.to_string(),
            data: intent.data,
        }
    }
}

/// A batch made durable by [`Sink::prepare`].
#[derive(Debug, Default)]
pub struct Prepared {
    /// How to finish publishing it after a crash, if [`Sink::commit`] still has to.
    pub forward: Option<Forward>,
    /// The messages the target refused (by their position among the batch's delivered
    /// messages), each with why. They are not recorded.
    pub refused: Vec<(usize, Refusal)>,
    /// How many of the batch's messages were found at the target already and so were not
    /// stored again (they are recorded like the others).
    pub present: usize,
}

/// Where a batch comes from, for [`Sink::stage`].
#[derive(Debug, Clone)]
pub struct Staged<'a> {
    /// The source mailbox, as the state names it.
    pub mailbox: &'a str,
    /// Its validity, as the state records it.
    pub validity: Validity,
    /// The source's ID of each message delivered since `begin`, in order.
    pub ids: Vec<&'a str>,
}

/// Messages [`Sink::recover`] found stored at the target: they are recorded as delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The source mailbox they came from.
    pub mailbox: String,
    /// Its validity then.
    pub validity: Validity,
    /// Their IDs in it.
    pub ids: Vec<String>,
}

/// Bytes gathered from the body before one write to the store: large writes, few syscalls.
pub(crate) const CHUNK: usize = 256 * 1024;

thread_local! {
    /// The copy buffer, allocated and zeroed once per thread rather than once per message.
    static COPY_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How a message is named in messages: `<Message-ID> "Subject"`.
pub(crate) fn label(header: &[u8]) -> String {
    let id = crate::header::message_id(header).unwrap_or_else(|| "(no Message-ID)".to_string());
    let subject = mailparse::parse_headers(header)
        .ok()
        .and_then(|(h, _)| {
            h.iter()
                .find(|h| h.get_key_ref().eq_ignore_ascii_case("Subject"))
                .map(|h| h.get_value())
        })
        .map(|s| {
            let s: String = s.chars().filter(|c| !c.is_control()).take(60).collect();
            format!(" {s:?}")
        })
        .unwrap_or_default();
    format!("message {id}{subject}")
}

/// Copy `body` to `out`, classifying failures: a read error is the source's (network,
/// protocol), a write error is local. Reads are gathered into chunks of up to [`CHUNK`]
/// bytes, so `out` needs no buffering of its own (one copy between socket and file).
pub(crate) fn copy_body(
    body: &mut dyn Read,
    out: &mut dyn std::io::Write,
    what: &str,
) -> Result<u64> {
    COPY_BUFFER.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < CHUNK {
            buf.resize(CHUNK, 0);
        }
        let mut total = 0u64;
        let mut filled = 0usize;
        loop {
            let n = match body.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::network("receiving a message", e)),
            };
            filled += n;
            if n == 0 || filled >= CHUNK / 2 {
                out.write_all(&buf[..filled])
                    .map_err(|e| Error::local(format!("writing {what}"), e))?;
                total += filled as u64;
                filled = 0;
            }
            if n == 0 {
                return Ok(total);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_named_by_message_id_and_subject() {
        let h = b"Message-ID: <x@y>\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n\n";
        assert_eq!(label(h), "message <x@y> \"Grüße\"");
        assert_eq!(label(b"\n"), "message (no Message-ID)");
    }
}
