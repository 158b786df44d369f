//! mailfetch: fetch mail from POP3 and IMAP servers into Maildir, mbox, an MDA, an LMTP or SMTP
//! server, or another IMAP account, exactly once.
//!
//! # Architecture
//!
//! Data flows one way:
//!
//! ```text
//! config + profiles -> Account -> net (TCP, TLS, timeouts) -> source (pop3 | imap) -> pull
//!        pull -> sink (maildir | mbox | mda | lmtp/smtp | imap folder) -> durable
//!        -> state journal -> server deletion
//! ```
//!
//! - [`config`] reads the TOML file and resolves each account with its [`config::profiles`].
//! - [`net`] connects with timeouts and TLS, reads bounded lines, traces with secrets redacted.
//! - [`pop3`] is our POP3 client, [`imap`] the IMAP source (async-imap behind a blocking
//!   facade) and, on the same session code, the IMAP destination (`imap::append`);
//!   [`source`] is what `pull` needs from any protocol.
//! - [`session`] is the wiring: the run context every command is given, built once in
//!   `main`, and the one way from an account to an open source, sink or folder (login,
//!   trace and the advice on a refused login built in one place).
//! - [`sink`] stores messages; [`state`] remembers what was delivered and journals batches.
//! - [`local`] reads a Maildir or mbox back; [`upload`] stores one in an IMAP folder and
//!   [`verify`] proves a copy complete, both through the same sink and readers as `pull`.
//! - [`pull`] is the only module that knows the order of the steps, and so keeps the
//!   exactly-once promise; [`jobs`] runs several accounts' pulls at once, and [`watch`]
//!   keeps pulling as mail arrives.
//! - [`report`] shows progress and summaries, [`json`] is the schema of `--json` output;
//!   [`cli`] defines the command line once.
//!
//! No module reaches back up this chain: a sink knows nothing of POP3, a source nothing of
//! Maildir, the state nothing of either.

pub mod certinfo;
pub mod cli;
pub mod completions;
pub mod config;
pub mod dns_srv;
pub mod error;
pub mod fingerprint;
pub mod fleet;
pub mod fsync;
pub mod gmail;
pub mod header;
pub mod identity;
pub mod imap;
pub mod init;
pub mod jobs;
pub mod json;
pub mod list;
pub mod local;
pub mod manpage;
pub mod net;
pub mod oauth2;
pub mod percent;
pub mod plan;
pub mod pop3;
pub mod pull;
pub mod readme;
pub mod report;
pub mod sasl;
pub mod secret;
pub mod session;
pub mod signals;
pub mod sink;
pub mod source;
pub mod state;
pub mod text;
pub mod upload;
pub mod verify;
pub mod watch;

pub use error::{Class, Error, Result};
