//! The set of a mailbox's delivered IDs and what is known of each (fingerprint, first
//! delivery, kind), built for the one thing a run does with it at scale: load 100,000 IDs,
//! look each listed one up, forget those the server no longer lists. It knows nothing of
//! files or text formats: the journal fills it, the codec writes its entries.

use hashbrown::HashTable;
use std::hash::BuildHasher;

/// What the state knows of one delivered message.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    /// Its fingerprint, when one was recorded.
    pub fingerprint: Option<&'a str>,
    /// When it was first delivered (seconds since the epoch), when recorded.
    pub at: Option<i64>,
    /// What was delivered.
    pub kind: Kind,
}

/// What was delivered of a message. Only [`Kind::Message`] counts as delivered: the others
/// are recorded so that a run does not repeat them, and never lead to a deletion on the
/// server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// The message itself (`+` records).
    #[default]
    Message,
    /// A stub of its header, marked truncated (`H` records; `oversize = "headers"`).
    HeadersOnly,
    /// Nothing: passed over by `pull --since` (`S` records), and by later runs too.
    PassedOver,
}

/// The IDs of one mailbox and what is known of each: a hash table of [`Slot`]s whose IDs and
/// fingerprints all live end to end in one `String` (an arena).
///
/// Why not a `HashMap<String, Entry>`: a pull with nothing new on a mailbox of 100,000 loads
/// every ID, and once the parsing was made cheap, allocating a `String` per ID (and freeing
/// it at exit) was a quarter of the instructions of the load and a third of its time
/// (measured: a fresh process loading 100,000, 48 ms then 32 ms). Here loading 100,000 IDs
/// makes a few dozen allocations, and less memory: a slot of 48 bytes and the ID's text,
/// where a map entry was 72 bytes and an allocation. The price: the text of a forgotten ID
/// (or of a replaced fingerprint) stays in the arena until [`Ids::retain`] finds it is most
/// of it, or the mailbox is cleared.
#[derive(Default)]
pub(super) struct Ids {
    /// Every ID and fingerprint, end to end; the slots' spans point into it.
    text: String,
    table: HashTable<Slot>,
    /// Hashes the IDs (their text, as a `str`): foldhash, seeded per process, so that a
    /// server cannot choose UIDLs that collide.
    hasher: foldhash::fast::RandomState,
}

/// Where a string is in [`Ids::text`]: `u32`s, so that a slot is 48 bytes. An arena of 4 GiB
/// would need a journal larger still, which no mailbox makes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    start: u32,
    len: u32,
}

/// One ID of [`Ids`], and what is known of it (see [`Entry`]).
struct Slot {
    /// The hash of the ID, kept so that growing the table does not read every ID again
    /// (from all over the arena).
    hash: u64,
    id: Span,
    fingerprint: Option<Span>,
    at: Option<i64>,
    kind: Kind,
}

/// The string at `span` of `text`.
pub(super) fn spanned(text: &str, span: Span) -> &str {
    &text[span.start as usize..][..span.len as usize]
}

/// Append `s` to `text`; where it is.
pub(super) fn push_span(text: &mut String, s: &str) -> Span {
    let span = Span {
        start: u32::try_from(text.len()).expect("state arena under 4 GiB"),
        len: u32::try_from(s.len()).expect("state arena under 4 GiB"),
    };
    text.push_str(s);
    span
}

impl Slot {
    /// Whether this is the slot of `id` (whose hash is `hash`), its text in `text`.
    fn is(&self, hash: u64, id: &str, text: &str) -> bool {
        self.hash == hash && spanned(text, self.id) == id
    }

    fn entry<'t>(&self, text: &'t str) -> Entry<'t> {
        Entry {
            fingerprint: self.fingerprint.map(|f| spanned(text, f)),
            at: self.at,
            kind: self.kind,
        }
    }
}

impl Ids {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.table.clear();
    }

    pub fn get(&self, id: &str) -> Option<Entry<'_>> {
        let hash = self.hasher.hash_one(id);
        let slot = self.table.find(hash, |s| s.is(hash, id, &self.text))?;
        Some(slot.entry(&self.text))
    }

    /// Each ID with what is known of it, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Entry<'_>)> + '_ {
        self.table
            .iter()
            .map(|s| (spanned(&self.text, s.id), s.entry(&self.text)))
    }

    /// Record `new` of `id`, merged (see [`merge`]) with what is known of it; what is known
    /// now.
    pub fn record(&mut self, id: &str, new: Entry) -> Entry<'_> {
        let hash = self.hasher.hash_one(id);
        let Ids { text, table, .. } = self;
        let slot = match table.find_mut(hash, |s| s.is(hash, id, text)) {
            Some(slot) => {
                let old = slot.entry(text);
                let merged = merge(Some(old), new);
                // A fingerprint other than the old one can only be the new one.
                let new_fingerprint = merged.fingerprint != old.fingerprint;
                (slot.at, slot.kind) = (merged.at, merged.kind);
                if new_fingerprint {
                    slot.fingerprint = new.fingerprint.map(|f| push_span(text, f));
                }
                slot
            }
            None => {
                let slot = Slot {
                    hash,
                    id: push_span(text, id),
                    fingerprint: new.fingerprint.map(|f| push_span(text, f)),
                    at: new.at,
                    kind: new.kind,
                };
                table.insert_unique(hash, slot, |s| s.hash).into_mut()
            }
        };
        slot.entry(text)
    }

    /// Note `at` as the first-delivery time of `id`, if it is recorded without one; what is
    /// known of it then.
    pub fn stamp(&mut self, id: &str, at: i64) -> Option<Entry<'_>> {
        let hash = self.hasher.hash_one(id);
        let Ids { text, table, .. } = self;
        let slot = table
            .find_mut(hash, |s| s.is(hash, id, text))
            .filter(|s| s.at.is_none())?;
        slot.at = Some(at);
        Some(slot.entry(text))
    }

    /// Keep only the IDs for which `keep` holds; whether any went.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) -> bool {
        let before = self.table.len();
        let mut live = 0;
        let Ids { text, table, .. } = self;
        table.retain(|s| {
            let kept = keep(spanned(text, s.id));
            if kept {
                live += s.id.len as usize + s.fingerprint.map_or(0, |f| f.len as usize);
            }
            kept
        });
        // The text of forgotten IDs goes once it is most of the arena: after a retain, the
        // arena holds at most twice the text of the live IDs.
        if live * 2 < text.len() {
            let mut packed = String::with_capacity(live);
            for s in table.iter_mut() {
                s.id = push_span(&mut packed, spanned(text, s.id));
                s.fingerprint = s
                    .fingerprint
                    .map(|f| push_span(&mut packed, spanned(text, f)));
            }
            *text = packed;
        }
        self.table.len() != before
    }
}

/// What is known of a message after `new` is recorded over `old`: a delivery of the message
/// keeps the time of its first delivery and is never replaced by a stub or a pass-over;
/// otherwise the newer record wins.
pub(super) fn merge<'a>(old: Option<Entry<'a>>, new: Entry<'a>) -> Entry<'a> {
    match old {
        Some(old) if old.kind == Kind::Message && new.kind == Kind::Message => Entry {
            fingerprint: new.fingerprint.or(old.fingerprint),
            at: old.at.or(new.at),
            kind: Kind::Message,
        },
        Some(old) if old.kind == Kind::Message => old,
        _ => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// What is known of an ID, owned: the model's entry.
    type Known = (Option<String>, Option<i64>, Kind);

    #[derive(Debug, Clone)]
    enum Op {
        Record(String, Known),
        Stamp(String, i64),
        /// Keep the IDs whose first byte is even (or that are empty), or odd.
        Retain(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct IDs, so that records meet, merge and are forgotten.
        let id = proptest::collection::vec(proptest::char::range('a', 'h'), 0..3)
            .prop_map(|cs| cs.into_iter().collect::<String>());
        let kind = prop_oneof![
            Just(Kind::Message),
            Just(Kind::HeadersOnly),
            Just(Kind::PassedOver)
        ];
        let known = (
            proptest::option::of("[0-9][a-z]{0,6}"),
            proptest::option::of(any::<i64>()),
            kind,
        );
        prop_oneof![
            4 => (id.clone(), known).prop_map(|(id, k)| Op::Record(id, k)),
            1 => (id, any::<i64>()).prop_map(|(id, at)| Op::Stamp(id, at)),
            1 => any::<bool>().prop_map(Op::Retain),
        ]
    }

    fn kept(id: &str, odd: bool) -> bool {
        id.bytes().next().is_none_or(|b| (b % 2 == 1) == odd)
    }

    fn owned(e: Entry) -> Known {
        (e.fingerprint.map(String::from), e.at, e.kind)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The arena-backed set answers as a map of owned entries would, through records
        /// that merge, stamps, and forgetting that repacks the arena.
        #[test]
        fn the_id_set_answers_as_a_map_would(ops in proptest::collection::vec(op(), 0..40)) {
            let mut ids = Ids::default();
            let mut model: HashMap<String, Known> = HashMap::new();
            for op in ops {
                match op {
                    Op::Record(id, (fingerprint, at, kind)) => {
                        let new = Entry { fingerprint: fingerprint.as_deref(), at, kind };
                        let old = model.get(&id).map(|(f, at, kind)| Entry {
                            fingerprint: f.as_deref(),
                            at: *at,
                            kind: *kind,
                        });
                        let want = owned(merge(old, new));
                        prop_assert_eq!(owned(ids.record(&id, new)), want.clone());
                        model.insert(id, want);
                    }
                    Op::Stamp(id, at) => {
                        let got = ids.stamp(&id, at).map(owned);
                        let want = match model.get_mut(&id) {
                            Some(k) if k.1.is_none() => {
                                k.1 = Some(at);
                                Some(k.clone())
                            }
                            _ => None,
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::Retain(odd) => {
                        let before = model.len();
                        model.retain(|id, _| kept(id, odd));
                        prop_assert_eq!(ids.retain(|id| kept(id, odd)), model.len() != before);
                    }
                }
                prop_assert_eq!(ids.len(), model.len());
                for (id, k) in &model {
                    prop_assert_eq!(ids.get(id).map(owned), Some(k.clone()));
                }
                let mut listed: Vec<(String, Known)> =
                    ids.iter().map(|(id, e)| (id.to_string(), owned(e))).collect();
                listed.sort_by(|a, b| a.0.cmp(&b.0));
                let mut want: Vec<(String, Known)> =
                    model.iter().map(|(id, k)| (id.clone(), k.clone())).collect();
                want.sort_by(|a, b| a.0.cmp(&b.0));
                prop_assert_eq!(listed, want);
            }
        }
    }
}
