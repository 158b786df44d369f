//! The names a message is known by from one run to the next: the mailbox it is in, what its
//! mailbox's IDs are relative to (its validity), and its ID. The source lists them, `pull`
//! plans with them, the state records them; as types of their own, not three `&str`s, a
//! mailbox cannot be passed where an ID is meant, and POP3's "IDs are permanent" is a variant,
//! not the sentinel string `-` that only the journal's text needs.

use std::fmt;

/// What a mailbox's message IDs are relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    /// The IDs never change meaning: POP3 UIDLs (RFC 1939 section 7: a UIDL is never reused
    /// by the server for another message), and Gmail's X-GM-MSGIDs.
    Permanent,
    /// An IMAP mailbox's UIDVALIDITY (RFC 3501 section 2.3.1.1): its UIDs mean what they did
    /// as long as it stays the same; a new one means the mailbox was renumbered.
    Uid(u32),
}

impl Validity {
    /// The validity written as [`Validity`]'s `Display` writes it: `-`, or the UIDVALIDITY
    /// in decimal (digits only). `None` for anything else.
    pub fn parse(text: &str) -> Option<Validity> {
        if text == "-" {
            return Some(Validity::Permanent);
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().map(Validity::Uid)
    }

    /// Whether the IDs can be invalidated, so that a delivered message is worth recording a
    /// fingerprint for (see `crate::fingerprint`).
    pub fn can_change(self) -> bool {
        self != Validity::Permanent
    }
}

impl fmt::Display for Validity {
    /// `-` for [`Validity::Permanent`], the UIDVALIDITY in decimal otherwise: the state
    /// journal's field, and what messages show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validity::Permanent => f.write_str("-"),
            Validity::Uid(v) => write!(f, "{v}"),
        }
    }
}

/// A mailbox as the state names it: the source's name for it (`INBOX` for POP3, the IMAP
/// folder's name as the server lists it), or a name of the state's own such as
/// `crate::gmail::MSGIDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailboxKey<'a>(&'a str);

impl<'a> MailboxKey<'a> {
    /// The mailbox named `name`.
    pub const fn new(name: &'a str) -> Self {
        MailboxKey(name)
    }

    /// Its name.
    pub const fn as_str(self) -> &'a str {
        self.0
    }
}

impl fmt::Display for MailboxKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A message's ID in its mailbox: the POP3 UIDL, the IMAP UID in decimal, or a Gmail
/// X-GM-MSGID in decimal. Any text, the empty one included; it means something only with its
/// mailbox's [`Validity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId<'a>(&'a str);

impl<'a> MessageId<'a> {
    /// The message whose ID is `id`.
    pub const fn new(id: &'a str) -> Self {
        MessageId(id)
    }

    /// The ID.
    pub const fn as_str(self) -> &'a str {
        self.0
    }
}

impl fmt::Display for MessageId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validity_reads_back_what_it_writes_and_nothing_else() {
        for v in [
            Validity::Permanent,
            Validity::Uid(0),
            Validity::Uid(1),
            Validity::Uid(u32::MAX),
        ] {
            assert_eq!(Validity::parse(&v.to_string()), Some(v));
        }
        for bad in ["", "+1", "-1", "1 ", "4294967296", "x", "--", "1.0"] {
            assert_eq!(Validity::parse(bad), None, "{bad:?}");
        }
    }
}
