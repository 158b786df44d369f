
use builtin;
use str;

set edit:completion:arg-completer[mailfetch] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mailfetch'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mailfetch'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand pull 'Fetch new mail from every account, or the ones named'
            cand check 'Count new messages per account; downloads nothing'
            cand watch 'Keep running and fetch mail as it arrives: IMAP IDLE on each folder (up to 8) where the server offers it, else a pull every poll-interval seconds; SIGTERM or SIGINT ends it after the batch in progress, SIGHUP reloads the config'
            cand list 'List the messages on an account''s server without downloading them: number or UID, date, sender, subject, size, and whether already fetched'
            cand init 'Add an account to the config: asks for the address and what else the flags do not say, guesses the provider, shows the server''s certificate before any password (pin it or give a CA file if it is not trusted), runs OAuth2 where the provider needs it, tries the login (after a failure: retry, change an answer, save anyway or quit), writes the file (mode 0600)'
            cand accounts 'Show each account''s resolved server, port, TLS, protocol, target and state file'
            cand folders 'List an IMAP account''s folders on the server, with their message counts'
            cand certinfo 'Show the certificate chain an account''s server presents: names, expiry and SHA-256 fingerprints (for tls-fingerprint), and whether it verifies; sends no credential'
            cand auth 'Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id): prints the provider''s login URL to open in a browser, then keeps the refresh token in the state directory, from which pull renews access tokens by itself'
            cand upload 'Store a local Maildir or mbox in a folder of an IMAP account: flags and dates kept, messages the folder already holds skipped, so a second run stores nothing'
            cand verify 'Prove a copy complete and byte-identical (line ends aside): an account''s server against its target, or a local store against an IMAP folder; prints what is missing or different and exits 1 if anything is'
            cand report 'Merge the --json documents of pull, check or verify runs (the shards of a run, a retry) into one table: each account done, failed (with the reason) or, with --config, remaining, and its last verify result; messages and bytes in all. An account''s status comes from the last file that has it'
            cand import 'Write one accounts.d/NAME.toml per line of a CSV list (columns name, user, password, server, protocol, target; password is command:CMD, env:VAR, file:PATH, oauth2 or literal:SECRET, which goes to a 0600 NAME.password file, never into the account file), for a config with include = ["accounts.d/*.toml"]; nothing is written if a line is bad'
            cand profiles 'Show the built-in provider profiles'
            cand generate 'Write the man page, shell completions or README.md''s generated tables to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailfetch;pull'= {
            cand --accounts-from 'Fetch the accounts of this --json document of pull or report (with --failed, only those whose run failed) instead of all'
            cand --limit 'Fetch at most N messages per account in this run'
            cand --since 'Fetch only messages dated DATE (YYYY-MM-DD, local time) or later; older ones are passed over, now and in later runs (--all fetches them). For a first fetch of a huge mailbox. IMAP compares the arrival date (INTERNALDATE); POP3 has no dates, so the Date header is read with TOP (a message without one is fetched)'
            cand --shard 'Run only the accounts of shard K of N (numbered from 1): an account belongs to one shard by a stable hash of its name, the same on every machine, so N processes given the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here'
            cand -j 'Fetch at most N accounts at once'
            cand --jobs 'Fetch at most N accounts at once'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --failed 'With --accounts-from: only the accounts that failed'
            cand -k 'Leave messages on the server (overrides the config; -k as in fetchmail and mpop)'
            cand --keep 'Leave messages on the server (overrides the config; -k as in fetchmail and mpop)'
            cand -K 'Delete messages from the server once they are safely delivered (overrides the config; -K as in fetchmail and mpop)'
            cand --no-keep 'Delete messages from the server once they are safely delivered (overrides the config; -K as in fetchmail and mpop)'
            cand -a 'Fetch all messages, also those fetched before (-a as in fetchmail): each is delivered again, so the target then holds those twice; nothing is deleted that was not delivered in this run'
            cand --all 'Fetch all messages, also those fetched before (-a as in fetchmail): each is delivered again, so the target then holds those twice; nothing is deleted that was not delivered in this run'
            cand --dry-run 'Connect and list what would be fetched; change nothing'
            cand --reset-state 'Start with an empty state (a damaged state file is moved aside); fetches everything'
            cand --json 'Print one JSON document on stdout instead of the summary lines (see JSON OUTPUT in the man page)'
            cand --json-events 'Print one JSON object per line on stdout as each account starts, progresses (at most once a second) and finishes or fails (with its class and exit code), instead of the summary lines; errors still go to stderr (see JSON OUTPUT in the man page)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;check'= {
            cand --shard 'Run only the accounts of shard K of N (numbered from 1): an account belongs to one shard by a stable hash of its name, the same on every machine, so N processes given the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here'
            cand -j 'Check at most N accounts at once'
            cand --jobs 'Check at most N accounts at once'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --json 'Print one JSON document on stdout instead of the summary lines'
            cand --json-events 'Print one JSON object per line on stdout as each account starts, progresses (at most once a second) and finishes or fails (with its class and exit code), instead of the summary lines; errors still go to stderr (see JSON OUTPUT in the man page)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;watch'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;list'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --json 'Print one JSON document on stdout instead of the table'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;init'= {
            cand --address 'The email address (the profile is guessed from its domain)'
            cand --account 'The account''s name in the config [default: from the domain]'
            cand --profile 'The provider profile [default: guessed from the domain, else custom]'
            cand --protocol 'pop3 or imap [default: the profile''s preferred one]'
            cand --host 'Server host, for the custom profile [default: pop. or imap. and the domain]'
            cand --port 'Server port, for the custom profile [default: the protocol''s for the TLS mode]'
            cand --tls 'implicit, starttls or none, for the custom profile [default: implicit]'
            cand --ca-file 'Extra CA certificates (PEM) that verify the server; checked before anything is written'
            cand --tls-fingerprint 'Trust the server''s certificate with this SHA-256 fingerprint (sha256:AB:CD:...), as `mailfetch certinfo` or init itself shows it, instead of a CA (a self-signed server)'
            cand --auth 'How to log in: password (an app password for Gmail, Yahoo, AOL, iCloud) or oauth2 [default: oauth2 for outlook and office365, else password; asked for gmail]'
            cand --oauth2-client-id 'With --auth oauth2: the client id of your registered app; init then runs the authorization (as `mailfetch auth`) before it tries the login'
            cand --oauth2-client-secret 'With --auth oauth2: the client secret, for providers that want one (Google)'
            cand --oauth2-auth-url 'With --auth oauth2: the authorization endpoint [default: the profile''s]'
            cand --oauth2-token-url 'With --auth oauth2: the token endpoint [default: the profile''s]'
            cand --oauth2-device-url 'With --auth oauth2: the device authorization endpoint [default: the profile''s]'
            cand --oauth2-scope 'With --auth oauth2: the scopes, space-separated [default: the profile''s]'
            cand --user 'Login name [default: the address]'
            cand --password-command 'Command printing the password (e.g. "pass show mail/work")'
            cand --password-env 'Environment variable holding the password'
            cand --target 'Where mail goes: maildir:PATH or mbox:PATH [default: maildir:~/Mail/NAME]'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --device 'With --auth oauth2: authorize with the device-code flow (a code to enter on any device) instead of a browser on this machine'
            cand --srv 'For a custom domain, look up the server in DNS (RFC 6186 SRV records _imaps._tcp/_imap._tcp or _pop3s._tcp/_pop3._tcp) and propose it [default: ask at a terminal, no lookup without one]'
            cand --no-srv 'Do not look up SRV records'
            cand --no-test 'Do not try the login before writing'
            cand --force 'Replace an account of the same name without asking'
            cand --non-interactive 'Ask nothing, even at a terminal'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;accounts'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --json 'Print one JSON document on stdout instead of one line per account'
            cand --names 'Print only the account names, one per line (for scripts and shell completion)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;folders'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;certinfo'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;auth'= {
            cand --wait 'Give up after waiting this many minutes for the browser or the code'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --device 'Use the device-code flow instead (enter a short code on any device; for a machine without a browser), where the provider offers it (Microsoft)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;upload'= {
            cand --to 'Where to: an IMAP account of the config and a folder on its server (created if missing), e.g. --to newhome/Archive'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;verify'= {
            cand --local 'Compare this local Maildir folder or mbox file...'
            cand --remote '...with this folder of an IMAP account of the config'
            cand --shard 'Verify only the accounts of shard K of N, as `pull --shard`'
            cand -j 'Verify at most N accounts at once'
            cand --jobs 'Verify at most N accounts at once'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --json 'Print one JSON document on stdout instead of the report lines (see JSON OUTPUT in the man page); `report` merges it with the pull documents of the same accounts'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;report'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --json 'Print the merged report as one JSON document (pull --accounts-from reads it)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;import'= {
            cand --dir 'Where to write the account files [default: accounts.d beside the config]'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand --force 'Replace account files that exist'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;profiles'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;generate'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand man 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`'
            cand readme 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)'
            cand completions 'Completions for SHELL'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailfetch;generate;man'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;generate;readme'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mailfetch;generate;completions'= {
            cand --config 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]'
            cand --state-dir 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -v 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand --verbose 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'mailfetch;generate;help'= {
            cand man 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`'
            cand readme 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)'
            cand completions 'Completions for SHELL'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailfetch;generate;help;man'= {
        }
        &'mailfetch;generate;help;readme'= {
        }
        &'mailfetch;generate;help;completions'= {
        }
        &'mailfetch;generate;help;help'= {
        }
        &'mailfetch;help'= {
            cand pull 'Fetch new mail from every account, or the ones named'
            cand check 'Count new messages per account; downloads nothing'
            cand watch 'Keep running and fetch mail as it arrives: IMAP IDLE on each folder (up to 8) where the server offers it, else a pull every poll-interval seconds; SIGTERM or SIGINT ends it after the batch in progress, SIGHUP reloads the config'
            cand list 'List the messages on an account''s server without downloading them: number or UID, date, sender, subject, size, and whether already fetched'
            cand init 'Add an account to the config: asks for the address and what else the flags do not say, guesses the provider, shows the server''s certificate before any password (pin it or give a CA file if it is not trusted), runs OAuth2 where the provider needs it, tries the login (after a failure: retry, change an answer, save anyway or quit), writes the file (mode 0600)'
            cand accounts 'Show each account''s resolved server, port, TLS, protocol, target and state file'
            cand folders 'List an IMAP account''s folders on the server, with their message counts'
            cand certinfo 'Show the certificate chain an account''s server presents: names, expiry and SHA-256 fingerprints (for tls-fingerprint), and whether it verifies; sends no credential'
            cand auth 'Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id): prints the provider''s login URL to open in a browser, then keeps the refresh token in the state directory, from which pull renews access tokens by itself'
            cand upload 'Store a local Maildir or mbox in a folder of an IMAP account: flags and dates kept, messages the folder already holds skipped, so a second run stores nothing'
            cand verify 'Prove a copy complete and byte-identical (line ends aside): an account''s server against its target, or a local store against an IMAP folder; prints what is missing or different and exits 1 if anything is'
            cand report 'Merge the --json documents of pull, check or verify runs (the shards of a run, a retry) into one table: each account done, failed (with the reason) or, with --config, remaining, and its last verify result; messages and bytes in all. An account''s status comes from the last file that has it'
            cand import 'Write one accounts.d/NAME.toml per line of a CSV list (columns name, user, password, server, protocol, target; password is command:CMD, env:VAR, file:PATH, oauth2 or literal:SECRET, which goes to a 0600 NAME.password file, never into the account file), for a config with include = ["accounts.d/*.toml"]; nothing is written if a line is bad'
            cand profiles 'Show the built-in provider profiles'
            cand generate 'Write the man page, shell completions or README.md''s generated tables to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mailfetch;help;pull'= {
        }
        &'mailfetch;help;check'= {
        }
        &'mailfetch;help;watch'= {
        }
        &'mailfetch;help;list'= {
        }
        &'mailfetch;help;init'= {
        }
        &'mailfetch;help;accounts'= {
        }
        &'mailfetch;help;folders'= {
        }
        &'mailfetch;help;certinfo'= {
        }
        &'mailfetch;help;auth'= {
        }
        &'mailfetch;help;upload'= {
        }
        &'mailfetch;help;verify'= {
        }
        &'mailfetch;help;report'= {
        }
        &'mailfetch;help;import'= {
        }
        &'mailfetch;help;profiles'= {
        }
        &'mailfetch;help;generate'= {
            cand man 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`'
            cand readme 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)'
            cand completions 'Completions for SHELL'
        }
        &'mailfetch;help;generate;man'= {
        }
        &'mailfetch;help;generate;readme'= {
        }
        &'mailfetch;help;generate;completions'= {
        }
        &'mailfetch;help;help'= {
        }
    ]
    $completions[$command]
}
