//! A password or token that never shows up in Debug output, traces or error messages, and
//! the [`Credential`] a login takes it from: fixed (a password) or renewable (an OAuth2
//! access token, which expires and can be revoked).
//!
//! A password may also sit in mailfetch's own environment (`password-env`), and every child
//! mailfetch starts (an MDA, a `password-command`, an `oauth2-token-command`) would inherit
//! it: an MDA or a helper of one account could read the password of any other. So the
//! config registers each `password-env` name it reads ([`hide_from_children`]) and every
//! child is started through [`without_secrets`], which takes those variables out of the
//! child's environment. The names are kept for the whole process, not passed down: the
//! children start far below the config layer (a sink), and the set belongs to the whole
//! config, not to the account whose child it is.

use crate::error::Result;
use std::fmt;
use std::process::Command;
use std::sync::Mutex;

/// The `password-env` names of every account read so far.
static SECRET_VARIABLES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keep the environment variable `name` (it holds a password) out of every child started
/// through [`without_secrets`] from now on.
pub fn hide_from_children(name: &str) {
    let mut names = SECRET_VARIABLES.lock().unwrap_or_else(|e| e.into_inner());
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

/// `command` with every variable registered by [`hide_from_children`] removed from the
/// environment it will start with.
pub fn without_secrets(command: &mut Command) -> &mut Command {
    let names = SECRET_VARIABLES.lock().unwrap_or_else(|e| e.into_inner());
    for name in names.iter() {
        command.env_remove(name);
    }
    command
}

/// A secret string; `Debug` and `Display` print `<redacted>`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wrap `value`.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a login gets its secret, for the whole run: protocol clients ask it again for every
/// login (IMAP logs in again after the server dropped the session).
pub trait Credential {
    /// The secret to log in with now: a password, or an access token renewed first when it
    /// is about to expire.
    fn current(&mut self) -> Result<Secret>;

    /// The server refused what [`Credential::current`] gave: a fresh secret worth one more
    /// try ([`crate::sasl::Login::with_secret`]), or `None` when trying again cannot help (a
    /// password, or renewed already).
    fn refused(&mut self) -> Result<Option<Secret>>;
}

/// A secret already in hand that stays the same for the run.
pub struct Fixed(pub Secret);

impl Credential for Fixed {
    fn current(&mut self) -> Result<Secret> {
        Ok(self.0.clone())
    }

    fn refused(&mut self) -> Result<Option<Secret>> {
        Ok(None)
    }
}
