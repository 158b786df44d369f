//! The man page: clap_mangen renders the synopsis, options and subcommands from the CLI
//! definitions in `cli`, and this module adds the sections a man page needs beyond flags
//! (configuration keys, profiles, files, exit status, examples, security). The config keys
//! come from the key table (`config::keys`), the exit statuses from `error::Exit` and the
//! profile list from the profile table itself, so none of them can drift.

use crate::cli::Cli;
use crate::config::profiles::PROFILES;
use clap::CommandFactory;
use std::io::{self, Write};

/// Escape text for roff: backslashes, and a leading `.` or `'` that would read as a request.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// A tagged paragraph: `tag` in bold, then `body`.
fn item(out: &mut String, tag: &str, body: &str) {
    out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(tag), roff(body)));
}

/// Literal lines in a no-fill block.
fn example(out: &mut String, lines: &str) {
    out.push_str(".PP\n.nf\n.RS 4\n");
    for line in lines.lines() {
        out.push_str(&roff(line));
        out.push('\n');
    }
    out.push_str(".RE\n.fi\n");
}

/// The CONFIGURATION section's entries, from the key table (`config::keys`): each key (or
/// keys documented together) with what it does, its type and its default.
fn config_keys(out: &mut String) {
    use crate::config::keys::{entries, DefaultValue, FILE_KEYS, KEYS};
    for e in entries(KEYS).iter().chain(&entries(FILE_KEYS)) {
        let kinds: Vec<String> = e.kinds.iter().map(|k| k.describe()).collect();
        let default = match e.default {
            DefaultValue::Required => " Required.".to_string(),
            DefaultValue::None => String::new(),
            DefaultValue::Is(d) => format!(" Default: {d}."),
        };
        let body = format!("{} Type: {}.{default}", e.doc, kinds.join("; "));
        item(out, &e.names.join(", "), &body);
    }
}

/// Everything after the generated sections.
fn extra_sections() -> String {
    let mut s = String::new();
    s.push_str(".SH CONFIGURATION\n");
    s.push_str(&roff("The config file is TOML, at $XDG_CONFIG_HOME/mailfetch/config.toml unless --config or MAILFETCH_CONFIG says otherwise. Each [accounts.NAME] table is one account; a [defaults] table holds values every account inherits. Unknown keys, wrong types and missing required keys are errors naming file:line:col."));
    s.push('\n');
    config_keys(&mut s);
    s.push_str(".SH PROFILES\n");
    for p in PROFILES {
        let server = |srv: Option<crate::config::profiles::Server>, proto: &str| {
            srv.map_or(format!("no {proto}"), |v| {
                format!("{proto} {}:{} ({})", v.host, v.port, v.tls.as_str())
            })
        };
        item(
            &mut s,
            p.name,
            &format!(
                "{}; {}; prefers {}. {}.",
                server(p.pop3, "POP3"),
                server(p.imap, "IMAP"),
                p.preferred.as_str(),
                p.note
            ),
        );
    }
    s.push_str(".SH FILES\n");
    item(
        &mut s,
        "$XDG_CONFIG_HOME/mailfetch/config.toml",
        "The configuration (default ~/.config/mailfetch/config.toml).",
    );
    item(&mut s, "$XDG_STATE_HOME/mailfetch/ACCOUNT.state", "The journal of delivered messages of ACCOUNT (default under ~/.local/state/mailfetch/). Override the directory with --state-dir or MAILFETCH_STATE_DIR. The directory is created with mode 0700 and its files 0600; a state directory owned by another user or writable by group or others, or a symbolic link where a state file should be, is refused with exit 77.");
    item(&mut s, "$XDG_STATE_HOME/mailfetch/ACCOUNT.state.size", "The journal's length when mailfetch last synced it. A journal found shorter (cut short, or an older copy put back) is refused with exit 74 rather than read as if the missing deliveries never happened; delete this file to go on with the journal as it is, or run pull --reset-state.");
    item(
        &mut s,
        "$XDG_STATE_HOME/mailfetch/ACCOUNT.lock",
        "The per-account lock; a second run on the same account exits 75.",
    );
    item(&mut s, "$XDG_STATE_HOME/mailfetch/ACCOUNT.oauth2", "The OAuth2 tokens of ACCOUNT (refresh token, current access token and its expiry), written by mailfetch auth and renewed by pull; created with mode 0600 and replaced atomically. mailfetch refuses a token file others can read. Delete it to make mailfetch forget the authorization (and revoke the app's access at the provider).");
    item(&mut s, "/etc/resolv.conf", "mailfetch init asks the first nameserver listed here for RFC 6186 SRV records (_imaps._tcp.DOMAIN and the like) when it offers a DNS lookup of a custom domain's server. The environment variable MAILFETCH_RESOLVER=IP:PORT names another resolver instead; it is meant for testing and unusual setups.");
    item(&mut s, "MBOX.lock", "The dotlock taken, with an fcntl lock, while appending to an mbox; a dotlock whose process is dead, or older than five minutes, is broken.");
    item(&mut s, "MBOX.lock.PID-N", "Beside the dotlock while mailfetch appends: where the message being written began. It outlives a crash, so that the next run removes only the interrupted batch, keeping mail another program appended after it; that run deletes the file.");
    s.push_str(".SH EXIT STATUS\n");
    for exit in crate::error::Exit::DOCUMENTED {
        item(&mut s, &exit.code().to_string(), exit.doc());
    }
    s.push_str(&roff(crate::error::SEVERAL_ACCOUNTS));
    s.push('\n');
    json_section(&mut s);
    s.push_str(".SH EXAMPLES\n");
    s.push_str(&roff(
        "A Gmail account over POP3 into a Maildir, and a company server over IMAP into an mbox:",
    ));
    s.push('\n');
    example(
        &mut s,
        "[accounts.personal]\nprofile = \"gmail\"\nprotocol = \"pop3\"\nuser = \"me@gmail.com\"\npassword-command = \"pass show mail/gmail\"\ntarget = \"maildir:~/Mail/personal\"\n\n[accounts.work]\nprofile = \"custom\"\nhost = \"mail.example.com\"\nprotocol = \"imap\"\nuser = \"me\"\npassword-env = \"WORK_PASS\"\ntarget = \"mbox:~/Mail/work.mbox\"\nkeep = false",
    );
    s.push_str(&roff(
        "Fetch every ten minutes from cron, silent unless something fails:",
    ));
    s.push('\n');
    example(&mut s, "*/10 * * * * mailfetch pull --quiet");
    s.push_str(&roff("Or keep running and fetch mail as it arrives: at once for an IMAP server that offers IDLE (one connection per folder, up to 8 per account; further folders are polled), every poll-interval seconds otherwise. An account's error is one line and the account tries again after a pause growing to five minutes; kill -HUP reloads the config, kill -TERM or Ctrl-C ends it with exit 0 once the batch of messages in progress is safe (a large pull stops between batches; what was not fetched yet stays on the server for the next run):"));
    s.push('\n');
    example(&mut s, "mailfetch watch");
    s.push_str(&roff("Back up a POP3 mailbox and leave it on the server, then delete from the server what is safely copied:"));
    s.push('\n');
    example(
        &mut s,
        "mailfetch pull oldisp\nmailfetch pull oldisp --no-keep",
    );
    s.push_str(&roff(
        "An Outlook.com account with OAuth2, authorized once, then fetched like any other:",
    ));
    s.push('\n');
    example(
        &mut s,
        "[accounts.hotmail]\nprofile = \"outlook\"\nuser = \"me@outlook.com\"\nauth = \"oauth2\"\noauth2-client-id = \"00000000-0000-0000-0000-000000000000\"\ntarget = \"maildir:~/Mail/hotmail\"\n\n$ mailfetch auth hotmail\n$ mailfetch pull hotmail",
    );
    s.push_str(&roff("Leave an old POP3 provider: copy its mailbox into the INBOX of the new IMAP account, exactly once, prove the copy complete, then empty the old mailbox; and upload an old local archive into a folder:"));
    s.push('\n');
    example(
        &mut s,
        "[accounts.oldisp]\nprofile = \"custom\"\nhost = \"pop.oldisp.example\"\nprotocol = \"pop3\"\nuser = \"me\"\npassword-command = \"pass show oldisp\"\ntarget = \"imap:newhome/INBOX\"\n\n[accounts.newhome]\nprofile = \"fastmail\"\nprotocol = \"imap\"\nuser = \"me@fastmail.example\"\npassword-command = \"pass show fastmail\"\ntarget = \"maildir:~/Mail/newhome\"\n\n$ mailfetch pull oldisp\noldisp: 1240 new messages (239.66 MiB) -> newhome/INBOX (IMAP), 3 already there (recorded, not stored again)\n$ mailfetch verify oldisp\noldisp INBOX -> newhome/INBOX: 1243 messages compared, all there and identical\n$ mailfetch pull oldisp --no-keep\n$ mailfetch upload ~/Mail/backup --to newhome/Archive\n/home/me/Mail/backup (Maildir) -> newhome/Archive: 5,210 appended, 0 already present\n$ mailfetch verify --local ~/Mail/backup --remote newhome/Archive",
    );
    s.push_str(&roff("Hand mail to a filter, or to the local Dovecot:"));
    s.push('\n');
    example(
        &mut s,
        "target = \"mda:/usr/bin/procmail -d %u\"\n\ntarget = \"lmtp:/run/dovecot/lmtp\"\ndeliver-to = \"alice@example.org\"",
    );
    migration_section(&mut s);
    oauth2_section(&mut s);
    s.push_str(".SH SECURITY\n");
    for para in [
        "Certificates are verified against the system store plus ca-file, with the host name, and TLS 1.2 is the minimum unless tls-min says otherwise. The system store is OpenSSL's hashed certificate directory (/etc/ssl/certs, or SSL_CERT_DIR), searched when a chain needs an anchor, plus a bundle SSL_CERT_FILE names outside that directory; where the directory has no hashed links, OpenSSL's default bundle is read. With tls-fingerprint, the pinned certificate replaces that verification; the pin is checked right after the handshake, and a server that fails it (exit 69) has received nothing, not even a user name. mailfetch certinfo ACCOUNT shows what a server presents (chain, names, expiry, SHA-256) and sends no credential.",
        "With tls = starttls, a server that does not list STARTTLS (IMAP) or STLS (POP3) among its capabilities is refused (exit 76): an attacker in the path may have stripped it, and mailfetch never continues in plaintext; bytes a server sends after agreeing to STARTTLS and before the handshake are refused too. With tls = none, no password, token or digest of the password (APOP, CRAM-MD5) is sent unless allow-plaintext-password = true; then CRAM-MD5 or APOP is tried first when offered.",
        "Passwords, tokens, client secrets and SASL payloads never appear in output: the --verbose trace shows commands carrying them as <redacted>, and error messages quote only what the server said. A config file holding a password or client secret is refused unless only its owner can read it; the OAuth2 token file is created with mode 0600 and refused when others can read it. OAuth2 endpoints must be https:// (plain http only to a loopback host), checked on the URL as parsed. A config file that others can write to, or that belongs to another user (root excepted), is refused with exit 77, as ssh refuses a loose key; so is a state directory that is not private.",
        "Hostile servers: every line read is bounded in length, every literal and message size is checked against a limit before memory is allocated for it, and counts and sizes the server announces are checked against what it sends. The parsers of POP3 replies, dot-stuffed message text, mboxrd quoting, Maildir folder names and modified UTF-7 folder names are fuzzed (fuzz/, scripts/fuzz).",
    ] {
        s.push_str(".PP\n");
        s.push_str(&roff(para));
        s.push('\n');
    }
    s
}

/// The OAUTH2 section: what `auth = "oauth2"` needs per provider, and how tokens live.
/// The MIGRATION AND DELIVERY section: what each onward target promises.
fn migration_section(s: &mut String) {
    s.push_str(".SH MIGRATION AND DELIVERY\n");
    for para in [
        "imap:ACCOUNT/FOLDER appends each message to FOLDER with its flags and date (the IMAP source's INTERNALDATE; for POP3 the date of its newest Received: field, else its Date:), over one connection per run, several messages per command where the server offers MULTIAPPEND, without waiting for the server's go-ahead where it offers LITERAL+. Before appending a batch it looks in the folder for the messages that are already there (same Message-ID and size, or for a message without a Message-ID, same size and text): those are recorded as delivered without being stored again, and counted as already there. A message the server refuses (over its APPENDLIMIT, or any NO to it) is named, stays on the source server, and the run goes on (exit 74).",
        "Exactly once, also under kill -9: before appending, mailfetch journals which messages it is about to append and the folder's UIDVALIDITY and UIDNEXT. If a run dies after the server stored them but before they were recorded, the next run first looks among the messages the folder gained since (their UIDs are at least that UIDNEXT) and records those it finds, so they are neither lost nor appended twice; with keep = false the source deletes a message only after it is recorded. A rerun with --reset-state, or after copying with another tool, stores nothing twice either, by the lookup above.",
        "mda:COMMAND runs the command once per message, with the message on its standard input (LF line ends), without a shell unless the command needs one. Exit status 0 means delivered; any other status, a signal, or no exit within the account's timeout (at least 60 seconds; the command's process group is then killed) means not delivered: the message stays on the server, is offered again next run, and the run goes on with the others and exits 74. What the MDA writes on its standard error is shown.",
        "lmtp: and smtp: speak LMTP (RFC 2033) or SMTP (RFC 5321) over one connection per run: LHLO or EHLO, PIPELINING when offered, MAIL FROM the message's Return-Path (or <>), RCPT TO deliver-to, and the message as DATA (CRLF line ends, dot-stuffed, streamed). Only a 250 for the message delivers it. A 4xx leaves it on the server for the next run (exit 75), a 5xx leaves it there and reports it (exit 74); it is never dropped.",
        "An MDA, LMTP or SMTP server cannot be asked whether it already has a message, so there a crash between its answer and the journal may deliver that one message again; each message is recorded as soon as it is delivered so that no more than one is.",
        "upload PATH --to ACCOUNT/FOLDER stores a local Maildir folder (cur/ and new/; the info letters S, R, F, D become the flags seen, answered, flagged, draft, and the file time the INTERNALDATE) or an mbox file (mboxrd; the From line's date; Status: and X-Status: flags) with the same lookup, so a second run, or one after an interruption, stores only what is missing. verify reads both sides in full and compares every message's text, ignoring only CRLF against LF and whether the last line ends with a line end; it prints each message that is missing, different, or not fetched yet, and a summary line per comparison, and changes nothing.",
    ] {
        s.push_str(".PP\n");
        s.push_str(&roff(para));
        s.push('\n');
    }
}

fn oauth2_section(s: &mut String) {
    s.push_str(".SH OAUTH2\n");
    for para in [
        "Outlook.com accepts only OAuth2 since September 2024, Office 365 mostly so, and Gmail wants OAuth2 or an app password. With auth = \"oauth2\" mailfetch logs in with an access token instead of a password, taken either from oauth2-token-command or from its own token store.",
        "With oauth2-client-id, mailfetch does the OAuth2 work itself. Register an app with the provider (mailfetch ships no client id): at Microsoft (Entra admin center, App registrations) a public client whose \"Mobile and desktop applications\" platform has the redirect URI http://127.0.0.1 (mailfetch listens on a free port of it; Microsoft matches loopback redirect URIs on any port), the delegated permissions IMAP.AccessAsUser.All or POP.AccessAsUser.All and offline_access, and \"Allow public client flows\" for --device; at Google (Cloud console) an OAuth client of type \"Desktop app\" with the Gmail scope https://mail.google.com/, whose client secret goes into oauth2-client-secret. Then run mailfetch auth ACCOUNT once: it prints the provider's login URL, waits on a loopback port of 127.0.0.1 for the browser to come back (authorization code with PKCE, RFC 7636, and a state check), and stores the refresh token. With --device it shows a code to enter on any device instead (RFC 8628; Microsoft only, Google does not allow the mail scope there).",
        "pull then uses the stored access token while it has more than five minutes left, and otherwise gets a new one from the token endpoint first; when the server refuses a token anyway (revoked early), it gets a fresh one and tries once more; an IMAP session the server ends is resumed with a current token. A refresh token the provider no longer accepts (revoked, expired, password changed) ends the run with exit 77 and the advice to run mailfetch auth ACCOUNT again.",
    ] {
        s.push_str(".PP\n");
        s.push_str(&roff(para));
        s.push('\n');
    }
}

/// The JSON OUTPUT section: the schema of `--json` (the types in `crate::json`).
fn json_section(s: &mut String) {
    s.push_str(".SH JSON OUTPUT\n");
    s.push_str(&roff("With --json, pull, check, verify, list and accounts print one JSON document on stdout (one line) instead of their human lines; progress and errors still go to stderr. Fields are never removed within a major version; new fields may appear. When a command fails before it can report (a usage or configuration error), the document is {\"command\": NAME, \"exit_code\": N, \"error\": TEXT}."));
    s.push('\n');
    for (doc, what) in JSON_DOCS {
        item(s, doc, what);
    }
    s.push_str(".PP\n");
    s.push_str(&roff("With --json-events, pull and check print one JSON object per line as it happens, each with \"event\" and \"account\": {\"event\": \"started\"}; {\"event\": \"progress\", \"delivered\", \"planned\", \"planned_bytes\"} (pull, when a folder's plan is made and at most once a second while delivering); {\"event\": \"finished\"} with the fields of the account's entry in the --json document; {\"event\": \"failed\", \"class\"} with the same fields (exit_code, error), class one of usage, unavailable, local-io, temporary, protocol, auth, config, internal; {\"event\": \"backing-off\", \"seconds\", \"error\"} when the account's server said it is busy for every client (THROTTLED, LIMIT, too many connections): the run connects to that host again after so many seconds, with at most half the connections it had there, and runs the account once more. Each line is flushed as written."));
    s.push('\n');
}

/// The `--json` documents, field by field.
const JSON_DOCS: &[(&str, &str)] = &[
    ("pull, check", "{\"command\": \"pull\" or \"check\", \"dry_run\": BOOL, \"exit_code\": N, \"accounts\": [ACCOUNT...]} with one ACCOUNT per account in config order: {\"account\": NAME, \"ok\": BOOL, \"exit_code\": N, \"error\": TEXT (only when not ok), \"fetched\": N, \"bytes\": N, \"deleted\": N, \"pending\": N, \"pending_bytes\": N, \"deferred\": N, \"oversized\": [...], \"passed_over\": N, \"already_present\": N, \"interrupted\": BOOL, \"target\": TEXT}. fetched and bytes count the messages delivered, deleted those deleted or moved away on the server; pending and pending_bytes count, for check and pull --dry-run, the new messages that would be fetched. deferred counts new messages left for a later run by the per-run limits, passed_over those passed over by --since, already_present those an imap: target had already (recorded, not stored again, not in fetched), and oversized lists the messages over max-message-size: [{\"mailbox\", \"id\", \"size\", \"header_delivered\": BOOL}...]. interrupted says that SIGINT or SIGTERM stopped the account before it had fetched everything (exit_code of the run is then 130 or 143). exit_code is the run's exit status."),
    ("verify", "{\"command\": \"verify\", \"exit_code\": N, \"accounts\": [{\"account\": NAME, \"ok\": BOOL (the comparison ran), \"exit_code\": N (0 complete, 1 incomplete, else the error's), \"error\": TEXT (only when not ok), \"complete\": BOOL, \"compared\": N, \"problems\": N (missing, different or not fetched yet), \"extra\": N}...]} (verify --json, for one account, several, every account or a --shard). report merges it with the pull documents: each account's last verify result stands beside its pull status."),
    ("list", "{\"command\": \"list\", \"account\": NAME, \"messages\": [{\"mailbox\", \"number\" (POP3 message number or IMAP UID), \"id\" (UIDL or UID), \"date\" (seconds since the epoch, or null), \"from\", \"subject\" (decoded), \"size\", \"state\": \"new\", \"fetched\", \"headers-only\" or \"passed-over\"}...]}."),
    ("accounts", "{\"command\": \"accounts\", \"accounts\": [{\"name\", \"profile\", \"protocol\", \"host\", \"port\", \"tls\", \"user\", \"folders\" (a list of names, or \"*\"), \"move_to\" (or null), \"target\", \"keep\", \"state_file\"}...]}."),
];

/// Write the whole man page to `out`: clap_mangen's title, name, synopsis, description and
/// global options, then COMMANDS (every subcommand's synopsis and options, from the same
/// definitions), then the sections written here. clap_mangen's own SUBCOMMANDS section is
/// left out, since it points at one page per subcommand (`mailfetch-pull(1)`) and none ships;
/// so is its EXTRA section, the `--help` exit-code text, which EXIT STATUS says as a list.
pub fn render(out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    // No hyphenation: a flag broken over two lines (`--re-` `set-state`) cannot be copied.
    page.extend_from_slice(b".nh\n");
    for part in [
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ] {
        page.extend_from_slice(&without_preamble(|w| part(&man, w))?);
    }
    out.write_all(&page)?;
    out.write_all(commands_section(&cmd)?.as_bytes())?;
    out.write_all(extra_sections().as_bytes())
}

/// The COMMANDS section: one `.SS` per subcommand (nested ones, as `generate man`, too) with
/// its synopsis, what it does, and its own options; the global options are in OPTIONS once.
fn commands_section(cmd: &clap::Command) -> io::Result<String> {
    let mut s = String::from(".SH COMMANDS\n");
    s.push_str(&roff("The options above (--config, --state-dir, --quiet, --verbose) are accepted by every command, before or after its name."));
    s.push('\n');
    for sub in cmd.get_subcommands() {
        command(&mut s, sub.get_name(), sub)?;
    }
    Ok(s)
}

/// One subcommand's `.SS`: synopsis, what it does, its options and operands; then its own
/// subcommands, named by their path (`generate man`).
fn command(s: &mut String, path: &str, sub: &clap::Command) -> io::Result<()> {
    if sub.is_hide_set() {
        return Ok(());
    }
    s.push_str(&format!(".SS {}\n", roff(path)));
    let own = sub.clone().mut_args(|a| {
        if a.is_global_set() || a.get_id() == "help" {
            a.hide(true)
        } else {
            a
        }
    });
    let man = clap_mangen::Man::new(own);
    let synopsis = without_preamble(|w| man.render_synopsis_section(w))?;
    s.push_str(&String::from_utf8_lossy(&synopsis).replace(".SH SYNOPSIS\n", ""));
    if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
        s.push_str(".PP\n");
        s.push_str(&roff(&about.to_string()));
        s.push('\n');
    }
    let options = without_preamble(|w| man.render_options_section(w))?;
    s.push_str(&String::from_utf8_lossy(&options).replace(".SH OPTIONS\n", ""));
    for nested in sub.get_subcommands() {
        command(s, &format!("{path} {}", nested.get_name()), nested)?;
    }
    Ok(())
}

/// What a clap_mangen section writer wrote, without roff's apostrophe preamble (which the
/// title's chunk already carries once).
fn without_preamble(render: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<Vec<u8>> {
    const PREAMBLE: &[u8] = b".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let mut buf = Vec::new();
    render(&mut buf)?;
    Ok(match buf.strip_prefix(PREAMBLE) {
        Some(rest) => rest.to_vec(),
        None => buf,
    })
}
