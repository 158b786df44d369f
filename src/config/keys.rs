//! The config keys, written once.
//!
//! A key used to be written four times: a field of the account table, its line in the man
//! page, its row in README.md and its line in the merge with `[defaults]`; nothing checked
//! that the four agreed. Here one macro invocation defines, from one line per key, the
//! account table as serde reads it (`deny_unknown_fields`, each field renamed to the key's
//! name, so serde's list of keys is this list), the merge with `[defaults]`, and [`KEYS`]:
//! name, type, default and text, from which the man page's CONFIGURATION section
//! (`crate::manpage`) and README's key table (`mailfetch generate readme`) are rendered and
//! the misspelt-key hint takes its candidates. A new key is one line here.

use super::{FoldersToml, Oversize, Protocol};
use crate::net::TlsMode;
use serde::Deserialize;
use toml::Spanned;

/// One config key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// As written in the file (`password-command`).
    pub name: &'static str,
    /// What its value is.
    pub kind: Kind,
    /// What it does, or that the key before says it.
    pub about: About,
}

/// What a key's value is, as a user writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text,
    /// A string, one of these.
    OneOf(&'static [&'static str]),
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Bool,
    /// A list of strings.
    List,
    /// A list of strings, or the string `"*"`.
    ListOrStar,
}

impl Kind {
    /// The type as the man page and README name it.
    pub fn describe(self) -> String {
        match self {
            Kind::Text => "string".into(),
            Kind::OneOf(values) => format!("one of {}", values.join(", ")),
            Kind::Integer => "integer".into(),
            Kind::Bool => "boolean".into(),
            Kind::List => "list of strings".into(),
            Kind::ListOrStar => "list of strings, or \"*\"".into(),
        }
    }

    /// A value of this type in TOML, for the tests that read every key.
    pub fn sample(self) -> String {
        match self {
            Kind::Text => "\"x\"".into(),
            Kind::OneOf(values) => format!("{:?}", values[0]),
            Kind::Integer => "1".into(),
            Kind::Bool => "true".into(),
            Kind::List | Kind::ListOrStar => "[\"INBOX\"]".into(),
        }
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy)]
pub enum About {
    /// Its own entry.
    Own {
        /// One line, for README's table.
        summary: &'static str,
        /// The man page's paragraph.
        doc: &'static str,
        /// Its value when not written.
        default: DefaultValue,
    },
    /// Documented together with the key before it (`host, port`): one entry, both names.
    AsAbove,
}

/// A key's value when it is not written.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    /// An account must have it.
    Required,
    /// Nothing (the feature is off, or the doc says what happens).
    None,
    /// This, in words.
    Is(&'static str),
}

/// One entry of the documentation: keys documented together, and what they do.
pub struct Entry {
    /// The keys' names.
    pub names: Vec<&'static str>,
    /// Their types, once each.
    pub kinds: Vec<Kind>,
    /// One line, for README.
    pub summary: &'static str,
    /// The man page's paragraph.
    pub doc: &'static str,
    /// The value when not written.
    pub default: DefaultValue,
}

/// The keys as documentation entries, in table order: each key with its own text, and the
/// keys after it that say [`About::AsAbove`].
pub fn entries(keys: &[Key]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for key in keys {
        match (key.about, out.last_mut()) {
            (About::AsAbove, Some(entry)) => {
                entry.names.push(key.name);
                if !entry.kinds.contains(&key.kind) {
                    entry.kinds.push(key.kind);
                }
            }
            (about, _) => {
                let (summary, doc, default) = match about {
                    About::Own {
                        summary,
                        doc,
                        default,
                    } => (summary, doc, default),
                    // A first key "as above" is a table error, which a test reports.
                    About::AsAbove => ("", "", DefaultValue::None),
                };
                out.push(Entry {
                    names: vec![key.name],
                    kinds: vec![key.kind],
                    summary,
                    doc,
                    default,
                });
            }
        }
    }
    out
}

/// README's key table (Markdown): key, type, meaning, default.
pub fn markdown() -> String {
    let mut s = String::from("| key | type | meaning | default |\n|---|---|---|---|\n");
    for e in entries(KEYS).iter().chain(&entries(FILE_KEYS)) {
        let names: Vec<String> = e.names.iter().map(|n| format!("`{n}`")).collect();
        let kinds: Vec<String> = e.kinds.iter().map(|k| k.describe()).collect();
        let default = match e.default {
            DefaultValue::Required => "required",
            DefaultValue::None => "none",
            DefaultValue::Is(d) => d,
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            names.join(", "),
            kinds.join("; "),
            e.summary,
            default
        ));
    }
    s
}

/// Defines the account table (`AccountToml`), its merge with `[defaults]` and [`KEYS`] from
/// one line per key: `field: Type = "name", kind, about;`.
macro_rules! keys {
    ($($field:ident: $ty:ty = $name:tt, $kind:expr, $about:expr;)*) => {
        /// One account (or the defaults) as written. Every key is optional here;
        /// `config::resolve` checks what an account needs.
        #[derive(Deserialize, Default, Clone)]
        #[serde(deny_unknown_fields)]
        pub(super) struct AccountToml {
            $(
                #[serde(rename = $name)]
                pub(super) $field: Option<$ty>,
            )*
        }

        impl AccountToml {
            /// This account's values, falling back to `d` (the defaults) for what it
            /// leaves out.
            pub(super) fn or(self, d: &AccountToml) -> AccountToml {
                let d = d.clone();
                AccountToml {
                    $($field: self.$field.or(d.$field),)*
                }
            }

            /// The names of the keys that have a value.
            #[cfg(test)]
            pub(super) fn written(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $(
                    if self.$field.is_some() {
                        names.push($name);
                    }
                )*
                names
            }
        }

        /// The keys of an account (and of `[defaults]`), in the order the man page and
        /// README list them.
        pub const KEYS: &[Key] = &[$(Key { name: $name, kind: $kind, about: $about },)*];
    };
}

use About::AsAbove;

/// An [`About::Own`].
const fn own(summary: &'static str, doc: &'static str, default: DefaultValue) -> About {
    About::Own {
        summary,
        doc,
        default,
    }
}

/// The keys at the top of the file, beside `[defaults]` and `[accounts.NAME]`.
pub const FILE_KEYS: &[Key] = &[Key {
    name: "include",
    kind: Kind::List,
    about: own(
        "top level, main config only: more files of `[accounts.NAME]` tables, e.g. `[\"accounts.d/*.toml\"]` (see [Many accounts](#many-accounts))",
        "Top level, main config only: more files of [accounts.NAME] tables, e.g. include = [\"accounts.d/*.toml\"]; paths relative to the config's directory, wildcards * and ? in the file name only, files taken in name order. Errors name the included file's line; an account name in two files is an error naming both; each file is checked like the main one (owner, not writable by others, chmod 600 when it holds a password).",
        DefaultValue::None,
    ),
}];

/// The tables at the top of the file; with [`FILE_KEYS`], every name serde takes there.
pub const FILE_TABLES: &[&str] = &["defaults", "accounts"];

keys! {
    profile: Spanned<String> = "profile", Kind::Text, own(
        "provider preset: gmail, outlook, office365, yahoo, icloud, fastmail, gmx, aol, custom",
        "Provider preset: gmail, outlook, office365, yahoo, icloud, fastmail, gmx, aol or custom.",
        DefaultValue::Is("custom when host is set"));
    protocol: Protocol = "protocol", Kind::OneOf(&["pop3", "imap"]), own(
        "which protocol fetches the mail",
        "The protocol mail is fetched with.",
        DefaultValue::Is("the profile's preferred protocol"));
    host: String = "host", Kind::Text, own(
        "the server",
        "The server.",
        DefaultValue::Is("from the profile; port 995 (POP3S), 110 (POP3), 993 (IMAPS) or 143 (IMAP) by tls"));
    port: u16 = "port", Kind::Integer, AsAbove;
    tls: TlsMode = "tls", Kind::OneOf(&["implicit", "starttls", "none"]), own(
        "`implicit` (TLS from the first byte), `starttls` (refused if not offered) or `none`",
        "implicit (TLS from the first byte), starttls (upgrade; refused if the server does not offer it) or none.",
        DefaultValue::Is("implicit"));
    ca_file: String = "ca-file", Kind::Text, own(
        "extra CA certificates (PEM) to trust",
        "PEM file of extra CA certificates to trust, besides the system store.",
        DefaultValue::Is("the system store only"));
    tls_min: Spanned<String> = "tls-min", Kind::OneOf(&["1.2", "1.3", "1.0", "1.1"]), own(
        "oldest TLS version: `1.2`, `1.3`, or `1.0`/`1.1` for a legacy server",
        "The oldest TLS version accepted: 1.2, 1.3, or 1.0 or 1.1 for a legacy server (which may also need an OpenSSL configuration whose security level still allows them).",
        DefaultValue::Is("1.2"));
    tls_fingerprint: Spanned<String> = "tls-fingerprint", Kind::Text, own(
        "pin the server certificate, `sha256:AB:CD:...` (`mailfetch certinfo` prints it); replaces chain and host name checks, and is checked before anything is sent",
        "Pin the server's certificate: sha256: and the 64 hex digits of its SHA-256 (colons optional), as mailfetch certinfo prints them. With a pin, the certificate must be exactly the pinned one, and chain and host name are not verified (so a self-signed certificate can be used safely); it is checked right after the TLS handshake, before anything is sent. A renewed certificate needs a new pin.",
        DefaultValue::None);
    user: String = "user", Kind::Text, own(
        "login name",
        "Login name.",
        DefaultValue::Required);
    password_command: String = "password-command", Kind::Text, own(
        "command run with `sh -c`; the first line of its output is the password",
        "Command run with sh -c; the first line of its output is the password.",
        DefaultValue::None);
    password_env: String = "password-env", Kind::Text, own(
        "name of an environment variable holding the password",
        "Name of an environment variable holding the password.",
        DefaultValue::None);
    password: String = "password", Kind::Text, own(
        "the password itself (the file must then be `chmod 600`); without any of the three, mailfetch asks at the terminal",
        "The password itself; the config file must then be private (chmod 600). Without any of the three, mailfetch asks at the terminal.",
        DefaultValue::None);
    auth: Spanned<String> = "auth", Kind::OneOf(&["auto", "user", "apop", "plain", "login", "cram-md5", "xoauth2", "oauthbearer", "oauth2"]), own(
        "the login method; `auto` is the strongest the server offers (over TLS, PLAIN or USER/LOGIN; in plaintext, where allowed, CRAM-MD5 or APOP first), with one fallback when the server refuses the first (`-v` says which was used); `oauth2` is OAUTHBEARER or XOAUTH2, as offered; a method the server lacks is exit 78",
        "auto, user (POP3 USER/PASS, IMAP LOGIN), apop, plain, login, cram-md5, xoauth2, oauthbearer or oauth2. auto is the strongest method the server offers for a password: over TLS, PLAIN, then USER/PASS (IMAP LOGIN), SASL LOGIN, CRAM-MD5, APOP; without TLS first CRAM-MD5 and APOP, which do not reveal the password. oauth2 sends an OAuth2 access token with OAUTHBEARER (RFC 7628), or XOAUTH2 where the server offers only that; over IMAP the token goes with the AUTHENTICATE command when the server offers SASL-IR. A method named here that the server does not offer is a configuration error (exit 78), never a fallback to another method.",
        DefaultValue::Is("auto"));
    oauth2_token_command: Spanned<String> = "oauth2-token-command", Kind::Text, own(
        "with `auth = \"oauth2\"`: prints a current access token (e.g. `oama access me@outlook.com`); run again once if refused",
        "With auth = oauth2: a command run with sh -c that prints a current access token (such as oama or a provider's CLI). Run once per run, and once more if the server refuses the token.",
        DefaultValue::None);
    oauth2_client_id: Spanned<String> = "oauth2-client-id", Kind::Text, own(
        "with `auth = \"oauth2\"`: your registered app; then `mailfetch auth ACCOUNT`",
        "With auth = oauth2: the client id of your own registered OAuth2 app (mailfetch ships none). mailfetch auth ACCOUNT then authorizes it once, and pull renews access tokens by itself; see OAUTH2.",
        DefaultValue::None);
    oauth2_client_secret: Spanned<String> = "oauth2-client-secret", Kind::Text, own(
        "the app's client secret, for providers that want one (needs `chmod 600`)",
        "The client secret, for providers that want one even from installed apps (Google); the config file must then be private (chmod 600).",
        DefaultValue::None);
    oauth2_auth_url: Spanned<String> = "oauth2-auth-url", Kind::Text, own(
        "the provider's endpoints (https, or http on a loopback host only)",
        "The provider's authorization, token and device authorization endpoints; required for servers without a profile that has them. Only https:// URLs, or http:// to a loopback host (127.0.0.0/8, ::1, localhost); no user name or password in the URL.",
        DefaultValue::Is("from the profile (gmail, outlook, office365)"));
    oauth2_token_url: Spanned<String> = "oauth2-token-url", Kind::Text, AsAbove;
    oauth2_device_url: Spanned<String> = "oauth2-device-url", Kind::Text, AsAbove;
    oauth2_scope: Spanned<String> = "oauth2-scope", Kind::Text, own(
        "the scopes asked for, space-separated",
        "The scopes asked for, space-separated (Google: https://mail.google.com/; Microsoft: https://outlook.office.com/POP.AccessAsUser.All or IMAP.AccessAsUser.All, and offline_access).",
        DefaultValue::Is("from the profile, for the account's protocol"));
    target: Spanned<String> = "target", Kind::Text, own(
        "`maildir:PATH`, `mbox:PATH`, `mda:COMMAND` (`%u` user, `%a` account), `imap:ACCOUNT/FOLDER` (another IMAP account of the file), `lmtp:/socket`, `lmtp:HOST:PORT`, `smtp:HOST:PORT`",
        "Where mail goes: maildir:PATH, mbox:PATH (mboxrd), mda:COMMAND (message on stdin; %u is the user, %a the account), imap:ACCOUNT/FOLDER (appended to FOLDER, created if missing, of ACCOUNT, another IMAP account of this file, whose server and login are used), lmtp:/path/to/socket, lmtp:HOST:PORT or smtp:HOST:PORT (a mail server that delivers to deliver-to; no TLS, for this machine or a trusted network). See MIGRATION AND DELIVERY.",
        DefaultValue::Required);
    deliver_to: Spanned<String> = "deliver-to", Kind::Text, own(
        "envelope recipient for `lmtp:` and `smtp:` targets (`alice@example.org`); required with them",
        "The envelope recipient (RCPT TO) for an lmtp: or smtp: target, e.g. alice@example.org, or a user name for a local LMTP server. Required with those targets, refused with others.",
        DefaultValue::None);
    keep: bool = "keep", Kind::Bool, own(
        "leave mail on the server",
        "Leave mail on the server. With false, a message is deleted only after it is durably delivered and recorded.",
        DefaultValue::Is("true"));
    fetch_all: bool = "fetch-all", Kind::Bool, own(
        "also fetch messages already seen",
        "Also fetch messages fetched before.",
        DefaultValue::Is("false"));
    timeout: Spanned<u64> = "timeout", Kind::Integer, own(
        "seconds for connect and any single read or write",
        "Seconds allowed for connecting and for any single read or write.",
        DefaultValue::Is("60"));
    allow_plaintext_password: bool = "allow-plaintext-password", Kind::Bool, own(
        "allow sending a password, a token, or a digest of the password (APOP, CRAM-MD5, which can be cracked offline) when `tls = \"none\"`",
        "Allow sending a password, a token or a digest of the password (APOP, CRAM-MD5: whoever chose the challenge can crack it offline) over a connection without TLS.",
        DefaultValue::Is("false"));
    folders: Spanned<FoldersToml> = "folders", Kind::ListOrStar, own(
        "IMAP: a list of folder names (UTF-8), or `\"*\"` for every selectable folder; POP3 only has `[\"INBOX\"]`",
        "IMAP: the folders to fetch, a list, or \"*\" for every selectable folder.",
        DefaultValue::Is("[\"INBOX\"]"));
    move_to: Spanned<String> = "move-to", Kind::Text, own(
        "IMAP: with `keep = false`, move fetched mail to this folder instead of deleting it",
        "IMAP with keep = false: move fetched mail to this folder instead of deleting it.",
        DefaultValue::None);
    gmail_spam: bool = "gmail-spam", Kind::Bool, own(
        "IMAP on Gmail (a server offering X-GM-EXT-1) with `folders = \"*\"`: fetch Spam, Trash too, beside All Mail",
        "IMAP, where the server offers Gmail's X-GM-EXT-1, with folders = \"*\": fetch Spam (\\Junk), Trash (\\Trash) too, beside All Mail (\\All), which holds every other message, archived ones included. Each message arrives once (by its X-GM-MSGID, kept in the state, also across explicitly named label folders); its labels go to a gmail-labels file (JSON lines) in the Maildir, beside the mbox (FILE.gmail-labels), or in the state directory (ACCOUNT.gmail-labels) for other targets.",
        DefaultValue::Is("false"));
    gmail_trash: bool = "gmail-trash", Kind::Bool, AsAbove;
    max_message_size: Spanned<u64> = "max-message-size", Kind::Integer, own(
        "bytes; larger messages stay on the server and are reported each run",
        "Bytes (as the server counts them); larger messages are not fetched but reported in every run's summary, and stay on the server.",
        DefaultValue::Is("no limit"));
    oversize: Oversize = "oversize", Kind::OneOf(&["skip", "headers"]), own(
        "`skip`, or `headers`: deliver a header-only stub marked `X-Mailfetch-Truncated:` (once; the message is never deleted because of it and is fetched once it fits)",
        "What happens to a message over max-message-size: skip (leave it) or headers: deliver its header alone, with a first field X-Mailfetch-Truncated: saying so. The stub is delivered once and is not taken for the message: the message is never deleted on the strength of it, and is fetched in full once it fits (max-message-size raised).",
        DefaultValue::Is("skip"));
    max_messages_per_run: Spanned<u64> = "max-messages-per-run", Kind::Integer, own(
        "at most this many messages per run (the rest next run)",
        "At most this many messages per run, over all folders (with --limit, the smaller bound); the rest waits for the next run. Header stubs do not count.",
        DefaultValue::Is("no limit"));
    max_bytes_per_run: Spanned<u64> = "max-bytes-per-run", Kind::Integer, own(
        "at most this many bytes per run (at least one message always)",
        "At most this many bytes per run; the run stops before the first message that would go over, but always fetches at least one.",
        DefaultValue::Is("no limit"));
    delete_after_days: Spanned<u32> = "delete-after-days", Kind::Integer, own(
        "with `keep = true`: delete from the server N days after first delivery",
        "With keep = true: delete a message from the server this many days after it was first delivered, like getmail's delete_after (not with --keep). Messages delivered by a mailfetch that did not record times start their period at the first run that asks.",
        DefaultValue::Is("never"));
    poll_interval: Spanned<u64> = "poll-interval", Kind::Integer, own(
        "`mailfetch watch`: seconds between pulls of a POP3 account, or of an IMAP server without IDLE; IDLE is also renewed this often, the folder opened again (GNU Mailutils' imap4d does not always tell of new mail during IDLE)",
        "mailfetch watch: seconds between pulls of a POP3 account, or of an IMAP account whose server does not offer IDLE; IDLE is also renewed this often and the folder opened again, since some servers (GNU Mailutils) do not always tell of new mail during IDLE; 1 to 86400.",
        DefaultValue::Is("300"));
    max_connections_per_host: Spanned<u32> = "max-connections-per-host", Kind::Integer, own(
        "at most this many accounts of one run connected to this server at once (see [Many accounts](#many-accounts))",
        "At most this many accounts of one run (pull, check) connected to the account's server at once, across all its accounts and --jobs; an account with an imap: target holds a slot on that server too. An account waiting for its server holds up no other server's accounts. Each process of --shard counts its own. 1 to 1000; Gmail allows 15 IMAP connections per account, Microsoft about 20 per mailbox.",
        DefaultValue::Is("8"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `[defaults]` table that writes every key of [`KEYS`], each with a value of its
    /// type.
    fn every_key() -> String {
        let mut text = String::from("[defaults]\n");
        for key in KEYS {
            text.push_str(&format!("{} = {}\n", key.name, key.kind.sample()));
        }
        text
    }

    #[test]
    fn serde_reads_every_key_of_the_table_with_a_value_of_its_type() {
        let file: super::super::FileToml = toml::from_str(&every_key()).unwrap();
        let all = file.defaults.unwrap().into_inner();
        let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(all.written(), names);
    }

    #[test]
    fn the_merge_takes_every_key_from_the_account_and_else_from_the_defaults() {
        let file: super::super::FileToml = toml::from_str(&every_key()).unwrap();
        let all = file.defaults.unwrap().into_inner();
        let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(AccountToml::default().or(&all).written(), names);
        assert_eq!(all.clone().or(&AccountToml::default()).written(), names);
        // The account's own value wins over the default's, key by key.
        let mine: AccountToml = toml::from_str("user = \"mine\"\nkeep = false\n").unwrap();
        let merged = mine.or(&all);
        assert_eq!(merged.user.as_deref(), Some("mine"));
        assert_eq!(merged.keep, Some(false));
        assert_eq!(merged.host.as_deref(), Some("x"));
    }

    #[test]
    fn a_key_not_in_the_table_is_refused_and_every_table_key_is_taken_at_the_top() {
        assert!(toml::from_str::<AccountToml>("colour = \"red\"\n").is_err());
        let mut text = String::new();
        for key in FILE_KEYS {
            text.push_str(&format!("{} = {}\n", key.name, key.kind.sample()));
        }
        for table in FILE_TABLES {
            text.push_str(&format!("[{table}]\n"));
        }
        toml::from_str::<super::super::FileToml>(&text).unwrap();
    }

    /// The keys serde names when it refuses `zzz` in `table` (`[defaults]`, or the top).
    fn refused_with(text: &str) -> Vec<String> {
        let err = toml::from_str::<super::super::FileToml>(text)
            .err()
            .expect("zzz is refused");
        let message = err.message().to_string();
        let (_, list) = message.split_once("expected one of").expect(&message);
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect()
    }

    #[test]
    fn serde_knows_exactly_the_keys_of_the_table() {
        let mut top: Vec<&str> = FILE_KEYS.iter().map(|k| k.name).collect();
        top.extend(FILE_TABLES);
        assert_eq!(refused_with("zzz = 1\n"), top);
        let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(refused_with("[defaults]\nzzz = 1\n"), names);
    }

    #[test]
    fn every_key_is_named_once_and_documented() {
        let mut names: Vec<&str> = KEYS.iter().chain(FILE_KEYS).map(|k| k.name).collect();
        names.extend(FILE_TABLES);
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a key is in the table twice");
        assert!(matches!(KEYS[0].about, About::Own { .. }));
        for e in entries(KEYS).iter().chain(&entries(FILE_KEYS)) {
            assert!(!e.summary.is_empty() && !e.doc.is_empty(), "{:?}", e.names);
            assert!(
                !e.summary.contains('|'),
                "{:?}: a | in a table cell",
                e.names
            );
        }
    }

    #[test]
    fn keys_documented_together_are_one_entry() {
        let entries = entries(KEYS);
        let host = entries.iter().find(|e| e.names[0] == "host").unwrap();
        assert_eq!(host.names, ["host", "port"]);
        assert_eq!(host.kinds, [Kind::Text, Kind::Integer]);
        let url = entries
            .iter()
            .find(|e| e.names[0] == "oauth2-auth-url")
            .unwrap();
        assert_eq!(url.kinds, [Kind::Text]);
        assert_eq!(url.names.len(), 3);
    }
}
