//! The `mailfetch` binary: parse the command line, run the command, map errors to exit
//! codes (sysexits.h, see `cli::EXIT_CODES`).

use anyhow::Context;
use clap::{CommandFactory, Parser};
use mailfetch::cli::{Cli, Command, Generate, Shell};
use mailfetch::config::{self, profiles, Config, Protocol};
use mailfetch::pull::{self, Options};
use mailfetch::report::{human_bytes, out, Reporter};
use mailfetch::state::State;
use mailfetch::{json, Error};
use std::path::PathBuf;
use std::process::ExitCode;

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
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<Error>())
                .map_or(1, |m| m.class().exit_code()) as u8;
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

fn config_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    cli.config
        .clone()
        .or_else(config::default_path)
        .context("cannot find the config directory; pass --config FILE")
}

fn state_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &cli.state_dir {
        return Ok(dir.clone());
    }
    let dirs = directories::ProjectDirs::from("", "", "mailfetch")
        .context("cannot find the state directory; pass --state-dir DIR")?;
    Ok(dirs
        .state_dir()
        .map(|d| d.to_path_buf())
        .unwrap_or_else(|| dirs.data_local_dir().join("state")))
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    Ok(config::load(&config_path(cli)?)?)
}

fn run(cli: &Cli, reporter: &Reporter) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Pull(args) => {
            let config = load(cli)?;
            let opts = Options {
                state_dir: state_dir(cli)?,
                keep: args.keep_override(),
                all: args.all,
                limit: args.limit,
                dry_run: args.dry_run,
                reset_state: args.reset_state,
                verbose: cli.verbose,
            };
            let mut first_failure = None;
            let mut doc = Vec::new();
            for account in config.select(&args.accounts)? {
                let progress = reporter.account(&account.name);
                let result = pull::pull(account, &opts, &progress);
                progress.finish();
                if args.json {
                    doc.push(match &result {
                        Ok(s) => json::AccountRun::ok(s),
                        Err(e) => json::AccountRun::failed(account, e),
                    });
                }
                match result {
                    Ok(_) if args.json => {}
                    Ok(s) if args.dry_run => reporter.line(&format!(
                        "{}: would fetch {} message{} ({})",
                        s.account,
                        s.pending,
                        if s.pending == 1 { "" } else { "s" },
                        human_bytes(s.pending_bytes)
                    )),
                    Ok(s) => reporter.pulled(&s),
                    Err(e) => {
                        reporter.error(Some(&account.name), e.message());
                        first_failure.get_or_insert(e.class().exit_code() as u8);
                    }
                }
            }
            let code = first_failure.unwrap_or(0);
            if args.json {
                out(&json::render(&json::Run {
                    command: "pull",
                    dry_run: args.dry_run,
                    exit_code: code,
                    accounts: doc,
                }));
            }
            Ok(code)
        }
        Command::Check(args) => {
            let config = load(cli)?;
            let opts = Options {
                state_dir: state_dir(cli)?,
                verbose: cli.verbose,
                ..Options::default()
            };
            let mut first_failure = None;
            let mut doc = Vec::new();
            for account in config.select(&args.accounts)? {
                let result = pull::check(account, &opts);
                if args.json {
                    doc.push(match &result {
                        Ok(s) => json::AccountRun::ok(s),
                        Err(e) => json::AccountRun::failed(account, e),
                    });
                }
                match result {
                    Ok(_) if args.json => {}
                    Ok(s) => reporter.line(&format!(
                        "{}: {} new message{} ({})",
                        s.account,
                        s.pending,
                        if s.pending == 1 { "" } else { "s" },
                        human_bytes(s.pending_bytes)
                    )),
                    Err(e) => {
                        reporter.error(Some(&account.name), e.message());
                        first_failure.get_or_insert(e.class().exit_code() as u8);
                    }
                }
            }
            let code = first_failure.unwrap_or(0);
            if args.json {
                out(&json::render(&json::Run {
                    command: "check",
                    dry_run: true,
                    exit_code: code,
                    accounts: doc,
                }));
            }
            Ok(code)
        }
        Command::Accounts(args) => {
            let config = load(cli)?;
            let dir = state_dir(cli)?;
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
            for f in pull::folders(account, cli.verbose)? {
                let (count, note) = match f.messages {
                    None => ("-".to_string(), "  (holds no messages)"),
                    Some(n) if !f.fetched_by_star => {
                        (n.to_string(), "  (not fetched by folders = \"*\")")
                    }
                    Some(n) => (n.to_string(), ""),
                };
                out(&format!("{count:>8}  {}{note}", f.name));
            }
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
            let mut cmd = Cli::command();
            let mut stdout = std::io::stdout();
            match what {
                Generate::Man => mailfetch::manpage::render(&mut stdout)
                    .map_err(|e| Error::local("writing the man page", e))?,
                Generate::Completions { shell } => {
                    use clap_complete::{generate, shells};
                    let name = "mailfetch";
                    match shell {
                        Shell::Bash => generate(shells::Bash, &mut cmd, name, &mut stdout),
                        Shell::Zsh => generate(shells::Zsh, &mut cmd, name, &mut stdout),
                        Shell::Fish => generate(shells::Fish, &mut cmd, name, &mut stdout),
                        Shell::Elvish => generate(shells::Elvish, &mut cmd, name, &mut stdout),
                        Shell::Powershell => {
                            generate(shells::PowerShell, &mut cmd, name, &mut stdout)
                        }
                    }
                }
            }
            Ok(0)
        }
    }
}
