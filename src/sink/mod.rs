//! Where fetched mail goes: Maildir, mbox, an MDA command, an LMTP or SMTP server, or a folder
//! of an IMAP account, behind one [`Sink`] trait.
//!
//! A sink knows nothing of POP3 or of the IMAP source: it receives a body stream (LF line
//! ends) and the little metadata a store can keep (folder, flags, date). It takes part in the
//! exactly-once protocol described in the `state` module: `begin` may return a rollback
//! intent, `staged` may replace it once the batch's messages are known, `prepare` makes the
//! batch durable and may return a roll-forward intent, `commit` makes it visible, and
//! `recover` carries out an intent left by a crash.
//!
//! A target may refuse one message and still take the next (an MDA's non-zero exit, an LMTP
//! 5xx, an IMAP server's NO): `deliver` then fails with [`Error::refused`], or `prepare` lists
//! it in [`Sink::take_refused`]; the message is not recorded and stays on the server, and the
//! run goes on with the others.

mod imap_append;
mod maildir;
mod mbox;
mod mda;
mod smtp;
mod syncer;

pub use imap_append::{ImapAppend, Server};
pub use maildir::{folder_to_maildir, maildir_to_folder, Maildir};
pub use mbox::Mbox;
pub use mda::Mda;
pub use smtp::{valid_recipient, Address, Dialect, Smtp};

use crate::error::{Error, Result};
use crate::source::Flags;
use crate::state::Recovery;
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
    fn begin(&mut self) -> Result<Option<Recovery>>;

    /// Write one message. It need not be durable yet, but it must be complete or absent:
    /// on any error, nothing of it may remain.
    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<()>;

    /// Make every message delivered since `begin` durable. A sink that still has to publish
    /// them returns how to finish that after a crash (journalled with the records).
    fn prepare(&mut self) -> Result<Option<Recovery>>;

    /// Publish the batch (Maildir renames) and release any locks.
    fn commit(&mut self) -> Result<()>;

    /// Give up the batch after an error: remove what is not durable, release locks.
    fn abort(&mut self);

    /// Carry out what a crash left undone (an intent from `begin`, `staged` or `prepare`).
    fn recover(&mut self, intent: &Recovery) -> Result<()>;

    /// Called after the batch's last `deliver` and before `prepare`, with where the batch
    /// comes from: a sink whose `prepare` stores messages where it cannot take them back
    /// returns a rollback intent saying how to find out which of them it stored, journalled
    /// (in place of `begin`'s) before `prepare` runs.
    fn staged(&mut self, _batch: &Staged) -> Result<Option<Recovery>> {
        Ok(None)
    }

    /// After `prepare`: the messages of the batch that the target refused (by their position
    /// among the batch's successful `deliver` calls), each with why. They are not recorded.
    fn take_refused(&mut self) -> Vec<(usize, Error)> {
        Vec::new()
    }

    /// After `recover`: the messages it found safely stored, to be recorded as delivered.
    fn take_recovered(&mut self) -> Option<Recovered> {
        None
    }

    /// How many of the messages delivered so far were found at the target already and so
    /// were not stored again.
    fn already_present(&self) -> usize {
        0
    }

    /// Whether each message should be recorded as soon as it is delivered, in a batch of its
    /// own: true for targets that hand a message on where it cannot be looked for again (an
    /// MDA, an LMTP or SMTP server), so that a crash repeats at most one delivery.
    fn unbatched(&self) -> bool {
        false
    }

    /// What the sink has to tell the user that is not an error (what an MDA wrote on its
    /// standard error, a folder it created), collected since the last call.
    fn take_notices(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Where a batch comes from, for [`Sink::staged`].
#[derive(Debug, Clone, Copy)]
pub struct Staged<'a> {
    /// The source mailbox, as the state names it.
    pub mailbox: &'a str,
    /// Its validity, as the state records it.
    pub validity: &'a str,
    /// The source's ID of each message delivered since `begin`, in order.
    pub ids: &'a [&'a str],
}

/// Messages [`Sink::recover`] found stored at the target: they are recorded as delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The source mailbox they came from.
    pub mailbox: String,
    /// Its validity then.
    pub validity: String,
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
