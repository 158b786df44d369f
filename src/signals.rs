//! SIGINT and SIGTERM as a request to stop, for every command that fetches (`pull`, `check`,
//! `watch`), and SIGHUP as a request to reload (`watch`).
//!
//! The handler only sets flags: [`STOP`], which a pull looks at between messages
//! (`session::Ctx::stop`: it commits what it delivered, reads and discards what is in
//! flight, deletes nothing undelivered and logs out), and [`RELOAD`]. The first SIGINT or
//! SIGTERM is remembered ([`stopped_by`]) so that the command can exit 128 + its number
//! (130, 143), as a shell expects of a process that a signal ended.
//!
//! A second SIGINT or SIGTERM ends the process at once with `_exit` (async-signal-safe),
//! still losing nothing: every batch is durable before it is recorded and recorded before
//! anything is deleted, so the next run finishes or redoes the batch in flight (see the
//! `state` module). Before it, the handler unlinks the files registered with
//! [`unlink_on_abort`] (`unlink` is async-signal-safe; the paths are C strings made
//! beforehand, held in a fixed table of atomic pointers, so the handler neither allocates
//! nor locks): a Maildir's `tmp/` files not yet named by the journal, and an mbox's
//! `FILE.lock`, which would otherwise keep procmail or mutt waiting until they judge it
//! stale. Not the files the next run's recovery needs: a Maildir's `tmp/` files of a batch
//! the journal names are what recovery publishes (unlinking them would lose messages
//! recorded as delivered), and an mbox's `FILE.lock.TAG` is what lets recovery cut a torn
//! batch out even after another program appended behind it.

use std::ffi::{c_char, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

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
        for slot in &ON_ABORT {
            let path = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !path.is_null() {
                // SAFETY: a NUL-terminated path from CString::into_raw, never freed once
                // taken out of its slot here; unlink is async-signal-safe.
                unsafe { libc::unlink(path) };
            }
        }
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) };
    }
}

/// Files to unlink if a second signal ends the process; at most this many at once (the
/// others are left as after a crash, for recovery or the Maildir's 36-hour sweep).
const SLOTS: usize = 1024;
static ON_ABORT: [AtomicPtr<c_char>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

/// A file registered with [`unlink_on_abort`]; dropping it takes the file off the list
/// (drop it before the file is renamed, removed or handed to recovery).
#[derive(Debug)]
pub struct AbortUnlink {
    slot: usize,
    path: *mut c_char,
}

// SAFETY: the pointer is owned by this value (or, once swapped out by the handler, by no
// one); it is only compared and freed, from whichever thread drops it.
unsafe impl Send for AbortUnlink {}

/// Have `path` unlinked if a second SIGINT or SIGTERM ends the process at once; `None` when
/// the table is full or the path holds a NUL.
pub fn unlink_on_abort(path: &Path) -> Option<AbortUnlink> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?.into_raw();
    for (slot, cell) in ON_ABORT.iter().enumerate() {
        if cell
            .compare_exchange(
                std::ptr::null_mut(),
                path,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
        {
            return Some(AbortUnlink { slot, path });
        }
    }
    // SAFETY: from into_raw above, not stored anywhere.
    drop(unsafe { CString::from_raw(path) });
    None
}

impl Drop for AbortUnlink {
    fn drop(&mut self) {
        let ours = ON_ABORT[self.slot]
            .compare_exchange(
                self.path,
                std::ptr::null_mut(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok();
        if ours {
            // SAFETY: from into_raw in unlink_on_abort, and now out of the table.
            drop(unsafe { CString::from_raw(self.path) });
        }
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
    fn a_registration_holds_its_slot_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = unlink_on_abort(&dir.path().join("a")).unwrap();
        let b = unlink_on_abort(&dir.path().join("b")).unwrap();
        assert_ne!(a.slot, b.slot);
        assert_eq!(ON_ABORT[a.slot].load(Ordering::SeqCst), a.path);
        let slot = a.slot;
        drop(a);
        assert!(ON_ABORT[slot].load(Ordering::SeqCst).is_null());
        assert_eq!(ON_ABORT[b.slot].load(Ordering::SeqCst), b.path);
    }

    #[test]
    fn a_stopped_run_exits_as_a_shell_reports_the_signal() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGTERM), 143);
    }
}
