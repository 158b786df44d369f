//! The per-account lock: one mailfetch at a time per account, so two runs (a cron job and a
//! person at the terminal) never fetch and delete the same mail at once.
//!
//! An `flock` on `<state-dir>/<account>.lock`: the kernel drops it when the process dies, even
//! by kill -9, so there are no stale locks to break. The holder writes its pid into the file,
//! for the message the second run prints. The file is opened as every state file is (see
//! `state::private`): never through a link, created 0600.

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
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let who = if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                };
                return Err(Error::new(
                    Class::Temporary,
                    format!("account {account} is being fetched by another mailfetch{who}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(AccountLock { _file: file })
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
        assert!(err
            .message()
            .contains(&format!("pid {}", std::process::id())));
        AccountLock::acquire(dir.path(), "b", Duration::ZERO).unwrap();
    }
}
