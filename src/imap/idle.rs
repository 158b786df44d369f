//! RFC 2177 IDLE, for `mailfetch watch`: a connection of its own that opens one folder
//! read-only and waits for the server to say that mail arrived. It fetches nothing; the
//! watcher runs a normal pull on its own connection when woken, so the exactly-once path
//! stays the one `pull` takes.

use super::session::Status;
use super::session::{quote, Session};
use super::wire::{Code, Response, Untagged};
use super::{folders, utf7, Credentials};
use crate::config::{Folders, GmailFolders};
use crate::error::{Error, Result};
use crate::net::{Endpoint, Trace};
use crate::sasl::Login;
use std::time::{Duration, Instant};

/// RFC 2177 section 3: a client should end IDLE and issue it again at least every 29
/// minutes, before the server's 30-minute inactivity timeout.
pub const RENEW: Duration = Duration::from_secs(29 * 60);
/// How often the wait looks at the stop flag.
const STEP: Duration = Duration::from_millis(200);

/// Why an IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server reported EXISTS or RECENT: there may be new mail.
    NewMail,
    /// The renewal time passed without news.
    Renew,
    /// The caller asked to stop.
    Stopped,
}

/// A logged-in connection with a folder open read-only, for IDLE.
pub struct Idler {
    session: Session,
    /// The folder open, and its UIDNEXT and message count when last opened.
    folder: Option<String>,
    seen: (Option<u32>, u32),
}

impl Idler {
    /// Connect, log in and EXAMINE `folder` (UTF-8 name). `None` when the server does not
    /// offer IDLE: the caller polls instead.
    pub fn connect(
        endpoint: &Endpoint,
        trace: Trace,
        auth: Login,
        folder: &str,
    ) -> Result<Option<Idler>> {
        let Some(mut idler) = Idler::login(endpoint, trace, auth)? else {
            return Ok(None);
        };
        idler.examine(folder)?;
        Ok(Some(idler))
    }

    /// Connect and log in, no folder open yet. `None` when the server does not offer IDLE.
    pub fn login(endpoint: &Endpoint, trace: Trace, auth: Login) -> Result<Option<Idler>> {
        let mut credentials = Credentials {
            endpoint: endpoint.clone(),
            trace,
            auth,
        };
        let mut session = credentials.login()?;
        if !session.has("IDLE") {
            session.logout();
            return Ok(None);
        }
        Ok(Some(Idler {
            session,
            folder: None,
            seen: (None, 0),
        }))
    }

    /// The folders (UTF-8 names) a pull of an account with these settings fetches, in
    /// order: the named ones, or for `"*"` what LIST shows (as [`folders::choose`] picks).
    pub fn folders(
        &mut self,
        wanted: &Folders,
        gmail_profile: bool,
        gmail: GmailFolders,
        move_to: Option<&str>,
    ) -> Result<Vec<String>> {
        let gmail = (gmail_profile || self.session.has(super::GMAIL_EXT)).then_some(gmail);
        let listed = match wanted {
            Folders::Named(_) => Vec::new(),
            Folders::All => folders::list(&mut self.session)?,
        };
        Ok(folders::choose(&listed, wanted, gmail, move_to)
            .into_iter()
            .map(|f| f.name)
            .collect())
    }

    /// RFC 3501 section 6.3.2: EXAMINE `folder` (UTF-8 name), so that watching changes no
    /// flag. Returns whether mail came in since it was last opened: its UIDNEXT grew (or,
    /// from a server without one, its message count).
    pub fn examine(&mut self, folder: &str) -> Result<bool> {
        let (mut next, mut exists) = (None, 0);
        self.session.run(
            &format!("EXAMINE {}", quote(&utf7::encode(folder))),
            &mut |resp| {
                match resp {
                    Response::Untagged(Untagged::State(c)) => {
                        if let Some(Code::UidNext(n)) = c.code {
                            next = Some(n);
                        }
                    }
                    Response::Untagged(Untagged::Exists(n)) => exists = n,
                    _ => {}
                }
                Ok(())
            },
        )?;
        let again = self.folder.as_deref() == Some(folder);
        let (old_next, old_exists) = self.seen;
        let grown = match (old_next, next) {
            (Some(a), Some(b)) => b > a,
            _ => exists > old_exists,
        };
        self.folder = Some(folder.to_string());
        self.seen = (next, exists);
        Ok(again && grown)
    }

    /// RFC 2177 section 3: IDLE until the server reports new mail (untagged EXISTS or
    /// RECENT), `renew` has passed, or `stop()` is true; then DONE and the tagged OK.
    pub fn idle(&mut self, renew: Duration, stop: &dyn Fn() -> bool) -> Result<Woken> {
        let tag = self.session.send("IDLE")?;
        let news = |resp: &Response| {
            matches!(
                resp,
                Response::Untagged(Untagged::Exists(_) | Untagged::Recent(_))
            )
        };
        let mut arrived = false;
        // The continuation request "+ idling" says the server listens.
        loop {
            match self.session.read()? {
                Response::Continue(_) => break,
                Response::Tagged(t, done) if t == tag => {
                    return Err(Error::protocol(format!(
                        "{} refused IDLE: {}",
                        self.session.peer(),
                        done.text
                    )))
                }
                resp => arrived |= news(&resp),
            }
        }
        let deadline = Instant::now() + renew;
        let woken = loop {
            if arrived {
                break Woken::NewMail;
            }
            if stop() {
                break Woken::Stopped;
            }
            let now = Instant::now();
            if now >= deadline {
                break Woken::Renew;
            }
            if let Some(resp) = self.session.read_within(STEP.min(deadline - now))? {
                arrived = news(&resp);
            }
        };
        self.session.write_raw(b"DONE\r\n", Some("DONE"), true)?;
        // Some servers tell of new mail only once the command ends; GNU Mailutils' imap4d,
        // over an mbox another session rewrote, not even then: the folder is opened again
        // at each renewal, and its UIDNEXT says whether mail came.
        let mut told = false;
        let done = self.session.complete(&tag, &mut |resp| {
            told |= news(&resp);
            Ok(())
        })?;
        if done.status != Status::Ok {
            return Err(self.session.refused("IDLE", &done));
        }
        if woken == Woken::Renew {
            if let Some(folder) = self.folder.clone() {
                told |= self.examine(&folder)?;
            }
        }
        Ok(match woken {
            Woken::Renew if told => Woken::NewMail,
            other => other,
        })
    }

    /// End the session (LOGOUT).
    pub fn logout(&mut self) {
        self.session.logout();
    }
}
