//! The command line, defined once: parsing, `--help`, the man page and the shell completions
//! are all generated from these clap definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The exit statuses, shown after `--help`: rendered from `error::Exit`, which the man page
/// and README render them from too.
pub static EXIT_CODES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::error::Exit::help(88));

/// Fetch mail from POP3 and IMAP servers into Maildir, mbox, an MDA, an LMTP/SMTP server or
/// another IMAP account, exactly once.
#[derive(Parser, Debug)]
#[command(name = "mailfetch", version, after_help = EXIT_CODES.as_str(), max_term_width = 100,
          subcommand_value_name = "COMMAND")]
pub struct Cli {
    /// Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]
    #[arg(long, global = true, env = "MAILFETCH_CONFIG", value_name = "FILE",
          value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,

    /// Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]
    #[arg(long, global = true, env = "MAILFETCH_STATE_DIR", value_name = "DIR",
          value_hint = clap::ValueHint::DirPath)]
    pub state_dir: Option<PathBuf>,

    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print the protocol trace on stderr (passwords and AUTH payloads redacted)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fetch new mail from every account, or the ones named
    Pull(PullArgs),
    /// Count new messages per account; downloads nothing
    Check(CheckArgs),
    /// Keep running and fetch mail as it arrives: IMAP IDLE on each folder (up to 8) where
    /// the server offers it, else a pull every poll-interval seconds; SIGTERM or SIGINT ends it
    /// after the batch in progress, SIGHUP reloads the config
    Watch(WatchArgs),
    /// List the messages on an account's server without downloading them: number or UID,
    /// date, sender, subject, size, and whether already fetched
    List(ListArgs),
    /// Add an account to the config: asks for the address and what else the flags do not
    /// say, guesses the provider, shows the server's certificate before any password (pin it
    /// or give a CA file if it is not trusted), runs OAuth2 where the provider needs it,
    /// tries the login (after a failure: retry, change an answer, save anyway or quit),
    /// writes the file (mode 0600)
    Init(Box<InitArgs>),
    /// Show each account's resolved server, port, TLS, protocol, target and state file
    Accounts(AccountsArgs),
    /// List an IMAP account's folders on the server, with their message counts
    Folders(FoldersArgs),
    /// Show the certificate chain an account's server presents: names, expiry and SHA-256
    /// fingerprints (for tls-fingerprint), and whether it verifies; sends no credential
    Certinfo(CertinfoArgs),
    /// Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id):
    /// prints the provider's login URL to open in a browser, then keeps the refresh token in
    /// the state directory, from which pull renews access tokens by itself
    Auth(AuthArgs),
    /// Store a local Maildir or mbox in a folder of an IMAP account: flags and dates kept,
    /// messages the folder already holds skipped, so a second run stores nothing
    Upload(UploadArgs),
    /// Prove a copy complete and byte-identical (line ends aside): an account's server
    /// against its target, or a local store against an IMAP folder; prints what is missing
    /// or different and exits 1 if anything is
    Verify(VerifyArgs),
    /// Merge the --json documents of pull, check or verify runs (the shards of a run, a
    /// retry) into one table: each account done, failed (with the reason) or, with --config,
    /// remaining, and its last verify result; messages and bytes in all. An account's status
    /// comes from the last file that has it
    Report(ReportArgs),
    /// Write one accounts.d/NAME.toml per line of a CSV list (columns name, user, password,
    /// server, protocol, target; password is command:CMD, env:VAR, file:PATH, oauth2 or
    /// literal:SECRET, which goes to a 0600 NAME.password file, never into the account file),
    /// for a config with include = ["accounts.d/*.toml"]; nothing is written if a line is bad
    Import(ImportArgs),
    /// Show the built-in provider profiles
    Profiles,
    /// Write the man page, shell completions or README.md's generated tables to stdout
    Generate {
        /// What to generate
        #[command(subcommand)]
        what: Generate,
    },
}

/// Arguments of `upload`.
#[derive(Args, Debug, Default)]
pub struct UploadArgs {
    /// The Maildir folder (with cur/ and new/) or mbox file to upload; which it is, is told
    /// by what is there
    #[arg(value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub path: PathBuf,

    /// Where to: an IMAP account of the config and a folder on its server (created if
    /// missing), e.g. --to newhome/Archive
    #[arg(long, value_name = "ACCOUNT/FOLDER")]
    pub to: String,
}

/// Arguments of `verify`.
#[derive(Args, Debug, Default)]
pub struct VerifyArgs {
    /// Compare the messages on these accounts' servers (their folders) with their targets:
    /// Maildir, mbox or imap: folder (default: every account whose target can be read back)
    #[arg(value_name = "ACCOUNT", conflicts_with_all = ["local", "remote"])]
    pub accounts: Vec<String>,

    /// Compare this local Maildir folder or mbox file...
    #[arg(long, value_name = "PATH", requires = "remote", value_hint = clap::ValueHint::AnyPath)]
    pub local: Option<PathBuf>,

    /// ...with this folder of an IMAP account of the config
    #[arg(long, value_name = "ACCOUNT/FOLDER", requires = "local")]
    pub remote: Option<String>,

    /// Print one JSON document on stdout instead of the report lines (see JSON OUTPUT in
    /// the man page); `report` merges it with the pull documents of the same accounts
    #[arg(long, conflicts_with_all = ["local", "remote"])]
    pub json: bool,
    /// Verify only the accounts of shard K of N, as `pull --shard`
    #[arg(long, value_name = "K/N", value_parser = crate::fleet::shard::parse,
          conflicts_with_all = ["local", "remote"])]
    pub shard: Option<crate::fleet::shard::Shard>,
    /// Verify at most N accounts at once
    #[arg(long, short = 'j', value_name = "N", default_value_t = crate::jobs::DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// Arguments of `pull`.
#[derive(Args, Debug, Default)]
pub struct PullArgs {
    /// Accounts to fetch (default: all)
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,

    /// Fetch the accounts of this --json document of pull or report (with --failed, only
    /// those whose run failed) instead of all
    #[arg(long, value_name = "REPORT", conflicts_with = "accounts")]
    pub accounts_from: Option<PathBuf>,

    /// With --accounts-from: only the accounts that failed
    #[arg(long, requires = "accounts_from")]
    pub failed: bool,

    /// Leave messages on the server (overrides the config; -k as in fetchmail and mpop)
    #[arg(short = 'k', long, overrides_with = "no_keep")]
    pub keep: bool,

    /// Delete messages from the server once they are safely delivered (overrides the config;
    /// -K as in fetchmail and mpop)
    #[arg(short = 'K', long, overrides_with = "keep")]
    pub no_keep: bool,

    /// Fetch all messages, also those fetched before (-a as in fetchmail): each is delivered
    /// again, so the target then holds those twice; nothing is deleted that was not
    /// delivered in this run
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Fetch at most N messages per account in this run
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Connect and list what would be fetched; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Fetch only messages dated DATE (YYYY-MM-DD, local time) or later; older ones are
    /// passed over, now and in later runs (--all fetches them). For a first fetch of a huge
    /// mailbox. IMAP compares the arrival date (INTERNALDATE); POP3 has no dates, so the Date
    /// header is read with TOP (a message without one is fetched)
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<i64>,

    /// Start with an empty state (a damaged state file is moved aside); fetches everything
    #[arg(long)]
    pub reset_state: bool,

    /// Print one JSON document on stdout instead of the summary lines (see JSON OUTPUT in
    /// the man page)
    #[arg(long)]
    pub json: bool,
    /// Run only the accounts of shard K of N (numbered from 1): an account belongs to one
    /// shard by a stable hash of its name, the same on every machine, so N processes given
    /// the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a
    /// Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here
    #[arg(long, value_name = "K/N", value_parser = crate::fleet::shard::parse)]
    pub shard: Option<crate::fleet::shard::Shard>,
    /// Print one JSON object per line on stdout as each account starts, progresses (at most
    /// once a second) and finishes or fails (with its class and exit code), instead of the
    /// summary lines; errors still go to stderr (see JSON OUTPUT in the man page)
    #[arg(long, conflicts_with = "json")]
    pub json_events: bool,
    /// Fetch at most N accounts at once
    #[arg(long, short = 'j', value_name = "N", default_value_t = crate::jobs::DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// Arguments of `report`.
#[derive(Args, Debug, Default)]
pub struct ReportArgs {
    /// The --json documents of pull, check or verify (or of report) to merge
    #[arg(value_name = "FILE.json", required = true)]
    pub files: Vec<PathBuf>,

    /// Print the merged report as one JSON document (pull --accounts-from reads it)
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `import`.
#[derive(Args, Debug, Default)]
pub struct ImportArgs {
    /// The list of accounts
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,

    /// Where to write the account files [default: accounts.d beside the config]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Replace account files that exist
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `check`.
#[derive(Args, Debug, Default)]
pub struct CheckArgs {
    /// Accounts to check (default: all)
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,

    /// Print one JSON document on stdout instead of the summary lines
    #[arg(long)]
    pub json: bool,
    /// Run only the accounts of shard K of N (numbered from 1): an account belongs to one
    /// shard by a stable hash of its name, the same on every machine, so N processes given
    /// the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a
    /// Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here
    #[arg(long, value_name = "K/N", value_parser = crate::fleet::shard::parse)]
    pub shard: Option<crate::fleet::shard::Shard>,
    /// Print one JSON object per line on stdout as each account starts, progresses (at most
    /// once a second) and finishes or fails (with its class and exit code), instead of the
    /// summary lines; errors still go to stderr (see JSON OUTPUT in the man page)
    #[arg(long, conflicts_with = "json")]
    pub json_events: bool,
    /// Check at most N accounts at once
    #[arg(long, short = 'j', value_name = "N", default_value_t = crate::jobs::DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// Arguments of `watch`.
#[derive(Args, Debug, Default)]
pub struct WatchArgs {
    /// Accounts to watch (default: all)
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,
}

/// Arguments of `list`.
#[derive(Args, Debug, Default)]
pub struct ListArgs {
    /// The account whose messages to list
    #[arg(value_name = "ACCOUNT")]
    pub account: String,

    /// Print one JSON document on stdout instead of the table
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `init`. Without a terminal (or with --non-interactive) nothing is asked:
/// what has a default takes it, and a missing --address is a usage error.
#[derive(Args, Debug, Default)]
pub struct InitArgs {
    /// The email address (the profile is guessed from its domain)
    #[arg(long, value_name = "ADDRESS")]
    pub address: Option<String>,
    /// The account's name in the config [default: from the domain]
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The provider profile [default: guessed from the domain, else custom]
    #[arg(long, value_name = "PROFILE", value_parser = profile_names())]
    pub profile: Option<String>,
    /// pop3 or imap [default: the profile's preferred one]
    #[arg(long, value_name = "PROTOCOL", value_parser = ["pop3", "imap"])]
    pub protocol: Option<String>,
    /// Server host, for the custom profile [default: pop. or imap. and the domain]
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Server port, for the custom profile [default: the protocol's for the TLS mode]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// implicit, starttls or none, for the custom profile [default: implicit]
    #[arg(long, value_name = "MODE", value_parser = ["implicit", "starttls", "none"])]
    pub tls: Option<String>,
    /// Extra CA certificates (PEM) that verify the server; checked before anything is written
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub ca_file: Option<String>,
    /// Trust the server's certificate with this SHA-256 fingerprint (sha256:AB:CD:...), as
    /// `mailfetch certinfo` or init itself shows it, instead of a CA (a self-signed server)
    #[arg(long, value_name = "SHA256")]
    pub tls_fingerprint: Option<String>,
    /// How to log in: password (an app password for Gmail, Yahoo, AOL, iCloud) or oauth2
    /// [default: oauth2 for outlook and office365, else password; asked for gmail]
    #[arg(long, value_name = "AUTH", value_parser = ["password", "oauth2"])]
    pub auth: Option<String>,
    /// With --auth oauth2: the client id of your registered app; init then runs the
    /// authorization (as `mailfetch auth`) before it tries the login
    #[arg(long, value_name = "ID")]
    pub oauth2_client_id: Option<String>,
    /// With --auth oauth2: the client secret, for providers that want one (Google)
    #[arg(long, value_name = "SECRET")]
    pub oauth2_client_secret: Option<String>,
    /// With --auth oauth2: the authorization endpoint [default: the profile's]
    #[arg(long, value_name = "URL")]
    pub oauth2_auth_url: Option<String>,
    /// With --auth oauth2: the token endpoint [default: the profile's]
    #[arg(long, value_name = "URL")]
    pub oauth2_token_url: Option<String>,
    /// With --auth oauth2: the device authorization endpoint [default: the profile's]
    #[arg(long, value_name = "URL")]
    pub oauth2_device_url: Option<String>,
    /// With --auth oauth2: the scopes, space-separated [default: the profile's]
    #[arg(long, value_name = "SCOPES")]
    pub oauth2_scope: Option<String>,
    /// With --auth oauth2: authorize with the device-code flow (a code to enter on any
    /// device) instead of a browser on this machine
    #[arg(long)]
    pub device: bool,
    /// Login name [default: the address]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Command printing the password (e.g. "pass show mail/work")
    #[arg(long, value_name = "COMMAND", conflicts_with = "password_env")]
    pub password_command: Option<String>,
    /// Environment variable holding the password
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Where mail goes: maildir:PATH or mbox:PATH [default: maildir:~/Mail/NAME]
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// For a custom domain, look up the server in DNS (RFC 6186 SRV records
    /// _imaps._tcp/_imap._tcp or _pop3s._tcp/_pop3._tcp) and propose it [default: ask at a
    /// terminal, no lookup without one]
    #[arg(long, overrides_with = "no_srv")]
    pub srv: bool,
    /// Do not look up SRV records
    #[arg(long)]
    pub no_srv: bool,
    /// Do not try the login before writing
    #[arg(long)]
    pub no_test: bool,
    /// Replace an account of the same name without asking
    #[arg(long)]
    pub force: bool,
    /// Ask nothing, even at a terminal
    #[arg(long)]
    pub non_interactive: bool,
}

/// Arguments of `accounts`.
#[derive(Args, Debug, Default)]
pub struct AccountsArgs {
    /// Print one JSON document on stdout instead of one line per account
    #[arg(long, conflicts_with = "names")]
    pub json: bool,

    /// Print only the account names, one per line (for scripts and shell completion)
    #[arg(long)]
    pub names: bool,
}

/// Arguments of `folders`.
#[derive(Args, Debug, Default)]
pub struct FoldersArgs {
    /// The IMAP account whose folders to list
    #[arg(value_name = "ACCOUNT")]
    pub account: String,
}

/// Arguments of `certinfo`.
#[derive(Args, Debug, Default)]
pub struct CertinfoArgs {
    /// The account whose server to look at
    #[arg(value_name = "ACCOUNT")]
    pub account: String,
}

/// Arguments of `auth`.
#[derive(Args, Debug, Default)]
pub struct AuthArgs {
    /// The OAuth2 account to authorize
    #[arg(value_name = "ACCOUNT")]
    pub account: String,

    /// Use the device-code flow instead (enter a short code on any device; for a machine
    /// without a browser), where the provider offers it (Microsoft)
    #[arg(long)]
    pub device: bool,

    /// Give up after waiting this many minutes for the browser or the code
    #[arg(long, value_name = "MINUTES", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub wait: u64,
}

/// What `generate` writes.
#[derive(Subcommand, Debug)]
pub enum Generate {
    /// The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`
    Man,
    /// README.md with its generated tables (config keys, exit codes) brought up to date: the
    /// file on stdin, the result on stdout (`scripts/generate` runs it)
    Readme,
    /// Completions for SHELL
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// Shells we generate completions for.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    /// GNU Bash
    Bash,
    /// Z shell
    Zsh,
    /// fish
    Fish,
    /// Elvish
    Elvish,
    /// PowerShell
    Powershell,
}

/// The profile names `init --profile` accepts (and completes), from the profile table.
fn profile_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        crate::config::profiles::PROFILES.iter().map(|p| p.name),
    )
}

/// `YYYY-MM-DD` as the epoch seconds of that day's local midnight.
fn parse_date(text: &str) -> Result<i64, String> {
    use chrono::TimeZone;
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("{e}; write the date as YYYY-MM-DD"))?;
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    chrono::Local
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp())
        .ok_or_else(|| format!("{text} has no local midnight"))
}

impl Command {
    /// The subcommand's name, for messages and JSON documents.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Pull(_) => "pull",
            Command::Check(_) => "check",
            Command::Watch(_) => "watch",
            Command::List(_) => "list",
            Command::Init(_) => "init",
            Command::Accounts(_) => "accounts",
            Command::Folders(_) => "folders",
            Command::Certinfo(_) => "certinfo",
            Command::Upload(_) => "upload",
            Command::Verify(_) => "verify",
            Command::Auth(_) => "auth",
            Command::Report(_) => "report",
            Command::Import(_) => "import",
            Command::Profiles => "profiles",
            Command::Generate { .. } => "generate",
        }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            Command::Pull(a) => a.json,
            Command::Check(a) => a.json,
            Command::List(a) => a.json,
            Command::Accounts(a) => a.json,
            Command::Report(a) => a.json,
            Command::Folders(_)
            | Command::Watch(_)
            | Command::Init(_)
            | Command::Certinfo(_)
            | Command::Upload(_)
            | Command::Verify(_)
            | Command::Import(_)
            | Command::Auth(_)
            | Command::Profiles
            | Command::Generate { .. } => false,
        }
    }
}

impl PullArgs {
    /// The keep override, if either flag was given.
    pub fn keep_override(&self) -> Option<bool> {
        match (self.keep, self.no_keep) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}
