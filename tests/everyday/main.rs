//! Everyday use against a real, private Dovecot (issue 7): `--json`, parallel accounts,
//! limits and retention, `list`, `init`, `watch`. One test binary, so one Dovecot serves
//! them all.

#[path = "../support/mod.rs"]
mod support;

mod cron;
mod init;
mod interrupt;
mod json;
mod limits;
mod list;
mod parallel;
mod screen;
mod watch;
mod words;

/// A message of `size` bytes or a little more, dated `date` (RFC 5322).
pub fn dated(id: &str, date: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Carol <carol@example.org>\nTo: Bob <bob@example.net>\nSubject: {id}\n\
         Date: {date}\nMessage-ID: <{id}@mailfetch.test>\n\n"
    )
    .into_bytes();
    while m.len() < size {
        m.extend_from_slice(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n");
    }
    m
}
