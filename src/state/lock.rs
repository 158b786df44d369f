//! The per-account lock: one mailfetch at a time per account, so two runs (a cron job and a
//! person at the terminal) never fetch and delete the same mail at once.
//!
//! An `flock` on `<state-dir>/<account>.lock`: the kernel drops it when the process dies, even
//! by kill -9, so there are no stale locks to break. The holder writes its pid and host name
//! into the file (`PID HOST`), under the lock, for the message the second run prints. The
//! file is opened as every state file is (see `state::private`): never through a link,
//! created 0600.
//!
//! On a state directory on NFS, Linux carries out `flock` as a whole-file lock of the NFS
//! protocol (since 2.6.12), which NFSv4 keeps on the server and hands to one client at a
//! time: two machines handed the same account by mistake do not both fetch it, and the one
//! that waits exits 75 naming the holder's host and pid. (A lock of a machine that died is
//! dropped when its NFSv4 lease expires, some 90 seconds later.)

use crate::error::{Class, Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// A held account lock; released on drop.
pub struct AccountLock {
    _file: File,
}

impl AccountLock {
    /// Take the lock for `account`, waiting up to `wait` for another run to finish.
    pub fn acquire(dir: &Path, account: &str, wait: Duration) -> Result<AccountLock> {
        super::private::ensure_dir(dir)?;
        let path = dir.join(format!("{account}.lock"));
        let mut file = super::private::open(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
            "lock file",
        )?;
        let deadline = Instant::now() + wait;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is passed.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Error::local(format!("cannot lock {}", path.display()), err));
            }
            if Instant::now() >= deadline {
                let mut holder = String::new();
                let _ = (&mut file).take(256).read_to_string(&mut holder);
                let who = holder_of(&holder);
                return Err(Error::new(
                    Class::Temporary,
                    format!("account {account} is being fetched by another mailfetch{who}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{} {}", std::process::id(), host_name());
        Ok(AccountLock { _file: file })
    }
}

/// The test hook: `MAILFETCH_TEST_HOSTNAME=NAME` is the host name written into lock files,
/// so that a test can play a second machine. All it changes is a name in a message.
pub const TEST_HOSTNAME: &str = "MAILFETCH_TEST_HOSTNAME";

/// This machine's name, as the lock file records it.
fn host_name() -> String {
    if let Some(name) = std::env::var_os(TEST_HOSTNAME) {
        return name.to_string_lossy().into_owned();
    }
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf, which we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "?".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// ` (pid PID on HOST)` for the lock file's text `PID HOST` (or ` (pid PID)` for a file of
/// an older mailfetch, which wrote the pid alone); empty when the file says nothing.
fn holder_of(text: &str) -> String {
    let text = crate::text::printable(text.lines().next().unwrap_or("").trim()).into_owned();
    match text.split_once(' ') {
        Some((pid, host)) => format!(" (pid {pid} on {})", host.trim()),
        None if text.is_empty() => String::new(),
        None => format!(" (pid {text})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_account_is_refused_with_pid() {
        let dir = tempfile::tempdir().unwrap();
        let _first = AccountLock::acquire(dir.path(), "a", Duration::ZERO).unwrap();
        let err = AccountLock::acquire(dir.path(), "a", Duration::from_millis(100))
            .err()
            .unwrap();
        assert_eq!(err.class(), Class::Temporary);
        assert!(
            err.message().ends_with(&format!(
                "another mailfetch (pid {} on {})",
                std::process::id(),
                host_name()
            )),
            "{}",
            err.message()
        );
        AccountLock::acquire(dir.path(), "b", Duration::ZERO).unwrap();
    }

    #[test]
    fn the_holder_is_told_from_old_and_new_lock_files() {
        assert_eq!(
            holder_of("4242 mail2.example\n"),
            " (pid 4242 on mail2.example)"
        );
        assert_eq!(holder_of("4242\n"), " (pid 4242)");
        assert_eq!(holder_of(""), "");
        assert_eq!(holder_of("1 \x1b[2Jevil"), " (pid 1 on ?[2Jevil)");
    }
}
