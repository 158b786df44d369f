//! Several accounts at once: `pull` and `check` run their accounts on a bounded pool of
//! threads (`--jobs N`). Accounts share nothing but the terminal: each has its own lock,
//! state journal, connection and sink, so running them side by side changes no promise of
//! `pull`. Every line of output is written whole under the stdout or stderr lock, so lines
//! of different accounts never interleave mid-line; summary lines appear as accounts finish.
//! Results come back in config order, so the exit code is the first failing account's in
//! config order, as in a serial run.
//!
//! Passwords asked at the terminal are asked first, one account after another, before any
//! account starts: prompts must not race each other or the progress bars.

use crate::config::{Account, PasswordSource};
use crate::error::Result;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Accounts run at once unless `--jobs` says otherwise.
pub const DEFAULT_JOBS: u16 = 4;

/// Run `work` for each of `accounts`, at most `jobs` at a time, calling `finished` (on the
/// worker's thread) as each account ends. Returns the results in the order of `accounts`.
pub fn run<T: Send>(
    accounts: &[&Account],
    jobs: usize,
    work: impl Fn(&Account) -> Result<T> + Sync,
    finished: impl Fn(&Account, &Result<T>) + Sync,
) -> Vec<Result<T>> {
    let ready: Vec<Result<Account>> = accounts.iter().map(|a| ask_password(a)).collect();
    let results: Vec<Mutex<Option<Result<T>>>> =
        accounts.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(account) = accounts.get(i) else {
            return;
        };
        let result = match &ready[i] {
            Ok(resolved) => work(resolved),
            Err(e) => Err(crate::Error::new(e.class(), e.message())),
        };
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
}
