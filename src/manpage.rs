//! The man page: clap_mangen renders the synopsis, options and subcommands from the CLI
//! definitions in `cli`, and this module adds the sections a man page needs beyond flags
//! (configuration keys, profiles, files, exit status, examples, security). The profile list
//! comes from the profile table itself, so it cannot drift.

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

/// The config keys, with defaults: the CONFIGURATION section.
const KEYS: &[(&str, &str)] = &[
    ("profile", "Provider preset: gmail, outlook, office365, yahoo, icloud, fastmail, gmx, aol or custom. Default: custom when host is set."),
    ("protocol", "pop3 or imap. Default: the profile's preferred protocol."),
    ("host, port", "The server. Default: from the profile; port 995 (POP3S), 110 (POP3), 993 (IMAPS) or 143 (IMAP) by tls."),
    ("tls", "implicit (TLS from the first byte), starttls (upgrade; refused if the server does not offer it) or none. Default: implicit."),
    ("ca-file", "PEM file of extra CA certificates to trust, besides the system store."),
    ("user", "Login name. Required."),
    ("password-command", "Command run with sh -c; the first line of its output is the password."),
    ("password-env", "Name of an environment variable holding the password."),
    ("password", "The password itself; the config file must then be private (chmod 600). Without any of the three, mailfetch asks at the terminal."),
    ("auth", "auto, user, apop, plain, login, cram-md5, xoauth2 or oauthbearer. Default: auto, the strongest method the server offers."),
    ("target", "Where mail goes: maildir:PATH, mbox:PATH (mboxrd) or mda:COMMAND (message on stdin; %u is the user, %a the account). Required."),
    ("keep", "Leave mail on the server. Default: true. With false, a message is deleted only after it is durably delivered and recorded."),
    ("fetch-all", "Also fetch messages fetched before. Default: false."),
    ("timeout", "Seconds allowed for connecting and for any single read or write. Default: 60."),
    ("allow-plaintext-password", "Allow sending a password over a connection without TLS. Default: false."),
    ("folders", "IMAP: the folders to fetch, a list, or \"*\" for every selectable folder. Default: [\"INBOX\"]."),
    ("move-to", "IMAP with keep = false: move fetched mail to this folder instead of deleting it."),
    ("max-message-size", "Bytes (as the server counts them); larger messages are not fetched but reported in every run's summary, and stay on the server. Default: no limit."),
    ("oversize", "What happens to a message over max-message-size: skip (leave it, the default) or headers: deliver its header alone, with a first field X-Mailfetch-Truncated: saying so. The stub is delivered once and is not taken for the message: the message is never deleted on the strength of it, and is fetched in full once it fits (max-message-size raised)."),
    ("max-messages-per-run", "At most this many messages per run, over all folders (with --limit, the smaller bound); the rest waits for the next run. Header stubs do not count. Default: no limit."),
    ("max-bytes-per-run", "At most this many bytes per run; the run stops before the first message that would go over, but always fetches at least one. Default: no limit."),
    ("delete-after-days", "With keep = true: delete a message from the server this many days after it was first delivered, like getmail's delete_after (not with --keep). Messages delivered by a mailfetch that did not record times start their period at the first run that asks. Default: never."),
];

/// Everything after the generated sections.
fn extra_sections() -> String {
    let mut s = String::new();
    s.push_str(".SH CONFIGURATION\n");
    s.push_str(&roff("The config file is TOML, at $XDG_CONFIG_HOME/mailfetch/config.toml unless --config or MAILFETCH_CONFIG says otherwise. Each [accounts.NAME] table is one account; a [defaults] table holds values every account inherits. Unknown keys, wrong types and missing required keys are errors naming file:line:col."));
    s.push('\n');
    for (key, what) in KEYS {
        item(&mut s, key, what);
    }
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
    item(&mut s, "$XDG_STATE_HOME/mailfetch/ACCOUNT.state", "The journal of delivered messages of ACCOUNT (default under ~/.local/state/mailfetch/). Override the directory with --state-dir or MAILFETCH_STATE_DIR.");
    item(
        &mut s,
        "$XDG_STATE_HOME/mailfetch/ACCOUNT.lock",
        "The per-account lock; a second run on the same account exits 75.",
    );
    item(&mut s, "MBOX.lock", "The dotlock taken, with an fcntl lock, while appending to an mbox; a dotlock whose process is dead, or older than five minutes, is broken.");
    s.push_str(".SH EXIT STATUS\n");
    for (code, what) in [
        ("0", "Success, whether or not there was new mail."),
        ("64", "Usage error on the command line."),
        (
            "69",
            "A server could not be reached, or its TLS certificate was refused.",
        ),
        (
            "74",
            "A local write failed (disk full, permissions, MDA failure).",
        ),
        (
            "75",
            "Temporary failure: timeout, dropped connection, account locked by another run.",
        ),
        ("76", "Protocol error: the server sent something invalid."),
        ("77", "Authentication refused."),
        ("78", "Configuration error."),
    ] {
        item(&mut s, code, what);
    }
    s.push_str(&roff(
        "With several accounts, every account is tried and the first failure's code is returned.",
    ));
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
    s.push_str(&roff("Back up a POP3 mailbox and leave it on the server, then delete from the server what is safely copied:"));
    s.push('\n');
    example(
        &mut s,
        "mailfetch pull oldisp\nmailfetch pull oldisp --no-keep",
    );
    s.push_str(".SH SECURITY\n");
    s.push_str(&roff("Certificates are verified against the system store plus ca-file, with the host name, and TLS 1.2 is the minimum. With tls = starttls, a server that does not offer STARTTLS/STLS is refused: mailfetch never continues in plaintext. With tls = none, no password is sent unless allow-plaintext-password = true (CRAM-MD5 and APOP, which do not reveal the password, are used when offered). The --verbose trace shows commands with passwords and AUTH payloads redacted. A config file holding a literal password is refused unless only its owner can read it. Gmail and most providers want an app password or OAuth2 rather than the account password."));
    s.push('\n');
    s
}

/// The JSON OUTPUT section: the schema of `--json` (the types in `crate::json`).
fn json_section(s: &mut String) {
    s.push_str(".SH JSON OUTPUT\n");
    s.push_str(&roff("With --json, pull, check, list and accounts print one JSON document on stdout (one line) instead of their human lines; progress and errors still go to stderr. Fields are never removed within a major version; new fields may appear. When a command fails before it can report (a usage or configuration error), the document is {\"command\": NAME, \"exit_code\": N, \"error\": TEXT}."));
    s.push('\n');
    for (doc, what) in JSON_DOCS {
        item(s, doc, what);
    }
}

/// The `--json` documents, field by field.
const JSON_DOCS: &[(&str, &str)] = &[
    ("pull, check", "{\"command\": \"pull\" or \"check\", \"dry_run\": BOOL, \"exit_code\": N, \"accounts\": [ACCOUNT...]} with one ACCOUNT per account in config order: {\"account\": NAME, \"ok\": BOOL, \"exit_code\": N, \"error\": TEXT (only when not ok), \"fetched\": N, \"bytes\": N, \"deleted\": N, \"pending\": N, \"pending_bytes\": N, \"deferred\": N, \"oversized\": [...], \"passed_over\": N, \"target\": TEXT}. fetched and bytes count the messages delivered, deleted those deleted or moved away on the server; pending and pending_bytes count, for check and pull --dry-run, the new messages that would be fetched. deferred counts new messages left for a later run by the per-run limits, passed_over those passed over by --since, and oversized lists the messages over max-message-size: [{\"mailbox\", \"id\", \"size\", \"header_delivered\": BOOL}...]. exit_code is the run's exit status."),
    ("list", "{\"command\": \"list\", \"account\": NAME, \"messages\": [{\"mailbox\", \"number\" (POP3 message number or IMAP UID), \"id\" (UIDL or UID), \"date\" (seconds since the epoch, or null), \"from\", \"subject\" (decoded), \"size\", \"state\": \"new\", \"fetched\", \"headers-only\" or \"passed-over\"}...]}."),
    ("accounts", "{\"command\": \"accounts\", \"accounts\": [{\"name\", \"profile\", \"protocol\", \"host\", \"port\", \"tls\", \"user\", \"folders\" (a list of names, or \"*\"), \"move_to\" (or null), \"target\", \"keep\", \"state_file\"}...]}."),
];

/// Write the whole man page to `out`.
pub fn render(out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(Cli::command());
    let mut buf = Vec::new();
    man.render(&mut buf)?;
    out.write_all(&buf)?;
    out.write_all(extra_sections().as_bytes())
}
