//! The one error type that crosses module boundaries, and its class.
//!
//! Callers must react differently to "the password was refused", "the server is down" and "the
//! disk is full": cron wants distinct exit codes (sysexits.h, as mpop uses them) and `pull` must
//! know whether the local copy can be trusted. So every error that leaves a protocol, store or
//! config module carries a [`Class`]; the binary maps the class to the exit code through
//! [`Exit`], the one route from an outcome to an exit status, and the one place the exit
//! statuses are described.

use std::fmt;
use std::io;

/// What kind of failure an [`Error`] is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// The command line was wrong (EX_USAGE, 64).
    Usage,
    /// The server could not be reached or refused the TLS handshake (EX_UNAVAILABLE, 69).
    Unavailable,
    /// A local write or read failed: disk full, permissions, MDA failure (EX_IOERR, 74).
    LocalIo,
    /// Worth retrying later: timeout, dropped connection, lock held, 4xx (EX_TEMPFAIL, 75).
    Temporary,
    /// The server said something we cannot accept (EX_PROTOCOL, 76).
    Protocol,
    /// The server refused our credentials (EX_NOPERM, 77).
    Auth,
    /// The configuration is wrong (EX_CONFIG, 78).
    Config,
    /// A bug in mailfetch: an account's run panicked, and only that account failed
    /// (EX_SOFTWARE, 70; see `jobs::contained`).
    Internal,
}

impl Class {
    /// Every class, in the order of their exit codes.
    pub const ALL: [Class; 8] = [
        Class::Usage,
        Class::Unavailable,
        Class::Internal,
        Class::LocalIo,
        Class::Temporary,
        Class::Protocol,
        Class::Auth,
        Class::Config,
    ];

    /// The sysexits.h code for this class.
    pub fn exit_code(self) -> i32 {
        match self {
            Class::Usage => 64,
            Class::Unavailable => 69,
            Class::LocalIo => 74,
            Class::Temporary => 75,
            Class::Protocol => 76,
            Class::Auth => 77,
            Class::Config => 78,
            Class::Internal => 70,
        }
    }

    /// Its name in `--json-events` (`"class": "local-io"`).
    pub fn name(self) -> &'static str {
        match self {
            Class::Usage => "usage",
            Class::Unavailable => "unavailable",
            Class::LocalIo => "local-io",
            Class::Temporary => "temporary",
            Class::Protocol => "protocol",
            Class::Auth => "auth",
            Class::Config => "config",
            Class::Internal => "internal",
        }
    }

    /// What its exit code says, in one line: for `--help` and README.
    pub fn summary(self) -> &'static str {
        match self {
            Class::Usage => "usage error on the command line",
            Class::Unavailable => "a server could not be reached (or its TLS certificate was refused)",
            Class::Internal => "internal error (a bug): one account's run panicked; the others still ran",
            Class::LocalIo => "a message could not be delivered: a local write failed (disk full, permissions), the MDA failed, or the target refused it (SMTP/LMTP 5xx, IMAP NO); it stays on the server",
            Class::Temporary => "temporary failure: timeout, dropped connection, account locked by another run, a 4xx from an LMTP/SMTP target",
            Class::Protocol => "protocol error: the server sent something invalid",
            Class::Auth => "authentication refused (wrong password, refused token, revoked refresh token), or unsafe permissions (a state dir others can write to, a symbolic link where a state file should be)",
            Class::Config => "configuration error; also an auth method the server does not offer, or tls = \"implicit\" on a port that answers in plain text",
        }
    }

    /// What its exit code says, in full: for the man page.
    pub fn doc(self) -> &'static str {
        match self {
            Class::Usage => "Usage error on the command line.",
            Class::Unavailable => "A server could not be reached, or its TLS certificate was refused.",
            Class::Internal => "Internal error, a bug in mailfetch: one account's run panicked. That account failed with one line asking for a report; the other accounts ran as ever, and watch tries it again after its pause.",
            Class::LocalIo => "A message could not be delivered: a local write failed (disk full, permissions), the MDA exited non-zero or did not finish, an LMTP or SMTP target answered 5xx, an IMAP target refused it (over its size limit). Refused messages stay on the server; the others of the run were delivered.",
            Class::Temporary => "Temporary failure: timeout, dropped connection, account locked by another run, an LMTP or SMTP target answered 4xx (the message stays on the server and is tried again next run).",
            Class::Protocol => "Protocol error: the server sent something invalid.",
            Class::Auth => "Authentication refused: a wrong password, a refused OAuth2 token, a revoked refresh token (run mailfetch auth ACCOUNT again). Also unsafe permissions: a state directory owned by another user or writable by group or others, a symbolic link where a state file should be.",
            Class::Config => "Configuration error; also an auth method the server does not offer, and an OAuth2 account not yet authorized: nothing was refused, the configuration asks for what this server cannot do, and neither retrying nor a new password helps. Also tls = \"implicit\" on a port that answers in plain text.",
        }
    }

    /// The class of `err`: that of the first [`Error`] in its chain, or [`Class::Internal`]
    /// for one that carries none (a bug: every error leaving a module has a class).
    pub fn of(err: &anyhow::Error) -> Class {
        err.chain()
            .find_map(|c| c.downcast_ref::<Error>())
            .map_or(Class::Internal, |e| e.class())
    }
}

/// How a run ends: the one route from an outcome to the process's exit status, and the one
/// place the exit statuses are described (`--help`, the man page's EXIT STATUS and README's
/// table are rendered from [`Exit::DOCUMENTED`]). 1 means only [`Exit::Incomplete`]; an
/// error without a class is [`Class::Internal`] (70), never 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked was done (0), whether or not there was new mail.
    Success,
    /// `verify`: the copy is not complete (1), as diff and cmp say "no".
    Incomplete,
    /// A failure of this class (64-78).
    Failed(Class),
    /// Stopped by this signal (SIGINT, SIGTERM): 128 + its number, as a shell reports it.
    Signal(i32),
}

impl Exit {
    /// Every exit status the documentation lists, in numeric order.
    pub const DOCUMENTED: [Exit; 12] = [
        Exit::Success,
        Exit::Incomplete,
        Exit::Failed(Class::ALL[0]),
        Exit::Failed(Class::ALL[1]),
        Exit::Failed(Class::ALL[2]),
        Exit::Failed(Class::ALL[3]),
        Exit::Failed(Class::ALL[4]),
        Exit::Failed(Class::ALL[5]),
        Exit::Failed(Class::ALL[6]),
        Exit::Failed(Class::ALL[7]),
        Exit::Signal(libc::SIGINT),
        Exit::Signal(libc::SIGTERM),
    ];

    /// The exit status of a run that ended with `err`.
    pub fn of(err: &anyhow::Error) -> Exit {
        Exit::Failed(Class::of(err))
    }

    /// The process's exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Incomplete => 1,
            Exit::Failed(class) => class.exit_code() as u8,
            Exit::Signal(signal) => (128 + signal).clamp(0, 255) as u8,
        }
    }

    /// What it says, in one line: for `--help` and README.
    pub fn summary(self) -> &'static str {
        match self {
            Exit::Success => "success, whether or not there was new mail",
            Exit::Incomplete => "verify: the copy is not complete (a message is missing from it or differs from its original)",
            Exit::Failed(class) => class.summary(),
            Exit::Signal(libc::SIGINT) => "pull, check: stopped by SIGINT (Ctrl-C); what was delivered is saved and recorded, the rest comes with the next run (a second signal ends the run at once, and the next run finishes or redoes the batch it was writing)",
            Exit::Signal(libc::SIGTERM) => "as 130, stopped by SIGTERM",
            Exit::Signal(_) => "stopped by a signal",
        }
    }

    /// What it says, in full: for the man page.
    pub fn doc(self) -> &'static str {
        match self {
            Exit::Success => "Success, whether or not there was new mail.",
            Exit::Incomplete => "verify only: the copy is not complete, a message is missing or different (each is printed). Like diff and cmp, 1 says the answer is no, apart from the codes below, which say the check could not be made.",
            Exit::Failed(class) => class.doc(),
            Exit::Signal(libc::SIGINT) => "pull or check stopped by SIGINT (Ctrl-C): the message being received was finished or dropped, what was delivered is durable and recorded (and deleted on the server when the account does not keep mail), nothing else was deleted, no file is left in a Maildir's tmp/ nor a lock beside an mbox, the session was logged out; one line says how many messages were saved. The rest comes with the next run. A second SIGINT or SIGTERM ends the run at once: still nothing is lost, since every batch is durable before it is recorded and recorded before anything is deleted; the next run finishes or fetches again the batch that was being written. As it dies it unlinks the tmp/ files the journal does not name yet and an mbox's dotlock; it leaves the files recovery needs (tmp/ files the journal names, which the next run publishes, and MBOX.lock.PID-N).",
            Exit::Signal(libc::SIGTERM) => "As 130, stopped by SIGTERM.",
            Exit::Signal(_) => "Stopped by a signal.",
        }
    }

    /// The exit statuses for `--help`: a heading, then one status a line, wrapped to
    /// `width` columns under its text.
    pub fn help(width: usize) -> String {
        let mut s = String::from("Exit status (sysexits.h):\n");
        for exit in Exit::DOCUMENTED {
            wrap(
                &mut s,
                &format!("  {:<3} ", exit.code()),
                exit.summary(),
                width,
            );
        }
        wrap(&mut s, "", SEVERAL_ACCOUNTS, width);
        s.pop();
        s
    }

    /// README's table of exit statuses (Markdown).
    pub fn markdown() -> String {
        let mut s = String::from("| code | meaning |\n|---|---|\n");
        for exit in Exit::DOCUMENTED {
            s.push_str(&format!("| {} | {} |\n", exit.code(), exit.summary()));
        }
        s.push('\n');
        s.push_str(SEVERAL_ACCOUNTS);
        s.push('\n');
        s
    }
}

/// `text` after `first`, in lines of at most `width` columns (a longer word stands alone),
/// the lines after the first indented as wide as `first`; each line ends with a newline.
fn wrap(out: &mut String, first: &str, text: &str, width: usize) {
    let indent = first.len();
    let mut line = first.to_string();
    for word in text.split(' ') {
        if line.len() + word.len() > width && line.len() > indent {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
        }
        line.push_str(word);
        line.push(' ');
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// How the exit status of a run of several accounts is chosen.
pub const SEVERAL_ACCOUNTS: &str =
    "With several accounts, every account is tried and the first failure's code is returned.";

/// An error with a class and a message written for the user.
#[derive(Debug)]
pub struct Error {
    class: Class,
    message: String,
    /// What callers must tell apart within one class.
    detail: Detail,
}

/// What an [`Error`] says beyond its class, for the callers that react to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    None,
    /// A server refused the login and blamed the credentials (see
    /// [`Error::credentials_refused`]).
    Credentials,
    /// The server asked every client to slow down, for about this long (see
    /// [`Error::host_busy`]).
    HostBusy(std::time::Duration),
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `class` saying `message`.
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Error {
            class,
            message: message.into(),
            detail: Detail::None,
        }
    }

    /// A server refused the login and its answer blames the user name or password
    /// (`sasl::blames_credentials`): the one kind of refusal that gets the profile's advice
    /// ("use an app password"). A login refused for the server's own reasons is an
    /// `Error::new(Class::Auth, ...)` that quotes the server and blames nothing.
    pub fn credentials_refused(message: impl Into<String>) -> Self {
        Error {
            detail: Detail::Credentials,
            ..Self::new(Class::Auth, message)
        }
    }

    /// Whether a server refused the login because of the user name or password
    /// ([`Error::credentials_refused`]).
    pub fn blames_credentials(&self) -> bool {
        self.detail == Detail::Credentials
    }

    /// The server is busy for every client of its host, not only for this account (Office
    /// 365's `[THROTTLED]`, RFC 5530 `[LIMIT]`, "too many connections"): a temporary failure
    /// after which a run of many accounts waits about `wait` before it connects to that host
    /// again, and runs the account once more (see `fleet::hosts`).
    pub fn host_busy(message: impl Into<String>, wait: std::time::Duration) -> Self {
        Error {
            detail: Detail::HostBusy(wait),
            ..Self::new(Class::Temporary, message)
        }
    }

    /// How long the server asked every client of its host to wait, when it did
    /// ([`Error::host_busy`]).
    pub fn host_wait(&self) -> Option<std::time::Duration> {
        match self.detail {
            Detail::HostBusy(wait) => Some(wait),
            _ => None,
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Class::Config, message)
    }

    /// A protocol error: the server broke the rules.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(Class::Protocol, message)
    }

    /// A local I/O error, with what we were doing.
    pub fn local(what: impl fmt::Display, err: io::Error) -> Self {
        if let Some(inner) = Self::carried(&err) {
            return inner;
        }
        Self::new(Class::LocalIo, format!("{what}: {err}"))
    }

    /// A network I/O error, with what we were doing: timeouts and drops are temporary.
    pub fn network(what: impl fmt::Display, err: io::Error) -> Self {
        if let Some(inner) = Self::carried(&err) {
            return inner;
        }
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Self::new(Class::Temporary, format!("{what}: timed out"))
            }
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Self::new(
                Class::Temporary,
                format!("{what}: the server closed the connection"),
            ),
            _ => Self::new(Class::Temporary, format!("{what}: {err}")),
        }
    }

    /// The class, for the exit code and for callers that must react.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The message, without the class.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context` put in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    /// Wrap this error into an `io::Error`, so it can travel through a `Read` implementation
    /// (a message body stream) and come out with its class intact on the other side.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// The [`Error`] an `io::Error` carries, if it was made by [`Error::into_io`].
    fn carried(err: &io::Error) -> Option<Error> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .map(|e| Error {
                class: e.class,
                message: e.message.clone(),
                detail: e.detail,
            })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_survives_a_trip_through_io_error() {
        let err = Error::protocol("bad reply").into_io();
        let back = Error::local("writing message", err);
        assert_eq!(back.class(), Class::Protocol);
        assert_eq!(back.message(), "bad reply");
    }

    #[test]
    fn network_timeouts_are_temporary() {
        let err = Error::network("reading", io::Error::from(io::ErrorKind::WouldBlock));
        assert_eq!(err.class(), Class::Temporary);
        assert_eq!(err.class().exit_code(), 75);
    }

    #[test]
    fn an_error_without_a_class_is_internal_and_one_deep_in_a_chain_keeps_its_class() {
        let bare = anyhow::anyhow!("something unforeseen");
        assert_eq!(Exit::of(&bare), Exit::Failed(Class::Internal));
        assert_eq!(Exit::of(&bare).code(), 70);
        let wrapped = anyhow::Error::new(Error::config("bad key")).context("loading");
        assert_eq!(Exit::of(&wrapped).code(), 78);
    }

    #[test]
    fn exit_one_is_only_an_incomplete_copy_and_signals_are_128_plus() {
        let ones: Vec<Exit> = Exit::DOCUMENTED
            .into_iter()
            .filter(|e| e.code() == 1)
            .collect();
        assert_eq!(ones, [Exit::Incomplete]);
        assert!(Class::ALL.iter().all(|c| c.exit_code() != 1));
        assert_eq!(Exit::Signal(libc::SIGINT).code(), 130);
        assert_eq!(Exit::Signal(libc::SIGTERM).code(), 143);
    }

    #[test]
    fn every_class_is_documented_once_in_numeric_order() {
        let codes: Vec<u8> = Exit::DOCUMENTED.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        for class in Class::ALL {
            assert!(Exit::DOCUMENTED.contains(&Exit::Failed(class)), "{class:?}");
        }
        let help = Exit::help(80);
        assert!(help.lines().all(|l| l.len() <= 80), "{help}");
        assert!(help.contains("\n  78  configuration error; "), "{help}");
    }
}
