//! The one error type that crosses module boundaries, and its class.
//!
//! Callers must react differently to "the password was refused", "the server is down" and "the
//! disk is full": cron wants distinct exit codes (sysexits.h, as mpop uses them) and `pull` must
//! know whether the local copy can be trusted. So every error that leaves a protocol, store or
//! config module carries a [`Class`]; the binary maps the class to the exit code.

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
}

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
}
