//! Delivery through an MDA command (procmail, maildrop, dovecot-lda, any filter): the message
//! on standard input with LF line ends; exit status 0 means delivered.
//!
//! The message is received completely (in memory, or in an unlinked temporary file when
//! large) before the command starts, so a connection that drops mid-message never hands the
//! MDA a truncated message. The command runs without a shell unless it uses shell syntax;
//! `%u` (user) and `%a` (account) are substituted as whole arguments, or shell-quoted when a
//! shell is used, so no name can inject a command.
//!
//! Exit status 0 is the only "delivered". A non-zero exit, a death by signal, or no exit
//! within the time allowed (the account's timeout, at least 60 s; the command's whole process
//! group is then killed) means not delivered: the message is refused ([`Outcome::Refused`]),
//! stays on the server and is offered again next run, the run goes on with the other
//! messages and ends with exit status 74. What the MDA writes on its standard error is shown,
//! with the refusal or as a notice; its standard output is discarded. The message is fed from
//! a thread, so an MDA that exits or hangs without reading all of it cannot stall mailfetch.
//!
//! The MDA starts without the variables that hold an account's password (`password-env`, of
//! any account: [`crate::secret::without_secrets`]); it is handed the message, not the
//! credentials.
//!
//! Delivery is at-least-once: an MDA that delivered just before a crash is run again for that
//! message on the next run (the MDA gives no way to ask whether it already has the message).
//! Each message is recorded as soon as its MDA has exited 0 (its batches are
//! [`Limits::ONE`]), so a crash
//! repeats at most that one delivery.

use super::{copy_body, label, Limits, Meta, Outcome, Prepared, Recovered, Refusal, Rollback};
use super::{Sink, Unfinished};
use crate::error::{Error, Result};
use std::io::{Cursor, Read, Seek, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Messages larger than this are spooled to a temporary file rather than held in memory.
const SPOOL_IN_MEMORY: u64 = 8 << 20;
/// What is kept of an MDA's standard error.
const STDERR_KEPT: usize = 4096;
/// How long to wait for the rest of the standard error once the MDA is gone (a process it
/// left behind may still hold the pipe).
const STDERR_GRACE: Duration = Duration::from_secs(2);

/// An MDA command.
pub struct Mda {
    command: String,
    user: String,
    account: String,
    timeout: Duration,
    notices: Vec<String>,
}

/// What an MDA wrote on its standard error, for a message: trimmed, one line, bounded.
fn said(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join(" | "))
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
            notices: Vec::new(),
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

    /// Run the command with `message` on its standard input; `name` names the message.
    fn run(&mut self, message: Box<dyn Read + Send>, name: &str) -> Result<Outcome> {
        let refused = |why: String| {
            Outcome::Refused(Refusal::permanent(format!(
                "MDA {:?} did not deliver {name}: {why}; it stays on the server",
                self.command
            )))
        };
        let mut command = self.command();
        let spawned = crate::secret::without_secrets(&mut command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return Ok(refused(format!("cannot run it: {e}"))),
        };
        let group = child.id() as libc::pid_t;
        let mut stdin = child.stdin.take().expect("piped");
        let mut message = message;
        // A broken pipe (the MDA stopped reading) is the MDA's business: its exit status says
        // whether it delivered.
        let feeder = std::thread::spawn(move || {
            let _ = std::io::copy(&mut message, &mut stdin);
        });
        let mut stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            let _ = tx.send(kept);
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    // SAFETY: kill(2) on the process group the child leads; no memory involved.
                    unsafe { libc::kill(-group, libc::SIGKILL) };
                    let _ = child.wait();
                    break None;
                }
                Err(e) => return Err(Error::local("waiting for the MDA", e)),
            }
        };
        let _ = feeder.join();
        let stderr = rx.recv_timeout(STDERR_GRACE).unwrap_or_default();
        let said = said(&stderr);
        let with_said = |why: String| match &said {
            Some(s) => format!("{why}; it said: {s}"),
            None => why,
        };
        match status {
            None => Ok(refused(with_said(format!(
                "no exit within {} s, killed",
                self.timeout.as_secs()
            )))),
            Some(status) if status.success() => {
                if let Some(s) = said {
                    self.notices
                        .push(format!("MDA {:?} said about {name}: {s}", self.command));
                }
                Ok(Outcome::Delivered)
            }
            Some(status) => {
                let why = match (status.code(), status.signal()) {
                    (Some(code), _) => format!("exit status {code}"),
                    (None, Some(signal)) => format!("killed by signal {signal}"),
                    (None, None) => status.to_string(),
                };
                Ok(refused(with_said(why)))
            }
        }
    }
}

impl Sink for Mda {
    fn describe(&self) -> String {
        format!("{} (MDA)", self.command)
    }

    fn begin(&mut self) -> Result<Option<Rollback>> {
        Ok(None)
    }

    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<Outcome> {
        if meta.size <= SPOOL_IN_MEMORY {
            let mut buf = Vec::with_capacity(meta.size as usize);
            copy_body(body, &mut buf, "the message buffer")?;
            let name = label(head(&buf));
            self.run(Box::new(Cursor::new(buf)), &name)
        } else {
            let mut spool =
                tempfile::tempfile().map_err(|e| Error::local("cannot create a spool file", e))?;
            copy_body(body, &mut spool, "the spool file")?;
            let mut start = vec![0u8; 64 << 10];
            let n = spool
                .rewind()
                .and_then(|_| spool.read(&mut start))
                .and_then(|n| spool.rewind().map(|_| n))
                .map_err(|e| Error::local("reading the spool file", e))?;
            spool
                .flush()
                .map_err(|e| Error::local("writing the spool file", e))?;
            let name = label(head(&start[..n]));
            self.run(Box::new(spool), &name)
        }
    }

    fn prepare(&mut self) -> Result<Prepared> {
        Ok(Prepared::default())
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn abort(&mut self) {}

    fn recover(&mut self, _unfinished: &Unfinished) -> Result<Option<Recovered>> {
        Ok(None)
    }

    fn limits(&self) -> Limits {
        Limits::ONE
    }

    fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }
}

/// The header of a message (everything before the first empty line, at most 64 KB).
fn head(message: &[u8]) -> &[u8] {
    let end = message.len().min(64 << 10);
    let m = &message[..end];
    memchr::memmem::find(m, b"\n\n").map_or(m, |i| &m[..i + 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Class;

    /// The refusal `outcome` must be.
    fn refused(outcome: Result<Outcome>) -> Refusal {
        match outcome {
            Ok(Outcome::Refused(why)) => why,
            other => panic!("one message refused, not a broken target: {other:?}"),
        }
    }

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
        let err = refused(failing.deliver(&meta, &mut &b"x"[..]));
        assert_eq!(err.class(), Class::LocalIo);
    }

    #[test]
    fn a_hanging_mda_is_killed_with_its_children_and_its_stderr_shown() {
        let meta = Meta {
            mailbox: "INBOX",
            delimiter: None,
            flags: Default::default(),
            internal_date: None,
            size: 5,
        };
        // The shell's child holds stderr open: only killing the group ends the read.
        let mut mda = Mda::new(
            "echo stuck >&2; sleep 60; true",
            "u",
            "a",
            Duration::from_millis(300),
        )
        .unwrap();
        let start = Instant::now();
        let err = refused(mda.deliver(&meta, &mut &b"Subject: s\n\nbody\n"[..]));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(
            err.reason().contains("killed") && err.reason().contains("stuck"),
            "{}",
            err.reason()
        );
    }

    #[test]
    fn an_mda_that_ignores_its_input_still_decides_by_exit_status() {
        let meta = Meta {
            mailbox: "INBOX",
            delimiter: None,
            flags: Default::default(),
            internal_date: None,
            size: 1 << 20,
        };
        let big = vec![b'x'; 1 << 20];
        let mut ok = Mda::new(
            "sh -c 'echo warning >&2'",
            "u",
            "a",
            Duration::from_secs(10),
        )
        .unwrap();
        ok.deliver(&meta, &mut &big[..]).unwrap();
        assert_eq!(ok.take_notices().len(), 1);
        let mut no = Mda::new("sh -c 'exit 3'", "u", "a", Duration::from_secs(10)).unwrap();
        let err = refused(no.deliver(&meta, &mut &big[..]));
        assert!(err.reason().contains("exit status 3"), "{}", err.reason());
    }
}
