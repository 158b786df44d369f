//! What a run does with each message a mailbox lists, decided from the state and the
//! account's limits before anything is fetched: fetch it, deliver only its header (a stub
//! marked truncated), leave it because it is too large, leave it for a later run (per-run
//! limits), pass it over (`--since`), or, already delivered, delete it on the server (when
//! mail is not kept, or its retention period is over).
//!
//! `pull` carries the plan out; this module only decides, so the rules are tested here.

use crate::config::{Limits, Oversize};
use crate::source::RemoteMessage;
use crate::state::Kind;

/// The header field that marks a stub delivered in place of a message over
/// `max-message-size` (with `oversize = "headers"`).
pub const TRUNCATED_FIELD: &str = "X-Mailfetch-Truncated";

/// What one mailbox's listing comes to.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    /// To fetch (before the per-run budget and `--since`).
    pub fetch: Vec<RemoteMessage>,
    /// Over `max-message-size`: deliver the header only.
    pub stubs: Vec<RemoteMessage>,
    /// Over `max-message-size` and left on the server, not delivered.
    pub too_large: Vec<RemoteMessage>,
    /// Delivered before and still on the server (borrowed: on a large mailbox with nothing
    /// new, this is all of it, and mostly none of it is deleted).
    pub delivered: Vec<&'a RemoteMessage>,
}

/// Sort `messages` by what the state knows of each (`known`) and the limits. `fetch_all`:
/// fetch messages delivered (or passed over, or stubbed) before too.
pub fn classify<'a>(
    messages: &'a [RemoteMessage],
    known: impl Fn(&RemoteMessage) -> Option<Kind>,
    fetch_all: bool,
    limits: &Limits,
) -> Plan<'a> {
    let mut plan = Plan::default();
    for m in messages {
        let kind = known(m);
        // Flagged \Deleted and not ours: someone else's deletion in progress.
        if m.flags.deleted && kind != Some(Kind::Message) {
            continue;
        }
        if kind == Some(Kind::Message) {
            plan.delivered.push(m);
            if !fetch_all {
                continue;
            }
        }
        if kind == Some(Kind::PassedOver) && !fetch_all {
            continue;
        }
        if limits.max_message_size.is_some_and(|max| m.size > max) {
            match limits.oversize {
                Oversize::Headers if kind != Some(Kind::HeadersOnly) || fetch_all => {
                    plan.stubs.push(m.clone())
                }
                // Its stub was delivered before; the message waits until it fits.
                Oversize::Headers => {}
                Oversize::Skip => plan.too_large.push(m.clone()),
            }
            continue;
        }
        plan.fetch.push(m.clone());
    }
    plan
}

/// What is left of one run's limits on messages and bytes, across the account's mailboxes.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    messages: Option<usize>,
    bytes: Option<u64>,
    took_any: bool,
}

impl Budget {
    /// A budget of at most `messages` messages and `bytes` bytes (`None`: no limit).
    pub fn new(messages: Option<usize>, bytes: Option<u64>) -> Self {
        Budget {
            messages,
            bytes,
            took_any: false,
        }
    }

    /// The first of `candidates`, in order, that fit what is left; the rest wait for a later
    /// run. It stops at the first message that does not fit (never skipping ahead to smaller
    /// ones, so mail arrives in server order), except that a run always takes at least one
    /// message, or a message larger than `max-bytes-per-run` would block the mailbox forever.
    pub fn take(&mut self, mut candidates: Vec<RemoteMessage>) -> Vec<RemoteMessage> {
        let mut n = 0;
        for m in &candidates {
            if self.messages == Some(0) {
                break;
            }
            if let Some(left) = self.bytes {
                if m.size > left && self.took_any {
                    break;
                }
                self.bytes = Some(left.saturating_sub(m.size));
            }
            if let Some(left) = &mut self.messages {
                *left -= 1;
            }
            self.took_any = true;
            n += 1;
        }
        candidates.truncate(n);
        candidates
    }
}

/// Whether a message first delivered at `delivered` (seconds since the epoch) has been kept
/// `days` days by `now`.
pub fn expired(delivered: i64, days: u32, now: i64) -> bool {
    now - delivered >= i64::from(days) * 86_400
}

/// The stub delivered for a message of `size` bytes over `max` (`max-message-size`): the
/// message's `header` with a first field saying what happened, then the empty line that ends
/// a header.
pub fn stub(header: &[u8], size: u64, max: u64) -> Vec<u8> {
    let mut out = format!(
        "{TRUNCATED_FIELD}: header only; the message has {size} bytes, over \
         max-message-size = {max}, and was left on the server\n"
    )
    .into_bytes();
    let mut header = header;
    while let Some(rest) = header.strip_suffix(b"\n") {
        header = rest;
    }
    out.extend_from_slice(header);
    if !header.is_empty() {
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The Date header of `header` as seconds since the epoch, if it has one that parses.
pub fn header_date(header: &[u8]) -> Option<i64> {
    let (headers, _) = mailparse::parse_headers(header).ok()?;
    let value = headers
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("Date"))?
        .get_value();
    mailparse::dateparse(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Flags;

    fn msg(id: &str, size: u64) -> RemoteMessage {
        RemoteMessage {
            id: id.to_string(),
            number: id.len() as u32,
            size,
            flags: Flags::default(),
            internal_date: None,
        }
    }

    fn ids(v: &[RemoteMessage]) -> Vec<&str> {
        v.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn large_messages_are_left_or_stubbed_once_and_stubs_and_pass_overs_are_not_deliveries() {
        let all = [
            msg("new", 10),
            msg("big", 1000),
            msg("stubbed", 1000),
            msg("done", 10),
            msg("old", 10),
            msg("grown-fits", 50),
        ];
        let known = |m: &RemoteMessage| match m.id.as_str() {
            "stubbed" | "grown-fits" => Some(Kind::HeadersOnly),
            "done" => Some(Kind::Message),
            "old" => Some(Kind::PassedOver),
            _ => None,
        };
        let mut limits = Limits {
            max_message_size: Some(100),
            ..Limits::default()
        };
        let p = classify(&all, known, false, &limits);
        assert_eq!(ids(&p.fetch), ["new", "grown-fits"]);
        assert_eq!(ids(&p.too_large), ["big", "stubbed"]);
        assert!(p.stubs.is_empty());
        let delivered: Vec<&str> = p.delivered.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(delivered, ["done"]);
        limits.oversize = Oversize::Headers;
        let p = classify(&all, known, false, &limits);
        assert_eq!(ids(&p.stubs), ["big"], "a stub is delivered once");
        assert!(p.too_large.is_empty());
        let p = classify(&all, known, true, &limits);
        assert_eq!(ids(&p.fetch), ["new", "done", "old", "grown-fits"]);
        assert_eq!(ids(&p.stubs), ["big", "stubbed"]);
    }

    #[test]
    fn budget_stops_at_the_first_message_that_does_not_fit_but_takes_one_always() {
        let all = vec![msg("a", 60), msg("b", 60), msg("c", 1)];
        assert_eq!(ids(&Budget::new(None, Some(100)).take(all.clone())), ["a"]);
        assert_eq!(
            ids(&Budget::new(Some(2), None).take(all.clone())),
            ["a", "b"]
        );
        let mut tight = Budget::new(None, Some(10));
        assert_eq!(ids(&tight.take(all.clone())), ["a"], "one always");
        assert!(tight.take(all.clone()).is_empty(), "across mailboxes");
        let mut shared = Budget::new(Some(3), None);
        assert_eq!(shared.take(all.clone()).len(), 3);
        assert!(shared.take(all).is_empty());
    }

    #[test]
    fn retention_counts_whole_days() {
        assert!(!expired(0, 2, 2 * 86_400 - 1));
        assert!(expired(0, 2, 2 * 86_400));
    }

    #[test]
    fn stub_marks_the_header_and_ends_it() {
        let s = stub(b"From: a@b\nSubject: big\n\n", 5000, 100);
        let text = String::from_utf8(s).unwrap();
        assert!(text.starts_with(
            "X-Mailfetch-Truncated: header only; the message has 5000 bytes, over \
             max-message-size = 100, and was left on the server\nFrom: a@b\n"
        ));
        assert!(text.ends_with("Subject: big\n\n"));
        assert_eq!(
            header_date(b"Date: Tue, 1 Jul 2003 10:52:37 +0200\n\n"),
            Some(1_057_049_557)
        );
        assert_eq!(header_date(b"Subject: none\n\n"), None);
    }
}
