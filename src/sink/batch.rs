//! One batcher for everything that feeds a sink (`pull`, `upload`): when a batch begins and
//! when it is full, the order of the sink's steps around the journal, and what becomes of the
//! messages the target refuses.
//!
//! A batch begins before its first message (`begin`, its rollback intent journalled before
//! anything is written), takes messages until one of its [`Limits`] is reached, and is then
//! committed: `stage` (its rollback intent journalled in place of `begin`'s), `prepare` (made
//! durable; what the target refused is taken out), the records journalled (with the forward
//! intent, if the sink still has to publish), `commit`, and the end of the forward batch
//! journalled. Only after that may the caller act on the batch (`pull` deletes it at the
//! source). A batch whose `stage` or `prepare` failed is aborted and nothing of it recorded; a
//! failed journal write is not aborted: the next run's recovery decides from what reached the
//! journal.
//!
//! The batcher knows no journal format: what it needs is the [`Journal`] trait, which `pull`
//! implements on the state and `upload` (which needs no journal: a rerun looks the folder up
//! again) with nothing.

use super::{Forward, Intent, Meta, Outcome, Refusal, Rollback, Sink, Staged};
use crate::error::{Class, Error, Result};
use std::io::Read;
use std::time::{Duration, Instant};

/// When a batch is full: after this many messages, or bytes, or this long since its first
/// message, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages delivered (refused ones do not count).
    pub messages: usize,
    /// Their bytes, as the source announced them.
    pub bytes: u64,
    /// Time since the batch began.
    pub time: Duration,
}

impl Limits {
    /// 200 messages, 32 MB or one second. A crash redoes at most one batch; a batch costs one
    /// journal fsync and one directory fsync (for IMAP, one lookup in the folder).
    pub const BATCH: Limits = Limits {
        messages: 200,
        bytes: 32 << 20,
        time: Duration::from_millis(1000),
    };

    /// Each message a batch of its own, recorded as soon as it is delivered: for targets that
    /// hand a message on where it cannot be looked for again (an MDA, an LMTP or SMTP
    /// server), so that a crash repeats at most one delivery.
    pub const ONE: Limits = Limits {
        messages: 1,
        ..Limits::BATCH
    };
}

/// What the batcher needs of a journal, for batches of messages known to the caller as `T`.
pub trait Journal<T> {
    /// Where the batch's messages (`items`, in order) come from, for [`Sink::stage`].
    fn staged<'a>(&'a self, items: &'a [T]) -> Staged<'a>;

    /// Journal, durably, the sink's intent to undo the batch (before anything it cannot take
    /// back is stored).
    fn rollback(&mut self, intent: &Intent) -> Result<()>;

    /// Record `items` (the batch, less what the target refused) as delivered, durably, in one
    /// write with the sink's intent to finish publishing them, if it has one.
    fn record(&mut self, items: &[T], forward: Option<&Intent>) -> Result<()>;

    /// The batch recorded with a forward intent is published.
    fn published(&mut self) -> Result<()>;
}

/// A batch made durable, recorded and published.
#[derive(Debug)]
pub struct Committed<T> {
    /// Its messages, less the refused ones, in the order delivered.
    pub items: Vec<T>,
    /// Their bytes, as announced.
    pub bytes: u64,
    /// How many of them the target had already (recorded, not stored again).
    pub present: usize,
    /// The messages the target refused while storing the batch, each with why.
    pub refused: Vec<Refusal>,
}

/// The batch being delivered.
struct Open<T> {
    items: Vec<T>,
    sizes: Vec<u64>,
    bytes: u64,
    started: Instant,
}

/// Feeds one sink, a batch at a time.
pub struct Batcher<'s, T> {
    sink: &'s mut dyn Sink,
    limits: Limits,
    open: Option<Open<T>>,
}

impl<'s, T> Batcher<'s, T> {
    /// A batcher for `sink`, with the sink's limits.
    pub fn new(sink: &'s mut dyn Sink) -> Self {
        let limits = sink.limits();
        Batcher {
            sink,
            limits,
            open: None,
        }
    }

    /// The sink (for its description and notices).
    pub fn sink(&mut self) -> &mut dyn Sink {
        &mut *self.sink
    }

    /// Begin a batch unless one is open: its rollback intent, if the sink has one, is
    /// journalled before anything is written.
    pub fn begin(&mut self, journal: &mut dyn Journal<T>) -> Result<()> {
        if self.open.is_none() {
            if let Some(Rollback(intent)) = self.sink.begin()? {
                journal.rollback(&intent)?;
            }
            self.open = Some(Open {
                items: Vec::new(),
                sizes: Vec::new(),
                bytes: 0,
                started: Instant::now(),
            });
        }
        Ok(())
    }

    /// Hand one message to the open batch's sink ([`Batcher::begin`] first). Delivered, it
    /// joins the batch as `item(body)` (called once the body is read, so that it may look at
    /// what was read). Refused, it is not in the batch, and the refusal is returned: the
    /// caller reads what is left of the body if it must.
    pub fn deliver<R: Read>(
        &mut self,
        meta: &Meta,
        body: &mut R,
        item: impl FnOnce(&mut R) -> T,
    ) -> Result<Outcome> {
        let Some(open) = self.open.as_mut() else {
            return Err(Error::new(
                Class::Internal,
                "internal: a delivery outside a batch",
            ));
        };
        let outcome = self.sink.deliver(meta, body)?;
        if let Outcome::Delivered = outcome {
            open.items.push(item(body));
            open.sizes.push(meta.size);
            open.bytes += meta.size;
        }
        Ok(outcome)
    }

    /// Whether a batch is open (begun and not yet committed).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Whether the open batch has reached one of its limits.
    pub fn full(&self) -> bool {
        self.open.as_ref().is_some_and(|b| {
            b.items.len() >= self.limits.messages
                || b.bytes >= self.limits.bytes
                || b.started.elapsed() >= self.limits.time
        })
    }

    /// Make the open batch durable, record it and publish it (see the module doc); `None`
    /// when no batch is open.
    pub fn commit(&mut self, journal: &mut dyn Journal<T>) -> Result<Option<Committed<T>>> {
        let Some(batch) = self.open.take() else {
            return Ok(None);
        };
        let staged = {
            let staged = journal.staged(&batch.items);
            self.sink.stage(&staged)
        };
        let prepared = staged.and_then(|rollback| {
            if let Some(Rollback(intent)) = rollback {
                journal.rollback(&intent)?;
            }
            self.sink.prepare()
        });
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.sink.abort();
                return Err(e);
            }
        };
        let (mut items, mut sizes) = (batch.items, batch.sizes);
        // Messages the target refused while storing the batch are left out of it.
        let mut refused = prepared.refused;
        refused.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
        let mut refusals = Vec::with_capacity(refused.len());
        for (position, why) in refused {
            if position < items.len() {
                items.remove(position);
                sizes.remove(position);
            }
            refusals.push(why);
        }
        match &prepared.forward {
            Some(Forward(intent)) => {
                journal.record(&items, Some(intent))?;
                self.sink.commit()?;
                journal.published()?;
            }
            None => {
                journal.record(&items, None)?;
                self.sink.commit()?;
            }
        }
        Ok(Some(Committed {
            items,
            bytes: sizes.iter().sum(),
            present: prepared.present,
            refused: refusals,
        }))
    }
}

/// The class of a run that ends with `refusals` (not empty): the first permanent one's (74),
/// or temporary (75) when every refusal was.
pub fn refusal_class(refusals: &[Refusal]) -> Class {
    refusals
        .iter()
        .map(Refusal::class)
        .find(|c| *c != Class::Temporary)
        .unwrap_or(Class::Temporary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{Prepared, Recovered, Unfinished};

    /// A sink that takes every message but refuses, at `prepare`, those whose body is `no`,
    /// and journals intents of kind `test`.
    #[derive(Default)]
    struct Picky {
        batch: Vec<String>,
        steps: Vec<String>,
    }

    impl Sink for Picky {
        fn describe(&self) -> String {
            "picky".into()
        }
        fn begin(&mut self) -> Result<Option<Rollback>> {
            self.steps.push("begin".into());
            Ok(Some(Rollback(Intent {
                kind: "test",
                data: b"undo".to_vec(),
            })))
        }
        fn deliver(&mut self, _meta: &Meta, body: &mut dyn Read) -> Result<Outcome> {
            let mut text = String::new();
            body.read_to_string(&mut text).unwrap();
            if text == "bounce" {
                return Ok(Outcome::Refused(Refusal::temporary("bounced")));
            }
            self.batch.push(text);
            Ok(Outcome::Delivered)
        }
        fn prepare(&mut self) -> Result<Prepared> {
            self.steps.push("prepare".into());
            let refused = (self.batch.iter().enumerate())
                .filter(|(_, t)| *t == "no")
                .map(|(i, _)| (i, Refusal::permanent(format!("no at {i}"))))
                .collect();
            Ok(Prepared {
                forward: Some(Forward(Intent {
                    kind: "test",
                    data: b"finish".to_vec(),
                })),
                refused,
                present: 0,
            })
        }
        fn commit(&mut self) -> Result<()> {
            self.steps.push("commit".into());
            self.batch.clear();
            Ok(())
        }
        fn abort(&mut self) {}
        fn recover(&mut self, _unfinished: &Unfinished) -> Result<Option<Recovered>> {
            Ok(None)
        }
    }

    /// A journal that notes what it is asked, in order.
    #[derive(Default)]
    struct Notes(Vec<String>);

    impl Journal<String> for Notes {
        fn staged<'a>(&'a self, items: &'a [String]) -> Staged<'a> {
            Staged {
                mailbox: "INBOX",
                validity: crate::identity::Validity::Permanent,
                ids: items.iter().map(String::as_str).collect(),
            }
        }
        fn rollback(&mut self, intent: &Intent) -> Result<()> {
            self.0.push(format!(
                "rollback {}",
                String::from_utf8_lossy(&intent.data)
            ));
            Ok(())
        }
        fn record(&mut self, items: &[String], forward: Option<&Intent>) -> Result<()> {
            let forward = forward.map_or("-".into(), |i| String::from_utf8_lossy(&i.data));
            self.0.push(format!("record {} {forward}", items.join(",")));
            Ok(())
        }
        fn published(&mut self) -> Result<()> {
            self.0.push("published".into());
            Ok(())
        }
    }

    fn meta() -> Meta<'static> {
        Meta {
            mailbox: "INBOX",
            delimiter: None,
            flags: Default::default(),
            internal_date: None,
            size: 10,
        }
    }

    #[test]
    fn refused_messages_are_left_out_of_the_record_and_the_steps_keep_their_order() {
        let mut sink = Picky::default();
        let mut journal = Notes::default();
        let mut batcher = Batcher::new(&mut sink);
        let mut refusals = Vec::new();
        for (i, body) in ["a", "no", "bounce", "b", "no"].iter().enumerate() {
            batcher.begin(&mut journal).unwrap();
            let outcome = batcher
                .deliver(&meta(), &mut body.as_bytes(), |_| format!("m{i}"))
                .unwrap();
            if let Outcome::Refused(why) = outcome {
                refusals.push(why);
            }
        }
        let done = batcher.commit(&mut journal).unwrap().expect("a batch");
        assert!(batcher.commit(&mut journal).unwrap().is_none());
        assert_eq!(done.items, ["m0", "m3"]);
        assert_eq!(done.bytes, 20);
        let why: Vec<&str> = done.refused.iter().map(Refusal::reason).collect();
        assert_eq!(why, ["no at 3", "no at 1"]);
        assert_eq!(
            journal.0,
            ["rollback undo", "record m0,m3 finish", "published"]
        );
        assert_eq!(sink.steps, ["begin", "prepare", "commit"]);
        refusals.extend(done.refused);
        assert_eq!(refusal_class(&refusals), Class::LocalIo);
        assert_eq!(refusal_class(&refusals[..1]), Class::Temporary);
    }

    #[test]
    fn a_batch_is_full_at_its_sinks_limit() {
        struct One(Picky);
        impl Sink for One {
            fn describe(&self) -> String {
                self.0.describe()
            }
            fn begin(&mut self) -> Result<Option<Rollback>> {
                Ok(None)
            }
            fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<Outcome> {
                self.0.deliver(meta, body)
            }
            fn prepare(&mut self) -> Result<Prepared> {
                Ok(Prepared::default())
            }
            fn commit(&mut self) -> Result<()> {
                Ok(())
            }
            fn abort(&mut self) {}
            fn recover(&mut self, _unfinished: &Unfinished) -> Result<Option<Recovered>> {
                Ok(None)
            }
            fn limits(&self) -> Limits {
                Limits::ONE
            }
        }
        let mut sink = One(Picky::default());
        let mut journal = Notes::default();
        let mut batcher = Batcher::new(&mut sink);
        let mut deliver = |b: &mut Batcher<String>, body: &str| {
            b.begin(&mut journal).unwrap();
            b.deliver(&meta(), &mut body.as_bytes(), |_| body.into())
                .unwrap()
        };
        deliver(&mut batcher, "bounce");
        assert!(!batcher.full(), "a refused message does not count");
        deliver(&mut batcher, "a");
        assert!(batcher.full());
    }
}
