//! Writing the account `init` made into the config: a TOML table, replacing an account of the
//! same name, the whole file written to a temporary file (mode 0600), synced and renamed over
//! the old one.

use crate::error::{Error, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A TOML basic string.
pub fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as one word for `sh -c`: single-quoted, a quote inside written `'\''`.
pub fn shell_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `text` without the table `[accounts.NAME]`, and whether it had it.
pub fn without_account(text: &str, name: &str) -> (String, bool) {
    let headers = [
        format!("[accounts.{name}]"),
        format!("[accounts.\"{name}\"]"),
    ];
    let mut out = String::new();
    let mut skipping = false;
    let mut found = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            skipping = headers
                .iter()
                .any(|h| t.split('#').next().unwrap_or("").trim() == h);
            found |= skipping;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, found)
}

/// Write `text` to `path` with mode 0600: a temporary file beside it, synced, renamed over.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)
        .map_err(|e| Error::local(format!("cannot create {}", dir.display()), e))?;
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("toml")
    ));
    let err = |e| Error::local(format!("cannot write {}", tmp.display()), e);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(err)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path)
        .map_err(|e| Error::local(format!("cannot replace {}", path.display()), e))?;
    crate::fsync::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_table_is_removed_up_to_the_next_table() {
        let text =
            "[defaults]\nkeep = true\n\n[accounts.a]\nuser = \"x\"\n\n[accounts.b]\nuser = \"y\"\n";
        let (rest, found) = without_account(text, "a");
        assert!(found);
        assert_eq!(
            rest,
            "[defaults]\nkeep = true\n\n[accounts.b]\nuser = \"y\"\n"
        );
        assert!(!without_account(text, "c").1);
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn shell_words_keep_quotes_inside() {
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
