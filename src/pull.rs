//! The orchestration of a fetch: the one place that knows the order of the steps, and so the
//! one place that keeps the promise "nothing lost, nothing twice" (see the `state` module for
//! the crash rules). For each account: lock, recover what a crash left, connect, and per
//! mailbox: list, plan what is new, fetch in batches (deliver, make durable, record, then
//! delete on the server if the account does not keep mail), and finally end the session.

use crate::config::{Account, Protocol, Target};
use crate::error::{Class, Error, Result};
use crate::net::Trace;
use crate::pop3::{self, Pop3};
use crate::sink::{self, Meta, Sink};
use crate::source::{RemoteMessage, Source};
use crate::state::{AccountLock, Recovery, State};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A batch is committed after this many messages...
const BATCH_MESSAGES: usize = 200;
/// ...or this many bytes...
const BATCH_BYTES: u64 = 32 << 20;
/// ...or this long since its first message, whichever comes first. A crash redoes at most
/// one batch; a batch costs one journal fsync and one directory fsync.
const BATCH_TIME: Duration = Duration::from_millis(1000);
/// How long a run waits for another run on the same account.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where state files live.
    pub state_dir: PathBuf,
    /// Override the accounts' keep setting.
    pub keep: Option<bool>,
    /// Fetch messages already seen too.
    pub all: bool,
    /// At most this many messages per account.
    pub limit: Option<usize>,
    /// Connect and list, change nothing.
    pub dry_run: bool,
    /// Start with an empty state (a corrupt state file is moved aside).
    pub reset_state: bool,
    /// Print the protocol trace.
    pub verbose: bool,
}

/// What a pull reports as it goes (progress bars, JSON, nothing).
pub trait Observer {
    /// The plan for one mailbox: this many messages of this many bytes will be fetched.
    fn planned(&self, _mailbox: &str, _messages: usize, _bytes: u64) {}
    /// One message was delivered (not yet durable).
    fn delivered(&self, _bytes: u64) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// What happened to one account.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The account.
    pub account: String,
    /// Messages delivered.
    pub fetched: usize,
    /// Their size as the server counted it.
    pub bytes: u64,
    /// Messages deleted on the server.
    pub deleted: usize,
    /// Where mail went.
    pub target: String,
    /// For `--dry-run` and `check`: messages that would be fetched.
    pub pending: usize,
    /// Their size.
    pub pending_bytes: u64,
}

/// Connect to `account`'s server and log in.
pub fn connect(account: &Account, verbose: bool) -> Result<Box<dyn Source>> {
    let secret = account.password.get(&account.name, &account.user)?;
    let trace = if verbose {
        Trace::to_stderr(&account.name)
    } else {
        Trace::off()
    };
    let result: Result<Box<dyn Source>> = match account.protocol {
        Protocol::Pop3 => {
            let login = pop3::Login {
                user: &account.user,
                secret: &secret,
                method: account.auth,
                allow_plaintext: account.allow_plaintext_password,
            };
            Pop3::connect(&account.endpoint, trace, &login).map(|s| Box::new(s) as Box<dyn Source>)
        }
        Protocol::Imap => Err(Error::config(format!(
            "account {}: protocol = \"imap\" is not supported by this build yet; use protocol = \"pop3\"",
            account.name
        ))),
    };
    result.map_err(|e| {
        if e.class() == Class::Auth {
            let hint = account.profile.auth_hint;
            Error::new(Class::Auth, format!("{} ({hint})", e.message()))
        } else {
            e
        }
    })
}

/// Open the account's target.
pub fn open_sink(account: &Account) -> Result<Box<dyn Sink>> {
    Ok(match &account.target {
        Target::Maildir(path) => Box::new(sink::Maildir::open(path)?),
        Target::Mbox(path) => Box::new(sink::Mbox::open(path)?),
        Target::Mda(cmd) => Box::new(sink::Mda::new(
            cmd,
            &account.user,
            &account.name,
            account.endpoint.timeout.max(Duration::from_secs(60)),
        )?),
    })
}

/// Fetch what is new for `account`.
pub fn pull(account: &Account, opts: &Options, observer: &dyn Observer) -> Result<Summary> {
    let ctx = |e: Error| e.context(&account.name);
    std::fs::create_dir_all(&opts.state_dir).map_err(|e| {
        ctx(Error::local(
            format!("cannot create state dir {}", opts.state_dir.display()),
            e,
        ))
    })?;
    let _lock = AccountLock::acquire(&opts.state_dir, &account.name, LOCK_WAIT).map_err(ctx)?;
    let mut state = State::open(&opts.state_dir, &account.name, opts.reset_state).map_err(ctx)?;
    let mut summary = Summary {
        account: account.name.clone(),
        target: account.target.to_string(),
        ..Summary::default()
    };
    let mut sink = if opts.dry_run {
        None
    } else {
        let mut sink = open_sink(account).map_err(ctx)?;
        if let Some(intent) = state.recovery().cloned() {
            sink.recover(&intent).map_err(ctx)?;
            state.end_batch().map_err(ctx)?;
        }
        summary.target = sink.describe();
        Some(sink)
    };
    let mut source = connect(account, opts.verbose).map_err(ctx)?;
    let keep = opts.keep.unwrap_or(account.keep);
    let mut run = Run {
        source: source.as_mut(),
        state: &mut state,
        observer,
        keep,
        opts,
        fetch_all: opts.all || account.fetch_all,
        summary: &mut summary,
    };
    let result = run.all(sink.as_mut());
    if result.is_ok() {
        state.compact_if_worthwhile().map_err(ctx)?;
    }
    result.map(|_| summary).map_err(ctx)
}

/// Count what is new for `account` without fetching (for `check` and `--dry-run`).
pub fn check(account: &Account, opts: &Options) -> Result<Summary> {
    let mut o = opts.clone();
    o.dry_run = true;
    pull(account, &o, &Silent)
}

/// One account's session, per mailbox.
struct Run<'a> {
    source: &'a mut dyn Source,
    state: &'a mut State,
    observer: &'a dyn Observer,
    keep: bool,
    fetch_all: bool,
    opts: &'a Options,
    summary: &'a mut Summary,
}

/// A batch being delivered.
struct Batch {
    indices: Vec<usize>,
    bytes: u64,
    started: Instant,
}

impl Run<'_> {
    fn all(&mut self, mut sink: Option<&mut Box<dyn Sink>>) -> Result<()> {
        for mailbox in self.source.mailboxes()? {
            let sink: Option<&mut dyn Sink> = match sink.as_mut() {
                Some(s) => Some(s.as_mut()),
                None => None,
            };
            self.mailbox(&mailbox, sink)?;
        }
        self.source.close()
    }

    fn mailbox(&mut self, mailbox: &str, sink: Option<&mut dyn Sink>) -> Result<()> {
        let listing = self.source.open(mailbox)?;
        let validity = listing.validity.clone();
        if self.state.validity(mailbox).is_some_and(|v| v != validity) {
            self.state.set_validity(mailbox, &validity)?;
        }
        let present: HashSet<&str> = listing.messages.iter().map(|m| m.id.as_str()).collect();
        self.state.retain(mailbox, &present);
        let mut new = Vec::new();
        let mut stale = Vec::new();
        for m in &listing.messages {
            let seen = self.state.is_seen(mailbox, &validity, &m.id);
            if !seen || self.fetch_all {
                new.push(m.clone());
            } else {
                stale.push(m.clone());
            }
        }
        if let Some(limit) = self.opts.limit {
            new.truncate(limit);
        }
        let bytes: u64 = new.iter().map(|m| m.size).sum();
        self.summary.pending += new.len();
        self.summary.pending_bytes += bytes;
        let Some(sink) = sink else {
            return Ok(());
        };
        self.observer.planned(mailbox, new.len(), bytes);
        // Mail delivered by an earlier, interrupted run: delete it now.
        if !self.keep && !stale.is_empty() {
            self.source.delete(&stale)?;
            self.summary.deleted += stale.len();
        }
        self.fetch(mailbox, &validity, &new, sink)
    }

    fn fetch(
        &mut self,
        mailbox: &str,
        validity: &str,
        new: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        self.source.fetch(new)?;
        let mut batch: Option<Batch> = None;
        loop {
            if batch.is_none() {
                if let Some(Recovery::Rollback(intent)) = sink.begin()? {
                    self.state.begin_rollback(&intent)?;
                }
                batch = Some(Batch {
                    indices: Vec::new(),
                    bytes: 0,
                    started: Instant::now(),
                });
            }
            let b = batch.as_mut().expect("just set");
            let delivered = match self.source.next_message() {
                Ok(None) => break,
                Ok(Some((index, mut body))) => {
                    let m = &new[index];
                    let meta = Meta {
                        mailbox,
                        flags: m.flags,
                        internal_date: m.internal_date,
                        size: m.size,
                    };
                    sink.deliver(&meta, &mut *body).map(|_| index)
                }
                Err(e) => Err(e),
            };
            match delivered {
                Ok(index) => {
                    b.indices.push(index);
                    b.bytes += new[index].size;
                    self.observer.delivered(new[index].size);
                }
                Err(e) => {
                    // Keep what was delivered before the failure; delete nothing now (the
                    // session is in an unknown state), the next run deletes it.
                    let b = batch.take().expect("open");
                    self.commit(mailbox, validity, new, sink, b, false)?;
                    return Err(e);
                }
            }
            let full = b.indices.len() >= BATCH_MESSAGES
                || b.bytes >= BATCH_BYTES
                || b.started.elapsed() >= BATCH_TIME;
            if full {
                let b = batch.take().expect("open");
                self.commit(mailbox, validity, new, sink, b, !self.keep)?;
            }
        }
        if let Some(b) = batch.take() {
            self.commit(mailbox, validity, new, sink, b, !self.keep)?;
        }
        Ok(())
    }

    /// Make a batch durable, record it, publish it, and then (if asked) delete it on the
    /// server. The order is the promise: see the `state` module.
    fn commit(
        &mut self,
        mailbox: &str,
        validity: &str,
        new: &[RemoteMessage],
        sink: &mut dyn Sink,
        batch: Batch,
        delete: bool,
    ) -> Result<()> {
        let forward = match sink.prepare() {
            Ok(f) => f,
            Err(e) => {
                sink.abort();
                return Err(e);
            }
        };
        let ids: Vec<&str> = batch.indices.iter().map(|&i| new[i].id.as_str()).collect();
        // A failed journal write is not aborted: the next run's recovery decides from what
        // reached the journal.
        match forward {
            Some(Recovery::Forward(intent)) => {
                self.state.record_forward(mailbox, validity, &ids, &intent)?;
                sink.commit()?;
                self.state.end_batch()?;
            }
            _ => {
                self.state.record(mailbox, validity, &ids)?;
                sink.commit()?;
            }
        }
        self.summary.fetched += ids.len();
        self.summary.bytes += batch.bytes;
        if delete && !batch.indices.is_empty() {
            let done: Vec<RemoteMessage> = batch.indices.iter().map(|&i| new[i].clone()).collect();
            self.source.delete(&done)?;
            self.summary.deleted += done.len();
        }
        Ok(())
    }
}
