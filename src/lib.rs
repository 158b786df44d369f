//! mailfetch: fetch mail from POP3 and IMAP servers into Maildir, mbox or an MDA, exactly once.
//!
//! # Architecture
//!
//! Data flows one way:
//!
//! ```text
//! config + profiles -> Account -> net (TCP, TLS, timeouts) -> source (pop3 | imap) -> pull
//!        pull -> sink (maildir | mbox | mda) -> durable -> state journal -> server deletion
//! ```
//!
//! - [`config`] reads the TOML file and resolves each account with its [`config::profiles`].
//! - [`net`] connects with timeouts and TLS, reads bounded lines, traces with secrets redacted.
//! - [`pop3`] is our POP3 client, [`imap`] the IMAP source (async-imap behind a blocking
//!   facade); [`source`] is what `pull` needs from any protocol.
//! - [`sink`] stores messages; [`state`] remembers what was delivered and journals batches.
//! - [`pull`] is the only module that knows the order of the steps, and so keeps the
//!   exactly-once promise; [`jobs`] runs several accounts' pulls at once.
//! - [`report`] shows progress and summaries, [`json`] is the schema of `--json` output;
//!   [`cli`] defines the command line once.
//!
//! No module reaches back up this chain: a sink knows nothing of POP3, a source nothing of
//! Maildir, the state nothing of either.

pub mod certinfo;
pub mod cli;
pub mod config;
pub mod error;
pub mod fingerprint;
pub mod imap;
pub mod init;
pub mod jobs;
pub mod json;
pub mod list;
pub mod local;
pub mod manpage;
pub mod net;
pub mod oauth2;
pub mod plan;
pub mod pop3;
pub mod pull;
pub mod report;
pub mod sasl;
pub mod secret;
pub mod sink;
pub mod source;
pub mod state;

pub use error::{Class, Error, Result};
