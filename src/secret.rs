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

use crate::error::{Class, Result};
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
    /// try, or `None` when trying again cannot help (a password, or renewed already).
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

/// Log in with `attempt`, using `credential`'s current secret; when the server refuses it
/// (an authentication failure, exit 77) and the credential can offer a fresh one, try once
/// more with that. An error renewing the secret (a revoked refresh token) is what is
/// reported then, since it says what to do.
pub fn login_with<T>(
    credential: &mut dyn Credential,
    mut attempt: impl FnMut(&Secret) -> Result<T>,
) -> Result<T> {
    let secret = credential.current()?;
    match attempt(&secret) {
        Err(e) if e.class() == Class::Auth => match credential.refused()? {
            Some(fresh) => attempt(&fresh),
            None => Err(e),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// Tokens "a", "b", ... ; `refused` gives the next one, once.
    struct Tokens {
        next: char,
        renewed: bool,
    }

    impl Credential for Tokens {
        fn current(&mut self) -> Result<Secret> {
            Ok(Secret::new(self.next.to_string()))
        }
        fn refused(&mut self) -> Result<Option<Secret>> {
            if self.renewed {
                return Ok(None);
            }
            self.renewed = true;
            self.next = (self.next as u8 + 1) as char;
            self.current().map(Some)
        }
    }

    #[test]
    fn a_refused_token_is_renewed_once_and_retried() {
        let mut t = Tokens {
            next: 'a',
            renewed: false,
        };
        let mut tried = Vec::new();
        let out = login_with(&mut t, |s| {
            tried.push(s.expose().to_string());
            if s.expose() == "a" {
                Err(Error::new(Class::Auth, "refused"))
            } else {
                Ok(s.expose().to_string())
            }
        });
        assert_eq!(out.unwrap(), "b");
        assert_eq!(tried, ["a", "b"]);
        let mut tried = 0;
        let out: Result<()> = login_with(&mut t, |_| {
            tried += 1;
            Err(Error::new(Class::Auth, "refused again"))
        });
        assert_eq!(out.unwrap_err().message(), "refused again");
        assert_eq!(tried, 1, "renewed only once per run");
    }

    #[test]
    fn other_failures_are_not_retried() {
        let mut t = Tokens {
            next: 'a',
            renewed: false,
        };
        let mut tried = 0;
        let out: Result<()> = login_with(&mut t, |_| {
            tried += 1;
            Err(Error::new(Class::Temporary, "timeout"))
        });
        assert!(out.is_err());
        assert_eq!(tried, 1);
    }
}
