//! `max-connections-per-host`: at most so many accounts of one run connected to one server
//! at once, across all the accounts of the run, however many `--jobs` run side by side.
//! Providers count connections per user and per address (Gmail allows 15 IMAP connections
//! per account, Microsoft about 20 per mailbox and fewer under throttling), and a migration
//! of a thousand mailboxes from one server must not open a thousand connections to it.
//!
//! An account holds a slot on its server's host, and on its `imap:` target's host when that
//! is another, for as long as it runs; hosts are compared by name, case aside. A worker
//! takes the first account, in config order, whose hosts all have a free slot, so an
//! account waiting for its host never holds up the accounts of other hosts; it waits only
//! when every account left is waiting for a busy host.
//!
//! A server that says it is busy for everyone (Office 365's `[THROTTLED]`, RFC 5530
//! `[LIMIT]`, "too many simultaneous connections": [`busy_wait`]) makes its host cool down:
//! no account of the run connects to it for the wait the server suggested (30 s when it
//! suggests none, at most 2 min), at most half as many accounts as were connected to it then
//! run on it at once for the rest of the run, and the account it refused runs once more
//! after the wait ([`HostSlots::back_off`]). Accounts of other hosts go on meanwhile: only a
//! worker with nothing else to take waits for the cool-down to end.

use crate::config::{Account, Target};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a host cools down when its server asked everyone to wait and said not how long.
pub const BUSY_DEFAULT: Duration = Duration::from_secs(30);
/// The longest cool-down a server's suggestion is followed for.
pub const BUSY_MAX: Duration = Duration::from_secs(120);

/// Whether a server's refusal (its response code, if any, and its text) asks every client of
/// its host to slow down, and for how long: `[THROTTLED]` and Office 365's "Request is
/// throttled", RFC 5530 `[LIMIT]` and "too many (simultaneous) connections" (Gmail, most
/// POP3 servers' connection limits). The wait is the server's "Suggested Backoff Time: N
/// milliseconds" where it gives one, else [`BUSY_DEFAULT`], never more than [`BUSY_MAX`].
pub fn busy_wait(code: Option<&str>, text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let coded = code
        .is_some_and(|c| c.eq_ignore_ascii_case("THROTTLED") || c.eq_ignore_ascii_case("LIMIT"));
    let said = [
        "[throttled]",
        "[limit]",
        "request is throttled",
        "too many simultaneous connections",
        "too many connections",
        "too many concurrent connections",
    ]
    .iter()
    .any(|words| lower.contains(words));
    if !coded && !said {
        return None;
    }
    Some(suggested_wait(text).unwrap_or(BUSY_DEFAULT).min(BUSY_MAX))
}

/// The wait a server suggests in its words, "Suggested Backoff Time: N milliseconds" (Office
/// 365), if it does; a number too long to be a wait is none.
pub fn suggested_wait(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("backoff time:")?;
    let digits: String = lower[at + "backoff time:".len()..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().ok().map(Duration::from_millis)
}

/// The accounts of a run not yet started, and the slots in use on each host.
pub struct HostSlots {
    /// Per account: the hosts it connects to, and its cap on each.
    needs: Vec<Vec<(String, u32)>>,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    /// Accounts not yet taken, in config order (an account run again after its host cooled
    /// down goes first).
    waiting: Vec<usize>,
    /// Slots in use per host.
    busy: HashMap<String, u32>,
    /// Hosts cooling down, until when.
    cooling: HashMap<String, Instant>,
    /// Hosts that were busy: at most this many slots on each for the rest of the run.
    lowered: HashMap<String, u32>,
}

/// An account's turn: its index in the run's accounts. Its slots are given back when this
/// is dropped.
pub struct Turn<'a> {
    slots: &'a HostSlots,
    /// The account's index.
    pub index: usize,
}

impl HostSlots {
    /// Slots for a run of `accounts`.
    pub fn new(accounts: &[&Account]) -> Self {
        let needs = accounts
            .iter()
            .map(|a| {
                let cap = a.max_connections_per_host;
                let mut hosts = vec![(a.endpoint.host.to_ascii_lowercase(), cap)];
                if let Target::Imap(t) = &a.target {
                    let server = t.server();
                    let host = server.endpoint.host.to_ascii_lowercase();
                    if host != hosts[0].0 {
                        hosts.push((host, server.max_connections_per_host));
                    }
                }
                hosts
            })
            .collect();
        Self::with_needs(needs)
    }

    /// Slots for accounts that connect to these hosts, each with its cap.
    fn with_needs(needs: Vec<Vec<(String, u32)>>) -> Self {
        HostSlots {
            state: Mutex::new(State {
                waiting: (0..needs.len()).collect(),
                busy: HashMap::new(),
                cooling: HashMap::new(),
                lowered: HashMap::new(),
            }),
            freed: Condvar::new(),
            needs,
        }
    }

    /// The next account whose hosts have room, waiting while every account left waits for
    /// a busy or cooling host; `None` when no account is left.
    pub fn take(&self) -> Option<Turn<'_>> {
        let mut state = self.lock();
        loop {
            if state.waiting.is_empty() {
                return None;
            }
            let now = Instant::now();
            if crate::signals::stopping() {
                // A stopping run waits for no host: what is left ends at once, as "stopped".
                state.cooling.clear();
            }
            state.cooling.retain(|_, until| *until > now);
            let free = |i: &usize| {
                self.needs[*i].iter().all(|(host, cap)| {
                    let cap = state.lowered.get(host).map_or(*cap, |low| (*low).min(*cap));
                    !state.cooling.contains_key(host)
                        && state.busy.get(host).copied().unwrap_or(0) < cap
                })
            };
            if let Some(at) = state.waiting.iter().position(free) {
                let index = state.waiting.remove(at);
                for (host, _) in &self.needs[index] {
                    *state.busy.entry(host.clone()).or_insert(0) += 1;
                }
                return Some(Turn { slots: self, index });
            }
            state = match state.cooling.values().min().copied() {
                Some(until) => {
                    // In slices, so that a stop (Ctrl-C) is seen within a quarter second.
                    let wait = until
                        .saturating_duration_since(now)
                        .min(Duration::from_millis(250));
                    self.freed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.freed.wait(state).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    /// The server of `turn`'s account said its host is busy for `wait`: the account's hosts
    /// cool down that long, hold at most half the slots they had in use (at least one) for
    /// the rest of the run, and the account goes back to the front of the queue.
    pub fn back_off(&self, turn: Turn<'_>, wait: Duration) {
        let mut state = self.lock();
        let until = Instant::now() + wait;
        for (host, _) in &self.needs[turn.index] {
            let in_use = state.busy.get(host).copied().unwrap_or(1);
            let low = (in_use / 2).max(1);
            state
                .lowered
                .entry(host.clone())
                .and_modify(|l| *l = (*l).min(low))
                .or_insert(low);
            let cooling = state.cooling.entry(host.clone()).or_insert(until);
            *cooling = (*cooling).max(until);
        }
        state.waiting.insert(0, turn.index);
        drop(state);
        // Dropping the turn gives its slots back and wakes the workers.
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        for (host, _) in &self.slots.needs[self.index] {
            if let Some(n) = state.busy.get_mut(host) {
                *n = n.saturating_sub(1);
            }
        }
        drop(state);
        self.slots.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(hosts: &[&str], cap: u32) -> HostSlots {
        HostSlots::with_needs(hosts.iter().map(|h| vec![(h.to_string(), cap)]).collect())
    }

    #[test]
    fn what_servers_say_when_busy_for_everyone() {
        let o365 = "[THROTTLED] Request is throttled. Suggested Backoff Time: 1500 milliseconds";
        assert_eq!(
            busy_wait(Some("THROTTLED"), o365),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            busy_wait(None, "[ALERT] Too many simultaneous connections. (Failure)"),
            Some(BUSY_DEFAULT)
        );
        assert_eq!(busy_wait(Some("LIMIT"), "slow down"), Some(BUSY_DEFAULT));
        assert_eq!(
            busy_wait(
                None,
                "[THROTTLED] Suggested Backoff Time: 99999999999999999999 ms"
            ),
            Some(BUSY_DEFAULT),
            "a number too long to be a wait is no suggestion"
        );
        assert_eq!(
            busy_wait(
                None,
                "Request is throttled. Suggested Backoff Time: 9999999 milliseconds"
            ),
            Some(BUSY_MAX)
        );
        assert_eq!(
            busy_wait(Some("AUTHENTICATIONFAILED"), "Invalid credentials"),
            None
        );
        assert_eq!(busy_wait(Some("UNAVAILABLE"), "mailbox offline"), None);
        assert_eq!(busy_wait(None, "[IN-USE] maildrop locked"), None);
    }

    #[test]
    fn a_cooling_host_holds_up_only_its_own_accounts() {
        let s = slots(&["busy.example", "busy.example", "other.example"], 4);
        let first = s.take().unwrap();
        assert_eq!(first.index, 0);
        s.back_off(first, Duration::from_millis(300));
        let started = Instant::now();
        let next = s.take().unwrap();
        assert_eq!(next.index, 2, "the other host's account goes first");
        assert!(started.elapsed() < Duration::from_millis(100));
        drop(next);
        let again = s.take().unwrap();
        assert_eq!(again.index, 0, "the refused account runs again, first");
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "after the cool-down"
        );
        // One connection was open to the busy host when it said so: one at a time now.
        assert_eq!(s.lock().lowered["busy.example"], 1);
        drop(again);
        let last = s.take().unwrap();
        assert_eq!(last.index, 1);
        drop(last);
        assert!(s.take().is_none());
    }

    #[test]
    fn a_busy_host_gets_half_the_connections_it_had() {
        let s = slots(&["h", "h", "h", "h", "h", "h"], 4);
        let turns: Vec<Turn> = (0..4).map(|_| s.take().unwrap()).collect();
        let mut turns = turns.into_iter();
        s.back_off(turns.next().unwrap(), Duration::ZERO);
        drop(turns);
        let a = s.take().unwrap();
        let b = s.take().unwrap();
        let state = s.lock();
        assert_eq!(
            state.busy["h"], 2,
            "two run at once after the host said busy"
        );
        assert_eq!(state.lowered["h"], 2);
        drop(state);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let c = s.take().unwrap();
                tx.send(c.index).unwrap();
            });
            std::thread::sleep(Duration::from_millis(100));
            assert!(rx.try_recv().is_err(), "a third waits for a slot");
            drop(a);
            assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
        });
        drop(b);
    }
}
