//! `mailfetch import FILE.csv`: one `accounts.d/NAME.toml` per line of a list of accounts, as
//! imapsync users and administrators keep them, for a config that has
//! `include = ["accounts.d/*.toml"]`.
//!
//! The list has a header line and these columns (any order, named in the header; `#` lines
//! and blank lines are skipped): `name`, `user`, `password` (where the password comes from),
//! `server` (a profile such as `gmail`, or `HOST` or `HOST:PORT`), `protocol` (`pop3` or
//! `imap`, may be empty) and `target`. Fields are separated by commas; a field in double
//! quotes may hold commas, and `""` is a quote.
//!
//! The password column is `command:CMD` (password-command), `env:VAR` (password-env),
//! `file:PATH` (the first line of a file, read by `cat`), `oauth2` (auth = "oauth2", with
//! `mailfetch auth NAME` to follow), or `literal:SECRET`: a literal password never goes into
//! the account file, which others may be allowed to read, but into `NAME.password` (mode
//! 0600) beside it, which the account file reads with `cat`.
//!
//! Nothing is written unless every line is good: a bad line is an error at `FILE:LINE`
//! (exit 78), and an existing file is not replaced without `--force`.

use crate::config::profiles;
use crate::error::{Class, Error, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The columns of the list.
const COLUMNS: [&str; 6] = ["name", "user", "password", "server", "protocol", "target"];

/// One file to write.
#[derive(Debug, PartialEq, Eq)]
pub struct Planned {
    /// Where.
    pub path: PathBuf,
    /// What.
    pub text: String,
    /// Whether it must be private (a password file).
    pub private: bool,
}

/// The files the list `text` (read from `list`, for messages) asks for, in `dir`.
pub fn plan(list: &Path, text: &str, dir: &Path) -> Result<Vec<Planned>> {
    let bad = |line: usize, why: String| Error::config(format!("{}:{line}: {why}", list.display()));
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (header_at, header) = rows.next().ok_or_else(|| {
        bad(
            1,
            format!(
                "empty; the first line names the columns: {}",
                COLUMNS.join(",")
            ),
        )
    })?;
    let header = fields(header).map_err(|why| bad(header_at, why))?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let at: Vec<usize> = COLUMNS
        .iter()
        .map(|c| {
            column(c).ok_or_else(|| {
                bad(
                    header_at,
                    format!("no column {c:?} (columns: {})", COLUMNS.join(",")),
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut planned = Vec::new();
    let mut names = std::collections::BTreeMap::new();
    for (line, row) in rows {
        let f = fields(row).map_err(|why| bad(line, why))?;
        if f.len() != header.len() {
            return Err(bad(
                line,
                format!("{} fields; the header has {}", f.len(), header.len()),
            ));
        }
        let get = |i: usize| f[at[i]].trim();
        let (name, user, password, server, protocol, target) =
            (get(0), get(1), get(2), get(3), get(4), get(5));
        if name.is_empty()
            || name.starts_with('.')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                line,
                format!("name {name:?}: use letters, digits, '-', '_' and '.' only"),
            ));
        }
        if let Some(first) = names.insert(name.to_string(), line) {
            return Err(bad(line, format!("account {name} is on line {first} too")));
        }
        for (what, value) in [("user", user), ("server", server), ("target", target)] {
            if value.is_empty() {
                return Err(bad(line, format!("account {name}: {what} is empty")));
            }
        }
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut toml = format!("[accounts.{name}]\n");
        if profiles::find(server).is_some() {
            toml.push_str(&format!("profile = {}\n", q(server)));
        } else {
            let (host, port) = match server.rsplit_once(':') {
                Some((h, p)) => (
                    h,
                    Some(p.parse::<u16>().map_err(|_| {
                        bad(
                            line,
                            format!("account {name}: server {server:?}: the port is not a number"),
                        )
                    })?),
                ),
                None => (server, None),
            };
            toml.push_str(&format!("host = {}\n", q(host)));
            if let Some(port) = port {
                toml.push_str(&format!("port = {port}\n"));
            }
        }
        match protocol {
            "" => {}
            "pop3" | "imap" => toml.push_str(&format!("protocol = \"{protocol}\"\n")),
            other => {
                return Err(bad(
                    line,
                    format!("account {name}: protocol {other:?}: pop3 or imap"),
                ))
            }
        }
        toml.push_str(&format!("user = {}\n", q(user)));
        let (kind, value) = password.split_once(':').unwrap_or((password, ""));
        match kind {
            "command" if !value.is_empty() => toml.push_str(&format!("password-command = {}\n", q(value))),
            "env" if !value.is_empty() => toml.push_str(&format!("password-env = {}\n", q(value))),
            "file" if !value.is_empty() => toml.push_str(&format!("password-command = {}\n", q(&format!("head -n 1 {}", shell_quote(value))))),
            "oauth2" if value.is_empty() => toml.push_str("auth = \"oauth2\"\n"),
            "literal" if !value.is_empty() => {
                let file = dir.join(format!("{name}.password"));
                toml.push_str(&format!(
                    "password-command = {}\n",
                    q(&format!("head -n 1 {}", shell_quote(&file.display().to_string())))
                ));
                planned.push(Planned { path: file, text: format!("{value}\n"), private: true });
            }
            _ => {
                return Err(bad(
                    line,
                    format!("account {name}: password: write command:CMD, env:VAR, file:PATH, oauth2 or literal:SECRET (the value is not shown)"),
                ))
            }
        }
        toml.push_str(&format!("target = {}\n", q(target)));
        planned.push(Planned {
            path: dir.join(format!("{name}.toml")),
            text: toml,
            private: false,
        });
    }
    Ok(planned)
}

/// Write `planned`: account files 0644 (0600 for password files), none replaced without
/// `force`; returns the account files written.
pub fn write(planned: &[Planned], force: bool) -> Result<usize> {
    if !force {
        if let Some(p) = planned.iter().find(|p| p.path.exists()) {
            return Err(Error::new(
                Class::Config,
                format!(
                    "{} exists; nothing written (--force replaces it)",
                    p.path.display()
                ),
            ));
        }
    }
    for p in planned {
        if let Some(dir) = p.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::local(format!("cannot create {}", dir.display()), e))?;
        }
        let _ = std::fs::remove_file(&p.path);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if p.private { 0o600 } else { 0o644 })
            .open(&p.path)
            .and_then(|mut f| {
                f.write_all(p.text.as_bytes())?;
                f.sync_all()
            });
        written.map_err(|e| Error::local(format!("cannot write {}", p.path.display()), e))?;
    }
    Ok(planned.iter().filter(|p| !p.private).count())
}

/// `s` in single quotes for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The fields of one CSV line.
fn fields(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => out.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_string());
    }
    out.push(field);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_becomes_account_files_and_a_literal_password_a_private_file() {
        let list = "# exported\nname,user,password,server,protocol,target\n\
                    alice,alice@example.com,command:pass show alice,gmail,imap,maildir:/m/alice\n\
                    bob,bob,literal:s3cr\"et,\"mail.example.com:995\",pop3,\"mbox:/m/b,ob\"\n";
        let p = plan(Path::new("l.csv"), list, Path::new("/c/accounts.d")).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0].text,
            "[accounts.alice]\nprofile = \"gmail\"\nprotocol = \"imap\"\nuser = \"alice@example.com\"\n\
             password-command = \"pass show alice\"\ntarget = \"maildir:/m/alice\"\n"
        );
        assert_eq!(
            (p[1].path.as_path(), p[1].private),
            (Path::new("/c/accounts.d/bob.password"), true)
        );
        assert_eq!(p[1].text, "s3cr\"et\n");
        assert!(!p[2].text.contains("s3cr"), "{}", p[2].text);
        assert!(
            p[2].text
                .contains("host = \"mail.example.com\"\nport = 995\n"),
            "{}",
            p[2].text
        );
        assert!(
            p[2].text.contains("target = \"mbox:/m/b,ob\""),
            "{}",
            p[2].text
        );
        let config: String = p
            .iter()
            .filter(|p| !p.private)
            .map(|p| p.text.clone())
            .collect();
        let c = crate::config::parse(Path::new("c.toml"), &config).unwrap();
        assert_eq!(c.accounts.len(), 2);
    }

    #[test]
    fn bad_lines_are_errors_at_their_line_that_never_show_a_password() {
        let head = "name,user,password,server,protocol,target\n";
        for (row, why) in [
            (
                "a,u,env:X,h,smtp,maildir:/m",
                "l.csv:2: account a: protocol",
            ),
            (
                "a,u,hunter2,h,,maildir:/m",
                "l.csv:2: account a: password: write",
            ),
            ("a b,u,env:X,h,,maildir:/m", "l.csv:2: name"),
            ("a,u,env:X,h", "l.csv:2: 4 fields"),
            ("a,u,env:X,h:x,,maildir:/m", "port is not a number"),
        ] {
            let err = plan(
                Path::new("l.csv"),
                &format!("{head}{row}\n"),
                Path::new("d"),
            )
            .unwrap_err();
            assert!(err.message().contains(why), "{row}: {}", err.message());
            assert!(!err.message().contains("hunter2"));
        }
        let twice = format!("{head}a,u,env:X,h,,maildir:/m\na,u,env:X,h,,maildir:/n\n");
        let err = plan(Path::new("l.csv"), &twice, Path::new("d")).unwrap_err();
        assert!(
            err.message()
                .contains("l.csv:3: account a is on line 2 too"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn existing_files_are_kept_without_force() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let list = "name,user,password,server,protocol,target\na,u,literal:pw,h,,maildir:/m\n";
        let p = plan(Path::new("l.csv"), list, dir.path()).unwrap();
        assert_eq!(write(&p, false).unwrap(), 1);
        let mode = std::fs::metadata(dir.path().join("a.password"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = write(&p, false).unwrap_err();
        assert!(
            err.message()
                .ends_with("exists; nothing written (--force replaces it)"),
            "{}",
            err.message()
        );
        assert_eq!(write(&p, true).unwrap(), 1);
    }
}
