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

use crate::config::{Account, Target};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

/// The accounts of a run not yet started, and the slots in use on each host.
pub struct HostSlots {
    /// Per account: the hosts it connects to, and its cap on each.
    needs: Vec<Vec<(String, u32)>>,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    /// Accounts not yet taken, in config order.
    waiting: Vec<usize>,
    /// Slots in use per host.
    busy: HashMap<String, u32>,
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
        HostSlots {
            needs,
            state: Mutex::new(State {
                waiting: (0..accounts.len()).collect(),
                busy: HashMap::new(),
            }),
            freed: Condvar::new(),
        }
    }

    /// The next account whose hosts have room, waiting while every account left waits for
    /// a busy host; `None` when no account is left.
    pub fn take(&self) -> Option<Turn<'_>> {
        let mut state = self.lock();
        loop {
            if state.waiting.is_empty() {
                return None;
            }
            let free = |i: &usize| {
                self.needs[*i]
                    .iter()
                    .all(|(host, cap)| state.busy.get(host).copied().unwrap_or(0) < *cap)
            };
            if let Some(at) = state.waiting.iter().position(free) {
                let index = state.waiting.remove(at);
                for (host, _) in &self.needs[index] {
                    *state.busy.entry(host.clone()).or_insert(0) += 1;
                }
                return Some(Turn { slots: self, index });
            }
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
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
