//! SIGINT and SIGTERM as a request to stop, for every command that fetches (`pull`, `check`,
//! `watch`), and SIGHUP as a request to reload (`watch`).
//!
//! The handler only sets flags: [`STOP`], which a pull looks at between messages
//! (`pull::Options::stop`: it commits what it delivered, reads and discards what is in
//! flight, deletes nothing undelivered and logs out), and [`RELOAD`]. The first SIGINT or
//! SIGTERM is remembered ([`stopped_by`]) so that the command can exit 128 + its number
//! (130, 143), as a shell expects of a process that a signal ended.
//!
//! A second SIGINT or SIGTERM ends the process at once with `_exit` (async-signal-safe),
//! still losing nothing: every batch is durable before it is recorded and recorded before
//! anything is deleted, so the next run finishes or redoes the batch in flight (see the
//! `state` module). The handler removes no file: the files a dying run leaves are the ones
//! the next run's recovery needs. A Maildir's `tmp/` files of a batch already journalled are
//! what recovery publishes (unlinking them would lose messages recorded as delivered), and
//! an mbox's `FILE.lock.TAG` is what lets recovery cut a torn batch out even after another
//! program appended behind it; its `FILE.lock` names a dead pid, which mailfetch, procmail
//! and mutt take as stale. The unpublished `tmp/` files are removed by a later run (36 hours,
//! as the Maildir spec says).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set by the first SIGTERM or SIGINT.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP (when [`catch`] was asked to), cleared by whoever reloads.
pub static RELOAD: AtomicBool = AtomicBool::new(false);
/// The signal that set [`STOP`], 0 before.
static BY: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    if signal == libc::SIGHUP {
        RELOAD.store(true, Ordering::SeqCst);
    } else if BY
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        STOP.store(true, Ordering::SeqCst);
    } else {
        // The second SIGTERM or SIGINT: do not wait any more.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) };
    }
}

/// Catch SIGTERM and SIGINT (and SIGHUP if `hangup`): the handler only sets the flags above.
/// SA_RESTART, so that no read of another thread fails with EINTR.
pub fn catch(hangup: bool) {
    let signals: &[libc::c_int] = if hangup {
        &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP]
    } else {
        &[libc::SIGTERM, libc::SIGINT]
    };
    for &signal in signals {
        // SAFETY: a zeroed sigaction is valid; the handler only touches atomics and _exit.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether a stop was asked for.
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The signal that asked to stop (SIGINT or SIGTERM), if one did.
pub fn stopped_by() -> Option<i32> {
    Some(BY.load(Ordering::SeqCst)).filter(|&s| s != 0)
}

/// The exit code of a run that `signal` stopped: 128 + its number, as shells report it.
pub fn exit_code(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_run_exits_as_a_shell_reports_the_signal() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGTERM), 143);
    }
}
