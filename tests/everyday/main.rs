//! Everyday use against a real, private Dovecot (issue 7): `--json`, parallel accounts,
//! limits and retention, `list`, `init`, `watch`. One test binary, so one Dovecot serves
//! them all.

#[path = "../support/mod.rs"]
mod support;

mod json;
mod parallel;
