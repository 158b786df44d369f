//! Where fetched mail goes: Maildir, mbox, or an MDA command, behind one [`Sink`] trait.
//!
//! A sink knows nothing of POP3 or IMAP: it receives a body stream (LF line ends) and the
//! little metadata a store can keep (folder, flags, date). It takes part in the exactly-once
//! protocol described in the `state` module: `begin` may return a rollback intent,
//! `prepare` makes the batch durable and may return a roll-forward intent, `commit` makes it
//! visible, and `recover` carries out an intent left by a crash.

mod maildir;
mod mbox;
mod mda;

pub use maildir::{folder_to_maildir, maildir_to_folder, Maildir};
pub use mbox::Mbox;
pub use mda::Mda;

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

    /// Carry out what a crash left undone (an intent from `begin` or `prepare`).
    fn recover(&mut self, intent: &Recovery) -> Result<()>;
}

/// Copy `body` to `out` with a buffer, classifying failures: a read error is the source's
/// (network, protocol), a write error is local.
pub(crate) fn copy_body(
    body: &mut dyn Read,
    out: &mut dyn std::io::Write,
    what: &str,
) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::network("receiving a message", e)),
        };
        out.write_all(&buf[..n])
            .map_err(|e| Error::local(format!("writing {what}"), e))?;
        total += n as u64;
    }
}
