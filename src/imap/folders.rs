//! The account's folders: what the server lists (RFC 3501 section 6.3.8 LIST, with the
//! RFC 6154 special-use attributes), decoded from modified UTF-7, and which of them an
//! account fetches.
//!
//! `folders = "*"` means every selectable folder: `\Noselect` and `\NonExistent` entries are
//! skipped, and so is the `move-to` folder (mail moved there would be fetched again).
//!
//! Gmail (a server offering X-GM-EXT-1, or the Gmail profile) is different: a message is one
//! message with labels, and each label is shown as a folder, so a message with three labels
//! is in three folders, and an archived one in none but `[Gmail]/All Mail`. There `"*"`
//! means All Mail (`\All`), which holds every message but Spam and Trash, plus Spam
//! (`\Junk`) and Trash (`\Trash`) when the account asks for them ([`GmailFolders`]). The
//! folders are found by their special-use attributes (RFC 6154; the names are localised:
//! `[Google Mail]/Alle Nachrichten`) and, for servers that send none, by their English
//! names under `[Gmail]/` or `[Google Mail]/`. A server that lists no All Mail at all gets
//! the plain rule without the label-only folders Important and Starred.

use super::session::{quote, Session};
use super::utf7;
use super::wire::{Response, Untagged};
use crate::config::{Folders, GmailFolders};
use crate::error::{Error, Result};

/// One folder as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The name on the wire (modified UTF-7), used in commands.
    pub wire: String,
    /// The name decoded to UTF-8: shown, kept in the state, mapped to the local folder.
    pub name: String,
    /// The hierarchy delimiter.
    pub delimiter: Option<char>,
    /// Whether it can be selected (not `\Noselect` or `\NonExistent`).
    pub selectable: bool,
    /// Its role among Gmail's special folders, if it has one.
    pub special: Option<Special>,
}

/// The RFC 6154 special-use folders that matter for Gmail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `\All`: every message but Spam and Trash.
    All,
    /// `\Junk`: Spam.
    Junk,
    /// `\Trash`.
    Trash,
    /// `\Flagged` (Starred) or `\Important`: a label that only repeats All Mail's mail.
    Repeating,
}

impl Folder {
    /// A folder the account names but the server did not list (it is tried as named).
    pub fn assumed(name: &str, delimiter: Option<char>) -> Folder {
        Folder {
            wire: utf7::encode(name),
            name: name.to_string(),
            delimiter,
            selectable: true,
            special: None,
        }
    }
}

/// Whether a folder with these LIST attributes can be selected: not `\Noselect`, nor
/// `\NonExistent` (RFC 5258).
pub(super) fn selectable(attributes: &[String]) -> bool {
    !attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent"))
}

/// The special use of a listed folder, by attribute, else by its English Gmail name.
fn special(name: &str, attributes: &[String]) -> Option<Special> {
    let has = |a: &str| attributes.iter().any(|x| x.eq_ignore_ascii_case(a));
    let by_attribute = if has("\\All") {
        Some(Special::All)
    } else if has("\\Junk") {
        Some(Special::Junk)
    } else if has("\\Trash") {
        Some(Special::Trash)
    } else if has("\\Flagged") || has("\\Important") {
        Some(Special::Repeating)
    } else {
        None
    };
    by_attribute.or_else(|| {
        let rest = ["[Gmail]/", "[Google Mail]/"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix))?;
        match rest {
            "All Mail" => Some(Special::All),
            "Spam" => Some(Special::Junk),
            "Trash" | "Bin" => Some(Special::Trash),
            "Important" | "Starred" => Some(Special::Repeating),
            _ => None,
        }
    })
}

/// RFC 3501 section 6.3.8: `LIST "" "*"`, every folder of the account.
pub fn list(session: &mut Session) -> Result<Vec<Folder>> {
    let mut out = Vec::new();
    session.run("LIST \"\" \"*\"", &mut |resp| {
        if let Response::Untagged(Untagged::List(data)) = resp {
            let wire = data.name;
            let name = utf7::decode(&wire).unwrap_or_else(|| wire.clone());
            out.push(Folder {
                special: special(&name, &data.attributes),
                selectable: selectable(&data.attributes),
                delimiter: data.delimiter,
                wire,
                name,
            });
        }
        Ok(())
    })?;
    Ok(out)
}

/// The folders to fetch, in order: the named ones (as listed when the server lists them,
/// else as named, with the account's usual delimiter), or for `"*"` every selectable one,
/// or of Gmail (`gmail` set) All Mail and what the account adds to it (see the module doc).
pub fn choose(
    listed: &[Folder],
    wanted: &Folders,
    gmail: Option<GmailFolders>,
    move_to: Option<&str>,
) -> Vec<Folder> {
    let fetchable = |f: &&Folder| f.selectable && Some(f.name.as_str()) != move_to;
    match wanted {
        Folders::All => {
            let Some(extra) = gmail else {
                return listed.iter().filter(fetchable).cloned().collect();
            };
            let all = |f: &&Folder| f.special == Some(Special::All);
            if !listed.iter().filter(fetchable).any(|f| all(&f)) {
                return listed
                    .iter()
                    .filter(fetchable)
                    .filter(|f| f.special != Some(Special::Repeating))
                    .cloned()
                    .collect();
            }
            let wanted = |f: &&Folder| match f.special {
                Some(Special::All) => true,
                Some(Special::Junk) => extra.spam,
                Some(Special::Trash) => extra.trash,
                _ => false,
            };
            listed
                .iter()
                .filter(fetchable)
                .filter(wanted)
                .cloned()
                .collect()
        }
        Folders::Named(names) => {
            let delimiter = listed.iter().find_map(|f| f.delimiter);
            names
                .iter()
                .map(|n| {
                    listed
                        .iter()
                        .find(|f| &f.name == n || (n == "INBOX" && f.name.eq_ignore_ascii_case(n)))
                        .cloned()
                        .unwrap_or_else(|| Folder::assumed(n, delimiter))
                })
                .collect()
        }
    }
}

/// A folder and its message count, for `mailfetch folders`.
#[derive(Debug, Clone)]
pub struct FolderInfo {
    /// The decoded name.
    pub name: String,
    /// Its message count (`None` for folders that cannot be selected).
    pub messages: Option<u32>,
    /// Whether `folders = "*"` would fetch it (for this account's profile and move-to).
    pub fetched_by_star: bool,
}

/// RFC 3501 section 6.3.10: STATUS (MESSAGES) of every selectable folder.
pub fn counts(
    session: &mut Session,
    listed: &[Folder],
    gmail: Option<GmailFolders>,
    move_to: Option<&str>,
) -> Result<Vec<FolderInfo>> {
    let star = choose(listed, &Folders::All, gmail, move_to);
    let mut out = Vec::with_capacity(listed.len());
    for f in listed {
        let mut messages = None;
        if f.selectable {
            session.run(
                &format!("STATUS {} (MESSAGES)", quote(&f.wire)),
                &mut |resp| {
                    if let Response::Untagged(Untagged::Status(_, items)) = resp {
                        for (name, n) in items {
                            if name == "MESSAGES" {
                                messages = u32::try_from(n).ok();
                            }
                        }
                    }
                    Ok(())
                },
            )?;
            if messages.is_none() {
                return Err(Error::protocol(format!(
                    "{} sent no message count for {}",
                    session.peer(),
                    f.name
                )));
            }
        }
        out.push(FolderInfo {
            name: f.name.clone(),
            messages,
            fetched_by_star: star.contains(f),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, selectable: bool, special: Option<Special>) -> Folder {
        Folder {
            wire: utf7::encode(name),
            name: name.to_string(),
            delimiter: Some('/'),
            selectable,
            special,
        }
    }

    fn names(v: Vec<Folder>) -> Vec<String> {
        v.into_iter().map(|f| f.name).collect()
    }

    fn gmail_listing() -> Vec<Folder> {
        vec![
            folder("INBOX", true, None),
            folder("[Gmail]", false, None),
            folder("[Gmail]/Alle Nachrichten", true, Some(Special::All)),
            folder("[Gmail]/Spam", true, Some(Special::Junk)),
            folder("[Gmail]/Papierkorb", true, Some(Special::Trash)),
            folder("[Gmail]/Sent Mail", true, None),
            folder("[Gmail]/Starred", true, Some(Special::Repeating)),
            folder("Receipts", true, None),
            folder("Archive", true, None),
        ]
    }

    #[test]
    fn star_skips_unselectable_folders_and_the_move_target() {
        assert_eq!(
            names(choose(
                &gmail_listing(),
                &Folders::All,
                None,
                Some("Archive")
            )),
            [
                "INBOX",
                "[Gmail]/Alle Nachrichten",
                "[Gmail]/Spam",
                "[Gmail]/Papierkorb",
                "[Gmail]/Sent Mail",
                "[Gmail]/Starred",
                "Receipts"
            ]
        );
    }

    #[test]
    fn star_on_gmail_is_all_mail_with_spam_and_trash_only_when_asked() {
        let listed = gmail_listing();
        let none = GmailFolders::default();
        assert_eq!(
            names(choose(&listed, &Folders::All, Some(none), None)),
            ["[Gmail]/Alle Nachrichten"]
        );
        let both = GmailFolders {
            spam: true,
            trash: true,
        };
        assert_eq!(
            names(choose(&listed, &Folders::All, Some(both), None)),
            [
                "[Gmail]/Alle Nachrichten",
                "[Gmail]/Spam",
                "[Gmail]/Papierkorb"
            ]
        );
    }

    #[test]
    fn a_gmail_without_all_mail_gets_every_folder_but_the_repeating_ones() {
        let listed: Vec<Folder> = gmail_listing()
            .into_iter()
            .filter(|f| f.special != Some(Special::All))
            .collect();
        let got = names(choose(
            &listed,
            &Folders::All,
            Some(GmailFolders::default()),
            None,
        ));
        assert!(got.contains(&"INBOX".to_string()), "{got:?}");
        assert!(!got.contains(&"[Gmail]/Starred".to_string()), "{got:?}");
    }

    #[test]
    fn named_folders_keep_their_order_and_unlisted_ones_are_encoded() {
        let listed = vec![folder("INBOX", true, None), folder("Receipts", true, None)];
        let wanted = Folders::Named(vec!["Receipts".into(), "Entwürfe".into(), "INBOX".into()]);
        let got = choose(&listed, &wanted, None, None);
        assert_eq!(got[0].name, "Receipts");
        assert_eq!(got[1].wire, "Entw&APw-rfe");
        assert_eq!(got[1].delimiter, Some('/'));
        assert_eq!(got[2].name, "INBOX");
    }

    #[test]
    fn gmail_special_folders_are_known_by_attribute_or_english_name() {
        assert_eq!(
            special("[Gmail]/Alle Nachrichten", &["\\All".into()]),
            Some(Special::All)
        );
        assert_eq!(
            special("[Gmail]/Wichtig", &["\\important".into()]),
            Some(Special::Repeating)
        );
        assert_eq!(
            special("[Google Mail]/Starred", &[]),
            Some(Special::Repeating)
        );
        assert_eq!(special("[Gmail]/All Mail", &[]), Some(Special::All));
        assert_eq!(special("[Gmail]/Spam", &[]), Some(Special::Junk));
        assert_eq!(special("[Gmail]/Bin", &[]), Some(Special::Trash));
        assert_eq!(special("[Gmail]/Sent Mail", &["\\Sent".into()]), None);
        assert_eq!(special("Spam", &[]), None);
    }

    #[test]
    fn noselect_and_nonexistent_folders_cannot_be_selected() {
        assert!(!selectable(&["\\HasChildren".into(), "\\NoSelect".into()]));
        assert!(!selectable(&["\\NonExistent".into()]));
        assert!(selectable(&["\\HasNoChildren".into()]));
    }
}
