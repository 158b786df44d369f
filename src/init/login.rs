//! How an account `init` makes logs in: the provider's note first (app passwords, enabling
//! IMAP/POP: profile data, [`crate::config::profiles`]), then OAuth2 where the provider needs
//! it (the `mailfetch auth` flow runs from here) or a password source that works under cron
//! (a command, a 0600 file, a variable); "ask" only with a plain warning.

use super::file::{quoted, shell_word, write_private};
use super::{Answers, Init};
use crate::config::profiles::Login;
use crate::config::{self, TokenSource};
use crate::error::{Class, Error, Result};
use crate::session::{self, Access};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How the account logs in.
pub enum Auth {
    /// A password from this source.
    Password(Password),
    /// OAuth2 with the user's registered app.
    OAuth2 {
        /// `oauth2-client-id`.
        client_id: String,
        /// The other `oauth2-*` keys given, as TOML lines.
        keys: String,
    },
}

/// Where a password comes from.
pub enum Password {
    /// `password-command`.
    Command(String),
    /// `password-env`.
    Env(String),
    /// Nothing configured: asked at each run (fails under cron).
    Ask,
}

impl Init<'_> {
    /// How the account logs in: the provider's note first, then OAuth2 where the provider
    /// needs it (or the user picks it), else a password source. `first`: flags still count.
    pub(super) fn login(&self, a: &Answers, first: bool) -> Result<Auth> {
        let args = self.args;
        let given = |v: &Option<String>| if first { v.clone() } else { None };
        let profile = a.profile;
        if !profile.own_server {
            eprintln!("init: note for {}: {}", profile.name, profile.note);
        }
        let needs_oauth2 = profile.login != Login::Password;
        let method = match given(&args.auth) {
            Some(m) => m,
            // A password source on the command line says how the user logs in.
            None if first && (args.password_command.is_some() || args.password_env.is_some()) => {
                "password".to_string()
            }
            None if profile.login == Login::OAuth2Only => "oauth2".to_string(),
            None if profile.oauth2.is_some() && self.ask.interactive => self
                .ask
                .choose(
                    "Log in with",
                    &[
                        (
                            "password",
                            "a password (an app password where the provider wants one)".to_string(),
                        ),
                        (
                            "oauth2",
                            "OAuth2 (your registered app; a browser login once)".to_string(),
                        ),
                    ],
                    if needs_oauth2 { "oauth2" } else { "password" },
                )?
                .to_string(),
            None if needs_oauth2 => "oauth2".to_string(),
            None => "password".to_string(),
        };
        if method == "oauth2" {
            return self.oauth2(a, first);
        }
        if first {
            if let Some(c) = &args.password_command {
                return Ok(Auth::Password(Password::Command(c.clone())));
            }
            if let Some(v) = &args.password_env {
                return Ok(Auth::Password(Password::Env(v.clone())));
            }
        }
        if !self.ask.interactive {
            return Ok(Auth::Password(Password::Ask));
        }
        let how = self.ask.choose(
            "Password from",
            &[
                (
                    "command",
                    "a command printing it: pass, secret-tool, a keyring (works from cron)"
                        .to_string(),
                ),
                (
                    "file",
                    "a file only you can read, mode 0600 (works from cron)".to_string(),
                ),
                (
                    "env",
                    "an environment variable (works where the job sets it)".to_string(),
                ),
                (
                    "ask",
                    "asked at the terminal at each run (pull from cron will FAIL)".to_string(),
                ),
            ],
            "command",
        )?;
        Ok(Auth::Password(match how {
            "command" => {
                let suggested = format!("pass show mail/{}", a.address);
                Password::Command(
                    self.ask
                        .ask("Command printing the password", Some(&suggested))?,
                )
            }
            "file" => Password::Command(format!("cat -- {}", shell_word(&self.password_file(a)?))),
            "env" => Password::Env(self.ask.ask("Environment variable", None)?),
            _ => {
                eprintln!("{}", cron_warning(&a.name, self.path));
                Password::Ask
            }
        }))
    }

    /// A password file only the user can read: an existing one must be mode 0600 (or
    /// stricter); a new one is written with the password typed (not echoed).
    fn password_file(&self, a: &Answers) -> Result<String> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let suggested = dir.join(format!("{}.password", a.name));
        loop {
            let answer = self
                .ask
                .ask("Password file", Some(&suggested.display().to_string()))?;
            let path = match answer.strip_prefix("~/") {
                Some(rest) => std::env::var("HOME")
                    .map_or(PathBuf::from(&answer), |h| Path::new(&h).join(rest)),
                None => PathBuf::from(&answer),
            };
            match fs::metadata(&path) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => eprintln!(
                    "init: {} can be read by others (mode {:o}); chmod 600 it, or pick another",
                    path.display(),
                    m.permissions().mode() & 0o777
                ),
                Ok(_) => return Ok(path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let password = rpassword::prompt_password(format!(
                        "Password (kept in {}, mode 0600): ",
                        path.display()
                    ))
                    .map_err(|e| Error::local("reading the password", e))?;
                    write_private(&path, &format!("{password}\n"))?;
                    return Ok(path.display().to_string());
                }
                Err(e) => eprintln!("init: {}: {e}", path.display()),
            }
        }
    }

    /// OAuth2 with the user's registered app: the client id (and, for a server without a
    /// profile preset, the endpoints and scopes).
    fn oauth2(&self, a: &Answers, first: bool) -> Result<Auth> {
        let args = self.args;
        let given = |v: &Option<String>| if first { v.clone() } else { None };
        if first && (args.password_command.is_some() || args.password_env.is_some()) {
            return Err(Error::new(
                Class::Usage,
                "init: --auth oauth2 takes no password (--password-command, --password-env)",
            ));
        }
        eprintln!(
            "init: OAuth2 needs a client id: your own app registered with the provider (see \
             OAUTH2 in man mailfetch); mailfetch ships none"
        );
        let client_id = self.ask.get(
            &given(&args.oauth2_client_id),
            "OAuth2 client id",
            None,
            "--oauth2-client-id",
        )?;
        let preset = a.profile.oauth2.is_some();
        let mut keys = String::new();
        let mut key = |name: &str, flag: &Option<String>, question: &str| -> Result<()> {
            let value = match given(flag) {
                Some(v) => Some(v),
                None if preset || name == "oauth2-client-secret" || name == "oauth2-device-url" => {
                    None
                }
                None => Some(self.ask.get(&None, question, None, &format!("--{name}"))?),
            };
            if let Some(v) = value {
                keys.push_str(&format!("{name} = {}\n", quoted(&v)));
            }
            Ok(())
        };
        key("oauth2-client-secret", &args.oauth2_client_secret, "")?;
        key(
            "oauth2-auth-url",
            &args.oauth2_auth_url,
            "OAuth2 authorization URL",
        )?;
        key(
            "oauth2-token-url",
            &args.oauth2_token_url,
            "OAuth2 token URL",
        )?;
        key("oauth2-device-url", &args.oauth2_device_url, "")?;
        key(
            "oauth2-scope",
            &args.oauth2_scope,
            "OAuth2 scopes (space-separated)",
        )?;
        Ok(Auth::OAuth2 { client_id, keys })
    }

    /// Parse `text` as `pull` will, authorize an OAuth2 account (once per client id) and
    /// log in to the account `name`.
    pub(super) fn login_test(
        &self,
        text: &str,
        name: &str,
        authorized: &mut Option<String>,
    ) -> Result<()> {
        let account = config::parse(self.path, text)?
            .accounts
            .into_iter()
            .find(|a| a.name == name)
            .ok_or_else(|| Error::config(format!("init: account {name} did not come out")))?;
        if let Some(TokenSource::Client(client)) = &account.oauth2 {
            if authorized.as_deref() != Some(client.id.as_str()) {
                let flow = if self.args.device {
                    crate::oauth2::Flow::Device
                } else {
                    crate::oauth2::Flow::Browser
                };
                crate::oauth2::authorize(
                    &account.name,
                    &account.user,
                    client,
                    &self.cx.state_dir,
                    flow,
                    &mut std::io::stdout(),
                    std::time::Duration::from_secs(5 * 60),
                )?;
                *authorized = Some(client.id.clone());
                eprintln!("init: {name}: authorized");
            }
        }
        let mut source = session::open_source(&account, self.cx, Access::Look)?;
        source.close()
    }
}

/// The plain words for a config whose password is asked at each run.
pub fn cron_warning(name: &str, path: &Path) -> String {
    format!(
        "the password will be asked at each run, so `mailfetch pull` from cron or a systemd \
         timer will fail (no terminal to ask); to change that, set password-command (e.g. \
         \"pass show mail/{name}\") or password-env in [accounts.{name}] of {}",
        path.display()
    )
}
