//! `mailfetch init`: add an account to the config, asking at the terminal for what the flags
//! do not say (or, without a terminal, refusing what is missing), so scripts and people take
//! the same path ([`prompt`]).
//!
//! The order is the one a newcomer can finish on the first try: the address (the profile is
//! guessed from its domain; for a custom server RFC 6186 SRV records may propose one, see
//! [`srv`]), then a look at the server *before* any password is asked ([`probe`]: server,
//! TLS version, certificate; an untrusted certificate is pinned or verified with a CA file,
//! never silently accepted), then the provider's note (app passwords, enabling IMAP/POP) at
//! the moment it matters, then how to log in: OAuth2 where the provider needs it (the
//! `mailfetch auth` flow runs from here), else a password source that works under cron
//! (a command, a 0600 file, a variable; "ask" only with a plain warning). Then the login is
//! tried (unless `--no-test`). When anything fails (DNS, connection, TLS, login) the answers
//! are kept and the user picks: retry, change one answer, save anyway (told what will fail)
//! or quit; without a terminal the failure is the exit code, and nothing is written.
//!
//! The file is written whole ([`file`]): an existing account of the same name is replaced
//! only after a yes at the terminal, or with `--force`.

mod file;
mod login;
mod menu;
mod probe;
mod prompt;
mod srv;

use crate::cli::InitArgs;
use crate::config::{self, profiles, profiles::Profile, Protocol};
use crate::error::{Class, Error, Result};
use crate::net::{Fingerprint, TlsMode};
use crate::session::Ctx;
use file::{quoted, without_account, write_private};
use login::{cron_warning, Auth, Password};
use menu::{Field, Next};
use probe::{Outcome, Server, Trust};
use prompt::Asker;
use std::fs;
use std::io::IsTerminal;
use std::path::Path;

/// The name of the profile for an address's domain: the provider's (see
/// [`profiles::for_domain`]), else `custom`.
pub fn guess_profile(domain: &str) -> &'static str {
    profiles::for_domain(domain).name
}

/// Everything asked so far.
struct Answers {
    address: String,
    profile: &'static Profile,
    protocol: Protocol,
    host: String,
    port: u16,
    tls: TlsMode,
    trust: Trust,
    name: String,
    user: String,
    auth: Auth,
    target: String,
}

impl Answers {
    /// The part of the address after the `@`.
    fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// The server the account will use.
    fn server(&self) -> Server {
        Server {
            protocol: self.protocol,
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
        }
    }

    /// The value of `field`, for the change menu.
    fn show(&self, field: Field) -> String {
        match field {
            Field::Address => self.address.clone(),
            Field::Profile => self.profile.name.to_string(),
            Field::Protocol => self.protocol.as_str().to_string(),
            Field::Host => self.host.clone(),
            Field::Port => self.port.to_string(),
            Field::Tls => self.tls.as_str().to_string(),
            Field::Trust => match (&self.trust.pin, &self.trust.ca_file) {
                (Some(pin), _) => format!("pinned {pin}"),
                (None, Some(ca)) => format!("CA file {ca}"),
                (None, None) => "the system's CAs".to_string(),
            },
            Field::Name => self.name.clone(),
            Field::User => self.user.clone(),
            Field::Login => match &self.auth {
                Auth::OAuth2 { client_id, .. } => format!("OAuth2, client id {client_id}"),
                Auth::Password(Password::Command(c)) => format!("password from command {c}"),
                Auth::Password(Password::Env(v)) => format!("password from ${v}"),
                Auth::Password(Password::Ask) => "password asked at each run".to_string(),
            },
            Field::Target => self.target.clone(),
        }
    }

    /// The account's TOML table.
    fn table(&self) -> String {
        let mut t = format!(
            "[accounts.{}]\nprofile = {}\nprotocol = {}\n",
            self.name,
            quoted(self.profile.name),
            quoted(self.protocol.as_str())
        );
        if self.profile.own_server {
            t.push_str(&format!(
                "host = {}\nport = {}\ntls = {}\n",
                quoted(&self.host),
                self.port,
                quoted(self.tls.as_str())
            ));
        }
        if let Some(ca) = &self.trust.ca_file {
            t.push_str(&format!("ca-file = {}\n", quoted(ca)));
        }
        if let Some(pin) = &self.trust.pin {
            t.push_str(&format!("tls-fingerprint = \"{pin}\"\n"));
        }
        t.push_str(&format!("user = {}\n", quoted(&self.user)));
        match &self.auth {
            Auth::Password(Password::Command(c)) => {
                t.push_str(&format!("password-command = {}\n", quoted(c)))
            }
            Auth::Password(Password::Env(v)) => {
                t.push_str(&format!("password-env = {}\n", quoted(v)))
            }
            Auth::Password(Password::Ask) => {}
            Auth::OAuth2 {
                client_id, keys, ..
            } => t.push_str(&format!(
                "auth = \"oauth2\"\noauth2-client-id = {}\n{keys}",
                quoted(client_id)
            )),
        }
        t.push_str(&format!("target = {}\n", quoted(&self.target)));
        t
    }
}

/// The questions, with the flags that answer them.
struct Init<'a> {
    args: &'a InitArgs,
    ask: Asker,
    path: &'a Path,
    cx: &'a Ctx,
}

/// Add (or replace) the account `args` describe in the config at `path`; `cx` (the state
/// directory, the trace) is for the certificate check and the login test. Returns what to tell the user.
pub fn run(args: &InitArgs, path: &Path, cx: &Ctx) -> Result<String> {
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    let init = Init {
        args,
        ask: Asker { interactive },
        path,
        cx,
    };
    init.run()
}

impl Init<'_> {
    fn run(&self) -> Result<String> {
        let args = self.args;
        let address = self
            .ask
            .get(&args.address, "Email address", None, "--address")?;
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d).to_string();
        let profile = self.profile(args.profile.clone(), &domain)?;
        let protocol = self.protocol(args.protocol.clone(), profile)?;
        let pin = match &args.tls_fingerprint {
            Some(text) => Some(Fingerprint::parse(text).ok_or_else(|| {
                Error::new(
                    Class::Usage,
                    format!("init: --tls-fingerprint {text:?}: expected sha256:AB:CD:... (64 hex digits)"),
                )
            })?),
            None => None,
        };
        let mut a = Answers {
            address,
            profile,
            protocol,
            host: String::new(),
            port: 0,
            tls: TlsMode::Implicit,
            trust: Trust {
                ca_file: args.ca_file.clone(),
                pin,
            },
            name: String::new(),
            user: String::new(),
            auth: Auth::Password(Password::Ask),
            target: String::new(),
        };
        self.server(&mut a, true)?;

        // The server first: what a typo, DNS, a firewall or a certificate does is found
        // before the user types a password.
        let mut failed: Option<Error> = None;
        self.look(&mut a, &mut failed)?;

        let old = match fs::read_to_string(self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(Error::local(
                    format!("cannot read {}", self.path.display()),
                    e,
                ))
            }
        };
        self.name(&mut a, args.account.clone())?;
        let mut existed = self.replace_ok(&old, &a.name)?;
        a.user = self
            .ask
            .get(&args.user, "Login name", Some(&a.address.clone()), "--user")?;
        a.auth = self.login(&a, true)?;
        a.target = self.ask.get(
            &args.target,
            "Where mail goes (maildir:PATH or mbox:PATH)",
            Some(&format!("maildir:~/Mail/{}", a.name)),
            "--target",
        )?;

        let mut authorized: Option<String> = None;
        loop {
            let (kept, _) = without_account(&old, &a.name);
            let mut text = kept.trim_end().to_string();
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&a.table());
            let tried = if args.no_test || failed.is_some() {
                // Check the whole file as `pull` will read it, nothing more.
                config::parse(self.path, &text).map(|_| ())
            } else {
                self.login_test(&text, &a.name, &mut authorized)
            };
            let e = match tried {
                Ok(()) => {
                    write_private(self.path, &text)?;
                    return Ok(self.note(&a, existed, failed.as_ref()));
                }
                Err(e) => e,
            };
            match self.after_failure(&e, &mut a, &Field::ALL)? {
                Next::Retry => {}
                Next::Change(Field::Name) => existed = self.replace_ok(&old, &a.name)?,
                Next::Change(
                    Field::Profile
                    | Field::Protocol
                    | Field::Host
                    | Field::Port
                    | Field::Tls
                    | Field::Trust,
                ) => self.look(&mut a, &mut failed)?,
                Next::Change(_) => {}
                Next::Save => {
                    if e.class() == Class::Config {
                        eprintln!("init: a config that pull cannot read is not saved; change an answer or quit");
                    } else {
                        failed = Some(e);
                    }
                }
                Next::Quit => return Err(e),
            }
        }
    }

    /// Look at the server until its certificate is trusted, or the user saves anyway
    /// (`failed` then holds why) or quits; asks nothing more with `--no-test` or once the
    /// user chose to save anyway.
    fn look(&self, a: &mut Answers, failed: &mut Option<Error>) -> Result<()> {
        if self.args.no_test || failed.is_some() {
            return Ok(());
        }
        loop {
            match probe::check(&a.server(), &mut a.trust, &self.ask, &self.cx.trace("init")) {
                Ok(Outcome::Trusted) => return Ok(()),
                Ok(Outcome::Quit) => {
                    return Err(Error::new(
                        Class::Unavailable,
                        format!(
                            "init: the certificate of {} is not trusted; nothing written",
                            a.host
                        ),
                    ))
                }
                Err(e) => match self.after_failure(&e, a, &Field::ALL[..7])? {
                    Next::Retry | Next::Change(_) => {}
                    Next::Save => {
                        *failed = Some(e);
                        return Ok(());
                    }
                    Next::Quit => return Err(e),
                },
            }
        }
    }

    /// The profile: `given`, else asked with the one the domain suggests.
    fn profile(&self, given: Option<String>, domain: &str) -> Result<&'static Profile> {
        loop {
            let name = self.ask.get(
                &given,
                &format!("Profile ({})", profiles::names()),
                Some(guess_profile(domain)),
                "--profile",
            )?;
            match profiles::find(&name) {
                Some(p) => return Ok(p),
                None if self.ask.interactive && given.is_none() => {
                    eprintln!("init: unknown profile {name:?}")
                }
                None => {
                    return Err(Error::new(
                        Class::Usage,
                        format!(
                            "init: unknown profile {name:?} (known: {})",
                            profiles::names()
                        ),
                    ))
                }
            }
        }
    }

    /// The protocol: `given`, else asked with the profile's preferred one.
    fn protocol(&self, given: Option<String>, profile: &Profile) -> Result<Protocol> {
        loop {
            let protocol = self.ask.get(
                &given,
                "Protocol (pop3 or imap)",
                Some(profile.preferred.as_str()),
                "--protocol",
            )?;
            match protocol.as_str() {
                "pop3" => return Ok(Protocol::Pop3),
                "imap" => return Ok(Protocol::Imap),
                other if !self.ask.interactive || given.is_some() => {
                    return Err(Error::new(
                        Class::Usage,
                        format!("init: protocol {other:?}: use pop3 or imap"),
                    ))
                }
                other => eprintln!("init: protocol {other:?}: use pop3 or imap"),
            }
        }
    }

    /// Host, TLS mode and port: the profile's, or for a custom server asked (proposed by
    /// SRV records the first time, when the user wants them).
    fn server(&self, a: &mut Answers, first: bool) -> Result<()> {
        let args = self.args;
        if !a.profile.own_server {
            let s = a.profile.server(a.protocol).ok_or_else(|| {
                Error::new(
                    Class::Usage,
                    format!(
                        "init: {} offers no {}",
                        a.profile.name,
                        a.protocol.as_str().to_ascii_uppercase()
                    ),
                )
            })?;
            a.host = s.host.to_string();
            a.port = s.port;
            a.tls = s.tls;
            return Ok(());
        }
        let domain = a.domain().to_string();
        let found = if first
            && !domain.is_empty()
            && args.host.is_none()
            && !args.no_srv
            && (args.srv
                || self.ask.yes(&format!(
                    "Look up the {} server of {domain} in DNS (SRV records)?",
                    a.protocol.as_str().to_ascii_uppercase()
                ))?) {
            srv::srv_lookup(&domain, a.protocol, args.tls.as_deref(), &self.ask)?
        } else {
            None
        };
        let default_host = match &found {
            Some(f) => Some(f.host.clone()),
            None if !a.host.is_empty() => Some(a.host.clone()),
            None => (!domain.is_empty()).then(|| match a.protocol {
                Protocol::Pop3 => format!("pop.{domain}"),
                Protocol::Imap => format!("imap.{domain}"),
            }),
        };
        let given = |v: &Option<String>| if first { v.clone() } else { None };
        a.host = self.ask.get(
            &given(&args.host),
            "Server host",
            default_host.as_deref(),
            "--host",
        )?;
        let from_srv = found.as_ref().filter(|f| f.host == a.host);
        self.tls(a, given(&args.tls), from_srv.map(|f| f.tls))?;
        let port = first.then_some(args.port).flatten();
        self.port(
            a,
            port,
            from_srv.filter(|f| f.tls == a.tls.as_str()).map(|f| f.port),
        )
    }

    /// The TLS mode, `given` or asked.
    fn tls(&self, a: &mut Answers, given: Option<String>, proposed: Option<&str>) -> Result<()> {
        loop {
            let tls = self.ask.get(
                &given,
                "TLS (implicit, starttls or none)",
                Some(proposed.unwrap_or("implicit")),
                "--tls",
            )?;
            match toml::Value::String(tls.clone()).try_into() {
                Ok(mode) => {
                    a.tls = mode;
                    return Ok(());
                }
                Err(_) if self.ask.interactive && given.is_none() => {
                    eprintln!("init: tls {tls:?}: use implicit, starttls or none")
                }
                Err(_) => {
                    return Err(Error::new(
                        Class::Usage,
                        format!("init: tls {tls:?}: use implicit, starttls or none"),
                    ))
                }
            }
        }
    }

    /// The port, `given` or asked (the protocol's for the TLS mode by default).
    fn port(&self, a: &mut Answers, given: Option<u16>, proposed: Option<u16>) -> Result<()> {
        let given = given.map(|p| p.to_string());
        loop {
            let default = proposed
                .unwrap_or(a.protocol.default_port(a.tls))
                .to_string();
            let port = self
                .ask
                .get(&given, "Server port", Some(&default), "--port")?;
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {
                    a.port = p;
                    return Ok(());
                }
                _ if self.ask.interactive && given.is_none() => {
                    eprintln!("init: port {port:?}: a number from 1 to 65535")
                }
                _ => {
                    return Err(Error::new(
                        Class::Usage,
                        format!("init: port {port:?}: a number from 1 to 65535"),
                    ))
                }
            }
        }
    }

    /// The account's name, `given` or asked (the provider's, else the address's local part).
    fn name(&self, a: &mut Answers, given: Option<String>) -> Result<()> {
        let local = a.address.split('@').next().unwrap_or("mail");
        let default_name: String = a
            .domain()
            .split('.')
            .next()
            .filter(|d| !d.is_empty() && !a.profile.own_server)
            .unwrap_or(local)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        loop {
            let name = self.ask.get(
                &given,
                "Account name",
                Some(if default_name.is_empty() {
                    "mail"
                } else {
                    &default_name
                }),
                "--account",
            )?;
            let bare = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
            if bare {
                a.name = name;
                return Ok(());
            }
            let why = format!("init: account name {name:?}: use letters, digits, - and _");
            if !self.ask.interactive || given.is_some() {
                return Err(Error::new(Class::Usage, why));
            }
            eprintln!("{why}");
        }
    }

    /// Whether the account may be written: new, or replacing one with `--force` or a yes.
    /// Returns whether it existed.
    fn replace_ok(&self, old: &str, name: &str) -> Result<bool> {
        let (_, existed) = without_account(old, name);
        if existed
            && !self.args.force
            && !self
                .ask
                .yes(&format!("Account {name} exists; replace it?"))?
        {
            return Err(Error::new(
                Class::Usage,
                format!(
                    "init: account {name} already exists in {}; pass --force to replace it",
                    self.path.display()
                ),
            ));
        }
        Ok(existed)
    }

    /// What to tell the user once the account is written.
    fn note(&self, a: &Answers, existed: bool, failed: Option<&Error>) -> String {
        let mut note = format!(
            "account {} {} {}",
            a.name,
            if existed { "replaced in" } else { "added to" },
            self.path.display()
        );
        match failed {
            Some(e) => note.push_str(&format!(
                " without a working login: {}; `mailfetch pull {}` will fail the same way until \
                 that is fixed",
                e.message(),
                a.name
            )),
            None if !self.args.no_test => {
                note.push_str(&format!(" (login to {}:{} works)", a.host, a.port))
            }
            None => {}
        }
        if matches!(a.auth, Auth::Password(Password::Ask)) {
            note.push_str("; ");
            note.push_str(&cron_warning(&a.name, self.path));
        }
        note
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_guessed_from_the_domain() {
        for (domain, profile) in [
            ("gmail.com", "gmail"),
            ("GoogleMail.com", "gmail"),
            ("hotmail.com", "outlook"),
            ("live.com", "outlook"),
            ("me.com", "icloud"),
            ("gmx.de", "gmx"),
            ("gmx.net", "gmx"),
            ("aol.com", "aol"),
            ("example.org", "custom"),
        ] {
            assert_eq!(guess_profile(domain), profile, "{domain}");
        }
    }
}
