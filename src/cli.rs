//! The command line, defined once: parsing, `--help`, the man page and the shell completions
//! are all generated from these clap definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit codes, shown in `--help` and the man page.
pub const EXIT_CODES: &str = "\
Exit status (sysexits.h):
  0   success, whether or not there was new mail
  64  usage error on the command line
  69  a server could not be reached (or its TLS certificate was refused)
  74  a local write failed (disk full, permissions, MDA failure)
  75  temporary failure: timeout, dropped connection, account locked by another run
  76  protocol error: the server sent something invalid
  77  authentication refused
  78  configuration error
With several accounts, every account is tried and the first failure's code is returned.";

/// Fetch mail from POP3 and IMAP servers into Maildir, mbox or an MDA, exactly once.
#[derive(Parser, Debug)]
#[command(name = "mailfetch", version, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    /// Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]
    #[arg(long, global = true, env = "MAILFETCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]
    #[arg(long, global = true, env = "MAILFETCH_STATE_DIR", value_name = "DIR")]
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
    /// Show each account's resolved server, port, TLS, protocol, target and state file
    Accounts(AccountsArgs),
    /// List an IMAP account's folders on the server, with their message counts
    Folders(FoldersArgs),
    /// Show the certificate chain an account's server presents: names, expiry and SHA-256
    /// fingerprints (for tls-fingerprint), and whether it verifies; sends no credential
    Certinfo(CertinfoArgs),
    /// Show the built-in provider profiles
    Profiles,
    /// Write the man page or shell completions to stdout
    Generate {
        /// What to generate
        #[command(subcommand)]
    /// Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id):
    /// prints the provider's login URL to open in a browser, then keeps the refresh token in
    /// the state directory, from which pull renews access tokens by itself
    Auth(AuthArgs),
        what: Generate,
    },
}

/// Arguments of `pull`.
#[derive(Args, Debug, Default)]
pub struct PullArgs {
    /// Accounts to fetch (default: all)
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,

    /// Leave messages on the server (overrides the config)
    #[arg(long, overrides_with = "no_keep")]
    pub keep: bool,

    /// Delete messages from the server once they are safely delivered (overrides the config)
    #[arg(long, overrides_with = "keep")]
    pub no_keep: bool,

    /// Fetch all messages, also those fetched before
    #[arg(long)]
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
    /// Fetch at most N accounts at once
    #[arg(long, short = 'j', value_name = "N", default_value_t = crate::jobs::DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
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
    /// Check at most N accounts at once
    #[arg(long, short = 'j', value_name = "N", default_value_t = crate::jobs::DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// Arguments of `accounts`.
#[derive(Args, Debug, Default)]
pub struct AccountsArgs {
    /// Print one JSON document on stdout instead of one line per account
    #[arg(long)]
    pub json: bool,
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

/// What `generate` writes.
#[derive(Subcommand, Debug)]
pub enum Generate {
    /// The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`
    Man,
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
            Command::Accounts(_) => "accounts",
            Command::Folders(_) => "folders",
            Command::Certinfo(_) => "certinfo",
            Command::Profiles => "profiles",
            Command::Generate { .. } => "generate",
        }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            Command::Pull(a) => a.json,
            Command::Check(a) => a.json,
            Command::Accounts(a) => a.json,
            Command::Folders(_)
            | Command::Certinfo(_)
            | Command::Profiles
            | Command::Generate { .. } => false,
        }
    }
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
            Command::Auth(_) => "auth",
            | Command::Auth(_)
