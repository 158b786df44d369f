//! Where a password comes from: a command (`pass`, a keyring helper), an environment
//! variable, the config file itself, or a prompt at the terminal.

use crate::error::{Error, Result};
use crate::secret::Secret;
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

fn run(account: &str, cmd: &str) -> Result<Secret> {
    let out = Command::new("/bin/sh")
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
    fn failing_command_is_a_config_error() {
        let s = PasswordSource::Command("exit 3".into());
        assert_eq!(s.get("a", "u").unwrap_err().class().exit_code(), 78);
    }
}
