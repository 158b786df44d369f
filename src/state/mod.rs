//! The state: which messages of an account have been delivered, kept so that the next run
//! fetches only new mail, and the journal that makes delivery exactly-once.
//!
//! # File format
//!
//! `<state-dir>/<account>.state` is an append-only journal of text lines, each
//! `<crc32 hex> <record>`:
//!
//! - `mailfetch-state FORMAT`: header, first line. FORMAT (2 today) goes up whenever a
//!   record is added or changes meaning that an older build would misread: a journal of a
//!   higher format is refused (exit 74, naming the format) rather than misread, and one of a
//!   lower format is read and rewritten in the current one (after any unfinished batch).
//! - `+ MAILBOX VALIDITY ID [FINGERPRINT] [at=SECONDS]`: message ID of MAILBOX (UIDVALIDITY
//!   VALIDITY, `-` for POP3: see `crate::identity::Validity`) is delivered; FINGERPRINT
//!   (`SIZE:<Message-ID>`, see `crate::fingerprint`) is there when the message had a
//!   Message-ID and its mailbox's IDs can be invalidated (not for POP3); `at=` is when it
//!   was first delivered, in seconds since the epoch (for `delete-after-days`). A message
//!   without a Message-ID has the fingerprint `SIZE DIGEST` instead (its text digest,
//!   format 2). Fields are percent-escaped. Each
//!   optional field came with a later version while the format stayed 1: files written
//!   before fingerprints or times existed have fewer fields and load as they are (a message without a time gets one, "now",
//!   the first time a retention period asks for it, so its clock starts then); older readers
//!   ignore the fields they do not know, or take `at=...` for a fingerprint, which matches
//!   nothing.
//! - `H MAILBOX VALIDITY ID [at=SECONDS]`: only the header of the message was delivered, as a
//!   stub marked `X-Mailfetch-Truncated` (`oversize = "headers"`). Not a delivery: the stub is
//!   not delivered again, but the message is fetched in full once it fits the limits, and is
//!   never deleted on the server on the strength of the stub. Older readers do not know `H`
//!   and refuse the file as corrupt rather than take the stub for the message.
//! - `S MAILBOX VALIDITY ID [at=SECONDS]`: the message was passed over by `pull --since` (it
//!   is older), so later runs pass it over too (`--all` fetches it). Not a delivery either.
//! - `V MAILBOX VALIDITY`: the mailbox's UIDVALIDITY is now VALIDITY; older IDs are dropped.
//!   The `+` lines written in the same append (see below) re-record the recognised ones.
//! - `B rollback INTENT`: a batch that writes in place begins; INTENT is the sink's own
//!   description of how to undo it after a crash: the kind of sink that wrote it (a word such
//!   as `maildir`), a line end and the sink's bytes, escaped as one field (the kind alone when
//!   the sink has no bytes). The journal stores it and hands it back; it never reads it.
//! - `B forward MAILBOX VALIDITY INTENT ID...`: these IDs are delivered, durable but not yet
//!   published; INTENT (as above) says how to finish publishing them after a crash. Their
//!   `+` lines (with
//!   fingerprints and times) follow in the same append, and so do the `H` lines of stubs in
//!   the batch, which this line does not name: after a torn write a stub may be delivered
//!   twice, but is never taken for its message.
//! - `E`: the batch is finished.
//!
//! The mailbox `\X-GM-MSGID` (validity `-`) holds the X-GM-MSGIDs of the Gmail messages
//! delivered, written in the same append as their folder's `+` lines (see `crate::gmail`).
//!
//! Beside it, `<state-dir>/<account>.state.size` holds the journal's length after its last
//! synced write (written after the sync; before the rename of a compaction). A journal
//! shorter than that was cut short or replaced by an older copy: its lost records, checksums
//! and all, would silently re-deliver mail, so it is refused like a corrupt one.
//!
//! Recording a message appends one line: O(1), no rewrite. When the journal has grown to
//! well over the number of live IDs it is compacted (written anew to a temporary file,
//! fsync'd, renamed over the old one, directory fsync'd). A load of 100,000 IDs parses about
//! 5 MB of lines into a hash set.
//!
//! The directory and its files must be private to the user: see `state::private` for what is
//! refused and why.
//!
//! # When a mailbox's UIDVALIDITY changes
//!
//! The server has renumbered the mailbox, so its recorded IDs are meaningless, but it usually
//! still holds the mail already delivered. `pull` asks the source for the Message-ID of every
//! listed message and matches `SIZE:<Message-ID>` against the fingerprints recorded under the
//! old validity, each recorded fingerprint matching at most one message. The matches are
//! recorded under the new validity (one append: `V` then their `+` lines, synced) and are not
//! fetched again; the rest is fetched; the user is told on stderr how many were recognised.
//! A listed message without a Message-ID, of the size of one delivered without one, is read
//! and matched by its text digest (`SIZE DIGEST`). Messages recorded before fingerprints
//! existed cannot be recognised and are fetched again: a possible duplicate, never a loss. A crash that tears
//! this append loses some matches, with the same consequence.
//!
//! # Why nothing is lost or duplicated under kill -9 (or power loss)
//!
//! `pull` runs every batch of messages through the same steps, and a crash can fall between
//! any two of them:
//!
//! 1. Sinks that append in place (mbox) first journal `B rollback <length before>` and fsync.
//! 2. The sink writes the messages (Maildir: into `tmp/`, invisible to readers).
//! 3. The sink makes them durable (fsync of files and directories).
//! 4. Maildir journals one `B forward <tmp -> new renames> <IDs>` line, fsync; then renames
//!    and fsyncs `new/`, then journals `E`. mbox journals the `+` lines and `E`, fsync.
//! 5. Only now, if the account does not keep mail, the messages are deleted on the server.
//!
//! A crash before step 4's journal write leaves Maildir files in `tmp/` (never seen by a
//! reader, refetched next run, old tmp files removed after 36 hours per the Maildir spec) or
//! mbox bytes past the journalled length (truncated away on the next open). A crash after it
//! leaves an unfinished `B forward`: the next open finishes the renames (the files are
//! durable) and counts its IDs; being one checksummed line, it is there whole or not at all
//! (the fingerprint lines after it are advisory: losing them costs nothing until the
//! mailbox's UIDVALIDITY changes). `+` lines behind an unfinished `B rollback` are ignored,
//! because the rollback removes those messages. A crash before step 5 leaves delivered mail on
//! the server: the next run deletes it without fetching it again. A torn last line (power loss
//! mid-write) fails its checksum and, being last, is dropped; a bad checksum anywhere else
//! means the file is corrupt, which is reported (never read as "nothing seen", which would
//! re-deliver everything) until the user runs with `--reset-state`.
//!
//! Targets that store where nothing can be undone follow the same steps with other intents:
//!
//! - An IMAP folder (`sink::ImapAppend`): between steps 2 and 3, once the batch is spooled
//!   and looked up in the folder, `B rollback` names the messages about to be appended and
//!   the folder's UIDNEXT, fsync; step 3 is the APPEND; step 4 journals the `+` lines and
//!   `E`. After a crash between the APPEND and step 4, the next run's recovery lists what the
//!   folder gained since that UIDNEXT and records (`+` lines, `E`) the batch's messages it
//!   finds there, before anything else; the rest is fetched and appended again. The module
//!   doc of `sink::imap_append` has the details.
//! - An MDA or an LMTP/SMTP server: no intent; each message is its own batch, recorded as
//!   soon as the target accepted it, so a crash in between repeats at most that one delivery.

// The parts, each with one job: `identity` (at the crate's top, shared with the sources)
// names a message; `ids` holds a mailbox's IDs in memory; `codec` turns records into
// checksummed lines and back; `lines` reads a journal a buffer at a time; `journal` is the
// file and its crash rules; `lock` keeps two runs off one account; `private` refuses state
// that others could read or write.
mod codec;
mod ids;
mod journal;
mod lines;
mod lock;
mod private;

pub use ids::Kind;
pub use journal::{Delivered, State, Unfinished};
pub use lock::AccountLock;
