//! The `mailfetch` binary: parse the command line, run the command, map errors to exit
//! codes (sysexits.h, see `cli::EXIT_CODES`).

use clap::Parser;
use mailfetch::cli::{Cli, Command, Generate};
use mailfetch::config::{self, profiles, Account, Config, Protocol, TokenSource};
use mailfetch::error::Class;
use mailfetch::fleet::shard::Shard;
use mailfetch::fleet::{events, import, merge};
use mailfetch::pull::{self, Options, Summary};
use mailfetch::report::{human_bytes, out, out_bytes, Reporter, NOTHING_NEW};
use mailfetch::session::Ctx;
use mailfetch::state::State;
use mailfetch::{init, jobs, json, list, oauth2, signals, watch, Error};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 64 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let reporter = Reporter::new(cli.quiet);
    match run(&cli, &reporter) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Every error carries its class; one that does not is a bug (70), never 1, which
            // means only "verify found a difference".
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<Error>())
                .map_or(Class::Internal, |m| m.class())
                .exit_code() as u8;
            reporter.error(None, &format!("{e:#}"));
            if cli.command.json() {
                out(&json::render(&json::Failure {
                    command: cli.command.name(),
                    exit_code: code,
                    error: format!("{e:#}"),
                }));
            }
            ExitCode::from(code)
        }
    }
}

fn config_path(cli: &Cli) -> mailfetch::Result<PathBuf> {
    cli.config
        .clone()
        .or_else(config::default_path)
        .ok_or_else(|| Error::config("cannot find the config directory; pass --config FILE"))
}

fn state_dir(cli: &Cli) -> mailfetch::Result<PathBuf> {
    if let Some(dir) = &cli.state_dir {
        return Ok(dir.clone());
    }
    let dirs = directories::ProjectDirs::from("", "", "mailfetch")
        .ok_or_else(|| Error::config("cannot find the state directory; pass --state-dir DIR"))?;
    Ok(dirs
        .state_dir()
        .map(|d| d.to_path_buf())
        .unwrap_or_else(|| dirs.data_local_dir().join("state")))
}

/// The run's context ([`Ctx`]), built once per command that needs it: the state directory,
/// the trace, and SIGINT/SIGTERM as the stop flag (only set once a command catches them).
fn context(cli: &Cli) -> mailfetch::Result<Ctx> {
    Ok(Ctx::new(state_dir(cli)?, cli.verbose).stopped_by(&signals::STOP))
}

/// The accounts of `shard`, or all of them without `--shard`.
fn in_shard(accounts: Vec<&Account>, shard: Option<Shard>) -> Vec<&Account> {
    accounts
        .into_iter()
        .filter(|a| shard.is_none_or(|s| s.holds(&a.name)))
        .collect()
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    Ok(config::load(&config_path(cli)?)?)
}

/// A `pull` or `check` of several accounts.
struct Batch {
    command: &'static str,
    json: bool,
    /// `--json-events`: a line per account event instead of the summary lines.
    events: bool,
    dry_run: bool,
    jobs: u16,
}

impl Batch {
    /// Run `work` for every account (`jobs` at once), printing `line` for each that succeeds
    /// and a one-line error for each that fails, in config order as soon as the accounts
    /// before have finished; with `--json`, one document
    /// at the end instead of the lines. Returns the exit code: the first failing account's in
    /// config order, or 0; 130 or 143 when SIGINT or SIGTERM stopped the run (see
    /// [`interrupted`]).
    fn run(
        &self,
        accounts: &[&Account],
        reporter: &Reporter,
        work: impl Fn(&Account) -> mailfetch::Result<Summary> + Sync,
        line: impl Fn(&Summary) + Sync,
    ) -> u8 {
        // Lines come in config order: an account's waits for those before it to finish.
        // Events (`--json-events`) go out as they happen.
        let order = std::sync::Mutex::new((0, vec![None; accounts.len()]));
        let finished = |account: &Account, result: &mailfetch::Result<Summary>| {
            if self.events {
                let (run, class) = match result {
                    Ok(s) => (json::AccountRun::ok(s), None),
                    Err(e) => (json::AccountRun::failed(account, e), Some(e.class())),
                };
                events::ended(&run, class);
            }
            let Some(i) = accounts.iter().position(|a| std::ptr::eq(*a, account)) else {
                return;
            };
            let mut order = order.lock().unwrap_or_else(|p| p.into_inner());
            let (next, done) = &mut *order;
            done[i] = Some(
                result
                    .as_ref()
                    .map_err(|e| e.message().to_string())
                    .cloned(),
            );
            while let Some(Some(result)) = done.get_mut(*next).map(Option::take) {
                match result {
                    Ok(_) if self.json || self.events => {}
                    Ok(s) => line(&s),
                    Err(e) => reporter.error(Some(&accounts[*next].name), &e),
                }
                *next += 1;
            }
        };
        let results = jobs::run(accounts, self.jobs.into(), work, finished);
        let mut code = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .map_or(0, |e| e.class().exit_code() as u8);
        if let Some(signal) = signals::stopped_by() {
            code = signals::exit_code(signal);
            reporter.error(None, &interrupted(self.command, self.dry_run, &results));
        }
        if self.json {
            out(&json::render(&json::Run {
                command: self.command,
                dry_run: self.dry_run,
                exit_code: code,
                accounts: accounts
                    .iter()
                    .zip(&results)
                    .map(|(a, r)| match r {
                        Ok(s) => json::AccountRun::ok(s),
                        Err(e) => json::AccountRun::failed(a, e),
                    })
                    .collect(),
            }));
        }
        code
    }
}

/// The one line a run stopped by SIGINT or SIGTERM ends with: what is safe.
fn interrupted(command: &str, dry_run: bool, results: &[mailfetch::Result<Summary>]) -> String {
    if command != "pull" || dry_run {
        return "interrupted: nothing was changed".to_string();
    }
    let saved: usize = results.iter().flatten().map(|s| s.fetched).sum();
    let plural = if saved == 1 { "" } else { "s" };
    format!("interrupted: {saved} message{plural} saved and recorded; the rest will come next run")
}

/// Make SIGINT and SIGTERM a request to stop (see `signals`), from the first account's
/// start on: not earlier, so that Ctrl-C at a password prompt still ends the run at once.
fn stop_on_signals() {
    static CAUGHT: std::sync::Once = std::sync::Once::new();
    CAUGHT.call_once(|| signals::catch(false));
}

/// The summary of an account that a stop kept from starting.
fn not_started(account: &Account) -> Summary {
    Summary {
        account: account.name.clone(),
        target: account.target.to_string(),
        stopped: true,
        ..Summary::default()
    }
}

fn run(cli: &Cli, reporter: &Reporter) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Pull(args) => {
            let config = load(cli)?;
            let cx = context(cli)?;
            let opts = Options {
                keep: args.keep_override(),
                all: args.all,
                limit: args.limit,
                dry_run: args.dry_run,
                reset_state: args.reset_state,
                since: args.since,
            };
            let names = match &args.accounts_from {
                Some(report) => merge::accounts_from(report, args.failed)?,
                None => args.accounts.clone(),
            };
            // A report with nothing (failed) in it leaves nothing to fetch, not everything.
            let accounts = if args.accounts_from.is_some() && names.is_empty() {
                Vec::new()
            } else {
                in_shard(config.select(&names)?, args.shard)
            };
            let batch = Batch {
                command: "pull",
                json: args.json,
                events: args.json_events,
                dry_run: args.dry_run,
                jobs: args.jobs,
            };
            let work = |account: &Account| {
                stop_on_signals();
                if signals::stopping() {
                    return Ok(not_started(account));
                }
                let progress = reporter.account(&account.name);
                let watched = args
                    .json_events
                    .then(|| events::Progress::start(&account.name, &progress));
                let observer: &dyn pull::Observer = match &watched {
                    Some(w) => w,
                    None => &progress,
                };
                let result = pull::pull(account, &cx, &opts, observer);
                progress.finish();
                result
            };
            let line = |s: &Summary| {
                if args.dry_run {
                    reporter.line(&format!(
                        "{}: would fetch {} message{} ({})",
                        s.account,
                        s.pending,
                        if s.pending == 1 { "" } else { "s" },
                        human_bytes(s.pending_bytes)
                    ))
                } else {
                    reporter.pulled(s)
                }
            };
            Ok(batch.run(&accounts, reporter, work, line))
        }
        Command::Check(args) => {
            let config = load(cli)?;
            let cx = context(cli)?;
            let accounts = in_shard(config.select(&args.accounts)?, args.shard);
            let batch = Batch {
                command: "check",
                json: args.json,
                events: args.json_events,
                dry_run: true,
                jobs: args.jobs,
            };
            let line = |s: &Summary| {
                reporter.line(&if s.stopped {
                    format!("{}: not checked (interrupted)", s.account)
                } else if s.pending == 0 {
                    format!("{}: {NOTHING_NEW}", s.account)
                } else {
                    format!(
                        "{}: {} new message{} ({})",
                        s.account,
                        s.pending,
                        if s.pending == 1 { "" } else { "s" },
                        human_bytes(s.pending_bytes)
                    )
                })
            };
            Ok(batch.run(
                &accounts,
                reporter,
                |a: &Account| {
                    stop_on_signals();
                    if signals::stopping() {
                        return Ok(not_started(a));
                    }
                    if args.json_events {
                        events::emit(&json::Event::Started { account: &a.name });
                    }
                    pull::check(a, &cx)
                },
                line,
            ))
        }
        Command::Watch(args) => {
            let path = config_path(cli)?;
            watch::run(
                &|| config::load(&path),
                &args.accounts,
                &context(cli)?,
                reporter,
            )?;
            Ok(0)
        }
        Command::Init(args) => {
            let note = init::run(args, &config_path(cli)?, &context(cli)?)?;
            reporter.line(&note);
            Ok(0)
        }
        Command::List(args) => {
            let config = load(cli)?;
            let account = config.select(std::slice::from_ref(&args.account))?[0];
            let entries = list::list(account, &context(cli)?)?;
            if args.json {
                out(&json::render(&json::List {
                    command: "list",
                    account: &account.name,
                    messages: &entries,
                }));
                return Ok(0);
            }
            let folders = entries.iter().any(|e| e.mailbox != "INBOX");
            for e in &entries {
                let date = e
                    .date
                    .and_then(|d| chrono::DateTime::from_timestamp(d, 0))
                    .map(|d| {
                        d.with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M")
                            .to_string()
                    })
                    .unwrap_or_else(|| "-".to_string());
                let folder = if folders {
                    format!("{}  ", mailfetch::text::printable(&e.mailbox))
                } else {
                    String::new()
                };
                out(&format!(
                    "{folder}{:>6}  {date:<16}  {}  {}  {:>8}  {}",
                    e.number,
                    list::column(&e.from, 24),
                    list::column(&e.subject, 40),
                    human_bytes(e.size),
                    e.state
                ));
            }
            Ok(0)
        }
        Command::Accounts(args) => {
            let config = load(cli)?;
            if args.names {
                for a in &config.accounts {
                    out(&a.name);
                }
                return Ok(0);
            }
            let dir = context(cli)?.state_dir;
            if args.json {
                out(&json::render(&json::Accounts {
                    command: "accounts",
                    accounts: config
                        .accounts
                        .iter()
                        .map(|a| json::AccountInfo::new(a, &dir))
                        .collect(),
                }));
                return Ok(0);
            }
            for a in &config.accounts {
                let imap = match (&a.protocol, &a.move_to) {
                    (Protocol::Imap, Some(m)) => format!(" folders={} move-to={m}", a.folders),
                    (Protocol::Imap, None) => format!(" folders={}", a.folders),
                    (Protocol::Pop3, _) => String::new(),
                };
                out(&format!(
                    "{}: {} {}:{} tls={} user={} profile={}{imap} -> {} keep={} state={}",
                    a.name,
                    a.protocol.as_str(),
                    a.endpoint.host,
                    a.endpoint.port,
                    a.endpoint.tls.as_str(),
                    a.user,
                    a.profile.name,
                    a.target,
                    a.keep,
                    State::path_for(&dir, &a.name).display()
                ));
            }
            Ok(0)
        }
        Command::Folders(args) => {
            let config = load(cli)?;
            let account = config.select(std::slice::from_ref(&args.account))?[0];
            for f in list::folders(account, &context(cli)?)? {
                let (count, note) = match f.messages {
                    None => ("-".to_string(), "  (holds no messages)"),
                    Some(n) if !f.fetched_by_star => {
                        (n.to_string(), "  (not fetched by folders = \"*\")")
                    }
                    Some(n) => (n.to_string(), ""),
                };
                out(&format!(
                    "{count:>8}  {}{note}",
                    mailfetch::text::printable(&f.name)
                ));
            }
            Ok(0)
        }
        Command::Upload(args) => {
            let config = load(cli)?;
            let (account, folder) = config.imap_folder(&args.to)?;
            let cx = context(cli)?;
            let progress = reporter.account("upload");
            let result = mailfetch::upload::upload(&args.path, account, &folder, &cx, &progress);
            progress.finish();
            reporter.line(&result?.line());
            Ok(0)
        }
        Command::Verify(args) => {
            let config = load(cli)?;
            let cx = context(cli)?;
            let reports = match (&args.account, &args.local, &args.remote) {
                (Some(name), _, _) => {
                    let account = config.select(std::slice::from_ref(name))?[0];
                    mailfetch::verify::account(account, &cx)?
                }
                (None, Some(path), Some(remote)) => {
                    let (account, folder) = config.imap_folder(remote)?;
                    vec![mailfetch::verify::local(path, account, &folder, &cx)?]
                }
                _ => unreachable!("clap requires ACCOUNT or --local with --remote"),
            };
            for report in &reports {
                for line in report.lines() {
                    out(&line);
                }
            }
            // Like diff and cmp: 1 for "the copy is not complete", apart from 64-78.
            Ok(if reports.iter().all(|r| r.complete()) {
                0
            } else {
                1
            })
        }
        Command::Certinfo(args) => {
            let config = load(cli)?;
            let account = config.select(std::slice::from_ref(&args.account))?[0];
            out(mailfetch::certinfo::report(account, &context(cli)?)?.trim_end());
            Ok(0)
        }
        Command::Auth(args) => {
            let config = load(cli)?;
            let account = config.select(std::slice::from_ref(&args.account))?[0];
            let client = match &account.oauth2 {
                Some(TokenSource::Client(client)) => client,
                Some(TokenSource::Command(_)) => {
                    return Err(Error::config(format!(
                        "account {} takes its tokens from oauth2-token-command; there is \
                         nothing for mailfetch auth to do",
                        account.name
                    ))
                    .into())
                }
                None => {
                    return Err(Error::config(format!(
                        "account {} does not use OAuth2; set auth = \"oauth2\" and \
                         oauth2-client-id = \"...\" (your registered app)",
                        account.name
                    ))
                    .into())
                }
            };
            let flow = if args.device {
                oauth2::Flow::Device
            } else {
                oauth2::Flow::Browser
            };
            let path = oauth2::authorize(
                &account.name,
                &account.user,
                client,
                &context(cli)?.state_dir,
                flow,
                &mut std::io::stdout(),
                Duration::from_secs(args.wait * 60),
            )?;
            out(&format!(
                "{}: authorized; the tokens are kept in {}",
                account.name,
                path.display()
            ));
            Ok(0)
        }
        Command::Report(args) => {
            let config = match &cli.config {
                Some(_) => Some(load(cli)?),
                None => None,
            };
            let names: Option<Vec<&str>> = config
                .as_ref()
                .map(|c| c.accounts.iter().map(|a| a.name.as_str()).collect());
            let report = merge::merge(&args.files, names.as_deref())?;
            if args.json {
                out(&json::render(&report));
            } else {
                out(&merge::table(&report));
            }
            Ok(0)
        }
        Command::Import(args) => {
            let dir = match &args.dir {
                Some(d) => d.clone(),
                None => config_path(cli)?
                    .parent()
                    .map_or_else(|| PathBuf::from("accounts.d"), |p| p.join("accounts.d")),
            };
            let text = std::fs::read_to_string(&args.file).map_err(|e| {
                Error::new(
                    Class::Usage,
                    format!("cannot read {}: {e}", args.file.display()),
                )
            })?;
            let planned = import::plan(&args.file, &text, &dir)?;
            let written = import::write(&planned, args.force)?;
            reporter.line(&format!(
                "wrote {written} account file{} to {}; the config includes them with include = [\"{}/*.toml\"]",
                if written == 1 { "" } else { "s" },
                dir.display(),
                dir.display()
            ));
            Ok(0)
        }
        Command::Profiles => {
            for p in profiles::PROFILES {
                let server = |s: Option<profiles::Server>| {
                    s.map_or("-".to_string(), |s| {
                        format!("{}:{} ({})", s.host, s.port, s.tls.as_str())
                    })
                };
                out(&format!(
                    "{:<10} pop3 {:<36} imap {:<36} prefers {}\n           {}",
                    p.name,
                    server(p.pop3),
                    server(p.imap),
                    p.preferred.as_str(),
                    p.note
                ));
            }
            Ok(0)
        }
        Command::Generate { what } => {
            let text = match what {
                Generate::Man => {
                    let mut text = Vec::new();
                    mailfetch::manpage::render(&mut text)
                        .map_err(|e| Error::local("writing the man page", e))?;
                    text
                }
                Generate::Completions { shell } => mailfetch::completions::render(*shell),
            };
            out_bytes(&text);
            Ok(0)
        }
    }
}
