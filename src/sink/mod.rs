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
mod syncer;

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

/// Bytes gathered from the body before one write to the store: large writes, few syscalls.
const CHUNK: usize = 256 * 1024;

thread_local! {
    /// The copy buffer, allocated and zeroed once per thread rather than once per message.
    static COPY_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
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
