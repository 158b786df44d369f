//! The ordering promise of `pull`, tested in the crate with a scripted source and a recording
//! sink, so that it needs neither root nor a mail server: a message is deleted at the source
//! only after the sink delivered it, made it durable (`prepare`) and the journal on disk
//! records it; a message the target refused, or a batch whose `prepare` failed, is neither
//! recorded nor deleted.

use super::*;
use crate::error::Class;
use crate::sink::{Prepared, Recovered, Rollback, Unfinished};
use crate::source::Flags;
use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;

/// What the source and the sink saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Deliver(String),
    Prepare,
    Commit,
    Abort,
    /// A delete of these IDs, and whether the journal on disk recorded each of them then.
    Delete(Vec<(String, bool)>),
}

type Log = Rc<RefCell<Vec<Event>>>;

/// A POP3-like source of messages `m0`, `m1`, ... whose body is their ID.
struct Scripted {
    ids: Vec<String>,
    fetching: Vec<RemoteMessage>,
    next: usize,
    journal: PathBuf,
    log: Log,
}

impl Source for Scripted {
    fn mailboxes(&mut self) -> Result<Vec<String>> {
        Ok(vec!["INBOX".into()])
    }

    fn open(&mut self, _mailbox: &str, _known: &Known<'_>) -> Result<Listing> {
        let messages = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| RemoteMessage {
                id: id.clone(),
                number: i as u32 + 1,
                size: id.len() as u64,
                flags: Flags::default(),
                internal_date: None,
            })
            .collect();
        Ok(Listing {
            validity: Validity::Permanent,
            messages,
            delimiter: None,
        })
    }

    fn fetch(&mut self, messages: &[RemoteMessage]) -> Result<()> {
        self.fetching = messages.to_vec();
        self.next = 0;
        Ok(())
    }

    fn next_message(&mut self) -> Result<Option<(usize, Box<dyn Read + '_>)>> {
        let Some(m) = self.fetching.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        Ok(Some((
            self.next - 1,
            Box::new(std::io::Cursor::new(m.id.clone().into_bytes())),
        )))
    }

    fn stop_fetch(&mut self) -> Result<()> {
        self.next = self.fetching.len();
        Ok(())
    }

    fn delete(&mut self, messages: &[RemoteMessage]) -> Result<()> {
        let journal = std::fs::read_to_string(&self.journal).unwrap_or_default();
        // A journal line is `CRC + MAILBOX VALIDITY ID [...]`.
        let recorded = |id: &str| {
            journal
                .lines()
                .any(|l| l.split(' ').skip(1).take(4).eq(["+", "INBOX", "-", id]))
        };
        let seen = messages
            .iter()
            .map(|m| (m.id.clone(), recorded(&m.id)))
            .collect();
        self.log.borrow_mut().push(Event::Delete(seen));
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }

    fn headers(
        &mut self,
        _messages: &[RemoteMessage],
        _fields: Option<&[&str]>,
        _each: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()> {
        Ok(())
    }
}

/// A sink that records what it is asked, refuses the messages named in `refuse` at
/// `prepare`, and fails `prepare` altogether when `fail_prepare`.
struct Recording {
    log: Log,
    batch: Vec<String>,
    refuse: Vec<String>,
    fail_prepare: bool,
}

impl Sink for Recording {
    fn describe(&self) -> String {
        "recording".into()
    }

    fn begin(&mut self) -> Result<Option<Rollback>> {
        self.batch.clear();
        Ok(None)
    }

    fn deliver(&mut self, _meta: &Meta, body: &mut dyn Read) -> Result<Outcome> {
        let mut id = String::new();
        body.read_to_string(&mut id).expect("a body");
        self.log.borrow_mut().push(Event::Deliver(id.clone()));
        self.batch.push(id);
        Ok(Outcome::Delivered)
    }

    fn prepare(&mut self) -> Result<Prepared> {
        if self.fail_prepare {
            return Err(Error::new(Class::LocalIo, "disk full"));
        }
        self.log.borrow_mut().push(Event::Prepare);
        let refused = self
            .batch
            .iter()
            .enumerate()
            .filter(|(_, id)| self.refuse.contains(id))
            .map(|(i, id)| (i, Refusal::permanent(format!("{id} refused"))))
            .collect();
        Ok(Prepared {
            refused,
            ..Prepared::default()
        })
    }

    fn commit(&mut self) -> Result<()> {
        self.log.borrow_mut().push(Event::Commit);
        Ok(())
    }

    fn abort(&mut self) {
        self.log.borrow_mut().push(Event::Abort);
    }

    fn recover(&mut self, _unfinished: &Unfinished) -> Result<Option<Recovered>> {
        Ok(None)
    }
}

/// Pull `n` messages into a recording sink in delete mode; returns the events and the
/// run's result (with the target's refusals as the error, as `pull` reports them).
fn pull_into(n: usize, refuse: &[&str], fail_prepare: bool) -> (Vec<Event>, Result<()>) {
    let dir = tempfile::tempdir().unwrap();
    let log: Log = Rc::default();
    let mut state = State::open(dir.path(), "a", false).unwrap();
    let mut source = Scripted {
        ids: (0..n).map(|i| format!("m{i}")).collect(),
        fetching: Vec::new(),
        next: 0,
        journal: State::path_for(dir.path(), "a"),
        log: log.clone(),
    };
    let mut sink: Box<dyn Sink> = Box::new(Recording {
        log: log.clone(),
        batch: Vec::new(),
        refuse: refuse.iter().map(|s| s.to_string()).collect(),
        fail_prepare,
    });
    let cx = Ctx::new(dir.path().to_path_buf(), false);
    let opts = Options::default();
    let mut summary = Summary::default();
    let mut run = Run {
        source: &mut source,
        state: &mut state,
        observer: &Silent,
        keep: false,
        retention: None,
        limits: Limits::default(),
        budget: Budget::new(None, None),
        cx: &cx,
        opts: &opts,
        fetch_all: false,
        summary: &mut summary,
        refusals: Vec::new(),
        stopped: false,
        labels: dir.path().join("gmail-labels"),
    };
    let result = run
        .all(Some(&mut sink))
        .and_then(|()| match run.refusals.pop() {
            Some(refusal) => Err(refusal.into_error()),
            None => Ok(()),
        });
    let events = log.borrow().clone();
    (events, result)
}

fn position(events: &[Event], wanted: &Event) -> Option<usize> {
    events.iter().position(|e| e == wanted)
}

#[test]
fn every_deleted_message_was_delivered_made_durable_and_recorded_first() {
    let (events, result) = pull_into(5, &[], false);
    result.unwrap();
    let deleted: Vec<(usize, &(String, bool))> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Delete(ids) => Some(ids.iter().map(move |id| (i, id))),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(deleted.len(), 5, "{events:?}");
    for (at, (id, recorded)) in deleted {
        let delivered = position(&events, &Event::Deliver(id.clone())).expect("delivered");
        let durable = events[delivered..]
            .iter()
            .position(|e| *e == Event::Prepare)
            .map(|p| p + delivered)
            .expect("made durable");
        assert!(delivered < durable && durable < at, "{id}: {events:?}");
        assert!(
            recorded,
            "{id} was deleted before the journal on disk recorded it"
        );
    }
}

#[test]
fn a_message_the_target_refused_is_neither_recorded_nor_deleted() {
    let (events, result) = pull_into(4, &["m2"], false);
    let e = result.unwrap_err();
    assert_eq!(e.class(), Class::LocalIo, "{e:?}");
    let deleted: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Delete(ids) => Some(ids.iter().map(|(id, _)| id)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(deleted, ["m0", "m1", "m3"], "{events:?}");
}

#[test]
fn a_batch_that_could_not_be_made_durable_deletes_and_records_nothing() {
    let (events, result) = pull_into(3, &[], true);
    assert_eq!(result.unwrap_err().class(), Class::LocalIo);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Delete(_))),
        "{events:?}"
    );
    assert!(events.contains(&Event::Abort), "{events:?}");
}
