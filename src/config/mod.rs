//! The configuration: one TOML schema, loaded with `file:line:col` errors, validated, and
//! resolved with the provider profiles into one [`Account`] per account. Nothing below this
//! layer sees raw TOML or raw flags.

mod file;
mod include;
mod oauth2;
mod password;
pub mod profiles;

pub use oauth2::TokenSource;
pub use password::{PasswordCredential, PasswordSource};
pub use profiles::{Profile, Protocol};

use crate::error::{Error, Result};
use crate::net::{Endpoint, Fingerprint, TlsMode, TlsSettings, TlsVersion};
use crate::sasl::AuthMethod;
use crate::sink::Address;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Seconds between polls in `mailfetch watch` unless `poll-interval` says otherwise.
pub const DEFAULT_POLL_INTERVAL: u64 = 300;

/// Accounts of one run connected to one server at once unless `max-connections-per-host`
/// says otherwise: under Gmail's 15 IMAP connections per account and Microsoft's 20 per
/// mailbox (and its lower per-address throttling), with room for the user's own clients.
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: u32 = 8;

/// The file as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileToml {
    /// More files of accounts: paths or patterns (`accounts.d/*.toml`), relative to this
    /// file's directory. Only in the main config.
    #[serde(default)]
    include: Option<Spanned<Vec<Spanned<String>>>>,
    /// Values every account inherits.
    #[serde(default)]
    defaults: Option<Spanned<AccountToml>>,
    /// The accounts by name.
    #[serde(default)]
    accounts: BTreeMap<Spanned<String>, Spanned<AccountToml>>,
}

/// One account (or the defaults) as written. Every key is optional here; [`resolve`]
/// checks what an account needs.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AccountToml {
    /// Provider preset: gmail, outlook, ..., custom.
    profile: Option<Spanned<String>>,
    /// pop3 or imap.
    protocol: Option<Protocol>,
    /// Server host name.
    host: Option<String>,
    /// Server port.
    port: Option<u16>,
    /// implicit, starttls or none.
    tls: Option<TlsMode>,
    /// Extra CA certificates (PEM).
    ca_file: Option<String>,
    /// Oldest TLS version: 1.0, 1.1, 1.2 (default) or 1.3.
    tls_min: Option<Spanned<String>>,
    /// Pinned server certificate, `sha256:AB:CD:...`.
    tls_fingerprint: Option<Spanned<String>>,
    /// Login name.
    user: Option<String>,
    /// Literal password (the file must then be private).
    password: Option<String>,
    /// Command printing the password.
    password_command: Option<String>,
    /// Environment variable holding the password.
    password_env: Option<String>,
    /// Login method.
    auth: Option<Spanned<String>>,
    /// Command printing a fresh OAuth2 access token.
    oauth2_token_command: Option<Spanned<String>>,
    /// The user's registered OAuth2 client.
    oauth2_client_id: Option<Spanned<String>>,
    /// Its secret, for providers that want one (the file must then be private).
    oauth2_client_secret: Option<Spanned<String>>,
    /// OAuth2 authorization endpoint (default: the profile's).
    oauth2_auth_url: Option<Spanned<String>>,
    /// OAuth2 token endpoint (default: the profile's).
    oauth2_token_url: Option<Spanned<String>>,
    /// OAuth2 device authorization endpoint (default: the profile's).
    oauth2_device_url: Option<Spanned<String>>,
    /// OAuth2 scopes, space-separated (default: the profile's for the protocol).
    oauth2_scope: Option<Spanned<String>>,
    /// Where mail goes: maildir:PATH, mbox:PATH, mda:COMMAND, imap:ACCOUNT/FOLDER,
    /// lmtp:SOCKET, lmtp:HOST:PORT or smtp:HOST:PORT.
    target: Option<Spanned<String>>,
    /// The envelope recipient for an lmtp: or smtp: target.
    deliver_to: Option<Spanned<String>>,
    /// Leave mail on the server.
    keep: Option<bool>,
    /// Fetch messages already seen too.
    fetch_all: Option<bool>,
    /// Seconds for connect and each read or write.
    timeout: Option<Spanned<u64>>,
    /// Allow a password over an unencrypted connection.
    allow_plaintext_password: Option<bool>,
    /// IMAP folders to fetch: a list of names (default `["INBOX"]`), or `"*"` for every
    /// selectable folder on the server.
    folders: Option<Spanned<FoldersToml>>,
    /// IMAP folder that fetched mail is moved to instead of being deleted (with keep = false).
    move_to: Option<Spanned<String>>,
    /// Messages larger than this many bytes are not fetched.
    max_message_size: Option<Spanned<u64>>,
    /// What to do with a message over max-message-size: skip it, or deliver its header.
    oversize: Option<Oversize>,
    /// At most this many messages per run.
    max_messages_per_run: Option<Spanned<u64>>,
    /// At most this many bytes per run.
    max_bytes_per_run: Option<Spanned<u64>>,
    /// With keep: delete a message from the server this many days after its first delivery.
    delete_after_days: Option<Spanned<u32>>,
    /// `mailfetch watch`: seconds between polls where IDLE is not to be had.
    poll_interval: Option<Spanned<u64>>,
    /// Gmail (X-GM-EXT-1) with `folders = "*"`: fetch Spam too.
    gmail_spam: Option<bool>,
    /// Gmail (X-GM-EXT-1) with `folders = "*"`: fetch Trash too.
    gmail_trash: Option<bool>,
    /// At most this many accounts of a run connected to this account's server (and to its
    /// imap: target's) at once, across all accounts of the run.
    max_connections_per_host: Option<Spanned<u32>>,
}

/// `folders` as written: a list of names or a string (which must be `"*"`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum FoldersToml {
    /// `folders = ["INBOX", "Receipts"]`
    List(Vec<String>),
    /// `folders = "*"`
    Pattern(String),
}

impl AccountToml {
    /// This account's values, falling back to `d` (the defaults) for what it leaves out.
    fn or(self, d: &AccountToml) -> AccountToml {
        let d = d.clone();
        AccountToml {
            profile: self.profile.or(d.profile),
            protocol: self.protocol.or(d.protocol),
            host: self.host.or(d.host),
            port: self.port.or(d.port),
            tls: self.tls.or(d.tls),
            ca_file: self.ca_file.or(d.ca_file),
            tls_min: self.tls_min.or(d.tls_min),
            tls_fingerprint: self.tls_fingerprint.or(d.tls_fingerprint),
            user: self.user.or(d.user),
            password: self.password.or(d.password),
            password_command: self.password_command.or(d.password_command),
            password_env: self.password_env.or(d.password_env),
            auth: self.auth.or(d.auth),
            oauth2_token_command: self.oauth2_token_command.or(d.oauth2_token_command),
            oauth2_client_id: self.oauth2_client_id.or(d.oauth2_client_id),
            oauth2_client_secret: self.oauth2_client_secret.or(d.oauth2_client_secret),
            oauth2_auth_url: self.oauth2_auth_url.or(d.oauth2_auth_url),
            oauth2_token_url: self.oauth2_token_url.or(d.oauth2_token_url),
            oauth2_device_url: self.oauth2_device_url.or(d.oauth2_device_url),
            oauth2_scope: self.oauth2_scope.or(d.oauth2_scope),
            target: self.target.or(d.target),
            deliver_to: self.deliver_to.or(d.deliver_to),
            keep: self.keep.or(d.keep),
            fetch_all: self.fetch_all.or(d.fetch_all),
            timeout: self.timeout.or(d.timeout),
            allow_plaintext_password: self.allow_plaintext_password.or(d.allow_plaintext_password),
            folders: self.folders.or(d.folders),
            move_to: self.move_to.or(d.move_to),
            max_message_size: self.max_message_size.or(d.max_message_size),
            oversize: self.oversize.or(d.oversize),
            max_messages_per_run: self.max_messages_per_run.or(d.max_messages_per_run),
            max_bytes_per_run: self.max_bytes_per_run.or(d.max_bytes_per_run),
            delete_after_days: self.delete_after_days.or(d.delete_after_days),
            poll_interval: self.poll_interval.or(d.poll_interval),
            gmail_spam: self.gmail_spam.or(d.gmail_spam),
            gmail_trash: self.gmail_trash.or(d.gmail_trash),
            max_connections_per_host: self.max_connections_per_host.or(d.max_connections_per_host),
        }
    }
}

/// What happens to a message larger than `max-message-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Oversize {
    /// Leave it on the server and report it (the default).
    #[default]
    Skip,
    /// Deliver its header alone, marked with an `X-Mailfetch-Truncated:` field; the message
    /// stays on the server.
    Headers,
}

/// How much one run fetches of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Messages larger than this (bytes, as the server counts them) are not fetched.
    pub max_message_size: Option<u64>,
    /// What to do with them.
    pub oversize: Oversize,
    /// At most this many messages per run (the rest waits for the next run).
    pub max_messages_per_run: Option<usize>,
    /// At most this many bytes per run; a run always fetches at least one message.
    pub max_bytes_per_run: Option<u64>,
}

/// Where an account's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Maildir (Maildir++ subfolders for IMAP folders).
    Maildir(PathBuf),
    /// An mboxrd file.
    Mbox(PathBuf),
    /// A command receiving each message on stdin.
    Mda(String),
    /// A folder of another IMAP account of this config, appended to.
    Imap(ImapTarget),
    /// An LMTP server.
    Lmtp(Relay),
    /// An SMTP server.
    Smtp(Relay),
}

/// An `imap:ACCOUNT/FOLDER` target.
#[derive(Debug, Clone)]
pub struct ImapTarget {
    /// The account whose server and login are used.
    pub account: String,
    /// The folder (UTF-8, with that server's hierarchy delimiter).
    pub folder: String,
    /// That account, resolved; set for every target of a loaded [`Config`].
    server: Option<Box<Account>>,
}

impl ImapTarget {
    /// The account holding the folder.
    pub fn server(&self) -> &Account {
        self.server
            .as_deref()
            .expect("config::parse resolves every imap: target")
    }
}

impl PartialEq for ImapTarget {
    fn eq(&self, other: &Self) -> bool {
        (&self.account, &self.folder) == (&other.account, &other.folder)
    }
}

impl Eq for ImapTarget {}

/// An `lmtp:` or `smtp:` target: the server and the envelope recipient (`deliver-to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Where the server listens.
    pub server: Address,
    /// `RCPT TO`.
    pub to: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Maildir(p) => write!(f, "maildir:{}", p.display()),
            Target::Mbox(p) => write!(f, "mbox:{}", p.display()),
            Target::Mda(c) => write!(f, "mda:{c}"),
            Target::Imap(t) => write!(f, "imap:{}/{}", t.account, t.folder),
            Target::Lmtp(r) => write!(f, "lmtp:{} (to {})", r.server, r.to),
            Target::Smtp(r) => write!(f, "smtp:{} (to {})", r.server, r.to),
        }
    }
}

/// Which remote folders an account fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folders {
    /// These, in this order (UTF-8 names; `INBOX` for POP3).
    Named(Vec<String>),
    /// Every selectable folder the server lists (`folders = "*"`).
    All,
}

impl std::fmt::Display for Folders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Folders::Named(names) => f.write_str(&names.join(",")),
            Folders::All => f.write_str("*"),
        }
    }
}

/// An account, resolved and validated: everything needed to fetch it.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its name in the config.
    pub name: String,
    /// The profile it was resolved with.
    pub profile: &'static Profile,
    /// POP3 or IMAP.
    pub protocol: Protocol,
    /// Server, port, TLS, timeout.
    pub endpoint: Endpoint,
    /// Login name.
    pub user: String,
    /// Where the password comes from.
    pub password: PasswordSource,
    /// Where the OAuth2 access token comes from, for `auth = "oauth2"` (and xoauth2 or
    /// oauthbearer with an oauth2 key); `None`: the secret is the password.
    pub oauth2: Option<TokenSource>,
    /// Login method.
    pub auth: AuthMethod,
    /// Whether a password may cross an unencrypted connection.
    pub allow_plaintext_password: bool,
    /// Where mail goes.
    pub target: Target,
    /// Leave mail on the server.
    pub keep: bool,
    /// Fetch messages already seen too.
    pub fetch_all: bool,
    /// The remote folders to fetch.
    pub folders: Folders,
    /// Move fetched mail to this IMAP folder instead of deleting it (when not keeping mail).
    pub move_to: Option<String>,
    /// Size and per-run limits.
    pub limits: Limits,
    /// With keep: delete a message from the server this many days after its first delivery.
    pub delete_after_days: Option<u32>,
    /// `mailfetch watch`: how often to poll a POP3 account, or an IMAP server without IDLE.
    pub poll_interval: Duration,
    /// What `folders = "*"` fetches of a Gmail account beside All Mail.
    pub gmail: GmailFolders,
    /// At most this many accounts of a run connected to its server at once.
    pub max_connections_per_host: u32,
}

/// What `folders = "*"` fetches of a Gmail account (a server offering X-GM-EXT-1) beside
/// `[Gmail]/All Mail`, which holds every message but those in Spam and Trash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GmailFolders {
    /// `gmail-spam`: Spam (`\Junk`) too.
    pub spam: bool,
    /// `gmail-trash`: Trash (`\Trash`) too.
    pub trash: bool,
}

/// A loaded configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The accounts, in name order.
    pub accounts: Vec<Account>,
}

impl Account {
    /// Where this account's logins take their secret from for a run: the password (asked
    /// once), `oauth2-token-command` (run again once if the server refuses the token), or
    /// access tokens renewed from the refresh token kept in `state_dir`.
    pub fn credential(&self, state_dir: &Path) -> Box<dyn crate::secret::Credential> {
        match &self.oauth2 {
            None => Box::new(PasswordCredential::new(
                self.password.clone(),
                &self.name,
                &self.user,
                false,
            )),
            Some(TokenSource::Command(command)) => Box::new(PasswordCredential::new(
                PasswordSource::Command(command.clone()),
                &self.name,
                &self.user,
                true,
            )),
            Some(TokenSource::Client(client)) => {
                Box::new(crate::oauth2::Renewing::new(&self.name, client, state_dir))
            }
        }
    }

    /// How this account logs in, for every login of a run (its secret taken from
    /// [`Account::credential`] when a login first needs it).
    pub fn login(&self, state_dir: &Path) -> crate::sasl::Login {
        crate::sasl::Login {
            user: self.user.clone(),
            method: self.auth,
            allow_plaintext: self.allow_plaintext_password,
            credential: self.credential(state_dir),
        }
    }
}

impl Config {
    /// The accounts named in `names`, or all of them when `names` is empty. An unknown name
    /// is a usage error listing the known ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Account>> {
        if names.is_empty() {
            return Ok(self.accounts.iter().collect());
        }
        names
            .iter()
            .map(|n| {
                self.accounts.iter().find(|a| &a.name == n).ok_or_else(|| {
                    let known: Vec<&str> = self.accounts.iter().map(|a| a.name.as_str()).collect();
                    Error::new(
                        crate::error::Class::Usage,
                        format!(
                            "no account named {n:?} in {} (accounts: {})",
                            self.path.display(),
                            known.join(", ")
                        ),
                    )
                })
            })
            .collect()
    }
}

impl Config {
    /// The IMAP account and folder of `spec`, written `ACCOUNT/FOLDER` on the command line
    /// (`upload --to`, `verify --remote`); a wrong one is a usage error.
    pub fn imap_folder(&self, spec: &str) -> Result<(&Account, String)> {
        let usage = |why: String| Error::new(crate::error::Class::Usage, why);
        let (name, folder) = spec
            .split_once('/')
            .filter(|(a, f)| !a.is_empty() && !f.is_empty())
            .ok_or_else(|| {
                usage(format!(
                    "{spec:?}: write ACCOUNT/FOLDER, e.g. newhome/Archive (an IMAP account of \
                     {} and a folder on its server)",
                    self.path.display()
                ))
            })?;
        let account = self.select(&[name.to_string()])?[0];
        if account.protocol != Protocol::Imap {
            return Err(usage(format!(
                "{spec:?}: {name} is a {} account; this needs an IMAP account",
                account.protocol.as_str()
            )));
        }
        check_folder_name(folder).map_err(|why| usage(format!("{spec:?}: {why}")))?;
        Ok((account, folder.to_string()))
    }
}

/// Point every `imap:ACCOUNT/FOLDER` target at its account, which must be an IMAP account
/// of this config that does not fetch that folder itself; `targets_at` says where each
/// account's target is written.
fn resolve_imap_targets(accounts: &mut [Account], targets_at: &[String]) -> Result<()> {
    let all: Vec<Account> = accounts.to_vec();
    for (a, at) in accounts.iter_mut().zip(targets_at) {
        let name = a.name.clone();
        let fetches = |folder: &str| match &a.folders {
            Folders::All => true,
            Folders::Named(n) => n
                .iter()
                .any(|f| f == folder || (f == "INBOX" && folder.eq_ignore_ascii_case("INBOX"))),
        };
        let Target::Imap(t) = &a.target else {
            continue;
        };
        let server = all.iter().find(|d| d.name == t.account).ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
            Error::config(format!(
                "{at}: account {name}: target imap:{}/{}: there is no account {:?} \
                 (accounts: {})",
                t.account,
                t.folder,
                t.account,
                known.join(", ")
            ))
        })?;
        if server.protocol != Protocol::Imap {
            return Err(Error::config(format!(
                "{at}: account {name}: target imap:{}/{}: {} is a {} account; messages can \
                 only be appended to an IMAP account (protocol = \"imap\")",
                t.account,
                t.folder,
                t.account,
                server.protocol.as_str()
            )));
        }
        if server.name == name && fetches(&t.folder) {
            return Err(Error::config(format!(
                "{at}: account {name}: target imap:{}/{}: the account fetches that folder \
                 itself, so it would fetch what it appends, again and again",
                t.account, t.folder
            )));
        }
        let server = Box::new(server.clone());
        if let Target::Imap(t) = &mut a.target {
            t.server = Some(server);
        }
    }
    Ok(())
}

/// An `lmtp:`/`smtp:` target with its `deliver-to` recipient, which only they take and
/// which they need; `target_at` says where the target is written.
fn with_recipient(
    target: Target,
    deliver_to: Option<&Spanned<String>>,
    name: &str,
    target_at: &str,
    here: &dyn Fn(Option<Range<usize>>) -> String,
) -> Result<Target> {
    let recipient = |to: Option<&Spanned<String>>| -> Result<String> {
        let to = to.ok_or_else(|| {
            Error::config(format!(
                "{target_at}: account {name}: an lmtp: or smtp: target needs \
                 deliver-to = \"alice@example.org\" (the envelope recipient)"
            ))
        })?;
        if !crate::sink::valid_recipient(to.get_ref()) {
            return Err(Error::config(format!(
                "{}: account {name}: deliver-to = {:?} is not an address (no spaces, \
                 control characters or angle brackets)",
                here(Some(to.span())),
                to.get_ref()
            )));
        }
        Ok(to.get_ref().clone())
    };
    Ok(match target {
        Target::Lmtp(r) => Target::Lmtp(Relay {
            to: recipient(deliver_to)?,
            ..r
        }),
        Target::Smtp(r) => Target::Smtp(Relay {
            to: recipient(deliver_to)?,
            ..r
        }),
        other => {
            if let Some(to) = deliver_to {
                return Err(Error::config(format!(
                    "{}: account {name}: deliver-to is for lmtp: and smtp: targets, not {other}",
                    here(Some(to.span()))
                )));
            }
            other
        }
    })
}

/// `HOST:PORT` (`[::1]:24` for an IPv6 address).
fn host_port(text: &str) -> Option<Address> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    (!host.is_empty() && !host.contains(char::is_whitespace))
        .then(|| Address::Tcp(host.to_string(), port))
}

/// The default config path: `$XDG_CONFIG_HOME/mailfetch/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "mailfetch").map(|d| d.config_dir().join("config.toml"))
}

/// `file:line:col` for a byte range of `text`.
fn position(path: &Path, text: &str, span: Option<Range<usize>>) -> String {
    let Some(span) = span else {
        return path.display().to_string();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{col}", path.display())
}

/// Expand a leading `~` to the home directory.
pub fn expand_tilde(path: &str) -> PathBuf {
    if path == "~" || path.starts_with("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(path.trim_start_matches('~').trim_start_matches('/'));
        }
    }
    PathBuf::from(path)
}

/// Load and resolve the config at `path`, refusing a file someone else could have written
/// (see [`file::read`]).
pub fn load(path: &Path) -> Result<Config> {
    parse(path, &file::read(path)?)
}

/// Parse and resolve config `text` (read from `path`, for messages and permission checks),
/// with the files it includes (read from disk, each checked as the main one is).
pub fn parse(path: &Path, text: &str) -> Result<Config> {
    let file = parse_toml(path, text)?;
    let defaults = file.defaults.map(|d| d.into_inner()).unwrap_or_default();
    if defaults.password.is_some() || defaults.oauth2_client_secret.is_some() {
        check_private(path)?;
    }
    let mut included = Vec::new();
    for pattern in file.include.map(|i| i.into_inner()).unwrap_or_default() {
        let at = position(path, text, Some(pattern.span()));
        for p in include::expand(path, pattern.get_ref(), &at)? {
            let text = file::read(&p).map_err(|e| {
                Error::new(e.class(), format!("{at}: included here: {}", e.message()))
            })?;
            let toml = parse_toml(&p, &text)?;
            let nested = toml
                .include
                .as_ref()
                .map(|i| i.span())
                .or_else(|| toml.defaults.as_ref().map(|d| d.span()));
            if let Some(span) = nested {
                return Err(Error::config(format!(
                    "{}: include and [defaults] belong in the main config {}, not in a file it includes",
                    position(&p, &text, Some(span)),
                    path.display()
                )));
            }
            included.push((p, text, toml.accounts));
        }
    }
    let mut sources = vec![(path.to_path_buf(), text.to_string(), file.accounts)];
    sources.extend(included);
    let mut accounts: Vec<Account> = Vec::new();
    // Where each account is named and its target written, for errors found later.
    let mut names_at: BTreeMap<String, String> = BTreeMap::new();
    let mut targets_at = BTreeMap::new();
    for (path, text, file_accounts) in sources {
        let (path, text) = (path.as_path(), text.as_str());
        let mut literal_password = false;
        for (name, account) in file_accounts {
            let at = position(path, text, Some(account.span()));
            let name_at = position(path, text, Some(name.span()));
            let name = name.into_inner();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                || name.starts_with('.')
            {
                return Err(Error::config(format!(
                    "{name_at}: account name {name:?}: use letters, digits, '-', '_' and '.' only \
                     (it names the state file)"
                )));
            }
            if let Some(first) = names_at.get(&name) {
                return Err(Error::config(format!(
                    "{name_at}: account {name} is defined twice: here and at {first}"
                )));
            }
            let raw = account.into_inner().or(&defaults);
            literal_password |= raw.password.is_some() || raw.oauth2_client_secret.is_some();
            let target_at = position(path, text, raw.target.as_ref().map(|t| t.span()));
            accounts.push(resolve(&name, raw, &at, path, text)?);
            targets_at.insert(name.clone(), target_at);
            names_at.insert(name, name_at);
        }
        if literal_password {
            check_private(path)?;
        }
    }
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let targets_at: Vec<String> = accounts
        .iter()
        .map(|a| targets_at[&a.name].clone())
        .collect();
    resolve_imap_targets(&mut accounts, &targets_at)?;
    if accounts.is_empty() {
        return Err(Error::config(format!(
            "{}: no accounts; add one, e.g.\n[accounts.personal]\nprofile = \"gmail\"\n\
             user = \"me@gmail.com\"\npassword-command = \"pass show mail/gmail\"\n\
             target = \"maildir:~/Mail/personal\"",
            path.display()
        )));
    }
    Ok(Config {
        path: path.to_path_buf(),
        accounts,
    })
}

/// One config file as written, or its TOML error at `file:line:col`.
fn parse_toml(path: &Path, text: &str) -> Result<FileToml> {
    toml::from_str(text)
        .map_err(|e| file::toml_error(&position(path, text, e.span()), text, &e, &quoted_would_do))
}

/// Whether an account (or the defaults) would take `key = "value"`: then an unquoted
/// `value` that TOML refused was meant as text.
fn quoted_would_do(key: &str, value: &str) -> bool {
    let table = format!("[defaults]\n{key} = \"{value}\"\n");
    toml::from_str::<FileToml>(&table).is_ok()
}

/// A config holding a literal password must not be readable by group or others.
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o600);
    if mode & 0o077 != 0 {
        return Err(Error::config(format!(
            "{} holds a password but is readable by others (mode {:03o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

fn resolve(name: &str, raw: AccountToml, at: &str, path: &Path, text: &str) -> Result<Account> {
    let here = |span: Option<Range<usize>>| position(path, text, span);
    let profile = match &raw.profile {
        Some(p) => profiles::find(p.get_ref()).ok_or_else(|| {
            Error::config(format!(
                "{}: account {name}: unknown profile {:?} (known: {})",
                here(Some(p.span())),
                p.get_ref(),
                profiles::names()
            ))
        })?,
        None if raw.host.is_some() => profiles::custom(),
        None => {
            return Err(Error::config(format!(
            "{at}: account {name}: set profile = \"gmail\" (or {}) or host = \"mail.example.com\"",
            profiles::names()
        )))
        }
    };
    let protocol = raw.protocol.unwrap_or(profile.preferred);
    let preset = profile.server(protocol);
    if preset.is_none() && !profile.own_server {
        return Err(Error::config(format!(
            "{}: account {name}: {} has no {} (use protocol = \"{}\")",
            here(raw.profile.as_ref().map(|p| p.span())),
            profile.name,
            protocol.as_str(),
            profile.preferred.as_str()
        )));
    }
    let host = raw
        .host
        .clone()
        .or_else(|| preset.map(|s| s.host.to_string()))
        .ok_or_else(|| {
            Error::config(format!(
                "{at}: account {name}: profile \"custom\" needs host = \"mail.example.com\""
            ))
        })?;
    let tls = raw
        .tls
        .or(preset.map(|s| s.tls))
        .unwrap_or(TlsMode::Implicit);
    let port = raw
        .port
        .or(preset.filter(|s| s.tls == tls).map(|s| s.port))
        .unwrap_or_else(|| protocol.default_port(tls));
    let user = raw.user.clone().ok_or_else(|| {
        Error::config(format!(
            "{at}: account {name}: missing user (write user = \"me@example.com\")"
        ))
    })?;
    let target_raw = raw.target.as_ref().ok_or_else(|| {
        Error::config(format!(
            "{at}: account {name}: missing target (write target = \"maildir:~/Mail/{name}\" \
             or \"mbox:~/Mail/{name}.mbox\")"
        ))
    })?;
    let target = parse_target(target_raw.get_ref()).map_err(|why| {
        Error::config(format!(
            "{}: account {name}: {why}",
            here(Some(target_raw.span()))
        ))
    })?;
    let target = with_recipient(
        target,
        raw.deliver_to.as_ref(),
        name,
        &here(Some(target_raw.span())),
        &here,
    )?;
    let auth = match &raw.auth {
        Some(a) => AuthMethod::parse(a.get_ref()).ok_or_else(|| {
            Error::config(format!(
                "{}: account {name}: unknown auth {:?} (known: {})",
                here(Some(a.span())),
                a.get_ref(),
                AuthMethod::NAMES
            ))
        })?,
        None => AuthMethod::Auto,
    };
    let sources = [
        raw.password.is_some(),
        raw.password_command.is_some(),
        raw.password_env.is_some(),
    ];
    if sources.iter().filter(|&&s| s).count() > 1 {
        return Err(Error::config(format!(
            "{at}: account {name}: set only one of password, password-command, password-env"
        )));
    }
    let oauth2 = oauth2::resolve(name, protocol, profile, auth, &raw, at, &here)?;
    if oauth2.is_some() && sources.iter().any(|&s| s) {
        return Err(Error::config(format!(
            "{at}: account {name}: an OAuth2 account logs in with a token, not a password: \
             remove password, password-command and password-env"
        )));
    }
    let password = if let Some(p) = raw.password {
        PasswordSource::Literal(crate::secret::Secret::new(p))
    } else if let Some(c) = raw.password_command {
        PasswordSource::Command(c)
    } else if let Some(v) = raw.password_env {
        crate::secret::hide_from_children(&v);
        PasswordSource::Env(v)
    } else {
        PasswordSource::Prompt
    };
    let folders = resolve_folders(name, protocol, raw.folders.as_ref(), &here)?;
    let move_to = match &raw.move_to {
        Some(m) if protocol == Protocol::Pop3 => {
            return Err(Error::config(format!(
                "{}: account {name}: move-to needs protocol = \"imap\" (POP3 has no folders)",
                here(Some(m.span()))
            )))
        }
        Some(m) => {
            check_folder_name(m.get_ref()).map_err(|why| {
                Error::config(format!(
                    "{}: account {name}: move-to: {why}",
                    here(Some(m.span()))
                ))
            })?;
            if matches!(&folders, Folders::Named(n) if n.contains(m.get_ref())) {
                return Err(Error::config(format!(
                    "{}: account {name}: move-to = {:?} is also in folders; mail moved there \
                     would be fetched again",
                    here(Some(m.span())),
                    m.get_ref()
                )));
            }
            Some(m.get_ref().clone())
        }
        None => None,
    };
    let min_version = match &raw.tls_min {
        Some(v) => TlsVersion::parse(v.get_ref()).ok_or_else(|| {
            Error::config(format!(
                "{}: account {name}: tls-min = {:?}: use \"1.2\" (the default), \"1.3\", or \
                 \"1.0\" / \"1.1\" for a legacy server",
                here(Some(v.span())),
                v.get_ref()
            ))
        })?,
        None => TlsVersion::default(),
    };
    let pin = match &raw.tls_fingerprint {
        Some(f) if tls == TlsMode::None => {
            return Err(Error::config(format!(
                "{}: account {name}: tls-fingerprint needs TLS (tls = \"implicit\" or \
                 \"starttls\")",
                here(Some(f.span()))
            )))
        }
        Some(f) => Some(Fingerprint::parse(f.get_ref()).ok_or_else(|| {
            Error::config(format!(
                "{}: account {name}: tls-fingerprint = {:?}: write \"sha256:\" and the 64 hex \
                 digits of the certificate's SHA-256 (`mailfetch certinfo {name}` prints it)",
                here(Some(f.span())),
                f.get_ref()
            ))
        })?),
        None => None,
    };
    let timeout = match raw.timeout {
        Some(t) if *t.get_ref() == 0 || *t.get_ref() > 3600 => {
            return Err(Error::config(format!(
                "{}: account {name}: timeout must be 1 to 3600 seconds",
                here(Some(t.span()))
            )))
        }
        Some(t) => *t.get_ref(),
        None => 60,
    };
    let positive = |key: &str, v: &Option<Spanned<u64>>| -> Result<Option<u64>> {
        match v {
            Some(v) if *v.get_ref() == 0 => Err(Error::config(format!(
                "{}: account {name}: {key} must be at least 1 (leave it out for no limit)",
                here(Some(v.span()))
            ))),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    };
    let limits = Limits {
        max_message_size: positive("max-message-size", &raw.max_message_size)?,
        oversize: raw.oversize.unwrap_or_default(),
        max_messages_per_run: positive("max-messages-per-run", &raw.max_messages_per_run)?
            .map(|n| n as usize),
        max_bytes_per_run: positive("max-bytes-per-run", &raw.max_bytes_per_run)?,
    };
    if raw.oversize.is_some() && limits.max_message_size.is_none() {
        return Err(Error::config(format!(
            "{at}: account {name}: oversize needs max-message-size = BYTES"
        )));
    }
    let keep = raw.keep.unwrap_or(true);
    let delete_after_days = match &raw.delete_after_days {
        Some(d) if *d.get_ref() == 0 || *d.get_ref() > 36500 => {
            return Err(Error::config(format!(
                "{}: account {name}: delete-after-days must be 1 to 36500",
                here(Some(d.span()))
            )))
        }
        Some(d) if !keep => {
            return Err(Error::config(format!(
                "{}: account {name}: delete-after-days needs keep = true (with keep = false \
                 mail is deleted as soon as it is safely delivered)",
                here(Some(d.span()))
            )))
        }
        Some(d) => Some(*d.get_ref()),
        None => None,
    };
    let poll_interval = match &raw.poll_interval {
        Some(p) if *p.get_ref() == 0 || *p.get_ref() > 86400 => {
            return Err(Error::config(format!(
                "{}: account {name}: poll-interval must be 1 to 86400 seconds",
                here(Some(p.span()))
            )))
        }
        Some(p) => *p.get_ref(),
        None => DEFAULT_POLL_INTERVAL,
    };
    let max_connections_per_host = match &raw.max_connections_per_host {
        Some(m) if *m.get_ref() == 0 || *m.get_ref() > 1000 => {
            return Err(Error::config(format!(
                "{}: account {name}: max-connections-per-host must be 1 to 1000",
                here(Some(m.span()))
            )))
        }
        Some(m) => *m.get_ref(),
        None => DEFAULT_MAX_CONNECTIONS_PER_HOST,
    };
    Ok(Account {
        name: name.to_string(),
        profile,
        protocol,
        endpoint: Endpoint {
            host,
            port,
            tls,
            tls_settings: TlsSettings {
                ca_file: raw.ca_file.as_deref().map(expand_tilde),
                min_version,
                pin,
            },
            timeout: Duration::from_secs(timeout),
        },
        user,
        password,
        oauth2,
        auth,
        allow_plaintext_password: raw.allow_plaintext_password.unwrap_or(false),
        target,
        keep,
        fetch_all: raw.fetch_all.unwrap_or(false),
        folders,
        move_to,
        limits,
        delete_after_days,
        poll_interval: Duration::from_secs(poll_interval),
        gmail: GmailFolders {
            spam: raw.gmail_spam.unwrap_or(false),
            trash: raw.gmail_trash.unwrap_or(false),
        },
        max_connections_per_host,
    })
}

/// Why `name` cannot be a folder name, if it cannot: it must be non-empty and free of control
/// characters (which no IMAP string can carry).
fn check_folder_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("a folder name cannot be empty".to_string());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(format!("folder name {name:?} has control characters"));
    }
    Ok(())
}

/// Validate `folders`: a list of distinct, sendable names, or `"*"`; POP3 has only INBOX.
fn resolve_folders(
    name: &str,
    protocol: Protocol,
    raw: Option<&Spanned<FoldersToml>>,
    here: &dyn Fn(Option<Range<usize>>) -> String,
) -> Result<Folders> {
    let Some(raw) = raw else {
        return Ok(Folders::Named(vec!["INBOX".to_string()]));
    };
    let at = here(Some(raw.span()));
    let folders = match raw.get_ref() {
        FoldersToml::Pattern(p) if p == "*" => Folders::All,
        FoldersToml::Pattern(p) => {
            return Err(Error::config(format!(
                "{at}: account {name}: folders = {p:?}: write a list of names, \
                 e.g. folders = [\"INBOX\", \"Receipts\"], or folders = \"*\" for all"
            )))
        }
        FoldersToml::List(list) if list.is_empty() => {
            return Err(Error::config(format!(
                "{at}: account {name}: folders is empty; name at least one (default [\"INBOX\"])"
            )))
        }
        FoldersToml::List(list) => {
            let mut names: Vec<String> = Vec::with_capacity(list.len());
            for f in list {
                check_folder_name(f)
                    .map_err(|why| Error::config(format!("{at}: account {name}: {why}")))?;
                // INBOX is case-insensitive (RFC 3501 section 5.1).
                let f = if f.eq_ignore_ascii_case("INBOX") {
                    "INBOX"
                } else {
                    f
                };
                if names.iter().any(|n| n == f) {
                    return Err(Error::config(format!(
                        "{at}: account {name}: folder {f:?} is listed twice"
                    )));
                }
                names.push(f.to_string());
            }
            Folders::Named(names)
        }
    };
    if protocol == Protocol::Pop3 && folders != Folders::Named(vec!["INBOX".to_string()]) {
        return Err(Error::config(format!(
            "{at}: account {name}: POP3 has only the inbox; folders = {} needs protocol = \"imap\"",
            match &folders {
                Folders::All => "\"*\"".to_string(),
                Folders::Named(n) => format!("{n:?}"),
            }
        )));
    }
    Ok(folders)
}

/// Parse `maildir:PATH`, `mbox:PATH`, `mda:COMMAND`.
fn parse_target(value: &str) -> std::result::Result<Target, String> {
    const KINDS: &str = "maildir:PATH, mbox:PATH, mda:COMMAND, imap:ACCOUNT/FOLDER, \
                         lmtp:SOCKET, lmtp:HOST:PORT or smtp:HOST:PORT";
    let (kind, rest) = value
        .split_once(':')
        .ok_or_else(|| format!("target {value:?} needs a kind: {KINDS}"))?;
    if rest.trim().is_empty() {
        return Err(format!(
            "target {value:?} needs a path or command after the colon"
        ));
    }
    match kind {
        "maildir" => Ok(Target::Maildir(expand_tilde(rest))),
        "mbox" => Ok(Target::Mbox(expand_tilde(rest))),
        "mda" => Ok(Target::Mda(rest.to_string())),
        "imap" => {
            let (account, folder) = rest
                .split_once('/')
                .filter(|(a, f)| !a.is_empty() && !f.is_empty())
                .ok_or_else(|| {
                    format!("target {value:?}: write imap:ACCOUNT/FOLDER, e.g. imap:newhome/INBOX")
                })?;
            check_folder_name(folder).map_err(|why| format!("target {value:?}: {why}"))?;
            Ok(Target::Imap(ImapTarget {
                account: account.to_string(),
                folder: folder.to_string(),
                server: None,
            }))
        }
        "lmtp" | "smtp" => {
            let server = if rest.starts_with('/') || rest.starts_with('~') {
                if kind == "smtp" {
                    return Err(format!(
                        "target {value:?}: SMTP is reached at HOST:PORT, e.g. smtp:localhost:25"
                    ));
                }
                Address::Local(expand_tilde(rest))
            } else {
                host_port(rest).ok_or_else(|| {
                    format!(
                        "target {value:?}: write {kind}:HOST:PORT (e.g. {kind}:localhost:{}){}",
                        if kind == "smtp" { 25 } else { 24 },
                        if kind == "lmtp" {
                            " or lmtp:/path/to/socket"
                        } else {
                            ""
                        }
                    )
                })?
            };
            let relay = Relay {
                server,
                to: String::new(),
            };
            Ok(if kind == "lmtp" {
                Target::Lmtp(relay)
            } else {
                Target::Smtp(relay)
            })
        }
        other => Err(format!(
            "unknown target kind {other:?} in {value:?} (use {KINDS})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        load(&path).map(|mut c| {
            c.path = PathBuf::from("config.toml");
            c
        })
    }

    fn err(text: &str) -> String {
        let e = parse_str(text).unwrap_err();
        assert_eq!(e.class().exit_code(), 78);
        e.message().to_string()
    }

    const OK: &str = r#"
[defaults]
keep = false

[accounts.personal]
profile = "gmail"
protocol = "pop3"
user = "me@gmail.com"
password-command = "pass show mail/gmail"
target = "maildir:~/Mail/personal"

[accounts.work]
profile = "custom"
host = "mail.example.com"
tls = "starttls"
user = "me"
password-env = "WORK_PASS"
target = "mbox:/var/mail/me"
keep = true
timeout = 30
"#;

    #[test]
    fn profiles_and_defaults_resolve() {
        let c = parse_str(OK).unwrap();
        let p = &c.accounts[0];
        assert_eq!(
            (p.name.as_str(), p.endpoint.host.as_str(), p.endpoint.port),
            ("personal", "pop.gmail.com", 995)
        );
        assert_eq!(p.endpoint.tls, TlsMode::Implicit);
        assert!(!p.keep, "inherits keep = false from [defaults]");
        let w = &c.accounts[1];
        assert_eq!((w.endpoint.port, w.endpoint.tls), (110, TlsMode::StartTls));
        assert!(w.keep);
        assert_eq!(w.endpoint.timeout, Duration::from_secs(30));
        assert_eq!(w.target, Target::Mbox(PathBuf::from("/var/mail/me")));
    }

    #[test]
    fn unknown_key_is_reported_with_line_and_column() {
        let m = err("[accounts.a]\nprofile = \"gmail\"\nusr = \"x\"\n");
        assert!(
            m.starts_with("config.toml:3:1:") || m.contains(":3:1:"),
            "{m}"
        );
        assert!(m.contains("usr"), "{m}");
    }

    #[test]
    fn a_toml_error_on_a_secret_line_never_shows_the_value() {
        for line in [
            "password = 98765432101",
            "password = \"9876\\q5432101\"",
            "password = 98765432101x",
            "oauth2-client-secret = [98765432101]",
        ] {
            let m = err(&format!(
                "[accounts.a]\nprofile = \"gmail\"\nuser = \"u\"\n{line}\ntarget = \"mbox:/x\"\n"
            ));
            assert!(m.contains(":4:"), "{m}");
            assert!(
                !m.contains("98765") && !m.contains("5432101"),
                "{line}: {m}"
            );
            assert!(m.contains("write it in quotes"), "{m}");
        }
    }

    #[test]
    fn an_unquoted_text_value_is_told_to_be_quoted() {
        let m = err("[accounts.a]\nprofile = \"custom\"\nhost = 127.0.0.1\n");
        assert!(
            m.contains(":3:") && m.ends_with("text goes in quotes: host = \"127.0.0.1\""),
            "{m}"
        );
        let m = err("[defaults]\ntls = implicit\n");
        assert!(m.ends_with("tls = \"implicit\""), "{m}");
        // Not for a number or a value that would be wrong in quotes too.
        let m = err("[defaults]\nport = 99x\n");
        assert!(!m.contains("in quotes"), "{m}");
        let m = err("[defaults]\ntls = sometimes\n");
        assert!(!m.contains("in quotes"), "{m}");
    }

    #[test]
    fn wrong_type_is_reported_with_line() {
        let m = err("[accounts.a]\nprofile = \"gmail\"\nkeep = \"yes\"\n");
        assert!(m.contains(":3:"), "{m}");
    }

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let m = err("[accounts.a]\nprofile = \"gmial\"\nuser = \"u\"\ntarget = \"mbox:/x\"\n");
        assert!(
            m.contains(":2:11:") && m.contains("gmial") && m.contains("outlook"),
            "{m}"
        );
    }

    #[test]
    fn missing_target_and_user_say_what_to_write() {
        let m = err("[accounts.a]\nprofile = \"gmail\"\nuser = \"u\"\n");
        assert!(
            m.contains("missing target") && m.contains("maildir:"),
            "{m}"
        );
        let m = err("[accounts.a]\nprofile = \"gmail\"\ntarget = \"mbox:/x\"\n");
        assert!(m.contains("missing user"), "{m}");
    }

    #[test]
    fn icloud_has_no_pop3() {
        let m = err("[accounts.a]\nprofile = \"icloud\"\nprotocol = \"pop3\"\nuser = \"u\"\ntarget = \"mbox:/x\"\n");
        assert!(m.contains("icloud has no pop3"), "{m}");
    }

    #[test]
    fn readable_config_with_password_is_refused_with_chmod() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[accounts.a]\nprofile = \"gmail\"\nuser = \"u\"\npassword = \"s3cret\"\ntarget = \"mbox:/x\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.class().exit_code(), 78);
        assert!(e.message().contains("chmod 600"), "{}", e.message());
        assert!(!e.message().contains("s3cret"));
    }

    const IMAP: &str = "[accounts.a]\nprofile = \"fastmail\"\nuser = \"u\"\ntarget = \"mbox:/x\"\n";

    #[test]
    fn folders_default_to_inbox_and_take_a_list_or_star() {
        let c = parse_str(IMAP).unwrap();
        assert_eq!(c.accounts[0].folders, Folders::Named(vec!["INBOX".into()]));
        let c = parse_str(&format!("{IMAP}folders = [\"inbox\", \"Entwürfe\"]\n")).unwrap();
        assert_eq!(
            c.accounts[0].folders,
            Folders::Named(vec!["INBOX".into(), "Entwürfe".into()])
        );
        let c = parse_str(&format!("{IMAP}folders = \"*\"\nmove-to = \"Archive\"\n")).unwrap();
        assert_eq!(c.accounts[0].folders, Folders::All);
        assert_eq!(c.accounts[0].move_to.as_deref(), Some("Archive"));
    }

    #[test]
    fn gmail_spam_and_trash_are_off_unless_set() {
        let c = parse_str(&format!("{IMAP}folders = \"*\"\n")).unwrap();
        assert_eq!(c.accounts[0].gmail, GmailFolders::default());
        let c = parse_str(&format!(
            "[defaults]\ngmail-trash = true\n{IMAP}gmail-spam = true\n"
        ))
        .unwrap();
        assert_eq!(
            c.accounts[0].gmail,
            GmailFolders {
                spam: true,
                trash: true
            }
        );
    }

    #[test]
    fn bad_folders_are_reported_with_line() {
        let m = err(&format!("{IMAP}folders = \"all\"\n"));
        assert!(m.contains(":5:") && m.contains("list of names"), "{m}");
        let m = err(&format!("{IMAP}folders = []\n"));
        assert!(m.contains(":5:") && m.contains("empty"), "{m}");
        let m = err(&format!("{IMAP}folders = [\"A\", \"A\"]\n"));
        assert!(m.contains("twice"), "{m}");
        let m = err(&format!("{IMAP}folders = [\"A\\nB\"]\n"));
        assert!(m.contains("control"), "{m}");
        let m = err(&format!("{IMAP}folders = [\"A\"]\nmove-to = \"A\"\n"));
        assert!(m.contains(":6:") && m.contains("fetched again"), "{m}");
    }

    #[test]
    fn folders_on_pop3_are_a_config_error() {
        let pop = "[accounts.a]\nprofile = \"gmail\"\nprotocol = \"pop3\"\nuser = \"u\"\ntarget = \"mbox:/x\"\n";
        let m = err(&format!("{pop}folders = [\"INBOX\", \"Sent\"]\n"));
        assert!(
            m.contains(":6:") && m.contains("POP3 has only the inbox"),
            "{m}"
        );
        parse_str(&format!("{pop}folders = [\"INBOX\"]\n")).unwrap();
        let m = err(&format!("{pop}move-to = \"Archive\"\n"));
        assert!(m.contains("move-to needs protocol"), "{m}");
    }

    #[test]
    fn limits_resolve_from_defaults_and_bad_ones_are_reported_with_line() {
        let c = parse_str(&format!(
            "[defaults]\nmax-message-size = 1000\noversize = \"headers\"\n\
             delete-after-days = 30\n{IMAP}max-messages-per-run = 5\nmax-bytes-per-run = 9\n"
        ))
        .unwrap();
        let a = &c.accounts[0];
        assert_eq!(
            a.limits,
            Limits {
                max_message_size: Some(1000),
                oversize: Oversize::Headers,
                max_messages_per_run: Some(5),
                max_bytes_per_run: Some(9),
            }
        );
        assert_eq!(a.delete_after_days, Some(30));
        let m = err(&format!("{IMAP}max-message-size = 0\n"));
        assert!(m.contains(":5:") && m.contains("at least 1"), "{m}");
        let m = err(&format!("{IMAP}oversize = \"headers\"\n"));
        assert!(m.contains("needs max-message-size"), "{m}");
        let m = err(&format!("{IMAP}oversize = \"trim\"\n"));
        assert!(m.contains(":5:") && m.contains("skip"), "{m}");
        let m = err(&format!("{IMAP}keep = false\ndelete-after-days = 3\n"));
        assert!(m.contains(":6:") && m.contains("needs keep = true"), "{m}");
    }

    #[test]
    fn poll_interval_comes_from_defaults_and_zero_is_reported_with_line() {
        let c = parse_str(&format!("[defaults]\npoll-interval = 60\n{IMAP}")).unwrap();
        assert_eq!(c.accounts[0].poll_interval, Duration::from_secs(60));
        let c = parse_str(IMAP).unwrap();
        assert_eq!(
            c.accounts[0].poll_interval,
            Duration::from_secs(DEFAULT_POLL_INTERVAL)
        );
        let m = err(&format!("{IMAP}poll-interval = 0\n"));
        assert!(
            m.contains(":5:") && m.contains("poll-interval must be"),
            "{m}"
        );
    }

    #[test]
    fn tls_min_and_fingerprint_are_parsed_and_checked() {
        let pin = format!("sha256:{}", "0A:".repeat(31) + "0A");
        let c = parse_str(&format!(
            "{IMAP}tls-min = \"1.3\"\ntls-fingerprint = \"{pin}\"\n"
        ))
        .unwrap();
        let tls = &c.accounts[0].endpoint.tls_settings;
        assert_eq!(tls.min_version, TlsVersion::V1_3);
        assert_eq!(tls.pin.unwrap().to_string(), pin);
        let c = parse_str(IMAP).unwrap();
        assert_eq!(
            c.accounts[0].endpoint.tls_settings.min_version,
            TlsVersion::V1_2
        );
        let m = err(&format!("{IMAP}tls-min = \"1.4\"\n"));
        assert!(m.contains(":5:") && m.contains("tls-min"), "{m}");
        let m = err(&format!("{IMAP}tls-fingerprint = \"AB:CD\"\n"));
        assert!(m.contains(":5:") && m.contains("certinfo"), "{m}");
        let m = err(&format!(
            "{IMAP}tls = \"none\"\ntls-fingerprint = \"{pin}\"\n"
        ));
        assert!(m.contains("needs TLS"), "{m}");
    }

    #[test]
    fn oauth2_clients_take_endpoints_and_scopes_from_the_profile() {
        let base = "[accounts.a]\nuser = \"me@x\"\ntarget = \"mbox:/x\"\nauth = \"oauth2\"\n";
        let c = parse_str(&format!(
            "{base}profile = \"gmail\"\noauth2-client-id = \"id\"\noauth2-client-secret = \"s\"\n"
        ))
        .unwrap();
        let Some(TokenSource::Client(g)) = &c.accounts[0].oauth2 else {
            panic!("a client");
        };
        assert_eq!(g.token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(g.scope, "https://mail.google.com/");
        assert!(g.device_url.is_none());
        assert_eq!(g.secret.as_ref().unwrap().expose(), "s");
        assert!(g
            .extra_auth_params
            .contains(&("access_type".into(), "offline".into())));
        let c = parse_str(&format!(
            "{base}profile = \"outlook\"\nprotocol = \"pop3\"\noauth2-client-id = \"id\"\n"
        ))
        .unwrap();
        let Some(TokenSource::Client(m)) = &c.accounts[0].oauth2 else {
            panic!("a client");
        };
        assert_eq!(
            m.scope,
            "https://outlook.office.com/POP.AccessAsUser.All offline_access"
        );
        assert!(m.device_url.as_deref().unwrap().ends_with("/devicecode"));
        let c = parse_str(&format!(
            "{base}profile = \"gmail\"\noauth2-token-command = \"oama access me@x\"\n"
        ))
        .unwrap();
        assert!(
            matches!(&c.accounts[0].oauth2, Some(TokenSource::Command(c)) if c == "oama access me@x")
        );
    }

    #[test]
    fn oauth2_keys_that_do_not_fit_are_reported() {
        let base = "[accounts.a]\nuser = \"me@x\"\ntarget = \"mbox:/x\"\n";
        let m = err(&format!(
            "{base}profile = \"gmail\"\noauth2-client-id = \"id\"\n"
        ));
        assert!(
            m.contains(":5:") && m.contains("needs auth = \"oauth2\""),
            "{m}"
        );
        let m = err(&format!("{base}profile = \"gmail\"\nauth = \"oauth2\"\n"));
        assert!(
            m.contains("oauth2-token-command") && m.contains("oauth2-client-id"),
            "{m}"
        );
        let m = err(&format!(
            "{base}profile = \"gmail\"\nauth = \"oauth2\"\noauth2-client-id = \"i\"\noauth2-token-command = \"c\"\n"
        ));
        assert!(m.contains("not both"), "{m}");
        let m = err(&format!(
            "{base}host = \"h\"\nauth = \"oauth2\"\noauth2-client-id = \"i\"\n"
        ));
        assert!(
            m.contains("no OAuth2 endpoints") && m.contains("oauth2-auth-url"),
            "{m}"
        );
        let m = err(&format!(
            "{base}host = \"h\"\nauth = \"oauth2\"\noauth2-client-id = \"i\"\n\
             oauth2-auth-url = \"https://a\"\noauth2-token-url = \"http://idp.example/t\"\n"
        ));
        assert!(
            m.contains(":8:") && m.contains("only to a loopback host"),
            "{m}"
        );
        let m = err(&format!(
            "{base}profile = \"gmail\"\nauth = \"oauth2\"\noauth2-client-id = \"i\"\npassword-env = \"P\"\n"
        ));
        assert!(m.contains("token, not a password"), "{m}");
    }

    #[test]
    fn readable_config_with_a_client_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[accounts.a]\nprofile = \"gmail\"\nuser = \"u\"\nauth = \"oauth2\"\n\
             oauth2-client-id = \"i\"\noauth2-client-secret = \"GOCSPX-s3cret\"\ntarget = \"mbox:/x\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.message().contains("chmod 600"), "{}", e.message());
        assert!(!e.message().contains("GOCSPX"));
    }

    #[test]
    fn tilde_expands_to_home() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(expand_tilde("~/Mail"), PathBuf::from(home).join("Mail"));
        assert_eq!(expand_tilde("/abs"), PathBuf::from("/abs"));
    }
    const TWO: &str = "[accounts.old]\nhost = \"pop.example\"\nprotocol = \"pop3\"\nuser = \"u\"\n\
                       target = \"imap:new/Archive/2003\"\n\
                       [accounts.new]\nhost = \"imap.example\"\nprotocol = \"imap\"\nuser = \"me\"\n\
                       target = \"maildir:/m\"\n";

    #[test]
    fn imap_target_names_another_imap_account_of_the_config() {
        let c = parse_str(TWO).unwrap();
        let old = c.accounts.iter().find(|a| a.name == "old").unwrap();
        let Target::Imap(t) = &old.target else {
            panic!("an imap target: {:?}", old.target);
        };
        assert_eq!(
            (t.account.as_str(), t.folder.as_str()),
            ("new", "Archive/2003")
        );
        assert_eq!(t.server().endpoint.host, "imap.example");
        assert_eq!(old.target.to_string(), "imap:new/Archive/2003");
        let (a, f) = c.imap_folder("new/INBOX").unwrap();
        assert_eq!((a.name.as_str(), f.as_str()), ("new", "INBOX"));
        assert_eq!(
            c.imap_folder("old/INBOX").unwrap_err().class(),
            crate::error::Class::Usage
        );
        assert_eq!(
            c.imap_folder("new").unwrap_err().class(),
            crate::error::Class::Usage
        );
    }

    #[test]
    fn imap_target_errors_point_at_the_target_line() {
        let m = err(&TWO.replace("imap:new/", "imap:nwe/"));
        assert!(
            m.contains(":5:10:") && m.contains("no account \"nwe\""),
            "{m}"
        );
        let m = err(&TWO.replace("imap:new/Archive/2003", "imap:old/INBOX"));
        assert!(m.contains("old is a pop3 account"), "{m}");
        let m = err(&TWO.replace("target = \"maildir:/m\"", "target = \"imap:new/INBOX\""));
        assert!(m.contains("fetches that folder itself"), "{m}");
        let m = err(&TWO.replace("imap:new/Archive/2003", "imap:new"));
        assert!(m.contains("imap:ACCOUNT/FOLDER"), "{m}");
    }

    #[test]
    fn lmtp_and_smtp_targets_need_deliver_to_and_only_they_take_it() {
        let base = "[accounts.a]\nhost = \"h\"\nuser = \"u\"\n";
        let c = parse_str(&format!(
            "{base}target = \"lmtp:/run/dovecot/lmtp\"\ndeliver-to = \"alice@example.org\"\n"
        ))
        .unwrap();
        let want = Relay {
            server: Address::Local(PathBuf::from("/run/dovecot/lmtp")),
            to: "alice@example.org".into(),
        };
        assert_eq!(c.accounts[0].target, Target::Lmtp(want));
        let c = parse_str(&format!(
            "{base}target = \"smtp:[::1]:25\"\ndeliver-to = \"bob\"\n"
        ))
        .unwrap();
        let Target::Smtp(r) = &c.accounts[0].target else {
            panic!("smtp");
        };
        assert_eq!(r.server, Address::Tcp("::1".into(), 25));
        let m = err(&format!("{base}target = \"lmtp:localhost:24\"\n"));
        assert!(
            m.contains(":4:10:") && m.contains("needs deliver-to"),
            "{m}"
        );
        let m = err(&format!(
            "{base}target = \"maildir:/m\"\ndeliver-to = \"a@b\"\n"
        ));
        assert!(
            m.contains(":5:14:") && m.contains("deliver-to is for lmtp:"),
            "{m}"
        );
        let m = err(&format!(
            "{base}target = \"smtp:h:25\"\ndeliver-to = \"a b@c\"\n"
        ));
        assert!(m.contains("is not an address"), "{m}");
        let m = err(&format!(
            "{base}target = \"smtp:/sock\"\ndeliver-to = \"a\"\n"
        ));
        assert!(m.contains("HOST:PORT"), "{m}");
    }
}
