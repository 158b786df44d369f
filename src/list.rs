//! `mailfetch list ACCOUNT`: the messages on the server, without their bodies: number (POP3)
//! or UID (IMAP), date, sender, subject (RFC 2047 decoded), size, and what the state says of
//! each (fetched or new); and `mailfetch folders ACCOUNT`, an IMAP account's folders with
//! their message counts. Headers come pipelined (POP3 `TOP n 0`) or batched (IMAP
//! `BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)]`), each bounded in size; nothing on the
//! server changes (IMAP folders are opened read-only) and the state is only read.

use crate::config::{Account, Protocol};
use crate::error::{Class, Error, Result};
use crate::identity::{MailboxKey, MessageId};
use crate::imap::FolderInfo;
use crate::session::{self, Access, Ctx};
use crate::source::Known;
use crate::state::{Kind, State};
use crate::text::printable;
use serde::Serialize;

/// The header fields `list` shows.
const FIELDS: &[&str] = &["Date", "From", "Subject"];

/// One message on the server.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// Its folder (`INBOX` for POP3).
    pub mailbox: String,
    /// The POP3 message number or IMAP UID.
    pub number: u32,
    /// The ID recorded in the state (POP3 UIDL, IMAP UID).
    pub id: String,
    /// The Date header as seconds since the epoch, if it parses.
    pub date: Option<i64>,
    /// The sender, decoded.
    pub from: String,
    /// The subject, decoded.
    pub subject: String,
    /// Size in bytes, as the server counts it.
    pub size: u64,
    /// What the state says: `new`, `fetched`, `headers-only` or `passed-over`.
    pub state: &'static str,
}

/// List the messages of `account`'s folders, with what its state says of each.
pub fn list(account: &Account, cx: &Ctx) -> Result<Vec<Entry>> {
    let state_dir = &cx.state_dir;
    let ctx = |e: Error| e.context(&account.name);
    let state = if State::path_for(state_dir, &account.name).exists() {
        Some(State::open(state_dir, &account.name, false).map_err(ctx)?)
    } else {
        None
    };
    let mut source = session::open_source(account, cx, Access::Look).map_err(ctx)?;
    let mut out = Vec::new();
    for mailbox in source.mailboxes().map_err(ctx)? {
        let listing = source.open(&mailbox, &Known::nothing()).map_err(ctx)?;
        let mut headers: Vec<Option<Vec<u8>>> = vec![None; listing.messages.len()];
        source
            .headers(&listing.messages, Some(FIELDS), &mut |i, h| {
                headers[i] = Some(h.to_vec());
                Ok(())
            })
            .map_err(ctx)?;
        for (m, header) in listing.messages.iter().zip(headers) {
            let kind = state.as_ref().and_then(|s| {
                s.kind(
                    MailboxKey::new(&mailbox),
                    listing.validity,
                    MessageId::new(&m.id),
                )
            });
            let (date, from, subject) = header.as_deref().map(fields).unwrap_or_default();
            out.push(Entry {
                mailbox: printable(&mailbox).into_owned(),
                number: m.number,
                id: m.id.clone(),
                date,
                from,
                subject,
                size: m.size,
                state: match kind {
                    None => "new",
                    Some(Kind::Message) => "fetched",
                    Some(Kind::HeadersOnly) => "headers-only",
                    Some(Kind::PassedOver) => "passed-over",
                },
            });
        }
    }
    source.close().map_err(ctx)?;
    Ok(out)
}

/// Date, sender and subject of a header, decoded (RFC 2047, folded lines joined).
fn fields(header: &[u8]) -> (Option<i64>, String, String) {
    let Ok((headers, _)) = mailparse::parse_headers(header) else {
        return (None, String::new(), String::new());
    };
    let get = |name: &str| {
        headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .unwrap_or_default()
    };
    let date = mailparse::dateparse(&get("Date")).ok();
    let from = get("From");
    let from = match mailparse::addrparse(&from)
        .ok()
        .and_then(|l| l.extract_single_info())
    {
        Some(single) => single.display_name.unwrap_or(single.addr),
        None => from,
    };
    (date, one_line(&from), one_line(&get("Subject")))
}

/// `text` on one line: the whitespace of a folded header (tab, CR, LF) made spaces, other
/// control characters (a hostile header's escapes) shown as `?` by [`printable`].
fn one_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_ascii_whitespace() { ' ' } else { c })
        .collect();
    printable(spaced.trim()).into_owned()
}

/// `text` cut to `width` characters, with `…` when cut, padded to `width`.
pub fn column(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n > width {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        format!("{text}{}", " ".repeat(width - n))
    }
}

/// The folders of an IMAP `account` with their message counts (`mailfetch folders`).
pub fn folders(account: &Account, cx: &Ctx) -> Result<Vec<FolderInfo>> {
    let ctx = |e: Error| e.context(&account.name);
    if account.protocol != Protocol::Imap {
        return Err(ctx(Error::new(
            Class::Usage,
            "POP3 has no folders; `mailfetch folders` needs an IMAP account",
        )));
    }
    let mut imap = session::open_imap(account, cx, Access::Look).map_err(ctx)?;
    let result = imap.folder_counts();
    imap.logout();
    result.map_err(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded_and_the_sender_is_its_name() {
        let (date, from, subject) = fields(
            b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\n\
              Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\n =?UTF-8?B?S8O2bG4=?=\n\
              Date: Mon, 02 Jan 2023 10:00:00 +0000\n\n",
        );
        assert_eq!(from, "Jürgen Müller");
        assert_eq!(subject, "Grüße aus Köln");
        assert_eq!(date, Some(1_672_653_600));
        let (_, from, _) = fields(b"From: plain@example.org\n\n");
        assert_eq!(from, "plain@example.org");
    }

    #[test]
    fn escapes_in_sender_and_subject_do_not_reach_the_terminal() {
        let (_, from, subject) = fields(
            b"From: =?UTF-8?Q?Eve=1B]0;owned=07?= <eve@example.org>\n\
              Subject: =?UTF-8?B?G1syShtbSGhp?=\tthere\n\n",
        );
        assert_eq!(from, "Eve?]0;owned? <eve@example.org>");
        assert_eq!(subject, "?[2J?[Hhi there");
    }

    #[test]
    fn columns_are_cut_by_characters() {
        assert_eq!(column("Grüße", 8), "Grüße   ");
        assert_eq!(column("Grüße aus Köln", 8), "Grüße a…");
    }
}
