//! `mailfetch watch`: keep running and fetch mail as it arrives, one thread per account.
//!
//! Each account is pulled once at the start. Then an IMAP account whose server offers IDLE
//! keeps one more connection (and thread) open on each of its folders (RFC 2177, renewed
//! every 29 minutes; at most [`MAX_IDLE`], further folders are polled every `poll-interval`)
//! and is pulled whenever any of them reports EXISTS or RECENT; a POP3 account, or an IMAP
//! server without IDLE, is pulled every `poll-interval` seconds. Every fetch is an ordinary
//! [`pull::pull`], so watching keeps each promise `pull` makes.
//!
//! An account's error is printed as one line, prefixed with the account, and the account
//! starts over after a pause that doubles with each failure in a row, up to
//! [`MAX_BACKOFF`]; the watch itself never ends because of a server, nor because of a bug
//! in one account's run (a panic is such an error, see `jobs::contained`). SIGTERM and SIGINT
//! end it (exit 0; a second signal ends it at once, see the `signals` module, which `pull`
//! shares): a pull in progress stops after the message it is delivering
//! ([`Ctx::stop`]: what was delivered is committed, what is in flight is read and
//! discarded, nothing undelivered is deleted, the session ends cleanly) and the rest is left
//! for the next run; SIGHUP reads the config again and restarts the accounts with it, keeping the old
//! one if the new one has an error.

use crate::config::{Account, Config, Protocol};
use crate::error::Result;
use crate::imap::idle::{Idler, Woken, RENEW};
use crate::pull::{self, Options, Silent};
use crate::report::Reporter;
use crate::session::{self, Ctx};
use crate::signals;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first pause after an account's error...
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// ...and the longest, however often it fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// At most this many IDLE connections per account (servers limit connections per user,
/// Dovecot to 10 per user and IP by default); further folders are polled.
pub const MAX_IDLE: usize = 8;
/// How often waits look at the signal flags.
const TICK: Duration = Duration::from_millis(100);

/// Watch the accounts `names` (all if empty) of the config `load` reads, until SIGTERM or
/// SIGINT. An error of the config at the start is returned; one at a reload is printed and
/// the watch goes on with the config it had.
pub fn run(
    load: &dyn Fn() -> Result<Config>,
    names: &[String],
    cx: &Ctx,
    reporter: &Reporter,
) -> Result<()> {
    signals::catch(true);
    // SIGTERM also stops a pull in progress after the message it is delivering.
    let cx = &cx.clone().stopped_by(&signals::STOP);
    let mut accounts = resolve(&load()?, names)?;
    loop {
        let halt = AtomicBool::new(false);
        let next = std::thread::scope(|s| {
            for account in &accounts {
                let halt = &halt;
                s.spawn(move || watch_account(account, cx, reporter, halt));
            }
            loop {
                std::thread::sleep(TICK);
                if signals::stopping() {
                    halt.store(true, Ordering::SeqCst);
                    return None;
                }
                if signals::RELOAD.swap(false, Ordering::SeqCst) {
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
fn watch_account(account: &Account, cx: &Ctx, reporter: &Reporter, halt: &AtomicBool) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut pulled = false;
        let result = crate::jobs::contained(&account.name, || match account.protocol {
            Protocol::Imap => idle(account, cx, reporter, halt, &mut pulled),
            Protocol::Pop3 => poll(account, cx, reporter, halt, &mut pulled),
        });
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

/// An IMAP account: IDLE on each of its folders (one connection and thread each, up to
/// [`MAX_IDLE`], the rest polled every `poll-interval`) and pull the account when any of
/// them is woken, or poll if the server has no IDLE. Returns when halted.
fn idle(
    account: &Account,
    cx: &Ctx,
    reporter: &Reporter,
    halt: &AtomicBool,
    pulled: &mut bool,
) -> Result<()> {
    let context = |e: crate::error::Error| e.context(&account.name);
    let Some(mut first) = session::open_idler(account, cx, None).map_err(context)? else {
        return poll(account, cx, reporter, halt, pulled);
    };
    let mut folders = first
        .folders(
            &account.folders,
            account.profile.gmail_extensions,
            account.gmail,
            account.move_to.as_deref(),
        )
        .map_err(context)?;
    if folders.is_empty() {
        folders.push("INBOX".to_string());
    }
    let polled = folders.len().saturating_sub(MAX_IDLE);
    if polled > 0 {
        reporter.error(
            Some(&account.name),
            &format!(
                "IDLE on the first {MAX_IDLE} of {} folders; the other {polled} are polled \
                 every {} s (poll-interval)",
                folders.len(),
                account.poll_interval.as_secs()
            ),
        );
    }
    folders.truncate(MAX_IDLE);
    // Listening starts on every folder before the first pull, so that mail arriving during
    // it is told of.
    first.examine(&folders[0]).map_err(context)?;
    let wake = AtomicBool::new(false);
    let quit = AtomicBool::new(false);
    let ready = AtomicUsize::new(1);
    let failure: Mutex<Option<crate::error::Error>> = Mutex::new(None);
    let stop = || halt.load(Ordering::SeqCst) || quit.load(Ordering::SeqCst);
    let fail = |e: crate::error::Error| {
        failure.lock().unwrap().get_or_insert(context(e));
        quit.store(true, Ordering::SeqCst);
    };
    // IDLE is renewed at least every poll-interval too: a server that reports new mail
    // only when a command ends (GNU Mailutils' imap4d over an mbox) tells of it at the DONE.
    let renew = RENEW.min(account.poll_interval.max(std::time::Duration::from_secs(1)));
    let listen = |mut idler: Idler| loop {
        match idler.idle(renew, &stop) {
            Ok(Woken::NewMail) => wake.store(true, Ordering::SeqCst),
            Ok(Woken::Renew) => {}
            Ok(Woken::Stopped) => break idler.logout(),
            Err(e) => break fail(e),
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| listen(first));
        for folder in &folders[1..] {
            let (listen, fail, ready) = (&listen, &fail, &ready);
            s.spawn(move || {
                let idler = session::open_idler(account, cx, Some(folder));
                ready.fetch_add(1, Ordering::SeqCst);
                match idler {
                    Ok(Some(idler)) => listen(idler),
                    Ok(None) => fail(crate::error::Error::protocol(format!(
                        "{} stopped offering IDLE",
                        account.endpoint.host
                    ))),
                    Err(e) => fail(e),
                }
            });
        }
        while ready.load(Ordering::SeqCst) < folders.len() && !stop() {
            std::thread::sleep(TICK);
        }
        let result = (|| {
            let mut next_poll = Instant::now() + account.poll_interval;
            if !stop() {
                pull_once(account, cx, reporter, pulled)?;
            }
            while !stop() {
                let due = polled > 0 && Instant::now() >= next_poll;
                if wake.swap(false, Ordering::SeqCst) || due {
                    if due {
                        next_poll = Instant::now() + account.poll_interval;
                    }
                    pull_once(account, cx, reporter, pulled)?;
                } else {
                    std::thread::sleep(TICK);
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            fail(e);
        }
    });
    match failure.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Pull every `poll-interval` seconds. Returns when halted.
fn poll(
    account: &Account,
    cx: &Ctx,
    reporter: &Reporter,
    halt: &AtomicBool,
    pulled: &mut bool,
) -> Result<()> {
    loop {
        pull_once(account, cx, reporter, pulled)?;
        if pause(account.poll_interval, halt) {
            return Ok(());
        }
    }
}

/// One pull, with its summary line when it changed anything.
fn pull_once(account: &Account, cx: &Ctx, reporter: &Reporter, pulled: &mut bool) -> Result<()> {
    let s = pull::pull(account, cx, &Options::default(), &Silent)?;
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
