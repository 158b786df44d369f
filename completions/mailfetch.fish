# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mailfetch_global_optspecs
    string join \n config= state-dir= q/quiet v/verbose h/help V/version
end

function __fish_mailfetch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mailfetch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mailfetch_using_subcommand
    set -l cmd (__fish_mailfetch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mailfetch -n "__fish_mailfetch_needs_command" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_needs_command" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_needs_command" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -s V -l version -d 'Print version'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "pull" -d 'Fetch new mail from every account, or the ones named'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "check" -d 'Count new messages per account; downloads nothing'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "watch" -d 'Keep running and fetch mail as it arrives: IMAP IDLE on each folder (up to 8) where the server offers it, else a pull every poll-interval seconds; SIGTERM or SIGINT ends it after the batch in progress, SIGHUP reloads the config'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "list" -d 'List the messages on an account\'s server without downloading them: number or UID, date, sender, subject, size, and whether already fetched'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "init" -d 'Add an account to the config: asks for the address and what else the flags do not say, guesses the provider, shows the server\'s certificate before any password (pin it or give a CA file if it is not trusted), runs OAuth2 where the provider needs it, tries the login (after a failure: retry, change an answer, save anyway or quit), writes the file (mode 0600)'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "accounts" -d 'Show each account\'s resolved server, port, TLS, protocol, target and state file'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "folders" -d 'List an IMAP account\'s folders on the server, with their message counts'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "certinfo" -d 'Show the certificate chain an account\'s server presents: names, expiry and SHA-256 fingerprints (for tls-fingerprint), and whether it verifies; sends no credential'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "auth" -d 'Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id): prints the provider\'s login URL to open in a browser, then keeps the refresh token in the state directory, from which pull renews access tokens by itself'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "upload" -d 'Store a local Maildir or mbox in a folder of an IMAP account: flags and dates kept, messages the folder already holds skipped, so a second run stores nothing'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "verify" -d 'Prove a copy complete and byte-identical (line ends aside): an account\'s server against its target, or a local store against an IMAP folder; prints what is missing or different and exits 1 if anything is'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "report" -d 'Merge the --json documents of pull, check or verify runs (the shards of a run, a retry) into one table: each account done, failed (with the reason) or, with --config, remaining, and its last verify result; messages and bytes in all. An account\'s status comes from the last file that has it'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "import" -d 'Write one accounts.d/NAME.toml per line of a CSV list (columns name, user, password, server, protocol, target; password is command:CMD, env:VAR, file:PATH, oauth2 or literal:SECRET, which goes to a 0600 NAME.password file, never into the account file), for a config with include = ["accounts.d/*.toml"]; nothing is written if a line is bad'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "profiles" -d 'Show the built-in provider profiles'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "generate" -d 'Write the man page, shell completions or README.md\'s generated tables to stdout'
complete -c mailfetch -n "__fish_mailfetch_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l accounts-from -d 'Fetch the accounts of this --json document of pull or report (with --failed, only those whose run failed) instead of all' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l limit -d 'Fetch at most N messages per account in this run' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l since -d 'Fetch only messages dated DATE (YYYY-MM-DD, local time) or later; older ones are passed over, now and in later runs (--all fetches them). For a first fetch of a huge mailbox. IMAP compares the arrival date (INTERNALDATE); POP3 has no dates, so the Date header is read with TOP (a message without one is fetched)' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l shard -d 'Run only the accounts of shard K of N (numbered from 1): an account belongs to one shard by a stable hash of its name, the same on every machine, so N processes given the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -s j -l jobs -d 'Fetch at most N accounts at once' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l failed -d 'With --accounts-from: only the accounts that failed'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -s k -l keep -d 'Leave messages on the server (overrides the config; -k as in fetchmail and mpop)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -s K -l no-keep -d 'Delete messages from the server once they are safely delivered (overrides the config; -K as in fetchmail and mpop)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -s a -l all -d 'Fetch all messages, also those fetched before (-a as in fetchmail): each is delivered again, so the target then holds those twice; nothing is deleted that was not delivered in this run'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l dry-run -d 'Connect and list what would be fetched; change nothing'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l reset-state -d 'Start with an empty state (a damaged state file is moved aside); fetches everything'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l json -d 'Print one JSON document on stdout instead of the summary lines (see JSON OUTPUT in the man page)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -l json-events -d 'Print one JSON object per line on stdout as each account starts, progresses (at most once a second) and finishes or fails (with its class and exit code), instead of the summary lines; errors still go to stderr (see JSON OUTPUT in the man page)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand pull" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -l shard -d 'Run only the accounts of shard K of N (numbered from 1): an account belongs to one shard by a stable hash of its name, the same on every machine, so N processes given the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -s j -l jobs -d 'Check at most N accounts at once' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -l json -d 'Print one JSON document on stdout instead of the summary lines'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -l json-events -d 'Print one JSON object per line on stdout as each account starts, progresses (at most once a second) and finishes or fails (with its class and exit code), instead of the summary lines; errors still go to stderr (see JSON OUTPUT in the man page)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand check" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand watch" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand watch" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand watch" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand watch" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand watch" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand list" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand list" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand list" -l json -d 'Print one JSON document on stdout instead of the table'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand list" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand list" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand list" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l address -d 'The email address (the profile is guessed from its domain)' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l account -d 'The account\'s name in the config [default: from the domain]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l profile -d 'The provider profile [default: guessed from the domain, else custom]' -r -f -a "gmail\t''
outlook\t''
office365\t''
yahoo\t''
icloud\t''
fastmail\t''
gmx\t''
aol\t''
custom\t''"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l protocol -d 'pop3 or imap [default: the profile\'s preferred one]' -r -f -a "pop3\t''
imap\t''"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l host -d 'Server host, for the custom profile [default: pop. or imap. and the domain]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l port -d 'Server port, for the custom profile [default: the protocol\'s for the TLS mode]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l tls -d 'implicit, starttls or none, for the custom profile [default: implicit]' -r -f -a "implicit\t''
starttls\t''
none\t''"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l ca-file -d 'Extra CA certificates (PEM) that verify the server; checked before anything is written' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l tls-fingerprint -d 'Trust the server\'s certificate with this SHA-256 fingerprint (sha256:AB:CD:...), as `mailfetch certinfo` or init itself shows it, instead of a CA (a self-signed server)' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l auth -d 'How to log in: password (an app password for Gmail, Yahoo, AOL, iCloud) or oauth2 [default: oauth2 for outlook and office365, else password; asked for gmail]' -r -f -a "password\t''
oauth2\t''"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l oauth2-client-id -d 'With --auth oauth2: the client id of your registered app; init then runs the authorization (as `mailfetch auth`) before it tries the login' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l oauth2-client-secret -d 'With --auth oauth2: the client secret, for providers that want one (Google)' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l oauth2-auth-url -d 'With --auth oauth2: the authorization endpoint [default: the profile\'s]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l oauth2-token-url -d 'With --auth oauth2: the token endpoint [default: the profile\'s]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l oauth2-device-url -d 'With --auth oauth2: the device authorization endpoint [default: the profile\'s]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l oauth2-scope -d 'With --auth oauth2: the scopes, space-separated [default: the profile\'s]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l user -d 'Login name [default: the address]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l password-command -d 'Command printing the password (e.g. "pass show mail/work")' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l password-env -d 'Environment variable holding the password' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l target -d 'Where mail goes: maildir:PATH or mbox:PATH [default: maildir:~/Mail/NAME]' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l device -d 'With --auth oauth2: authorize with the device-code flow (a code to enter on any device) instead of a browser on this machine'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l srv -d 'For a custom domain, look up the server in DNS (RFC 6186 SRV records _imaps._tcp/_imap._tcp or _pop3s._tcp/_pop3._tcp) and propose it [default: ask at a terminal, no lookup without one]'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l no-srv -d 'Do not look up SRV records'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l no-test -d 'Do not try the login before writing'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l force -d 'Replace an account of the same name without asking'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -l non-interactive -d 'Ask nothing, even at a terminal'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand init" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand accounts" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand accounts" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand accounts" -l json -d 'Print one JSON document on stdout instead of one line per account'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand accounts" -l names -d 'Print only the account names, one per line (for scripts and shell completion)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand accounts" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand accounts" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand accounts" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand folders" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand folders" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand folders" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand folders" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand folders" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand certinfo" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand certinfo" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand certinfo" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand certinfo" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand certinfo" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand auth" -l wait -d 'Give up after waiting this many minutes for the browser or the code' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand auth" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand auth" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand auth" -l device -d 'Use the device-code flow instead (enter a short code on any device; for a machine without a browser), where the provider offers it (Microsoft)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand auth" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand auth" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand auth" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand upload" -l to -d 'Where to: an IMAP account of the config and a folder on its server (created if missing), e.g. --to newhome/Archive' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand upload" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand upload" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand upload" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand upload" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand upload" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -l local -d 'Compare this local Maildir folder or mbox file...' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -l remote -d '...with this folder of an IMAP account of the config' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -l shard -d 'Verify only the accounts of shard K of N, as `pull --shard`' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -s j -l jobs -d 'Verify at most N accounts at once' -r
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -l json -d 'Print one JSON document on stdout instead of the report lines (see JSON OUTPUT in the man page); `report` merges it with the pull documents of the same accounts'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand verify" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand report" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand report" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand report" -l json -d 'Print the merged report as one JSON document (pull --accounts-from reads it)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand report" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand report" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand report" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand import" -l dir -d 'Where to write the account files [default: accounts.d beside the config]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand import" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand import" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand import" -l force -d 'Replace account files that exist'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand import" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand import" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand import" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand profiles" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand profiles" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand profiles" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand profiles" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand profiles" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -f -a "man" -d 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -f -a "readme" -d 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -f -a "completions" -d 'Completions for SHELL'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and not __fish_seen_subcommand_from man readme completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from man" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from man" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from man" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from man" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from readme" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from readme" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from readme" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from readme" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from readme" -s h -l help -d 'Print help'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from completions" -l config -d 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]' -r -F
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from completions" -l state-dir -d 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]' -r -f -a "(__fish_complete_directories)"
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from completions" -s q -l quiet -d 'Print nothing but errors'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from completions" -s v -l verbose -d 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "man" -d 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "readme" -d 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "completions" -d 'Completions for SHELL'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "pull" -d 'Fetch new mail from every account, or the ones named'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "check" -d 'Count new messages per account; downloads nothing'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "watch" -d 'Keep running and fetch mail as it arrives: IMAP IDLE on each folder (up to 8) where the server offers it, else a pull every poll-interval seconds; SIGTERM or SIGINT ends it after the batch in progress, SIGHUP reloads the config'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "list" -d 'List the messages on an account\'s server without downloading them: number or UID, date, sender, subject, size, and whether already fetched'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "init" -d 'Add an account to the config: asks for the address and what else the flags do not say, guesses the provider, shows the server\'s certificate before any password (pin it or give a CA file if it is not trusted), runs OAuth2 where the provider needs it, tries the login (after a failure: retry, change an answer, save anyway or quit), writes the file (mode 0600)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "accounts" -d 'Show each account\'s resolved server, port, TLS, protocol, target and state file'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "folders" -d 'List an IMAP account\'s folders on the server, with their message counts'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "certinfo" -d 'Show the certificate chain an account\'s server presents: names, expiry and SHA-256 fingerprints (for tls-fingerprint), and whether it verifies; sends no credential'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "auth" -d 'Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id): prints the provider\'s login URL to open in a browser, then keeps the refresh token in the state directory, from which pull renews access tokens by itself'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "upload" -d 'Store a local Maildir or mbox in a folder of an IMAP account: flags and dates kept, messages the folder already holds skipped, so a second run stores nothing'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "verify" -d 'Prove a copy complete and byte-identical (line ends aside): an account\'s server against its target, or a local store against an IMAP folder; prints what is missing or different and exits 1 if anything is'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "report" -d 'Merge the --json documents of pull, check or verify runs (the shards of a run, a retry) into one table: each account done, failed (with the reason) or, with --config, remaining, and its last verify result; messages and bytes in all. An account\'s status comes from the last file that has it'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "import" -d 'Write one accounts.d/NAME.toml per line of a CSV list (columns name, user, password, server, protocol, target; password is command:CMD, env:VAR, file:PATH, oauth2 or literal:SECRET, which goes to a 0600 NAME.password file, never into the account file), for a config with include = ["accounts.d/*.toml"]; nothing is written if a line is bad'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "profiles" -d 'Show the built-in provider profiles'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "generate" -d 'Write the man page, shell completions or README.md\'s generated tables to stdout'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and not __fish_seen_subcommand_from pull check watch list init accounts folders certinfo auth upload verify report import profiles generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "man" -d 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "readme" -d 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)'
complete -c mailfetch -n "__fish_mailfetch_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "completions" -d 'Completions for SHELL'

# Account names, from the config (mailfetch accounts --names); written by
# `mailfetch generate completions fish` after clap's script.
function __mailfetch_accounts
    set -l words (commandline -opc)
    set -l config
    for i in (seq (count $words))
        if test "$words[$i]" = --config; and test $i -lt (count $words)
            set config --config $words[(math $i + 1)]
        else if string match -q -- '--config=*' $words[$i]
            set config $words[$i]
        end
    end
    mailfetch $config accounts --names 2>/dev/null
end
function __mailfetch_wants_account
    set -l words (commandline -opc)
    set -l prev $words[-1]
    contains -- $prev --config --state-dir --accounts-from --limit --since --shard --jobs -j --address --account --profile --protocol --host --port --tls --ca-file --tls-fingerprint --auth --oauth2-client-id --oauth2-client-secret --oauth2-auth-url --oauth2-token-url --oauth2-device-url --oauth2-scope --user --password-command --password-env --target --wait --to --local --remote --dir; and return 1
    __fish_seen_subcommand_from pull check watch list folders certinfo auth verify
end
complete -c mailfetch -n __mailfetch_wants_account -f -a "(__mailfetch_accounts)"
complete -c mailfetch -l to -x -a "(__mailfetch_accounts | string replace -r '\$' /)"
complete -c mailfetch -l remote -x -a "(__mailfetch_accounts | string replace -r '\$' /)"
