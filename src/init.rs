//! `mailfetch init`: add an account to the config, asking at the terminal for what the flags
//! do not say (or, without a terminal, refusing what is missing), so scripts and people take
//! the same path. The profile is guessed from the address's domain; for a custom server,
//! RFC 6186 SRV records are looked up (with `--srv`, or after a yes at the terminal; see
//! [`crate::dns_srv`]) and what they name is proposed as the host, port and TLS mode. A host
//! outside the address's domain is not taken on DNS's word (RFC 6186 section 6: an attacker
//! who forges the answer would receive the login test's password): it is shown and used
//! only after a yes at the terminal, and refused without one. The login
//! is tried before anything is written (unless `--no-test`), and the file is written whole to
//! a temporary file (mode 0600), synced and renamed over the old one. An existing account of
//! the same name is replaced only after a yes at the terminal, or with `--force`.

use crate::cli::InitArgs;
use crate::config::{self, profiles, Protocol};
use crate::error::{Class, Error, Result};
use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The profile for an address's domain: the big providers by name, else `custom`.
pub fn guess_profile(domain: &str) -> &'static str {
    let d = domain.to_ascii_lowercase();
    match d.as_str() {
        "gmail.com" | "googlemail.com" => "gmail",
        "outlook.com" | "hotmail.com" | "live.com" => "outlook",
        "yahoo.com" => "yahoo",
        "icloud.com" | "me.com" => "icloud",
        "fastmail.com" => "fastmail",
        "aol.com" => "aol",
        _ if d.starts_with("gmx.") => "gmx",
        _ => "custom",
    }
}

/// Where the answers come from: the terminal, or nowhere (flags only).
struct Asker {
    interactive: bool,
}

impl Asker {
    /// The flag's value, else the answer to `question` (with `default` on an empty answer),
    /// else the default; without a terminal and without a default, a usage error naming `flag`.
    fn get(
        &self,
        given: &Option<String>,
        question: &str,
        default: Option<&str>,
        flag: &str,
    ) -> Result<String> {
        if let Some(v) = given {
            return Ok(v.clone());
        }
        if !self.interactive {
            return default.map(str::to_string).ok_or_else(|| {
                Error::new(
                    Class::Usage,
                    format!("init: {flag} is needed (no terminal to ask)"),
                )
            });
        }
        loop {
            match default {
                Some(d) => eprint!("{question} [{d}]: "),
                None => eprint!("{question}: "),
            }
            let mut line = String::new();
            let n = std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::local("reading the answer", e))?;
            if n == 0 {
                return Err(Error::new(Class::Usage, "init: no answer (end of input)"));
            }
            let answer = line.trim();
            match (answer.is_empty(), default) {
                (false, _) => return Ok(answer.to_string()),
                (true, Some(d)) => return Ok(d.to_string()),
                (true, None) => continue,
            }
        }
    }

    /// A yes/no question; without a terminal, no.
    fn yes(&self, question: &str) -> Result<bool> {
        if !self.interactive {
            return Ok(false);
        }
        let none = None;
        let answer = self.get(&none, &format!("{question} (y/n)"), Some("n"), "")?;
        Ok(answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes"))
    }
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Add (or replace) the account `args` describe in the config at `path`; `state_dir` is for
/// the login test. Returns what to tell the user.
pub fn run(args: &InitArgs, path: &Path, state_dir: &Path, verbose: bool) -> Result<String> {
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    let ask = Asker { interactive };
    let address = ask.get(&args.address, "Email address", None, "--address")?;
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let guessed = guess_profile(domain);
    let profile_name = ask.get(
        &args.profile,
        &format!("Profile ({})", profiles::names()),
        Some(guessed),
        "--profile",
    )?;
    let profile = profiles::find(&profile_name).ok_or_else(|| {
        Error::new(
            Class::Usage,
            format!(
                "init: unknown profile {profile_name:?} (known: {})",
                profiles::names()
            ),
        )
    })?;
    let protocol = ask.get(
        &args.protocol,
        "Protocol (pop3 or imap)",
        Some(profile.preferred.as_str()),
        "--protocol",
    )?;
    let proto = match protocol.as_str() {
        "pop3" => Protocol::Pop3,
        "imap" => Protocol::Imap,
        other => {
            return Err(Error::new(
                Class::Usage,
                format!("init: protocol {other:?}: use pop3 or imap"),
            ))
        }
    };
    let mut server = String::new();
    if profile.name == "custom" {
        let found = if !domain.is_empty()
            && args.host.is_none()
            && !args.no_srv
            && (args.srv
                || ask.yes(&format!(
                    "Look up the {} server of {domain} in DNS (SRV records)?",
                    proto.as_str().to_ascii_uppercase()
                ))?) {
            srv_lookup(domain, proto, args.tls.as_deref(), &ask)?
        } else {
            None
        };
        let default_host = match &found {
            Some(f) => Some(f.host.clone()),
            None => (!domain.is_empty()).then(|| match proto {
                Protocol::Pop3 => format!("pop.{domain}"),
                Protocol::Imap => format!("imap.{domain}"),
            }),
        };
        let host = ask.get(&args.host, "Server host", default_host.as_deref(), "--host")?;
        let from_srv = found.as_ref().filter(|f| f.host == host);
        let tls = ask.get(
            &args.tls,
            "TLS (implicit, starttls or none)",
            Some(from_srv.map_or("implicit", |f| f.tls)),
            "--tls",
        )?;
        let mode: crate::net::TlsMode =
            toml::Value::String(tls.clone()).try_into().map_err(|_| {
                Error::new(
                    Class::Usage,
                    format!("init: tls {tls:?}: use implicit, starttls or none"),
                )
            })?;
        let given = args.port.map(|p| p.to_string());
        let port = ask.get(
            &given,
            "Server port",
            Some(
                &from_srv
                    .filter(|f| f.tls == tls)
                    .map_or(proto.default_port(mode), |f| f.port)
                    .to_string(),
            ),
            "--port",
        )?;
        server.push_str(&format!(
            "host = {}\nport = {port}\ntls = {}\n",
            quoted(&host),
            quoted(&tls)
        ));
        if let Some(ca) = &args.ca_file {
            server.push_str(&format!("ca-file = {}\n", quoted(ca)));
        }
    }
    let local = address.split('@').next().unwrap_or("mail");
    let default_name: String = domain
        .split('.')
        .next()
        .filter(|d| !d.is_empty() && profile.name != "custom")
        .unwrap_or(local)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    let name = ask.get(
        &args.account,
        "Account name",
        Some(if default_name.is_empty() {
            "mail"
        } else {
            &default_name
        }),
        "--account",
    )?;
    let user = ask.get(&args.user, "Login name", Some(&address), "--user")?;
    let password = match (&args.password_command, &args.password_env) {
        (Some(c), _) => format!("password-command = {}\n", quoted(c)),
        (None, Some(v)) => format!("password-env = {}\n", quoted(v)),
        (None, None) if interactive => {
            let none = None;
            let how = ask.get(
                &none,
                "Password from: a command (e.g. pass show mail), an environment variable, \
                 or asked each run? (command/env/ask)",
                Some("ask"),
                "",
            )?;
            match how.as_str() {
                "command" => {
                    let c = ask.get(&none, "Command printing the password", None, "")?;
                    format!("password-command = {}\n", quoted(&c))
                }
                "env" => {
                    let v = ask.get(&none, "Environment variable", None, "")?;
                    format!("password-env = {}\n", quoted(&v))
                }
                _ => String::new(),
            }
        }
        (None, None) => String::new(),
    };
    let target = ask.get(
        &args.target,
        "Where mail goes (maildir:PATH or mbox:PATH)",
        Some(&format!("maildir:~/Mail/{name}")),
        "--target",
    )?;
    let table = format!(
        "[accounts.{name}]\nprofile = {}\nprotocol = {}\n{server}user = {}\n{password}target = {}\n",
        quoted(profile.name),
        quoted(proto.as_str()),
        quoted(&user),
        quoted(&target),
    );

    let old = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::local(format!("cannot read {}", path.display()), e)),
    };
    let (kept, existed) = without_account(&old, &name);
    if existed && !args.force && !ask.yes(&format!("Account {name} exists; replace it?"))? {
        return Err(Error::new(
            Class::Usage,
            format!(
                "init: account {name} already exists in {}; pass --force to replace it",
                path.display()
            ),
        ));
    }
    let mut text = kept.trim_end().to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&table);
    // Check the whole file as `pull` will read it.
    let account = config::parse(path, &text)?
        .accounts
        .into_iter()
        .find(|a| a.name == name)
        .ok_or_else(|| Error::config(format!("init: account {name} did not come out")))?;
    if !args.no_test {
        let mut source = crate::pull::connect(&account, state_dir, false, verbose)?;
        source.close()?;
    }
    write_private(path, &text)?;
    let mut note = format!(
        "account {name} {} {}",
        if existed { "replaced in" } else { "added to" },
        path.display()
    );
    if !args.no_test {
        note.push_str(&format!(
            " (login to {}:{} works)",
            account.endpoint.host, account.endpoint.port
        ));
    }
    if password.is_empty() {
        note.push_str("; the password will be asked at each run (see password-command)");
    }
    Ok(note)
}

/// A server RFC 6186 SRV records name.
struct Found {
    host: String,
    port: u16,
    tls: &'static str,
}

/// Look up the SRV records for `proto` at `domain`: implicit TLS first (RFC 8314), then
/// STARTTLS, only the one `tls` names if given. What happens is told on stderr; a failed
/// lookup only means no proposal. A host outside `domain` is proposed only when the user
/// says yes to it; without a terminal it is an error.
fn srv_lookup(
    domain: &str,
    proto: Protocol,
    tls: Option<&str>,
    ask: &Asker,
) -> Result<Option<Found>> {
    let services: &[(&str, &'static str)] = match proto {
        Protocol::Imap => &[("_imaps", "implicit"), ("_imap", "starttls")],
        Protocol::Pop3 => &[("_pop3s", "implicit"), ("_pop3", "starttls")],
    };
    let server = match crate::dns_srv::resolver() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("init: no SRV lookup: {e}");
            return Ok(None);
        }
    };
    for (service, mode) in services {
        if tls.is_some_and(|t| t != *mode) {
            continue;
        }
        let name = format!("{service}._tcp.{domain}");
        match crate::dns_srv::lookup(&name, server) {
            Ok(crate::dns_srv::Found::Offered(records)) => {
                let best = &records[0];
                eprintln!(
                    "init: SRV {name}: {}:{} ({mode} TLS)",
                    best.target, best.port
                );
                if !within(&best.target, domain) {
                    let question = format!(
                        "The DNS names host {} for {domain}, outside that domain; use it?",
                        best.target
                    );
                    if !ask.interactive {
                        return Err(Error::new(
                            Class::Usage,
                            format!(
                                "init: the DNS names host {} for {domain}, outside that domain, \
                                 and there is no terminal to confirm it (RFC 6186 section 6): \
                                 pass --host {} if it is right, or --no-srv",
                                best.target, best.target
                            ),
                        ));
                    }
                    if !ask.yes(&question)? {
                        return Ok(None);
                    }
                }
                return Ok(Some(Found {
                    host: best.target.clone(),
                    port: best.port,
                    tls: mode,
                }));
            }
            Ok(crate::dns_srv::Found::NotOffered) => {
                eprintln!("init: SRV {name}: the domain says it does not offer this")
            }
            Ok(crate::dns_srv::Found::Nothing) => eprintln!("init: SRV {name}: no record"),
            Err(e) => {
                eprintln!("init: SRV {name}: {e}");
                return Ok(None);
            }
        }
    }
    Ok(None)
}

/// Whether `host` is `domain` or a name under it (`imap.example.org` for `example.org`,
/// not `example.org.evil.net` nor `badexample.org`), ignoring case and a final dot.
fn within(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(&domain)
                .is_some_and(|head| head.ends_with('.')))
}

/// `text` without the table `[accounts.NAME]`, and whether it had it.
fn without_account(text: &str, name: &str) -> (String, bool) {
    let headers = [
        format!("[accounts.{name}]"),
        format!("[accounts.\"{name}\"]"),
    ];
    let mut out = String::new();
    let mut skipping = false;
    let mut found = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            skipping = headers
                .iter()
                .any(|h| t.split('#').next().unwrap_or("").trim() == h);
            found |= skipping;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, found)
}

/// Write `text` to `path` with mode 0600: a temporary file beside it, synced, renamed over.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)
        .map_err(|e| Error::local(format!("cannot create {}", dir.display()), e))?;
    let tmp = path.with_extension("toml.tmp");
    let err = |e| Error::local(format!("cannot write {}", tmp.display()), e);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(err)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path)
        .map_err(|e| Error::local(format!("cannot replace {}", path.display()), e))?;
    crate::state::sync_dir(dir)
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

    #[test]
    fn an_account_table_is_removed_up_to_the_next_table() {
        let text =
            "[defaults]\nkeep = true\n\n[accounts.a]\nuser = \"x\"\n\n[accounts.b]\nuser = \"y\"\n";
        let (rest, found) = without_account(text, "a");
        assert!(found);
        assert_eq!(
            rest,
            "[defaults]\nkeep = true\n\n[accounts.b]\nuser = \"y\"\n"
        );
        assert!(!without_account(text, "c").1);
    }

    #[test]
    fn srv_hosts_within_the_domain_are_its_subdomains() {
        for (host, domain) in [
            ("example.org", "example.org"),
            ("imap.example.org", "example.org"),
            ("IMAP.Mail.Example.ORG.", "example.org"),
        ] {
            assert!(within(host, domain), "{host} in {domain}");
        }
        for (host, domain) in [
            ("imap.evil.net", "example.org"),
            ("badexample.org", "example.org"),
            ("example.org.evil.net", "example.org"),
            ("org", "example.org"),
            ("imap.example.org", ""),
        ] {
            assert!(!within(host, domain), "{host} not in {domain}");
        }
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
