//! The wiring of a run: what every command needs, built once in `main` ([`Ctx`]: the state
//! directory, the trace, the stop flag), and the one way from a resolved [`Account`] to an
//! open source or destination: [`open_source`], [`open_sink`], [`imap_sink`],
//! [`open_folder`], [`open_idler`]. Every command that reaches a server (pull, check, watch,
//! list, folders, verify, upload, init's login test) comes through here, so that the login
//! (user, method, plaintext rule, the credential with its OAuth2 tokens), the protocol trace
//! and the advice on a refused login are each built in one place.
//!
//! Not to be confused with `imap::session`, one IMAP connection's protocol state: this is
//! the session of a command run, what it is given and how it opens its ends.

use crate::config::{Account, Protocol, Target, TokenSource};
use crate::error::{Error, Result};
use crate::imap::append::Destination;
use crate::imap::idle::Idler;
use crate::imap::{self, Imap};
use crate::net::Trace;
use crate::pop3::Pop3;
use crate::sink::{self, Sink};
use crate::source::Source;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What every command of one run is given: built once, from the command line, in `main`.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// Where state files (journals, locks, OAuth2 tokens, Gmail label sidecars) live.
    pub state_dir: PathBuf,
    /// Print the protocol trace (`--verbose`) on stderr.
    pub verbose: bool,
    /// When set (by SIGINT or SIGTERM, see the `signals` module), a fetch stops after the
    /// message it is delivering: what it delivered is made durable, recorded (and deleted
    /// on the server if the account does not keep mail), what is in flight is read and
    /// discarded, nothing undelivered is deleted, and the session ends cleanly; the rest is
    /// left for the next run (`pull::Summary::stopped`).
    pub stop: Option<&'static AtomicBool>,
}

impl Ctx {
    /// The context of a run keeping its state in `state_dir`, tracing when `verbose`; no
    /// stop flag.
    pub fn new(state_dir: PathBuf, verbose: bool) -> Ctx {
        Ctx {
            state_dir,
            verbose,
            stop: None,
        }
    }

    /// The same context, stopped by `flag`.
    pub fn stopped_by(self, flag: &'static AtomicBool) -> Ctx {
        Ctx {
            stop: Some(flag),
            ..self
        }
    }

    /// Whether the run was asked to stop ([`Ctx::stop`]).
    pub fn stopping(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// The protocol trace of a connection, its lines prefixed by `label` (the account's
    /// name, or the protocol of a relay): on stderr with `--verbose`, else off.
    pub fn trace(&self, label: &str) -> Trace {
        if self.verbose {
            Trace::to_stderr(label)
        } else {
            Trace::off()
        }
    }
}

/// What a command may do to the mail on the server it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Look only: list, read headers and bodies; nothing on the server changes (IMAP
    /// folders are opened read-only with EXAMINE). `list`, `check`, `verify`, a dry run, a
    /// pull that keeps mail, init's login test.
    Look,
    /// Delete (or, with `move-to`, move) mail after it is fetched: IMAP folders are opened
    /// with SELECT.
    Delete,
}

/// Connect to `account`'s server and log in, for `access`. A refused login gets the
/// account's advice ([`with_auth_hint`]).
pub fn open_source(account: &Account, cx: &Ctx, access: Access) -> Result<Box<dyn Source>> {
    match account.protocol {
        Protocol::Pop3 => {
            let mut login = account.login(&cx.state_dir);
            Pop3::connect(&account.endpoint, cx.trace(&account.name), &mut login)
                .map(|s| Box::new(s) as Box<dyn Source>)
                .map_err(|e| with_auth_hint(account, e))
        }
        Protocol::Imap => open_imap(account, cx, access).map(|s| Box::new(s) as Box<dyn Source>),
    }
}

/// The IMAP source of an IMAP `account`, logged in, for `access`; for what only IMAP
/// offers (`mailfetch folders`). A refused login gets the account's advice.
pub fn open_imap(account: &Account, cx: &Ctx, access: Access) -> Result<Imap> {
    let options = imap::Options {
        folders: account.folders.clone(),
        move_to: account.move_to.clone(),
        gmail: account.profile.gmail_extensions,
        writable: access == Access::Delete,
    };
    let trace = cx.trace(&account.name);
    let mut imap = Imap::connect(
        &account.endpoint,
        trace,
        account.login(&cx.state_dir),
        options,
    )
    .map_err(|e| with_auth_hint(account, e))?;
    imap.set_gmail_folders(account.gmail);
    Ok(imap)
}

/// An IMAP connection to `account` waiting in IDLE on `folder`, or logged in with no folder
/// open yet (`None`); `Ok(None)` when the server offers no IDLE (`mailfetch watch`).
pub fn open_idler(account: &Account, cx: &Ctx, folder: Option<&str>) -> Result<Option<Idler>> {
    let trace = cx.trace(&account.name);
    let auth = account.login(&cx.state_dir);
    match folder {
        Some(folder) => Idler::connect(&account.endpoint, trace, auth, folder),
        None => Idler::login(&account.endpoint, trace, auth),
    }
}

/// An authentication failure gets advice: for a password, the profile's (app passwords,
/// OAuth2); for OAuth2, what renews the token. An error that already says what to run
/// (a revoked refresh token) is left as it is.
pub fn with_auth_hint(account: &Account, e: Error) -> Error {
    if !e.blames_credentials() || e.message().contains("mailfetch auth ") {
        return e;
    }
    let hint = match &account.oauth2 {
        Some(TokenSource::Client(_)) => format!(
            "the access token was refused even after renewal; authorize again with \
             `mailfetch auth {}`",
            account.name
        ),
        Some(TokenSource::Command(_)) => {
            "check that oauth2-token-command prints a current access token for this user".into()
        }
        None => account.profile.auth_hint.to_string(),
    };
    if e.message().contains(&hint) {
        return e;
    }
    Error::credentials_refused(format!("{} ({hint})", e.message()))
}

/// A sink appending to `folder` of the IMAP `account` (an `imap:` target, `upload`),
/// creating the folder if missing; it connects at its first batch.
pub fn imap_sink(account: &Account, folder: &str, cx: &Ctx) -> sink::ImapAppend {
    let server = sink::Server {
        account: account.name.clone(),
        endpoint: account.endpoint.clone(),
        auth: account.login(&cx.state_dir),
        auth_hint: account.profile.auth_hint,
    };
    sink::ImapAppend::new(server, folder, cx.trace(&account.name))
}

/// `folder` of the IMAP `account`, opened to read back what it holds (`verify`).
pub fn open_folder(account: &Account, folder: &str, cx: &Ctx) -> Result<Destination> {
    let trace = cx.trace(&account.name);
    Destination::connect(
        &account.endpoint,
        trace,
        account.login(&cx.state_dir),
        folder,
        false,
    )
    .map_err(|e| with_auth_hint(account, e).context(format!("{}/{folder}", account.name)))
}

/// The account's target, opened.
pub fn open_sink(account: &Account, cx: &Ctx) -> Result<Box<dyn Sink>> {
    Ok(match &account.target {
        Target::Maildir(path) => Box::new(sink::Maildir::open(path)?),
        Target::Mbox(path) => Box::new(sink::Mbox::open(path)?),
        Target::Mda(cmd) => Box::new(sink::Mda::new(
            cmd,
            &account.user,
            &account.name,
            account.endpoint.timeout.max(Duration::from_secs(60)),
        )?),
        Target::Imap(t) => Box::new(imap_sink(t.server(), &t.folder, cx)),
        Target::Lmtp(relay) | Target::Smtp(relay) => {
            let dialect = match &account.target {
                Target::Lmtp(_) => sink::Dialect::Lmtp,
                _ => sink::Dialect::Smtp,
            };
            Box::new(sink::Smtp::new(
                dialect,
                relay.server.clone(),
                &relay.to,
                account.endpoint.timeout,
                cx.trace(dialect.name()),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config};
    use crate::error::Class;
    use std::path::Path;

    fn accounts() -> Config {
        config::parse(
            Path::new("config.toml"),
            r#"
[accounts.gmail]
profile = "gmail"
user = "me@gmail.com"
password-env = "GMAIL_PASS"
target = "mbox:/var/mail/me"

[accounts.client]
profile = "gmail"
user = "me@gmail.com"
auth = "oauth2"
oauth2-client-id = "id"
target = "mbox:/var/mail/me"

[accounts.command]
profile = "gmail"
user = "me@gmail.com"
auth = "oauth2"
oauth2-token-command = "token"
target = "mbox:/var/mail/me"
"#,
        )
        .unwrap()
    }

    fn named<'c>(config: &'c Config, name: &str) -> &'c Account {
        config.accounts.iter().find(|a| a.name == name).unwrap()
    }

    #[test]
    fn a_refused_password_gets_the_profiles_advice_once() {
        let config = accounts();
        let gmail = named(&config, "gmail");
        let e = with_auth_hint(gmail, Error::credentials_refused("LOGIN failed"));
        assert_eq!(e.class(), Class::Auth);
        assert!(e.blames_credentials());
        assert_eq!(
            e.message(),
            format!("LOGIN failed ({})", gmail.profile.auth_hint)
        );
        // A login refused again later in the run (a reconnect) is not advised twice.
        let advised = e.message().to_string();
        let again = with_auth_hint(gmail, e);
        assert_eq!(again.message(), advised);
    }

    #[test]
    fn a_refused_token_says_what_renews_it() {
        let config = accounts();
        let client = with_auth_hint(named(&config, "client"), Error::credentials_refused("NO"));
        assert!(
            client
                .message()
                .contains("authorize again with `mailfetch auth client`"),
            "{}",
            client.message()
        );
        let command = with_auth_hint(named(&config, "command"), Error::credentials_refused("NO"));
        assert!(
            command
                .message()
                .contains("check that oauth2-token-command prints a current access token"),
            "{}",
            command.message()
        );
        // A revoked refresh token already names the command to run.
        let revoked = "revoked; run `mailfetch auth client`";
        let kept = with_auth_hint(
            named(&config, "client"),
            Error::credentials_refused(revoked),
        );
        assert_eq!(kept.message(), revoked);
    }

    #[test]
    fn errors_that_do_not_blame_the_credentials_get_no_advice() {
        let config = accounts();
        let e = Error::new(Class::Unavailable, "connection refused");
        let kept = with_auth_hint(named(&config, "gmail"), e);
        assert_eq!(kept.message(), "connection refused");
        assert_eq!(kept.class(), Class::Unavailable);
    }

    #[test]
    fn the_trace_is_on_only_with_verbose_and_stop_only_when_asked() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let quiet = Ctx::new(PathBuf::from("/state"), false);
        assert!(!quiet.trace("a").enabled());
        assert!(!quiet.stopping());
        let loud = Ctx::new(PathBuf::from("/state"), true).stopped_by(&FLAG);
        assert!(loud.trace("a").enabled());
        assert!(!loud.stopping());
        FLAG.store(true, Ordering::SeqCst);
        assert!(loud.stopping());
    }
}
