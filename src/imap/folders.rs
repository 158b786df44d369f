//! The account's folders: what the server lists (RFC 3501 section 6.3.8 LIST, with the
//! RFC 6154 special-use attributes), decoded from modified UTF-7, and which of them an
//! account fetches.
//!
//! `folders = "*"` means every selectable folder: `\Noselect` and `\NonExistent` entries are
//! skipped, and so is the `move-to` folder (mail moved there would be fetched again). With
//! the Gmail profile it also skips Gmail's virtual folders that only repeat mail found in
//! other folders: `[Gmail]/All Mail` (`\All`), `[Gmail]/Important` and `[Gmail]/Starred`
//! (`\Flagged`), recognised by their special-use attributes and, for servers that do not
//! send those, by their English names under `[Gmail]/` or `[Google Mail]/`.

use super::session::{quote, Session};
use super::utf7;
use super::wire::{Response, Untagged};
use crate::config::Folders;
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
    /// Whether it is one of Gmail's folders that only repeat other folders' mail.
    pub gmail_duplicate: bool,
}

impl Folder {
    /// A folder the account names but the server did not list (it is tried as named).
    pub fn assumed(name: &str, delimiter: Option<char>) -> Folder {
        Folder {
            wire: utf7::encode(name),
            name: name.to_string(),
            delimiter,
            selectable: true,
            gmail_duplicate: false,
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

/// Whether a listed name is one of Gmail's repeating virtual folders.
fn gmail_duplicate(name: &str, attributes: &[String]) -> bool {
    let by_attribute = attributes.iter().any(|a| {
        ["\\All", "\\Flagged", "\\Important"]
            .iter()
            .any(|special| a.eq_ignore_ascii_case(special))
    });
    let by_name = ["[Gmail]/", "[Google Mail]/"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| ["All Mail", "Important", "Starred"].contains(&rest))
    });
    by_attribute || by_name
}

/// RFC 3501 section 6.3.8: `LIST "" "*"`, every folder of the account.
pub fn list(session: &mut Session) -> Result<Vec<Folder>> {
    let mut out = Vec::new();
    session.run("LIST \"\" \"*\"", &mut |resp| {
        if let Response::Untagged(Untagged::List(data)) = resp {
            let wire = data.name;
            let name = utf7::decode(&wire).unwrap_or_else(|| wire.clone());
            out.push(Folder {
                gmail_duplicate: gmail_duplicate(&name, &data.attributes),
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
/// else as named, with the account's usual delimiter), or every selectable one for `"*"`.
pub fn choose(
    listed: &[Folder],
    wanted: &Folders,
    gmail: bool,
    move_to: Option<&str>,
) -> Vec<Folder> {
    match wanted {
        Folders::All => listed
            .iter()
            .filter(|f| f.selectable)
            .filter(|f| !(gmail && f.gmail_duplicate))
            .filter(|f| Some(f.name.as_str()) != move_to)
            .cloned()
            .collect(),
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
    gmail: bool,
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

    fn folder(name: &str, selectable: bool, gmail_duplicate: bool) -> Folder {
        Folder {
            wire: utf7::encode(name),
            name: name.to_string(),
            delimiter: Some('/'),
            selectable,
            gmail_duplicate,
        }
    }

    #[test]
    fn star_skips_unselectable_gmail_duplicates_and_the_move_target() {
        let listed = vec![
            folder("INBOX", true, false),
            folder("[Gmail]", false, false),
            folder("[Gmail]/All Mail", true, true),
            folder("[Gmail]/Sent Mail", true, false),
            folder("Receipts", true, false),
            folder("Archive", true, false),
        ];
        let names = |v: Vec<Folder>| v.into_iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(
            names(choose(&listed, &Folders::All, true, Some("Archive"))),
            ["INBOX", "[Gmail]/Sent Mail", "Receipts"]
        );
        assert_eq!(
            names(choose(&listed, &Folders::All, false, None)),
            [
                "INBOX",
                "[Gmail]/All Mail",
                "[Gmail]/Sent Mail",
                "Receipts",
                "Archive"
            ]
        );
    }

    #[test]
    fn named_folders_keep_their_order_and_unlisted_ones_are_encoded() {
        let listed = vec![
            folder("INBOX", true, false),
            folder("Receipts", true, false),
        ];
        let wanted = Folders::Named(vec!["Receipts".into(), "Entwürfe".into(), "INBOX".into()]);
        let got = choose(&listed, &wanted, false, None);
        assert_eq!(got[0].name, "Receipts");
        assert_eq!(got[1].wire, "Entw&APw-rfe");
        assert_eq!(got[1].delimiter, Some('/'));
        assert_eq!(got[2].name, "INBOX");
    }

    #[test]
    fn gmail_virtual_folders_are_known_by_attribute_or_name() {
        assert!(gmail_duplicate(
            "[Gmail]/Alle Nachrichten",
            &["\\All".into()]
        ));
        assert!(gmail_duplicate("[Gmail]/Wichtig", &["\\important".into()]));
        assert!(gmail_duplicate("[Google Mail]/Starred", &[]));
        assert!(!gmail_duplicate("[Gmail]/Sent Mail", &["\\Sent".into()]));
    }

    #[test]
    fn noselect_and_nonexistent_folders_cannot_be_selected() {
        assert!(!selectable(&["\\HasChildren".into(), "\\NoSelect".into()]));
        assert!(!selectable(&["\\NonExistent".into()]));
        assert!(selectable(&["\\HasNoChildren".into()]));
    }
}
