//! `include = ["accounts.d/*.toml"]`: a config split into one file per account (or a few),
//! as a fleet of thousands of accounts is kept, and as `mailfetch import` writes it.
//!
//! A pattern is a path relative to the directory of the file that includes it (or
//! absolute, or `~/`), whose last component may hold the wildcards `*` (any run of
//! characters) and `?` (one character); the directories before it are literal. The files
//! a pattern matches are taken in byte order of their names, so the result does not depend
//! on the directory's order on disk; a name starting with `.` is matched only by a pattern
//! starting with `.` (editors' swap files stay out). A pattern without wildcards names one
//! file, which must exist; a wildcard pattern may match nothing (an empty `accounts.d/`).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The files `pattern`, written in the config at `including`, stands for, sorted; `at` is
/// where the pattern is written, for errors.
pub fn expand(including: &Path, pattern: &str, at: &str) -> Result<Vec<PathBuf>> {
    let full = super::expand_tilde(pattern);
    let full = if full.is_absolute() {
        full
    } else {
        including
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(full)
    };
    let (dir, name) = match (full.parent(), full.file_name().and_then(|n| n.to_str())) {
        (Some(dir), Some(name)) => (dir.to_path_buf(), name.to_string()),
        _ => {
            return Err(Error::config(format!(
                "{at}: include {pattern:?}: name a file or a pattern such as \"accounts.d/*.toml\""
            )))
        }
    };
    if dir.to_str().is_some_and(|d| d.contains(['*', '?'])) {
        return Err(Error::config(format!(
            "{at}: include {pattern:?}: wildcards are allowed in the file name only"
        )));
    }
    if !name.contains(['*', '?']) {
        return Ok(vec![full]);
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        Error::config(format!(
            "{at}: include {pattern:?}: cannot read {}: {e}",
            dir.display()
        ))
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            Error::config(format!(
                "{at}: include {pattern:?}: cannot read {}: {e}",
                dir.display()
            ))
        })?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let hidden = file_name.starts_with('.') && !name.starts_with('.');
        if !hidden && matches(name.as_bytes(), file_name.as_bytes()) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `name` matches `pattern` (`*` any run of bytes, `?` one byte, else literal).
/// Iterative, with one backtrack point: linear in practice, never exponential.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_in_the_shell() {
        assert!(matches(b"*.toml", b"alice.toml"));
        assert!(matches(b"*.toml", b".toml"));
        assert!(!matches(b"*.toml", b"alice.toml~"));
        assert!(matches(b"a?c*", b"abc"));
        assert!(matches(b"*a*b*", b"xxaxxbxx"));
        assert!(!matches(b"*a*b", b"xxaxxbxx"));
        assert!(matches(b"exact", b"exact"));
        assert!(!matches(b"exact", b"exactly"));
        assert!(matches(b"**", b""));
    }

    #[test]
    fn a_pattern_lists_its_directory_sorted_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("accounts.d");
        std::fs::create_dir(&d).unwrap();
        for name in ["b.toml", "a.toml", "c.txt", ".a.toml.swp", ".hidden.toml"] {
            std::fs::write(d.join(name), "").unwrap();
        }
        let main = dir.path().join("config.toml");
        let found = expand(&main, "accounts.d/*.toml", "c:1:1").unwrap();
        assert_eq!(found, [d.join("a.toml"), d.join("b.toml")]);
        let one = expand(&main, "accounts.d/c.txt", "c:1:1").unwrap();
        assert_eq!(one, [d.join("c.txt")]);
        let err = expand(&main, "*/x.toml", "c:1:1").unwrap_err();
        assert!(
            err.message().contains("file name only"),
            "{}",
            err.message()
        );
        let err = expand(&main, "missing.d/*.toml", "c:1:1").unwrap_err();
        assert!(
            err.message().starts_with("c:1:1: include"),
            "{}",
            err.message()
        );
    }
}
