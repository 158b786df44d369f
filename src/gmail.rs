//! Gmail's one-message-many-labels model, kept by `pull` (the protocol side is in
//! `crate::imap`, which lists X-GM-MSGID and X-GM-LABELS from a server offering X-GM-EXT-1).
//!
//! # Every message once
//!
//! Gmail shows each label as a folder, so one message can be in several folders under
//! different UIDs but one X-GM-MSGID. `pull` records the X-GM-MSGID of every message it
//! delivers in the account's state, under the mailbox [`MSGIDS`] (validity `Permanent`), in the same
//! journal write as the folder's UIDs; a message listed in another folder whose X-GM-MSGID is
//! recorded there is not delivered again, only recorded in that folder. So with
//! `folders = ["INBOX", "Work"]` a message carrying both labels arrives once, across runs and
//! after a crash alike.
//!
//! # Labels kept beside the mail, never in it
//!
//! Rewriting a message to add its labels would break byte-exact delivery. Instead each
//! delivered Gmail message gets a line in a sidecar file, JSON lines ([`Label`]), written
//! and fsync'd after the message is durable and before the state records it, so a label
//! line may at worst be written twice (the later line wins), never be missing:
//!
//! - Maildir target: `gmail-labels` in the Maildir's root;
//! - mbox target: `FILE.gmail-labels` beside the mbox file;
//! - any other target (MDA, LMTP, SMTP, `imap:`): `ACCOUNT.gmail-labels` in the state
//!   directory.
//!
//! A message found again under a new label folder (explicit folders) gets a new line with
//! its labels as they are now.

use crate::config::{Account, Target};
use crate::error::{Error, Result};
use crate::identity::MailboxKey;
use crate::source::GmailMessage;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state's mailbox of delivered X-GM-MSGIDs. A backslash begins no folder name Gmail
/// lists, so it cannot meet a real folder.
pub const MSGIDS: MailboxKey<'static> = MailboxKey::new("\\X-GM-MSGID");

/// One line of the labels sidecar.
#[derive(Serialize, Debug)]
pub struct Label<'a> {
    /// X-GM-MSGID, in decimal (a JSON number would lose digits in many readers).
    #[serde(rename = "x-gm-msgid")]
    pub msgid: String,
    /// The folder the message was delivered from (the first line of a message), or found
    /// again in.
    pub folder: &'a str,
    /// Its UID there.
    pub uid: u32,
    /// Its Message-ID, when it has one.
    #[serde(rename = "message-id", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<&'a str>,
    /// Whether this line is of a delivery (`false`: a message delivered before, seen again).
    pub delivered: bool,
    /// X-GM-LABELS, decoded from modified UTF-7.
    pub labels: &'a [String],
}

impl<'a> Label<'a> {
    /// The line for `message`, listed in `folder` under `uid`.
    pub fn new(message: &'a GmailMessage, folder: &'a str, uid: u32, delivered: bool) -> Self {
        Label {
            msgid: message.msgid.to_string(),
            folder,
            uid,
            message_id: None,
            delivered,
            labels: &message.labels,
        }
    }
}

/// Where the labels of `account`'s Gmail messages go (see the module doc).
pub fn sidecar_path(account: &Account, state_dir: &Path) -> PathBuf {
    match &account.target {
        Target::Maildir(dir) => dir.join("gmail-labels"),
        Target::Mbox(file) => {
            let mut name = file.as_os_str().to_os_string();
            name.push(".gmail-labels");
            PathBuf::from(name)
        }
        _ => state_dir.join(format!("{}.gmail-labels", account.name)),
    }
}

/// Append `lines` to the sidecar at `path` and make them durable (the file is created, with
/// its directory entry synced, the first time).
pub fn append(path: &Path, lines: &[Label<'_>]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut buf = Vec::new();
    for line in lines {
        serde_json::to_writer(&mut buf, line)
            .map_err(|e| Error::local(format!("cannot write {}", path.display()), e.into()))?;
        buf.push(b'\n');
    }
    let fail = |e| Error::local(format!("cannot write {}", path.display()), e);
    let created = !path.exists();
    let mut file: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    file.write_all(&buf)
        .and_then(|_| file.sync_data())
        .map_err(fail)?;
    if created {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsync::sync_dir(dir)?;
        }
    }
    Ok(())
}

/// The Message-ID in a fingerprint `SIZE:<Message-ID>` (see `crate::fingerprint`).
pub fn message_id_of(fingerprint: &str) -> Option<&str> {
    let (size, id) = fingerprint.split_once(':')?;
    size.bytes().all(|b| b.is_ascii_digit()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_line_is_one_json_object_with_the_msgid_as_text() {
        let m = GmailMessage {
            msgid: 1278455344230334865,
            labels: vec!["\\Inbox".into(), "Entwürfe".into()],
        };
        let mut line = Label::new(&m, "[Gmail]/All Mail", 7, true);
        line.message_id = message_id_of("120:<a@b>");
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"x-gm-msgid":"1278455344230334865","folder":"[Gmail]/All Mail","uid":7,"message-id":"<a@b>","delivered":true,"labels":["\\Inbox","Entwürfe"]}"#
        );
        assert_eq!(message_id_of("120 digest"), None);
    }
}
