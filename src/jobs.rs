//! Several accounts at once: `pull` and `check` run their accounts on a bounded pool of
//! threads (`--jobs N`). Accounts share nothing but the terminal: each has its own lock,
//! state journal, connection and sink, so running them side by side changes no promise of
//! `pull`. Every line of output is written whole under the stdout or stderr lock, so lines
//! of different accounts never interleave mid-line; `finished` is called as accounts finish
//! (the binary prints the summary lines in config order).
//! Results come back in config order, so the exit code is the first failing account's in
//! config order, as in a serial run.
//!
//! Passwords asked at the terminal are asked first, one account after another, before any
//! account starts: prompts must not race each other or the progress bars.
//!
//! A bug in one account's run is that account's failure, not the end of the others: each
//! account's work runs [`contained`], which turns a panic into an error of
//! [`Class::Internal`] (exit 70) whose one line names the account and asks for a report, in
//! place of the panic's message and of "a scoped thread panicked" taking every account down.
//! `watch` runs its accounts the same way, and retries a panicked one like a failed one.

use crate::config::{Account, PasswordSource};
use crate::error::{Class, Error, Result};
use crate::fleet::hosts::HostSlots;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

/// Accounts run at once unless `--jobs` says otherwise.
pub const DEFAULT_JOBS: u16 = 4;

/// Run `work` for each of `accounts`, at most `jobs` at a time and at most
/// `max-connections-per-host` on one server (see [`HostSlots`]), calling `finished` (on the
/// worker's thread) as each account ends. Returns the results in the order of `accounts`.
///
/// An account whose server said its host is busy for everyone ([`Error::host_wait`]) is run
/// once more after the host cooled down (see `fleet::hosts`), with `backing_off` called
/// first; its second failure is its result.
pub fn run<T: Send>(
    accounts: &[&Account],
    jobs: usize,
    work: impl Fn(&Account) -> Result<T> + Sync,
    backing_off: impl Fn(&Account, &Error, std::time::Duration) + Sync,
    finished: impl Fn(&Account, &Result<T>) + Sync,
) -> Vec<Result<T>> {
    let ready: Vec<Result<Account>> = accounts.iter().map(|a| ask_password(a)).collect();
    let results: Vec<Mutex<Option<Result<T>>>> =
        accounts.iter().map(|_| Mutex::new(None)).collect();
    let slots = HostSlots::new(accounts);
    let ran_again: Vec<AtomicBool> = accounts.iter().map(|_| AtomicBool::new(false)).collect();
    let worker = || loop {
        let Some(turn) = slots.take() else {
            return;
        };
        let i = turn.index;
        let account = accounts[i];
        let result = match &ready[i] {
            Ok(resolved) => contained(&resolved.name, || work(resolved)),
            Err(e) => Err(crate::Error::new(e.class(), e.message())),
        };
        if let Err(e) = &result {
            if let Some(wait) = e.host_wait() {
                if !crate::signals::stopping() && !ran_again[i].swap(true, Ordering::SeqCst) {
                    backing_off(account, e, wait);
                    slots.back_off(turn, wait);
                    continue;
                }
            }
        }
        drop(turn);
        finished(account, &result);
        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
    };
    let threads = jobs.clamp(1, accounts.len().max(1));
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(worker);
            }
        });
    }
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every account was run")
        })
        .collect()
}

/// The test hook: `MAILFETCH_TEST_PANIC_ACCOUNT=NAME` makes the run of account NAME panic
/// as it starts, inside [`contained`], so that the tests can prove a panic contained in the
/// binary they test. Honoured in release builds too, where the integration tests run: a
/// variable with this name is set by no one by accident, and all it can do is what it
/// tests, fail that one account of the user's own run with exit 70.
pub const TEST_PANIC: &str = "MAILFETCH_TEST_PANIC_ACCOUNT";

thread_local! {
    /// How many [`contained`] calls this thread is inside: their panics are not printed.
    static CONTAINING: Cell<usize> = const { Cell::new(0) };
    /// Where and why this thread last panicked inside [`contained`].
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Run `work`, the work of `account`; a panic in it becomes an error of
/// [`Class::Internal`] saying where it happened, instead of unwinding further. The panic's
/// own message is not printed (the error is, once, by whoever reports it). From the first
/// call on, a panic elsewhere (in a thread `work` started, whose panic reaches `work` as
/// "a scoped thread panicked") is printed as one line too, or in full with RUST_BACKTRACE.
pub fn contained<T>(account: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINING.get() == 0 && std::env::var_os("RUST_BACKTRACE").is_some() {
                return default(info);
            }
            let why = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            let at = info
                .location()
                .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
            if CONTAINING.get() == 0 {
                // A thread the account's work started: the account's error follows.
                eprintln!("mailfetch: internal error, please report: {why}{at}");
            } else {
                LAST_PANIC.set(Some(format!("{why}{at}")));
            }
        }));
    });
    CONTAINING.set(CONTAINING.get() + 1);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        if std::env::var_os(TEST_PANIC).is_some_and(|name| name == account) {
            panic!("{TEST_PANIC} asked for a panic");
        }
        work()
    }));
    CONTAINING.set(CONTAINING.get() - 1);
    result.unwrap_or_else(|_| {
        let what = LAST_PANIC.take().unwrap_or_else(|| "a panic".to_string());
        Err(Error::new(
            Class::Internal,
            format!("{account}: internal error, please report: {what}"),
        ))
    })
}

/// `account`, with its password asked now if it is to be asked at the terminal (an OAuth2
/// account has a token, not a password).
pub fn ask_password(account: &Account) -> Result<Account> {
    let mut a = account.clone();
    if a.oauth2.is_none() && matches!(a.password, PasswordSource::Prompt) {
        let secret = a
            .password
            .get(&a.name, &a.user)
            .map_err(|e| e.context(&a.name))?;
        a.password = PasswordSource::Literal(secret);
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Class, Error};
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    fn accounts(n: usize) -> Vec<Account> {
        let text: String = (0..n)
            .map(|i| {
                format!(
                    "[accounts.a{i}]\nhost = \"h\"\nuser = \"u\"\npassword-env = \"X\"\n\
                     target = \"mbox:/x\"\n"
                )
            })
            .collect();
        crate::config::parse(Path::new("c.toml"), &text)
            .unwrap()
            .accounts
    }

    #[test]
    fn a_panicking_account_fails_alone_with_an_internal_error() {
        let all = accounts(3);
        let refs: Vec<&Account> = all.iter().collect();
        let results = run(
            &refs,
            2,
            |a| {
                if a.name == "a1" {
                    panic!("a bug");
                }
                Ok(a.name.clone())
            },
            |_, _, _| {},
            |_, _| {},
        );
        assert_eq!(results[0].as_ref().unwrap(), "a0");
        assert_eq!(results[2].as_ref().unwrap(), "a2");
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(err.class().exit_code(), 70);
        assert!(
            err.message()
                .starts_with("a1: internal error, please report: a bug at src/jobs.rs:"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn results_come_back_in_config_order_and_jobs_bound_the_concurrency() {
        let all = accounts(6);
        let refs: Vec<&Account> = all.iter().collect();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let started = Instant::now();
        let results = run(
            &refs,
            3,
            |a| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Later accounts finish first.
                let n: u64 = a.name[1..].parse().unwrap();
                std::thread::sleep(Duration::from_millis(120 - 20 * n));
                running.fetch_sub(1, Ordering::SeqCst);
                if n == 4 {
                    Err(Error::new(Class::Temporary, "busy"))
                } else {
                    Ok(a.name.clone())
                }
            },
            |_, _, _| {},
            |_, _| {},
        );
        let shown: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(name) => name.clone(),
                Err(e) => e.message().to_string(),
            })
            .collect();
        assert_eq!(shown, ["a0", "a1", "a2", "a3", "busy", "a5"]);
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_host_at_its_cap_waits_without_holding_up_other_hosts() {
        let text: String = (0..9)
            .map(|i| {
                let (host, cap) = if i < 6 {
                    ("Busy.example", 2)
                } else {
                    ("other.example", 8)
                };
                format!(
                    "[accounts.a{i}]\nhost = \"{host}\"\nuser = \"u\"\npassword-env = \"X\"\n\
                     target = \"mbox:/x\"\nmax-connections-per-host = {cap}\n"
                )
            })
            .collect();
        let all = crate::config::parse(Path::new("c.toml"), &text)
            .unwrap()
            .accounts;
        let refs: Vec<&Account> = all.iter().collect();
        let busy_now = AtomicUsize::new(0);
        let busy_most = AtomicUsize::new(0);
        let started = Instant::now();
        let results = run(
            &refs,
            16,
            |a| {
                let busy = a.endpoint.host == "Busy.example";
                if busy {
                    let now = busy_now.fetch_add(1, Ordering::SeqCst) + 1;
                    busy_most.fetch_max(now, Ordering::SeqCst);
                }
                let began = started.elapsed();
                std::thread::sleep(Duration::from_millis(100));
                if busy {
                    busy_now.fetch_sub(1, Ordering::SeqCst);
                }
                Ok(began)
            },
            |_, _, _| {},
            |_, _| {},
        );
        assert_eq!(busy_most.load(Ordering::SeqCst), 2);
        // Three rounds of two on the busy host; the other host's accounts all in the first.
        assert!(started.elapsed() >= Duration::from_millis(300));
        for began in &results[6..] {
            assert!(
                *began.as_ref().unwrap() < Duration::from_millis(90),
                "{began:?}"
            );
        }
    }

    #[test]
    fn an_account_whose_host_is_busy_runs_once_more_after_the_wait() {
        let all = accounts(3);
        let refs: Vec<&Account> = all.iter().collect();
        let tries = Mutex::new(Vec::new());
        let told = Mutex::new(Vec::new());
        let started = Instant::now();
        let results = run(
            &refs,
            2,
            |a| {
                tries.lock().unwrap().push(a.name.clone());
                match a.name.as_str() {
                    // Busy once, then served.
                    "a0" if tries.lock().unwrap().iter().filter(|n| *n == "a0").count() == 1 => {
                        Err(Error::host_busy("busy", Duration::from_millis(200)))
                    }
                    // Busy every time: its second failure is its result.
                    "a2" => Err(Error::host_busy("still busy", Duration::from_millis(10))),
                    _ => Ok(started.elapsed()),
                }
            },
            |a, e, wait| {
                told.lock()
                    .unwrap()
                    .push((a.name.clone(), e.message().to_string(), wait))
            },
            |_, _| {},
        );
        assert!(*results[0].as_ref().unwrap() >= Duration::from_millis(200));
        assert!(results[1].is_ok());
        let err = results[2].as_ref().unwrap_err();
        assert_eq!((err.message(), err.class().exit_code()), ("still busy", 75));
        let tries = tries.into_inner().unwrap();
        assert_eq!(tries.iter().filter(|n| *n == "a0").count(), 2);
        assert_eq!(tries.iter().filter(|n| *n == "a2").count(), 2);
        let told = told.into_inner().unwrap();
        assert_eq!(told.len(), 2, "{told:?}");
        assert!(told.contains(&("a0".into(), "busy".into(), Duration::from_millis(200))));
    }
}
