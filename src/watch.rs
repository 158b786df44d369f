//! `mailfetch watch`: keep running and fetch mail as it arrives, one thread per account.
//!
//! Each account is pulled once at the start. Then an IMAP account whose server offers IDLE
//! keeps a second connection open on its first folder (RFC 2177, renewed every 29 minutes)
//! and is pulled whenever the server reports EXISTS or RECENT; a POP3 account, or an IMAP
//! server without IDLE, is pulled every `poll-interval` seconds. Every fetch is an ordinary
//! [`pull::pull`], so watching keeps each promise `pull` makes.
//!
//! An account's error is printed as one line, prefixed with the account, and the account
//! starts over after a pause that doubles with each failure in a row, up to
//! [`MAX_BACKOFF`]; the watch itself never ends because of a server. SIGTERM and SIGINT
//! end it after the pulls in progress have finished (exit 0; a second signal ends it at
//! once); SIGHUP reads the config again and restarts the accounts with it, keeping the old
//! one if the new one has an error.

use crate::config::{Account, Config, Folders, Protocol};
use crate::error::Result;
use crate::imap::idle::{Idler, Woken, RENEW};
use crate::imap::Auth;
use crate::net::Trace;
use crate::pull::{self, Options, Silent};
use crate::report::Reporter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The first pause after an account's error...
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// ...and the longest, however often it fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often waits look at the signal flags.
const TICK: Duration = Duration::from_millis(100);

/// Set by SIGTERM and SIGINT.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP, cleared when the config is read again.
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    if signal == libc::SIGHUP {
        RELOAD.store(true, Ordering::SeqCst);
    } else if STOP.swap(true, Ordering::SeqCst) {
        // The second SIGTERM or SIGINT: do not wait for the pulls any more.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) };
    }
}

/// Catch SIGTERM, SIGINT and SIGHUP: the handler only sets a flag, which the watch loops
/// look at every [`TICK`]. SA_RESTART, so that no read of another thread fails with EINTR.
fn catch_signals() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches atomics.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Watch the accounts `names` (all if empty) of the config `load` reads, until SIGTERM or
/// SIGINT. An error of the config at the start is returned; one at a reload is printed and
/// the watch goes on with the config it had.
pub fn run(
    load: &dyn Fn() -> Result<Config>,
    names: &[String],
    opts: &Options,
    reporter: &Reporter,
) -> Result<()> {
    catch_signals();
    let mut accounts = resolve(&load()?, names)?;
    loop {
        let halt = AtomicBool::new(false);
        let next = std::thread::scope(|s| {
            for account in &accounts {
                let halt = &halt;
                s.spawn(move || watch_account(account, opts, reporter, halt));
            }
            loop {
                std::thread::sleep(TICK);
                if STOP.load(Ordering::SeqCst) {
                    halt.store(true, Ordering::SeqCst);
                    return None;
                }
                if RELOAD.swap(false, Ordering::SeqCst) {
                    match load().and_then(|c| resolve(&c, names)) {
                        Ok(fresh) => {
                            halt.store(true, Ordering::SeqCst);
                            return Some(fresh);
                        }
                        Err(e) => reporter.error(
                            None,
                            &format!("SIGHUP: config not reloaded: {}", e.message()),
                        ),
                    }
                }
            }
        });
        match next {
            Some(fresh) => accounts = fresh,
            None => return Ok(()),
        }
    }
}

/// The accounts to watch, with passwords to be asked at the terminal asked now.
fn resolve(config: &Config, names: &[String]) -> Result<Vec<Account>> {
    config
        .select(names)?
        .into_iter()
        .map(crate::jobs::ask_password)
        .collect()
}

/// One account, until `halt`: start over after each error, after a pause.
fn watch_account(account: &Account, opts: &Options, reporter: &Reporter, halt: &AtomicBool) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut pulled = false;
        let result = match account.protocol {
            Protocol::Imap => idle(account, opts, reporter, halt, &mut pulled),
            Protocol::Pop3 => poll(account, opts, reporter, halt, &mut pulled),
        };
        let Err(e) = result else {
            return;
        };
        reporter.error(Some(&account.name), e.message());
        if pulled {
            backoff = FIRST_BACKOFF;
        }
        if pause(backoff, halt) {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// An IMAP account: IDLE on its first folder and pull when woken, or poll if the server
/// has no IDLE. Returns when halted.
fn idle(
    account: &Account,
    opts: &Options,
    reporter: &Reporter,
    halt: &AtomicBool,
    pulled: &mut bool,
) -> Result<()> {
    let folder = match &account.folders {
        Folders::Named(names) => names.first().map_or("INBOX", String::as_str),
        Folders::All => "INBOX",
    };
    let auth = Auth {
        user: account.user.clone(),
        method: account.auth,
        allow_plaintext: account.allow_plaintext_password,
        credential: account.credential(&opts.state_dir),
    };
    let trace = if opts.verbose {
        Trace::to_stderr(&account.name)
    } else {
        Trace::off()
    };
    // Listening starts before the first pull, so that mail arriving during it is told of.
    let Some(mut idler) = Idler::connect(&account.endpoint, trace, auth, folder)
        .map_err(|e| e.context(&account.name))?
    else {
        return poll(account, opts, reporter, halt, pulled);
    };
    pull_once(account, opts, reporter, pulled)?;
    loop {
        let woken = idler
            .idle(RENEW, &|| halt.load(Ordering::SeqCst))
            .map_err(|e| e.context(&account.name))?;
        match woken {
            Woken::NewMail => pull_once(account, opts, reporter, pulled)?,
            Woken::Renew => {}
            Woken::Stopped => {
                idler.logout();
                return Ok(());
            }
        }
    }
}

/// Pull every `poll-interval` seconds. Returns when halted.
fn poll(
    account: &Account,
    opts: &Options,
    reporter: &Reporter,
    halt: &AtomicBool,
    pulled: &mut bool,
) -> Result<()> {
    loop {
        pull_once(account, opts, reporter, pulled)?;
        if pause(account.poll_interval, halt) {
            return Ok(());
        }
    }
}

/// One pull, with its summary line when it changed anything.
fn pull_once(
    account: &Account,
    opts: &Options,
    reporter: &Reporter,
    pulled: &mut bool,
) -> Result<()> {
    let s = pull::pull(account, opts, &Silent)?;
    *pulled = true;
    if s.fetched > 0 || s.present > 0 || s.deleted > 0 || !s.oversized.is_empty() {
        reporter.pulled(&s);
    }
    Ok(())
}

/// Wait `how_long`, or less if `halt` is set; returns whether it is.
fn pause(how_long: Duration, halt: &AtomicBool) -> bool {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        if halt.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
    }
    halt.load(Ordering::SeqCst)
}
