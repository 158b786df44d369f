//! Reading the config file without trusting more than the file deserves.
//!
//! The config says which commands mailfetch runs (`password-command`,
//! `oauth2-token-command`, an `mda:` target) and where it sends the password (`host`), so a
//! config that someone else could have written is refused, as ssh refuses a loose key: it
//! must be owned by the user running mailfetch (or by root, who could change anything of
//! the user's anyway) and writable by nobody else. That is exit 77 (EX_NOPERM), saying the
//! command that fixes it. (Readability is checked later, and only when the file holds a
//! literal secret; see `check_private`.)
//!
//! And TOML errors are rebuilt here as `file:line:col: message`: on the line of a secret
//! key (`password`, `oauth2-client-secret`) the parser's own message is not shown at all,
//! since it may quote the value (`invalid type: integer `98765432101``). Elsewhere, a value
//! written without quotes that would be right in quotes gets that said: TOML's own words
//! for `host = 127.0.0.1` are "invalid float, expected nothing". A misspelt key is named
//! with the key it is closest to ("did you mean `password-command`?"), not followed by the
//! list of all of them.

use crate::error::{Class, Error, Result};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The keys whose values are secrets.
const SECRET_KEYS: &[&str] = &["password", "oauth2-client-secret"];

/// The text of the config at `path`, once the file is known to be the user's own and
/// writable by nobody else. The check is made on the file opened, not on the path.
pub fn read(path: &Path) -> Result<String> {
    let cannot = |e: std::io::Error| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "; run `mailfetch init` to create one (or write it by hand, see man mailfetch), \
             or pass --config FILE"
        } else {
            ""
        };
        Error::config(format!("cannot read config {}: {e}{hint}", path.display()))
    };
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if let Some(why) = unsafe_to_trust(meta.uid(), meta.mode(), me) {
        return Err(Error::new(
            Class::Auth,
            format!(
                "config {} {}",
                path.display(),
                why.replace("FILE", &path.display().to_string())
            ),
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(cannot)?;
    Ok(text)
}

/// Why a file owned by `owner` with `mode` must not be trusted by user `me`, if it must not
/// (with the command that fixes a loose mode; a foreign owner needs a look first).
fn unsafe_to_trust(owner: u32, mode: u32, me: u32) -> Option<String> {
    if owner != me && owner != 0 {
        Some(format!("is owned by uid {owner}, not you"))
    } else if mode & 0o022 != 0 {
        Some("is writable by group/others (chmod go-w FILE)".to_string())
    } else {
        None
    }
}

/// A TOML error as one line `file:line:col: message`, the position from `position`; on the
/// line of a secret key, a fixed message that shows nothing of the value. When the value
/// of the line is not quoted and `quoted_would_do(key, value)` says the file would read
/// with it in quotes, the message says so.
pub fn toml_error(
    position: &str,
    text: &str,
    error: &toml::de::Error,
    quoted_would_do: &dyn Fn(&str, &str) -> bool,
) -> Error {
    let at = error.span().map_or(text.len(), |s| s.start.min(text.len()));
    let message = match secret_key_before(text, at) {
        Some(key) => format!(
            "{key} is not a valid TOML string (the value is not shown); write it in quotes: \
             {key} = \"...\" (with \\ and \" escaped) or {key} = '...'"
        ),
        None => match unquoted_assignment(text, at).filter(|(k, v)| quoted_would_do(k, v)) {
            Some((key, value)) => format!(
                "{}; text goes in quotes: {key} = \"{value}\"",
                error.message().trim()
            ),
            None => unknown_key(error.message().trim())
                .unwrap_or_else(|| error.message().trim().to_string()),
        },
    };
    Error::config(format!("{position}: {message}"))
}

/// serde's "unknown field `pasword-command`, expected one of `profile`, ..." (every key
/// there is) in the user's words: the key of the table (`config::keys`) that is closest,
/// when one is close enough to be a typo of it, else where the keys are listed.
fn unknown_key(message: &str) -> Option<String> {
    use super::keys::{FILE_KEYS, FILE_TABLES, KEYS};
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    // The candidates come from the key table: serde names the keys of the table the key was
    // written in, which tells the top of the file (its tables) from an account.
    let known: Vec<&str> = if rest.contains("`accounts`") {
        FILE_KEYS
            .iter()
            .map(|k| k.name)
            .chain(FILE_TABLES.iter().copied())
            .collect()
    } else {
        KEYS.iter().map(|k| k.name).collect()
    };
    let nearest = known
        .into_iter()
        .map(|k| (edit_distance(key, k), k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= (key.chars().count() / 3).max(2));
    Some(match nearest {
        Some((_, k)) => format!("unknown key `{key}`; did you mean `{k}`?"),
        None => {
            format!("unknown key `{key}` (the keys are listed in man mailfetch, CONFIGURATION)")
        }
    })
}

/// The Levenshtein distance of `a` and `b` (insertions, deletions, substitutions), in
/// characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The bare key and the unquoted value of the `key = value` line holding byte `at`, when
/// `at` is in the value and the value is neither a string, an array nor a table (nor holds
/// a quote or backslash, which would need escaping in the hint).
fn unquoted_assignment(text: &str, at: usize) -> Option<(&str, &str)> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[start..end];
    let eq = line.find('=')?;
    if start + eq >= at {
        return None;
    }
    let key = line[..eq].trim();
    let value = line[eq + 1..].split(" #").next()?.trim();
    let bare_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    let plain_value = !value.is_empty()
        && !value.starts_with(['"', '\'', '[', '{'])
        && !value.contains(['"', '\\']);
    (bare_key && plain_value).then_some((key, value))
}

/// The secret key assigned on the line of byte `at`, before `at` (`password = `, also
/// quoted, dotted or in an inline table), if there is one.
fn secret_key_before(text: &str, at: usize) -> Option<&'static str> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[start..at];
    SECRET_KEYS.iter().copied().find(|key| {
        line.match_indices(key).any(|(i, _)| {
            let before = line[..i].chars().next_back();
            let after = line[i + key.len()..].trim_start_matches('"').trim_start();
            before.is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '.' | '"'))
                && after.starts_with('=')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_of_the_user_or_root_writable_by_nobody_else_are_trusted() {
        assert_eq!(unsafe_to_trust(1000, 0o100600, 1000), None);
        assert_eq!(unsafe_to_trust(1000, 0o100644, 1000), None);
        assert_eq!(unsafe_to_trust(0, 0o100644, 1000), None);
        assert_eq!(unsafe_to_trust(0, 0o100600, 0), None);
        assert_eq!(
            unsafe_to_trust(1000, 0o100664, 1000).as_deref(),
            Some("is writable by group/others (chmod go-w FILE)")
        );
        assert_eq!(
            unsafe_to_trust(1000, 0o100602, 1000).as_deref(),
            Some("is writable by group/others (chmod go-w FILE)")
        );
        assert_eq!(
            unsafe_to_trust(0, 0o100666, 1000).as_deref(),
            Some("is writable by group/others (chmod go-w FILE)")
        );
        assert_eq!(
            unsafe_to_trust(1001, 0o100600, 1000).as_deref(),
            Some("is owned by uid 1001, not you")
        );
        assert_eq!(
            unsafe_to_trust(1000, 0o100600, 0).as_deref(),
            Some("is owned by uid 1000, not you")
        );
    }

    #[test]
    fn a_misspelt_key_gets_the_nearest_one_and_a_stranger_the_list() {
        let serde = "unknown field `pasword-command`, expected one of `profile`, `password`, \
                     `password-command`, `target`";
        assert_eq!(
            unknown_key(serde).as_deref(),
            Some("unknown key `pasword-command`; did you mean `password-command`?")
        );
        let far = "unknown field `colour`, expected one of `profile`, `target`";
        assert_eq!(
            unknown_key(far).as_deref(),
            Some("unknown key `colour` (the keys are listed in man mailfetch, CONFIGURATION)")
        );
        assert_eq!(unknown_key("invalid float, expected nothing"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn the_secret_keys_are_keys_of_the_table() {
        for secret in SECRET_KEYS {
            assert!(
                super::super::keys::KEYS.iter().any(|k| k.name == *secret),
                "{secret}"
            );
        }
    }

    #[test]
    fn unquoted_values_are_found_only_in_the_value() {
        let text = "[a]\nhost = 127.0.0.1 # mine\nport = \"x\"\n";
        let at = text.find("127").unwrap() + 3;
        assert_eq!(unquoted_assignment(text, at), Some(("host", "127.0.0.1")));
        assert_eq!(unquoted_assignment(text, text.find("host").unwrap()), None);
        assert_eq!(unquoted_assignment(text, text.find("\"x").unwrap()), None);
        assert_eq!(unquoted_assignment("a = [1, x]", 8), None);
    }

    #[test]
    fn secret_keys_are_found_in_every_spelling() {
        for line in [
            "password = 98765432101",
            "  \"password\"=98765432101",
            "accounts.a.password = 98765432101",
            "a = { user = \"u\", password = 98765432101",
            "oauth2-client-secret = 98765432101",
        ] {
            assert!(secret_key_before(line, line.len()).is_some(), "{line}");
        }
        for line in [
            "user = \"password\" x",
            "password-env = 3",
            "my-password = 3",
        ] {
            assert_eq!(secret_key_before(line, line.len()), None, "{line}");
        }
    }
}
