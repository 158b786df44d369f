//! The orchestration of a fetch: the one place that knows the order of the steps, and so the
//! one place that keeps the promise "nothing lost, nothing twice" (see the `state` module for
//! the crash rules). For each account: lock, recover what a crash left, connect, and per
//! mailbox: list, plan what is new, fetch in batches (deliver, make durable, record, then
//! delete on the server if the account does not keep mail), and finally end the session.

use crate::config::{Account, Limits};
use crate::error::{Error, Result};
use crate::fingerprint::{self, Sniffer};
use crate::identity::{MailboxKey, MessageId, Validity};
use crate::plan::{self, Budget};
use crate::session::{self, Access, Ctx};
use crate::sink::{self, Batcher, Intent, Journal, Meta, Outcome, Refusal, Sink, Staged};
use crate::source::{Known, Listing, RemoteMessage, Source};
use crate::state::{AccountLock, Delivered, Kind, State};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Header stubs delivered per batch (their headers are held in memory meanwhile, each at most
/// `header::MAX` bytes).
const STUBS_PER_BATCH: usize = 100;
/// How long a run waits for another run on the same account.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// What a pull is asked to do, beyond what every command is given ([`Ctx`]).
#[derive(Debug, Clone, Default)]
pub struct Options {
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
    /// Pass over messages dated before this (seconds since the epoch), in this run and later
    /// ones (see `pull --since`).
    pub since: Option<i64>,
}

/// What a pull reports as it goes (progress bars, JSON, nothing).
pub trait Observer {
    /// The plan for one mailbox: this many messages of this many bytes will be fetched.
    fn planned(&self, _mailbox: &str, _messages: usize, _bytes: u64) {}
    /// One message was delivered (not yet durable).
    fn delivered(&self, _bytes: u64) {}
    /// Something the user should know that is not an error (about `mailbox`, if not empty).
    fn notice(&self, _mailbox: &str, _text: &str) {}
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
    /// New messages left for a later run by the per-run limits.
    pub deferred: usize,
    /// Messages over `max-message-size`: left on the server, or only their header delivered.
    pub oversized: Vec<Oversized>,
    /// Messages passed over by `--since`.
    pub passed_over: usize,
    /// Messages found at the target already (an IMAP folder that had them): recorded as
    /// delivered without being stored again, and not counted in `fetched`.
    pub present: usize,
    /// The run was asked to stop ([`Ctx::stop`]) before it had fetched everything.
    pub stopped: bool,
    /// New messages that the stop left for the next run.
    pub left_by_stop: usize,
    /// Messages the target refused (an MDA's non-zero exit, an SMTP 4xx or 5xx, an IMAP
    /// server's NO): not delivered, left on the server.
    pub refused: usize,
}

/// A message over `max-message-size`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Oversized {
    /// Its folder (`INBOX` for POP3).
    pub mailbox: String,
    /// Its ID (POP3 UIDL, IMAP UID).
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether its header was delivered as a stub (`oversize = "headers"`); otherwise
    /// nothing was.
    pub header_delivered: bool,
}

/// Fetch what is new for `account`.
pub fn pull(
    account: &Account,
    cx: &Ctx,
    opts: &Options,
    observer: &dyn Observer,
) -> Result<Summary> {
    let ctx = |e: Error| e.context(&account.name);
    let _lock = AccountLock::acquire(&cx.state_dir, &account.name, LOCK_WAIT).map_err(ctx)?;
    let mut state = State::open(&cx.state_dir, &account.name, opts.reset_state).map_err(ctx)?;
    let mut summary = Summary {
        account: account.name.clone(),
        target: account.target.to_string(),
        ..Summary::default()
    };
    let mut sink = if opts.dry_run {
        None
    } else {
        let mut sink = session::open_sink(account, cx).map_err(ctx)?;
        if let Some(unfinished) = state.unfinished().cloned() {
            let unfinished = if unfinished.recorded {
                sink::Unfinished::Forward {
                    kind: unfinished.kind,
                    data: unfinished.intent,
                }
            } else {
                sink::Unfinished::Rollback {
                    kind: unfinished.kind,
                    data: unfinished.intent,
                }
            };
            let undone = matches!(unfinished, sink::Unfinished::Rollback { .. });
            let found = sink.recover(&unfinished).map_err(ctx)?;
            if undone {
                // Its records, whole or torn, must never count (see `State::abandon_batch`).
                state.abandon_batch().map_err(ctx)?;
            }
            match found {
                // What the crashed batch had stored after all: recorded, ending the batch.
                Some(found) => {
                    state
                        .record(
                            MailboxKey::new(&found.mailbox),
                            found.validity,
                            &Delivered::messages(&found.ids),
                        )
                        .map_err(ctx)?;
                }
                None if undone => {}
                None => state.end_batch().map_err(ctx)?,
            }
            for text in sink.take_notices() {
                observer.notice("", &text);
            }
        }
        summary.target = sink.describe();
        Some(sink)
    };
    let keep = opts.keep.unwrap_or(account.keep);
    // `--keep` keeps everything; otherwise a retention period deletes kept mail.
    let retention = account
        .delete_after_days
        .filter(|_| keep && opts.keep.is_none());
    let access = if (!keep || retention.is_some()) && !opts.dry_run {
        Access::Delete
    } else {
        Access::Look
    };
    let mut source = session::open_source(account, cx, access).map_err(ctx)?;
    let limits = account.limits;
    let mut run = Run {
        source: source.as_mut(),
        state: &mut state,
        observer,
        keep,
        retention,
        limits,
        budget: Budget::new(
            match (opts.limit, limits.max_messages_per_run) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            limits.max_bytes_per_run,
        ),
        cx,
        opts,
        fetch_all: opts.all || account.fetch_all,
        summary: &mut summary,
        refusals: Vec::new(),
        stopped: false,
        labels: crate::gmail::sidecar_path(account, &cx.state_dir),
    };
    // A login refused later in the run (an IMAP reconnect) gets the same advice as the first.
    let result = run
        .all(sink.as_mut())
        .map_err(|e| session::with_auth_hint(account, e));
    let refusals = std::mem::take(&mut run.refusals);
    if let Some(sink) = sink.as_mut() {
        for text in sink.take_notices() {
            observer.notice("", &text);
        }
    }
    if result.is_ok() {
        state.compact_if_worthwhile().map_err(ctx)?;
    }
    match result {
        Ok(()) if !refusals.is_empty() => Err(ctx(refused(&refusals, &summary))),
        Ok(()) => Ok(summary),
        // Say what was saved before the failure, so nobody fetches it again by hand.
        Err(e) if summary.fetched > 0 => {
            let n = summary.fetched;
            let (plural, verb) = if n == 1 { ("", "is") } else { ("s", "are") };
            Err(ctx(Error::new(
                e.class(),
                format!(
                    "{} ({n} message{plural} delivered before this {verb} safe in {})",
                    e.message(),
                    summary.target
                ),
            )))
        }
        Err(e) => Err(ctx(e)),
    }
}

/// Count what is new for `account` without fetching (for `check` and `--dry-run`).
pub fn check(account: &Account, cx: &Ctx) -> Result<Summary> {
    let opts = Options {
        dry_run: true,
        ..Options::default()
    };
    pull(account, cx, &opts, &Silent)
}

/// One account's session, per mailbox.
struct Run<'a> {
    source: &'a mut dyn Source,
    state: &'a mut State,
    observer: &'a dyn Observer,
    keep: bool,
    /// With keep: delete delivered mail this many days after its first delivery.
    retention: Option<u32>,
    limits: Limits,
    /// What is left of this run's limits.
    budget: Budget,
    fetch_all: bool,
    cx: &'a Ctx,
    opts: &'a Options,
    summary: &'a mut Summary,
    /// Why each message the target refused was not delivered.
    refusals: Vec<Refusal>,
    /// The run was asked to stop ([`Ctx::stop`]) and stopped fetching.
    stopped: bool,
    /// Where the labels of Gmail messages go (see [`crate::gmail`]).
    labels: PathBuf,
}

/// The error that ends a run in which the target refused messages: the first one's reason,
/// and how many more; its class is the first permanent refusal's (74), or temporary (75)
/// when every refusal was.
fn refused(refusals: &[Refusal], summary: &Summary) -> Error {
    let class = sink::refusal_class(refusals);
    let n = refusals.len();
    let mut text = refusals[0].reason().to_string();
    if n > 1 {
        text = format!(
            "{n} messages were not delivered and stay on the server (each is reported above); \
             the first: {text}"
        );
    }
    if summary.fetched > 0 {
        let plural = if summary.fetched == 1 { "" } else { "s" };
        text.push_str(&format!(
            " ({} other message{plural} delivered to {})",
            summary.fetched, summary.target
        ));
    }
    Error::new(class, text)
}

/// A message of a fetch, delivered: its index in the fetch list, and its fingerprint.
type Fetched = (usize, Option<String>);

/// The state journal as the batcher sees it: batches of `kind` from `mailbox`, whose
/// messages are `new[i]` (see [`Fetched`]).
struct Recorder<'r> {
    state: &'r mut State,
    source: &'r dyn Source,
    /// Where the labels of Gmail messages go (see [`crate::gmail`]).
    labels: &'r Path,
    mailbox: &'r str,
    validity: Validity,
    new: &'r [RemoteMessage],
    kind: Kind,
}

impl Journal<Fetched> for Recorder<'_> {
    fn staged<'a>(&'a self, items: &'a [Fetched]) -> Staged<'a> {
        Staged {
            mailbox: self.mailbox,
            validity: self.validity,
            ids: items
                .iter()
                .map(|(i, _)| self.new[*i].id.as_str())
                .collect(),
        }
    }

    fn rollback(&mut self, intent: &Intent) -> Result<()> {
        self.state.begin_rollback(intent.kind, &intent.data)
    }

    fn record(&mut self, items: &[Fetched], forward: Option<&Intent>) -> Result<()> {
        let ids: Vec<Delivered> = items
            .iter()
            .map(|(i, f)| Delivered {
                id: MessageId::new(&self.new[*i].id),
                fingerprint: f.as_deref(),
                kind: self.kind,
            })
            .collect();
        if self.kind == Kind::Message {
            self.gmail_delivered(items)?;
        }
        let (mailbox, validity) = (MailboxKey::new(self.mailbox), self.validity);
        match forward {
            Some(intent) => {
                self.state
                    .record_forward(mailbox, validity, &ids, intent.kind, &intent.data)
            }
            None => self.state.record(mailbox, validity, &ids),
        }
    }

    fn published(&mut self) -> Result<()> {
        self.state.end_batch()
    }
}

impl Recorder<'_> {
    /// The Gmail messages of a durable batch: their labels written to the sidecar, made
    /// durable, and their X-GM-MSGIDs recorded with the batch (see [`crate::gmail`]).
    fn gmail_delivered(&mut self, items: &[Fetched]) -> Result<()> {
        let mut lines = Vec::new();
        let mut msgids = Vec::new();
        for (i, f) in items {
            let m = &self.new[*i];
            let Some(g) = self.source.gmail(m) else {
                continue;
            };
            let mut line = crate::gmail::Label::new(g, self.mailbox, m.number, true);
            line.message_id = f.as_deref().and_then(crate::gmail::message_id_of);
            msgids.push(line.msgid.clone());
            lines.push(line);
        }
        if lines.is_empty() {
            return Ok(());
        }
        crate::gmail::append(self.labels, &lines)?;
        let records = Delivered::messages(&msgids);
        self.state
            .also_record(crate::gmail::MSGIDS, Validity::Permanent, &records)
    }
}

impl Run<'_> {
    /// The target refused a message of `mailbox`: tell the user now, fail the run at its end.
    fn refuse(&mut self, mailbox: &str, why: Refusal) {
        self.observer.notice(mailbox, why.reason());
        self.summary.refused += 1;
        self.refusals.push(why);
    }

    /// The journal for batches of `kind` of `new`, from `mailbox` at `validity`.
    fn recorder<'r>(
        &'r mut self,
        mailbox: &'r str,
        validity: Validity,
        new: &'r [RemoteMessage],
        kind: Kind,
    ) -> Recorder<'r> {
        Recorder {
            state: &mut *self.state,
            source: &*self.source,
            labels: &self.labels,
            mailbox,
            validity,
            new,
            kind,
        }
    }

    /// Whether the run was asked to stop.
    fn stop_requested(&self) -> bool {
        self.cx.stopping()
    }

    fn all(&mut self, mut sink: Option<&mut Box<dyn Sink>>) -> Result<()> {
        for mailbox in self.source.mailboxes()? {
            if self.stopped || self.stop_requested() {
                self.summary.stopped = true;
                break;
            }
            let sink: Option<&mut dyn Sink> = match sink.as_mut() {
                Some(s) => Some(s.as_mut()),
                None => None,
            };
            let result = self.mailbox(&mailbox, sink);
            self.notices();
            result?;
        }
        let result = self.source.close();
        self.notices();
        result
    }

    /// Pass on what the source had to say.
    fn notices(&mut self) {
        for text in self.source.take_notices() {
            self.observer.notice("", &text);
        }
    }

    fn mailbox(&mut self, mailbox: &str, sink: Option<&mut dyn Sink>) -> Result<()> {
        // `--all` fetches what was delivered too, so it needs every message in full.
        let state = &self.state;
        let key = MailboxKey::new(mailbox);
        let known_validity = state.validity(key).filter(|_| !self.fetch_all);
        let delivered =
            |id: &str| known_validity.is_some_and(|v| state.is_seen(key, v, MessageId::new(id)));
        let known = Known {
            validity: known_validity,
            delivered: &delivered,
        };
        let listing = self.source.open(mailbox, &known)?;
        let validity = listing.validity;
        let mut recognised = HashSet::new();
        if let Some(old) = self.state.validity(key).filter(|v| *v != validity) {
            recognised = self.revalidate(mailbox, old, &listing, sink.is_some())?;
        }
        // After a dry run's look at a renumbered mailbox the state still holds the old IDs,
        // which must not be pruned against the new ones.
        if self.state.validity(key) == Some(validity) {
            let present: foldhash::HashSet<MessageId> = listing
                .messages
                .iter()
                .map(|m| MessageId::new(&m.id))
                .collect();
            self.state.retain(key, &present);
        }
        let known = |m: &RemoteMessage| {
            if recognised.contains(&m.id) {
                Some(Kind::Message)
            } else {
                self.state.kind(key, validity, MessageId::new(&m.id))
            }
        };
        let plan = plan::classify(&listing.messages, known, self.fetch_all, &self.limits);
        let (mut new, mut stubs) = (plan.fetch, plan.stubs);
        let seen_again = self.seen_again(&mut new);
        let mut passed_over = Vec::new();
        if let Some(since) = self.opts.since {
            passed_over = self.older_than(since, &mut new)?;
            passed_over.extend(self.older_than(since, &mut stubs)?);
        }
        let planned = new.len();
        let new = self.budget.take(new);
        self.summary.deferred += planned - new.len();
        self.summary.passed_over += passed_over.len();
        let bytes: u64 = new.iter().map(|m| m.size).sum();
        self.summary.pending += new.len();
        self.summary.pending_bytes += bytes;
        for (m, header_delivered) in plan
            .too_large
            .iter()
            .map(|m| (m, false))
            .chain(stubs.iter().map(|m| (m, true)))
        {
            self.summary.oversized.push(Oversized {
                mailbox: mailbox.to_string(),
                id: m.id.clone(),
                size: m.size,
                header_delivered,
            });
        }
        let Some(sink) = sink else {
            return Ok(());
        };
        self.observer.planned(mailbox, new.len(), bytes);
        if !passed_over.is_empty() {
            let records = Delivered::all(passed_over.iter().map(|m| &m.id), Kind::PassedOver);
            self.state.record(key, validity, &records)?;
        }
        self.record_seen_again(mailbox, validity, &seen_again)?;
        self.clean_up(mailbox, validity, &plan.delivered)?;
        self.deliver_stubs(mailbox, &listing, &stubs, sink)?;
        self.fetch(mailbox, &listing, &new, sink)
    }

    /// Take out of `new` the Gmail messages delivered before from another folder (their
    /// X-GM-MSGID is in the state, see [`crate::gmail`]), unless `--all` asks for everything.
    fn seen_again(&self, new: &mut Vec<RemoteMessage>) -> Vec<RemoteMessage> {
        if self.fetch_all {
            return Vec::new();
        }
        let delivered = |m: &RemoteMessage| {
            self.source.gmail(m).is_some_and(|g| {
                let id = g.msgid.to_string();
                let id = MessageId::new(&id);
                self.state
                    .is_seen(crate::gmail::MSGIDS, Validity::Permanent, id)
            })
        };
        let (again, rest): (Vec<_>, Vec<_>) = std::mem::take(new).into_iter().partition(delivered);
        *new = rest;
        again
    }

    /// Record in `mailbox` the Gmail messages delivered before from another folder, with a
    /// line of their labels as they are now.
    fn record_seen_again(
        &mut self,
        mailbox: &str,
        validity: Validity,
        again: &[RemoteMessage],
    ) -> Result<()> {
        if again.is_empty() {
            return Ok(());
        }
        let lines: Vec<crate::gmail::Label> = again
            .iter()
            .filter_map(|m| {
                let g = self.source.gmail(m)?;
                Some(crate::gmail::Label::new(g, mailbox, m.number, false))
            })
            .collect();
        crate::gmail::append(&self.labels, &lines)?;
        let records = Delivered::all(again.iter().map(|m| &m.id), Kind::Message);
        self.state
            .record(MailboxKey::new(mailbox), validity, &records)
    }

    /// Delete on the server the mail delivered in earlier runs that is due: all of it when
    /// the account does not keep mail (what an interrupted run left), else what has been
    /// kept `delete-after-days` days (its clock starts when a time is first recorded).
    fn clean_up(
        &mut self,
        mailbox: &str,
        validity: Validity,
        delivered: &[&RemoteMessage],
    ) -> Result<()> {
        let key = MailboxKey::new(mailbox);
        let due: Vec<RemoteMessage> = if !self.keep {
            delivered.iter().map(|&m| m.clone()).collect()
        } else if let Some(days) = self.retention {
            let ids: Vec<MessageId> = delivered.iter().map(|m| MessageId::new(&m.id)).collect();
            self.state.stamp(key, validity, &ids)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            delivered
                .iter()
                .filter(|m| {
                    self.state
                        .first_delivered(key, validity, MessageId::new(&m.id))
                        .is_some_and(|at| plan::expired(at, days, now))
                })
                .map(|&m| m.clone())
                .collect()
        } else {
            Vec::new()
        };
        if !due.is_empty() {
            self.source.delete(&due)?;
            self.summary.deleted += due.len();
        }
        Ok(())
    }

    /// Take the messages dated before `since` out of `messages` and return them. The date is
    /// the IMAP INTERNALDATE, or for POP3 (which has no dates) the Date header, read with
    /// `TOP n 0`; a message without a date that parses is kept (fetched, never lost).
    fn older_than(
        &mut self,
        since: i64,
        messages: &mut Vec<RemoteMessage>,
    ) -> Result<Vec<RemoteMessage>> {
        let undated: Vec<RemoteMessage> = messages
            .iter()
            .filter(|m| m.internal_date.is_none())
            .cloned()
            .collect();
        let mut dates: HashMap<String, i64> = HashMap::new();
        if !undated.is_empty() {
            self.source
                .headers(&undated, Some(&["Date"]), &mut |i, header| {
                    if let Some(date) = plan::header_date(header) {
                        dates.insert(undated[i].id.clone(), date);
                    }
                    Ok(())
                })?;
        }
        let (old, kept): (Vec<_>, Vec<_>) = std::mem::take(messages).into_iter().partition(|m| {
            m.internal_date
                .or_else(|| dates.get(&m.id).copied())
                .is_some_and(|d| d < since)
        });
        *messages = kept;
        Ok(old)
    }

    /// Deliver the header of each of `stubs` (messages over `max-message-size`), marked
    /// truncated (see [`plan::stub`]), and record them as stubs: never deleted on the server.
    fn deliver_stubs(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        stubs: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let max = self.limits.max_message_size.unwrap_or(0);
        let validity = listing.validity;
        let mut batcher = Batcher::new(sink);
        for chunk in stubs.chunks(STUBS_PER_BATCH) {
            let mut headers: Vec<Option<Vec<u8>>> = vec![None; chunk.len()];
            self.source.headers(chunk, None, &mut |i, header| {
                headers[i] = Some(header.to_vec());
                Ok(())
            })?;
            for (i, header) in headers.into_iter().enumerate() {
                if !batcher.is_open() {
                    batcher.begin(&mut self.recorder(
                        mailbox,
                        validity,
                        chunk,
                        Kind::HeadersOnly,
                    ))?;
                }
                // Expunged meanwhile: nothing to mark.
                let Some(header) = header else { continue };
                let m = &chunk[i];
                let body = plan::stub(&header, m.size, max);
                let meta = Meta {
                    mailbox,
                    delimiter: listing.delimiter,
                    flags: m.flags,
                    internal_date: m.internal_date,
                    size: body.len() as u64,
                };
                let delivered = batcher.deliver(&meta, &mut body.as_slice(), |_| (i, None));
                match delivered {
                    Ok(Outcome::Delivered) => {}
                    Ok(Outcome::Refused(why)) => self.refuse(mailbox, why),
                    Err(e) => {
                        self.commit(
                            &mut batcher,
                            mailbox,
                            validity,
                            chunk,
                            Kind::HeadersOnly,
                            false,
                        )?;
                        return Err(e);
                    }
                }
                if batcher.full() {
                    self.commit(
                        &mut batcher,
                        mailbox,
                        validity,
                        chunk,
                        Kind::HeadersOnly,
                        false,
                    )?;
                }
            }
            self.commit(
                &mut batcher,
                mailbox,
                validity,
                chunk,
                Kind::HeadersOnly,
                false,
            )?;
        }
        Ok(())
    }

    /// The mailbox's UIDVALIDITY changed from `old`: the server renumbered it, and the IDs in
    /// the state mean nothing any more. Messages of the new listing whose fingerprint
    /// (Message-ID and size) matches that of a message delivered under the old validity are
    /// taken as delivered (each recorded fingerprint matches at most one message), and are
    /// recorded under the new validity when `record` is set (not in a dry run); everything
    /// else is fetched. Returns the IDs recognised, and tells the user.
    fn revalidate(
        &mut self,
        mailbox: &str,
        old: Validity,
        listing: &Listing,
        record: bool,
    ) -> Result<HashSet<String>> {
        let key = MailboxKey::new(mailbox);
        let mut delivered: HashMap<&str, usize> = HashMap::new();
        for f in self.state.fingerprints(key) {
            *delivered.entry(f).or_default() += 1;
        }
        let had = self.state.count(key);
        let without = had - delivered.values().sum::<usize>();
        let mut kept: Vec<(String, String)> = Vec::new();
        if !delivered.is_empty() && !listing.messages.is_empty() {
            let ids = self.source.message_ids(&listing.messages)?;
            let mut without_id = Vec::new();
            for (m, id) in listing.messages.iter().zip(ids) {
                let Some(id) = id else {
                    let digested = |f: &&str| fingerprint::is_digest_of_size(f, m.size);
                    if delivered.keys().any(digested) {
                        without_id.push(m.clone());
                    }
                    continue;
                };
                let f = fingerprint::fingerprint(&id, m.size);
                if let Some(n) = delivered.get_mut(f.as_str()).filter(|n| **n > 0) {
                    *n -= 1;
                    kept.push((m.id.clone(), f));
                }
            }
            // Messages without a Message-ID, of a size delivered before without one: their
            // text digests tell (they are read for it, and only they).
            for (m, f) in digests(&mut *self.source, &without_id)? {
                if let Some(n) = delivered.get_mut(f.as_str()).filter(|n| **n > 0) {
                    *n -= 1;
                    kept.push((m.id.clone(), f));
                }
            }
        }
        if record {
            let records: Vec<Delivered> = kept
                .iter()
                .map(|(id, f)| Delivered {
                    id: MessageId::new(id),
                    fingerprint: Some(f),
                    kind: Kind::Message,
                })
                .collect();
            self.state.revalidate(key, listing.validity, &records)?;
        }
        let mut text = format!(
            "UIDVALIDITY changed from {old} to {}: the server renumbered this folder. \
             {} of its {} messages were recognised by Message-ID and size (or, without one, \
             by their text) as delivered before and are not fetched again; {} will be fetched",
            listing.validity,
            kept.len(),
            listing.messages.len(),
            listing.messages.len() - kept.len()
        );
        if without > 0 {
            text.push_str(&format!(
                " ({without} earlier deliveries had no Message-ID to recognise them by, so \
                 these may arrive again)"
            ));
        }
        self.observer.notice(mailbox, &text);
        Ok(kept.into_iter().map(|(id, _)| id).collect())
    }

    fn fetch(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        new: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        if self.stop_requested() {
            self.stopped = true;
            self.summary.stopped = true;
            self.summary.left_by_stop += new.len();
            return Ok(());
        }
        let validity = listing.validity;
        // Fingerprints matter only where IDs can be invalidated (not permanent POP3 UIDLs).
        let fingerprints = validity.can_change();
        self.source.fetch(new)?;
        // Which messages the source handed over; the others must be reported gone.
        let mut handed = vec![false; new.len()];
        let mut batcher = Batcher::new(sink);
        let delete = !self.keep;
        loop {
            if !batcher.is_open() {
                batcher.begin(&mut self.recorder(mailbox, validity, new, Kind::Message))?;
            }
            let delivered = match self.source.next_message() {
                Ok(None) => break,
                Ok(Some((index, mut body))) => {
                    let m = &new[index];
                    handed[index] = true;
                    let meta = Meta {
                        mailbox,
                        delimiter: listing.delimiter,
                        flags: m.flags,
                        internal_date: m.internal_date,
                        size: m.size,
                    };
                    let mut sniffer = Sniffer::new(&mut *body);
                    let fetched = |s: &mut Sniffer<'_>| {
                        (index, s.fingerprint(m.size).filter(|_| fingerprints))
                    };
                    let outcome = match batcher.deliver(&meta, &mut sniffer, fetched) {
                        Ok(Outcome::Delivered) => Ok(None),
                        // The target refused this one: the rest of it is read before the
                        // next message, and it stays on the server.
                        Ok(Outcome::Refused(why)) => {
                            std::io::copy(&mut sniffer, &mut std::io::sink())
                                .map_err(|e| Error::network("receiving a message", e))
                                .map(|_| Some(why))
                        }
                        Err(e) => Err(e),
                    };
                    outcome.map(|refused| (m.size, refused))
                }
                Err(e) => Err(e),
            };
            for text in batcher.sink().take_notices() {
                self.observer.notice(mailbox, &text);
            }
            match delivered {
                Ok((size, None)) => self.observer.delivered(size),
                Ok((_, Some(why))) => self.refuse(mailbox, why),
                Err(e) => {
                    // Keep what was delivered before the failure; delete nothing now (the
                    // session is in an unknown state), the next run deletes it.
                    self.commit(&mut batcher, mailbox, validity, new, Kind::Message, false)?;
                    return Err(e);
                }
            }
            // A stop is asked for: the batch is committed now, between two messages.
            if batcher.full() || self.stop_requested() {
                self.commit(&mut batcher, mailbox, validity, new, Kind::Message, delete)?;
                if self.stop_requested() {
                    return self.stop(new, &handed);
                }
            }
        }
        self.commit(&mut batcher, mailbox, validity, new, Kind::Message, delete)?;
        self.all_handed(mailbox, new, handed)
    }

    /// Asked to stop, after a batch was committed: the source reads and discards what is in
    /// flight (no message not handed over is delivered, recorded or deleted), and the
    /// messages left are counted as left for the next run.
    fn stop(&mut self, new: &[RemoteMessage], handed: &[bool]) -> Result<()> {
        self.source.stop_fetch()?;
        self.stopped = true;
        let vanished: HashSet<usize> = self.source.take_vanished().into_iter().collect();
        let left = (0..new.len())
            .filter(|i| !handed[*i] && !vanished.contains(i))
            .count();
        self.summary.stopped = true;
        self.summary.left_by_stop += left;
        Ok(())
    }

    /// The end of a fetch: every message must have been handed over by the source or reported
    /// gone (see [`left_behind`]).
    fn all_handed(
        &mut self,
        mailbox: &str,
        new: &[RemoteMessage],
        handed: Vec<bool>,
    ) -> Result<()> {
        let vanished = self.source.take_vanished();
        left_behind(mailbox, new, handed, &vanished)
    }

    /// Make the open batch of `kind` durable, record it, publish it (see [`Batcher::commit`]),
    /// and then (if asked) delete it on the server. The order is the promise: see the `state`
    /// module.
    fn commit(
        &mut self,
        batcher: &mut Batcher<Fetched>,
        mailbox: &str,
        validity: Validity,
        new: &[RemoteMessage],
        kind: Kind,
        delete: bool,
    ) -> Result<()> {
        let committed = batcher.commit(&mut self.recorder(mailbox, validity, new, kind))?;
        let Some(batch) = committed else {
            return Ok(());
        };
        for why in batch.refused {
            self.refuse(mailbox, why);
        }
        for text in batcher.sink().take_notices() {
            self.observer.notice(mailbox, &text);
        }
        if kind != Kind::Message {
            return Ok(());
        }
        self.summary.fetched += batch.items.len() - batch.present;
        self.summary.present += batch.present;
        self.summary.bytes += batch.bytes;
        if delete && !batch.items.is_empty() {
            let done: Vec<RemoteMessage> =
                batch.items.iter().map(|(i, _)| new[*i].clone()).collect();
            self.source.delete(&done)?;
            self.summary.deleted += done.len();
        }
        Ok(())
    }
}

/// A fetch of `new` ended; the source handed over those marked in `handed` and reported the
/// `vanished` ones gone (expunged meanwhile). Any other is a message the server lists but did
/// not send, and succeeding would leave it behind without a word: the run fails instead,
/// naming the messages (what was delivered is kept, and the next run fetches them). The exit
/// code is 76, as for the server's other breaches of the protocol, not 75: a temporary
/// failure is what cron setups retry quietly, and this must not go unnoticed.
fn left_behind(
    mailbox: &str,
    new: &[RemoteMessage],
    mut handed: Vec<bool>,
    vanished: &[usize],
) -> Result<()> {
    for &i in vanished {
        if let Some(h) = handed.get_mut(i) {
            *h = true;
        }
    }
    let missing: Vec<&str> = new
        .iter()
        .zip(&handed)
        .filter(|(_, h)| !**h)
        .map(|(m, _)| m.id.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 10;
    let mut ids = missing[..missing.len().min(SHOWN)].join(", ");
    if missing.len() > SHOWN {
        ids.push_str(&format!(" and {} more", missing.len() - SHOWN));
    }
    let n = missing.len();
    Err(Error::protocol(format!(
        "{mailbox}: {n} message{} the server listed {} neither fetched nor reported gone \
         (ID {ids}); {} on the server for the next run",
        if n == 1 { "" } else { "s" },
        if n == 1 { "was" } else { "were" },
        if n == 1 { "it stays" } else { "they stay" },
    )))
}

/// The [`fingerprint::digest_fingerprint`] of each of `messages`, read from the source.
fn digests<'m>(
    source: &mut dyn Source,
    messages: &'m [RemoteMessage],
) -> Result<Vec<(&'m RemoteMessage, String)>> {
    let mut out = Vec::with_capacity(messages.len());
    if messages.is_empty() {
        return Ok(out);
    }
    source.fetch(messages)?;
    while let Some((index, mut body)) = source.next_message()? {
        let mut digest = fingerprint::TextDigest::default();
        fingerprint::read_all(&mut body, |data| digest.update(data))
            .map_err(|e| Error::network("reading a message", e))?;
        let m = &messages[index];
        out.push((m, fingerprint::digest_fingerprint(&digest.finish(), m.size)));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "pull/ordering_tests.rs"]
mod ordering_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Class;

    fn listed(n: u32) -> Vec<RemoteMessage> {
        (1..=n)
            .map(|uid| RemoteMessage {
                id: uid.to_string(),
                number: uid,
                size: 10,
                flags: Default::default(),
                internal_date: None,
            })
            .collect()
    }

    #[test]
    fn a_source_that_ends_with_messages_neither_handed_over_nor_gone_fails_the_run() {
        let new = listed(1200);
        // Whole batches left behind, as the IMAP source did when it skipped them silently.
        let handed: Vec<bool> = (0..1200).map(|i| !(500..1000).contains(&i)).collect();
        let e = left_behind("INBOX", &new, handed.clone(), &[]).unwrap_err();
        assert_eq!(e.class(), Class::Protocol);
        assert_eq!(e.class().exit_code(), 76);
        assert!(
            e.message().starts_with(
                "INBOX: 500 messages the server listed were neither fetched nor reported gone \
                 (ID 501, 502, 503, 504, 505, 506, 507, 508, 509, 510 and 490 more)"
            ),
            "{}",
            e.message()
        );
        // Reported gone (expunged meanwhile): not an error.
        let gone: Vec<usize> = (500..1000).collect();
        assert!(left_behind("INBOX", &new, handed, &gone).is_ok());
        assert!(left_behind("INBOX", &new, vec![true; 1200], &[]).is_ok());
        let e = left_behind("INBOX", &listed(3), vec![true, false, true], &[]).unwrap_err();
        assert!(e
            .message()
            .contains("1 message the server listed was neither"));
        assert!(e.message().contains("(ID 2); it stays on the server"));
    }
}
