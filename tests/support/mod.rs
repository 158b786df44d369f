//! Shared helpers for mailfetch's integration tests.
//!
//! Use from a test file with `mod support;`.  Not every test binary uses
//! every helper, hence the blanket `allow`s.
//!
//! * [`account`]: an `[accounts.NAME]` section built key by key (on Dovecot, on a fake
//!   server, through a proxy) instead of patched config strings.
//! * [`dovecot`]: a private Dovecot 2.3 (POP3/IMAP/LMTP) on 127.0.0.1,
//!   driven through `scripts/dovecot` (needs root; installs the packages
//!   itself if missing).
//! * [`corpus`]: edge-case messages (LF line ends, as a local store holds them).
//! * [`fake_pop3`]: a scripted fake POP3 server (std only) for faults Dovecot
//!   will not commit: drops, stalls, garbage, endless lines.
//! * [`fake_dns`]: a fake DNS server answering one SRV question, for `init --srv`.
//! * [`fake_gmail`]: a scripted fake Gmail IMAP server (X-GM-EXT-1, labels as folders),
//!   with NetEase's ID gate and Office 365's BYE as quirks.
//! * [`fake_oauth`]: a fake OAuth2 provider (token and device endpoints) on loopback.
//! * [`listen`]: the accept loop of the small fake servers tests write inline.
//! * [`oauth_imap`]: an OAuth2-terminating proxy in front of Dovecot's IMAP.
//! * [`proxy`]: the one scripted TCP proxy: slow links, cuts, stalls, and scripts that
//!   read and rewrite the conversation (IMAP quirks, lost answers).
//! * [`tls`]: certificates made on the spot and a TLS front for the fake servers.
//! * [`mbox`]: read an mbox with Python's stdlib `mailbox` module, a reader
//!   we did not write, for byte-exact comparisons.
#![allow(dead_code, unused_imports)]

pub mod account;
pub mod client;
pub mod corpus;
pub mod dovecot;
pub mod fake_dns;
pub mod fake_gmail;
pub mod fake_oauth;
pub mod fake_pop3;
pub mod listen;
pub mod mbox;
pub mod oauth_imap;
pub mod proxy;
pub mod tls;

pub use account::Account;
pub use corpus::corpus;
pub use dovecot::{Dovecot, TestUser};
pub use mbox::read_mbox_with_python;
