//! Many accounts on many machines, under a scheduler the administrator already runs
//! (Kubernetes, systemd, cron, GNU parallel): mailfetch grows no scheduler of its own, it
//! only lets each of N processes find its share of the accounts without talking to the
//! others ([`shard`]), and keeps the accounts of one run polite toward
//! each server ([`hosts`]) observable while it runs ([`events`]) and
//! accountable after ([`merge`]); and its accounts come from a list ([`import`]).

pub mod events;
pub mod hosts;
pub mod import;
pub mod merge;
pub mod shard;
