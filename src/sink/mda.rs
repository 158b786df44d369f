//! Delivery through an MDA command (procmail, maildrop, dovecot-lda, any filter): the message
//! on standard input with LF line ends; exit status 0 means delivered.
//!
//! The message is received completely (in memory, or in an unlinked temporary file when
//! large) before the command starts, so a connection that drops mid-message never hands the
//! MDA a truncated message. The command runs without a shell unless it uses shell syntax;
//! `%u` (user) and `%a` (account) are substituted as whole arguments, or shell-quoted when a
//! shell is used, so no name can inject a command. Delivery is at-least-once: an MDA that
//! delivered just before a crash is run again for that message on the next run (the MDA
//! gives no way to ask whether it already has the message).

use super::{copy_body, Meta, Sink};
use crate::error::{Class, Error, Result};
use crate::state::Recovery;
use std::io::{Cursor, Read, Seek, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Messages larger than this are spooled to a temporary file rather than held in memory.
const SPOOL_IN_MEMORY: u64 = 8 << 20;

/// An MDA command.
pub struct Mda {
    command: String,
    user: String,
    account: String,
    timeout: Duration,
}

/// Split `command` into words the way a simple shell would (quotes and backslashes), or
/// `None` when it uses shell syntax that needs a real shell.
fn split_words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => word.push(chars.next()?),
                        '$' | '`' => return None,
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | '~' | '#'
            | '\n' => return None,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Mda {
    /// An MDA sink running `command` for account `account` of `user`.
    pub fn new(command: &str, user: &str, account: &str, timeout: Duration) -> Result<Mda> {
        if command.trim().is_empty() {
            return Err(Error::config("target = \"mda:\" needs a command"));
        }
        Ok(Mda {
            command: command.to_string(),
            user: user.to_string(),
            account: account.to_string(),
            timeout,
        })
    }

    fn substitute(&self, word: &str, quote: bool) -> String {
        let q = |s: &str| if quote { shell_quote(s) } else { s.to_string() };
        word.replace("%%", "\0")
            .replace("%u", &q(&self.user))
            .replace("%a", &q(&self.account))
            .replace('\0', "%")
    }

    fn command(&self) -> Command {
        match split_words(&self.command) {
            Some(words) if !words.is_empty() => {
                let mut cmd = Command::new(self.substitute(&words[0], false));
                cmd.args(words[1..].iter().map(|w| self.substitute(w, false)));
                cmd
            }
            _ => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c").arg(self.substitute(&self.command, true));
                cmd
            }
        }
    }

    fn run(&self, message: &mut dyn Read) -> Result<()> {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::local(format!("cannot run MDA {:?}", self.command), e))?;
        let mut stdin = child.stdin.take().expect("piped");
        let fed = std::io::copy(message, &mut stdin);
        drop(stdin);
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::new(
                        Class::LocalIo,
                        format!(
                            "MDA {:?} did not finish within {} s; the message stays on the server",
                            self.command,
                            self.timeout.as_secs()
                        ),
                    ));
                }
                Err(e) => return Err(Error::local("waiting for the MDA", e)),
            }
        };
        if !status.success() {
            return Err(Error::new(
                Class::LocalIo,
                format!(
                    "MDA {:?} failed ({status}); the message stays on the server",
                    self.command
                ),
            ));
        }
        fed.map(|_| ())
            .map_err(|e| Error::local("feeding the message to the MDA", e))
    }
}

impl Sink for Mda {
    fn describe(&self) -> String {
        format!("{} (MDA)", self.command)
    }

    fn begin(&mut self) -> Result<Option<Recovery>> {
        Ok(None)
    }

    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<()> {
        if meta.size <= SPOOL_IN_MEMORY {
            let mut buf = Vec::with_capacity(meta.size as usize);
            copy_body(body, &mut buf, "the message buffer")?;
            self.run(&mut Cursor::new(buf))
        } else {
            let mut spool =
                tempfile::tempfile().map_err(|e| Error::local("cannot create a spool file", e))?;
            copy_body(body, &mut spool, "the spool file")?;
            spool
                .rewind()
                .map_err(|e| Error::local("rewinding the spool file", e))?;
            spool
                .flush()
                .map_err(|e| Error::local("writing the spool file", e))?;
            self.run(&mut spool)
        }
    }

    fn prepare(&mut self) -> Result<Option<Recovery>> {
        Ok(None)
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn abort(&mut self) {}

    fn recover(&mut self, _intent: &Recovery) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands_run_without_a_shell() {
        assert_eq!(
            split_words("/usr/bin/procmail -d %u").unwrap(),
            vec!["/usr/bin/procmail", "-d", "%u"]
        );
        assert_eq!(
            split_words("a 'b c' \"d e\"").unwrap(),
            vec!["a", "b c", "d e"]
        );
        assert!(split_words("cat > /tmp/x").is_none());
    }

    #[test]
    fn names_are_quoted_for_the_shell() {
        let mda = Mda::new(
            "echo %u | cat",
            "x'; rm -rf /; '",
            "acct",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            mda.substitute(&mda.command, true),
            r"echo 'x'\''; rm -rf /; '\''' | cat"
        );
    }

    #[test]
    fn message_is_delivered_on_stdin_and_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!("cat > {}", out.display());
        let mut mda = Mda::new(&cmd, "u", "a", Duration::from_secs(10)).unwrap();
        let meta = Meta {
            mailbox: "INBOX",
            delimiter: None,
            flags: Default::default(),
            internal_date: None,
            size: 5,
        };
        mda.deliver(&meta, &mut &b"hello"[..]).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"hello");
        let mut failing = Mda::new("false", "u", "a", Duration::from_secs(10)).unwrap();
        let err = failing.deliver(&meta, &mut &b"x"[..]).unwrap_err();
        assert_eq!(err.class(), Class::LocalIo);
    }
}
