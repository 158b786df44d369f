//! What a person (or cron) sees: a progress bar per account at a terminal, one summary line
//! per account, and errors one line each, prefixed with the account. Quiet mode prints
//! errors only; no bars when stderr is not a terminal or NO_COLOR/TERM=dumb asks for plain
//! output. Data goes to stdout, progress and errors to stderr.

use crate::pull::{Observer, Summary};
use crate::text::printable;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// `1234567` -> `1.18 MiB`: binary units, the same text the progress bar shows for the
/// same bytes.
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// What `pull` and `check` say of an account with nothing new.
pub const NOTHING_NEW: &str = "no new mail";

/// Print a line to stdout; a closed pipe (`mailfetch check | head -1`) ends quietly.
pub fn out(line: &str) {
    out_bytes(format!("{line}\n").as_bytes());
}

/// Write `bytes` to stdout as they are (a man page, completions); a closed pipe ends
/// quietly, with exit 0 and no message, like [`out`].
pub fn out_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(crate::error::Exit::Success.code().into());
        }
    }
}

/// The reporter for one command run.
pub struct Reporter {
    quiet: bool,
    bars: Option<MultiProgress>,
}

impl Reporter {
    /// A reporter; bars only when stderr is a terminal and not quiet.
    pub fn new(quiet: bool) -> Self {
        let plain = std::env::var_os("NO_COLOR").is_some()
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let bars = (!quiet && !plain && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter { quiet, bars }
    }

    /// Progress for one account.
    pub fn account(&self, name: &str) -> AccountProgress {
        let bar = self.bars.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} {msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            bar.set_message("connecting");
            bar
        });
        AccountProgress {
            name: name.to_string(),
            quiet: self.quiet,
            bar,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Print a summary line (not in quiet mode).
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(m) => {
                let _ = m.println(text);
            }
            None => out(text),
        }
    }

    /// A note about `account` that is not an error, on stderr (not in quiet mode).
    pub fn notice(&self, account: &str, text: &str) {
        if self.quiet {
            return;
        }
        let text = format!("mailfetch: {}: {}", printable(account), printable(text));
        match &self.bars {
            Some(m) => m.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// The line for a finished pull.
    pub fn pulled(&self, s: &Summary) {
        let mut notes = if s.deleted > 0 {
            format!(", {} deleted", s.deleted)
        } else {
            String::new()
        };
        let stubs = s.oversized.iter().filter(|o| o.header_delivered).count();
        let left = s.oversized.len() - stubs;
        for (n, what) in [
            (s.present, "already there (recorded, not stored again)"),
            (stubs, "over max-message-size: header only"),
            (left, "over max-message-size: left on the server"),
            (s.deferred, "left for the next run by the per-run limits"),
            (s.passed_over, "older than --since: passed over"),
            (s.left_by_stop, "left for the next run (interrupted)"),
        ] {
            if n > 0 {
                notes.push_str(&format!(", {n} {what}"));
            }
        }
        if s.fetched == 0 && s.present == 0 && s.stopped {
            self.line(&format!(
                "{}: nothing fetched (interrupted){notes}",
                s.account
            ));
        } else if s.fetched == 0 && s.present == 0 {
            self.line(&format!("{}: {NOTHING_NEW}{notes}", s.account));
        } else {
            let plural = if s.fetched == 1 { "" } else { "s" };
            self.line(&format!(
                "{}: {} new message{plural} ({}) -> {}{notes}",
                s.account,
                s.fetched,
                human_bytes(s.bytes),
                s.target
            ));
        }
    }

    /// Report an error of `account` on stderr, one line.
    pub fn error(&self, account: Option<&str>, message: &str) {
        let text = error_line(account, message);
        match &self.bars {
            Some(m) => {
                m.suspend(|| eprintln!("{text}"));
            }
            None => eprintln!("{text}"),
        }
    }
}

/// The one line for an error of `account`. The message may quote a server, so its line
/// breaks become spaces and its other control characters `?` ([`printable`]).
fn error_line(account: Option<&str>, message: &str) -> String {
    let one_line = message.replace('\n', " ");
    let one_line = printable(&one_line);
    match account {
        Some(a) if !one_line.starts_with(&format!("{a}:")) => {
            format!("mailfetch: {a}: {one_line}")
        }
        _ => format!("mailfetch: {one_line}"),
    }
}

/// The progress of one account; an [`Observer`] for `pull`.
pub struct AccountProgress {
    name: String,
    quiet: bool,
    bar: Option<ProgressBar>,
    total: AtomicUsize,
    done: AtomicUsize,
    bytes: AtomicU64,
}

impl AccountProgress {
    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn update(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{}/{}",
                self.done.load(Ordering::Relaxed),
                self.total.load(Ordering::Relaxed)
            ));
        }
    }
}

impl Observer for AccountProgress {
    fn planned(&self, _mailbox: &str, messages: usize, bytes: u64) {
        self.total.fetch_add(messages, Ordering::Relaxed);
        let all = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            bar.set_length(all);
        }
        self.update();
    }

    fn delivered(&self, bytes: u64) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
        self.update();
    }

    fn notice(&self, mailbox: &str, text: &str) {
        if self.quiet {
            return;
        }
        let text = printable(text);
        let text = if mailbox.is_empty() {
            format!("mailfetch: {}: {text}", self.name)
        } else {
            let mailbox = printable(mailbox);
            format!("mailfetch: {}: folder {mailbox}: {text}", self.name)
        };
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(3_400_000), "3.24 MiB");
        assert_eq!(human_bytes(160_000_000), "152.59 MiB");
    }

    #[test]
    fn a_server_refusal_cannot_send_escapes_to_the_terminal() {
        let line = error_line(
            Some("work"),
            "login refused: NO \x1b]0;pwned\x07\x1b[2K\rall fine\nreally",
        );
        assert_eq!(
            line,
            "mailfetch: work: login refused: NO ?]0;pwned??[2K?all fine really"
        );
    }
}
