//! Where a password comes from: a command (`pass`, a keyring helper), an environment
//! variable, the config file itself, or a prompt at the terminal; and the [`Credential`]
//! that hands it to logins (also for an `oauth2-token-command`).

use crate::error::{Error, Result};
use crate::secret::{Credential, Secret};
use std::io::IsTerminal;
use std::process::{Command, Stdio};

/// A configured password source.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// `password = "..."` (the config file must be private).
    Literal(Secret),
    /// `password-command`: run with `sh -c`, first line of stdout.
    Command(String),
    /// `password-env`: the named environment variable.
    Env(String),
    /// Nothing configured: ask at the terminal.
    Prompt,
}

impl PasswordSource {
    /// Get the password for `account` (user `user`).
    pub fn get(&self, account: &str, user: &str) -> Result<Secret> {
        match self {
            PasswordSource::Literal(s) => Ok(s.clone()),
            PasswordSource::Env(var) => std::env::var(var).map(Secret::new).map_err(|_| {
                Error::config(format!(
                    "account {account}: password-env = \"{var}\", but ${var} is not set"
                ))
            }),
            PasswordSource::Command(cmd) => run(account, cmd),
            PasswordSource::Prompt => {
                if !std::io::stdin().is_terminal() {
                    return Err(Error::config(format!(
                        "account {account}: no password configured and no terminal to ask; \
                         set password-command, password-env or password"
                    )));
                }
                rpassword::prompt_password(format!("Password for {user} ({account}): "))
                    .map(Secret::new)
                    .map_err(|e| Error::config(format!("cannot read the password: {e}")))
            }
        }
    }
}

/// The [`Credential`] of an account whose secret comes from a [`PasswordSource`]: asked
/// for once per run; with `renewable` (an `oauth2-token-command`), the source is asked once
/// more when the server refuses what it gave.
pub struct PasswordCredential {
    source: PasswordSource,
    account: String,
    user: String,
    renewable: bool,
    cached: Option<Secret>,
    renewed: bool,
}

impl PasswordCredential {
    /// The secret of `account` (user `user`) from `source`.
    pub fn new(source: PasswordSource, account: &str, user: &str, renewable: bool) -> Self {
        PasswordCredential {
            source,
            account: account.to_string(),
            user: user.to_string(),
            renewable,
            cached: None,
            renewed: false,
        }
    }
}

impl Credential for PasswordCredential {
    fn current(&mut self) -> Result<Secret> {
        if let Some(secret) = &self.cached {
            return Ok(secret.clone());
        }
        let secret = self.source.get(&self.account, &self.user)?;
        self.cached = Some(secret.clone());
        Ok(secret)
    }

    fn refused(&mut self) -> Result<Option<Secret>> {
        if !self.renewable || self.renewed {
            return Ok(None);
        }
        self.renewed = true;
        self.cached = None;
        self.current().map(Some)
    }
}

/// Run `cmd` with `sh -c`, without the other accounts' password variables
/// ([`crate::secret::without_secrets`]), and take the first line it prints.
fn run(account: &str, cmd: &str) -> Result<Secret> {
    let out = crate::secret::without_secrets(&mut Command::new("/bin/sh"))
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::config(format!(
                "account {account}: cannot run password-command: {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(Error::config(format!(
            "account {account}: password-command failed ({})",
            out.status
        )));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| {
        Error::config(format!(
            "account {account}: password-command printed non-UTF-8"
        ))
    })?;
    let first = text.lines().next().unwrap_or("");
    if first.is_empty() {
        return Err(Error::config(format!(
            "account {account}: password-command printed nothing"
        )));
    }
    Ok(Secret::new(first.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_gives_its_first_line() {
        let s = PasswordSource::Command("printf 'pw1\\nrest\\n'".into());
        assert_eq!(s.get("a", "u").unwrap().expose(), "pw1");
    }

    #[test]
    fn a_token_command_is_run_again_once_after_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("n");
        let cmd = format!(
            "echo x >> {0}; echo token-$(wc -l < {0})",
            counter.display()
        );
        let mut c = PasswordCredential::new(PasswordSource::Command(cmd.clone()), "a", "u", true);
        assert_eq!(c.current().unwrap().expose(), "token-1");
        assert_eq!(c.current().unwrap().expose(), "token-1", "cached");
        assert_eq!(c.refused().unwrap().unwrap().expose(), "token-2");
        assert!(c.refused().unwrap().is_none());
        let mut p = PasswordCredential::new(PasswordSource::Command(cmd), "a", "u", false);
        p.current().unwrap();
        assert!(
            p.refused().unwrap().is_none(),
            "a password is not asked for again"
        );
    }

    #[test]
    fn failing_command_is_a_config_error() {
        let s = PasswordSource::Command("exit 3".into());
        assert_eq!(s.get("a", "u").unwrap_err().class().exit_code(), 78);
    }
}
