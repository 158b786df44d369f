
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mailfetch' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mailfetch'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mailfetch' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Fetch new mail from every account, or the ones named')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Count new messages per account; downloads nothing')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Keep running and fetch mail as it arrives: IMAP IDLE on each folder (up to 8) where the server offers it, else a pull every poll-interval seconds; SIGTERM or SIGINT ends it after the batch in progress, SIGHUP reloads the config')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the messages on an account''s server without downloading them: number or UID, date, sender, subject, size, and whether already fetched')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Add an account to the config: asks for the address and what else the flags do not say, guesses the provider, shows the server''s certificate before any password (pin it or give a CA file if it is not trusted), runs OAuth2 where the provider needs it, tries the login (after a failure: retry, change an answer, save anyway or quit), writes the file (mode 0600)')
            [CompletionResult]::new('accounts', 'accounts', [CompletionResultType]::ParameterValue, 'Show each account''s resolved server, port, TLS, protocol, target and state file')
            [CompletionResult]::new('folders', 'folders', [CompletionResultType]::ParameterValue, 'List an IMAP account''s folders on the server, with their message counts')
            [CompletionResult]::new('certinfo', 'certinfo', [CompletionResultType]::ParameterValue, 'Show the certificate chain an account''s server presents: names, expiry and SHA-256 fingerprints (for tls-fingerprint), and whether it verifies; sends no credential')
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id): prints the provider''s login URL to open in a browser, then keeps the refresh token in the state directory, from which pull renews access tokens by itself')
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Store a local Maildir or mbox in a folder of an IMAP account: flags and dates kept, messages the folder already holds skipped, so a second run stores nothing')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Prove a copy complete and byte-identical (line ends aside): an account''s server against its target, or a local store against an IMAP folder; prints what is missing or different and exits 1 if anything is')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Merge the --json documents of pull, check or verify runs (the shards of a run, a retry) into one table: each account done, failed (with the reason) or, with --config, remaining, and its last verify result; messages and bytes in all. An account''s status comes from the last file that has it')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Write one accounts.d/NAME.toml per line of a CSV list (columns name, user, password, server, protocol, target; password is command:CMD, env:VAR, file:PATH, oauth2 or literal:SECRET, which goes to a 0600 NAME.password file, never into the account file), for a config with include = ["accounts.d/*.toml"]; nothing is written if a line is bad')
            [CompletionResult]::new('profiles', 'profiles', [CompletionResultType]::ParameterValue, 'Show the built-in provider profiles')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write the man page, shell completions or README.md''s generated tables to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailfetch;pull' {
            [CompletionResult]::new('--accounts-from', '--accounts-from', [CompletionResultType]::ParameterName, 'Fetch the accounts of this --json document of pull or report (with --failed, only those whose run failed) instead of all')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Fetch at most N messages per account in this run')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Fetch only messages dated DATE (YYYY-MM-DD, local time) or later; older ones are passed over, now and in later runs (--all fetches them). For a first fetch of a huge mailbox. IMAP compares the arrival date (INTERNALDATE); POP3 has no dates, so the Date header is read with TOP (a message without one is fetched)')
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run only the accounts of shard K of N (numbered from 1): an account belongs to one shard by a stable hash of its name, the same on every machine, so N processes given the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Fetch at most N accounts at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Fetch at most N accounts at once')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--failed', '--failed', [CompletionResultType]::ParameterName, 'With --accounts-from: only the accounts that failed')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Leave messages on the server (overrides the config; -k as in fetchmail and mpop)')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Leave messages on the server (overrides the config; -k as in fetchmail and mpop)')
            [CompletionResult]::new('-K', '-K ', [CompletionResultType]::ParameterName, 'Delete messages from the server once they are safely delivered (overrides the config; -K as in fetchmail and mpop)')
            [CompletionResult]::new('--no-keep', '--no-keep', [CompletionResultType]::ParameterName, 'Delete messages from the server once they are safely delivered (overrides the config; -K as in fetchmail and mpop)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Fetch all messages, also those fetched before (-a as in fetchmail): each is delivered again, so the target then holds those twice; nothing is deleted that was not delivered in this run')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Fetch all messages, also those fetched before (-a as in fetchmail): each is delivered again, so the target then holds those twice; nothing is deleted that was not delivered in this run')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Connect and list what would be fetched; change nothing')
            [CompletionResult]::new('--reset-state', '--reset-state', [CompletionResultType]::ParameterName, 'Start with an empty state (a damaged state file is moved aside); fetches everything')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout instead of the summary lines (see JSON OUTPUT in the man page)')
            [CompletionResult]::new('--json-events', '--json-events', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout as each account starts, progresses (at most once a second) and finishes or fails (with its class and exit code), instead of the summary lines; errors still go to stderr (see JSON OUTPUT in the man page)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;check' {
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run only the accounts of shard K of N (numbered from 1): an account belongs to one shard by a stable hash of its name, the same on every machine, so N processes given the same config run every account once. env: K is $JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job) and N is $MAILFETCH_SHARDS; env/N gives N here')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Check at most N accounts at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Check at most N accounts at once')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout instead of the summary lines')
            [CompletionResult]::new('--json-events', '--json-events', [CompletionResultType]::ParameterName, 'Print one JSON object per line on stdout as each account starts, progresses (at most once a second) and finishes or fails (with its class and exit code), instead of the summary lines; errors still go to stderr (see JSON OUTPUT in the man page)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;watch' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;list' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout instead of the table')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;init' {
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'The email address (the profile is guessed from its domain)')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'The account''s name in the config [default: from the domain]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The provider profile [default: guessed from the domain, else custom]')
            [CompletionResult]::new('--protocol', '--protocol', [CompletionResultType]::ParameterName, 'pop3 or imap [default: the profile''s preferred one]')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Server host, for the custom profile [default: pop. or imap. and the domain]')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Server port, for the custom profile [default: the protocol''s for the TLS mode]')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'implicit, starttls or none, for the custom profile [default: implicit]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Extra CA certificates (PEM) that verify the server; checked before anything is written')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Trust the server''s certificate with this SHA-256 fingerprint (sha256:AB:CD:...), as `mailfetch certinfo` or init itself shows it, instead of a CA (a self-signed server)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'How to log in: password (an app password for Gmail, Yahoo, AOL, iCloud) or oauth2 [default: oauth2 for outlook and office365, else password; asked for gmail]')
            [CompletionResult]::new('--oauth2-client-id', '--oauth2-client-id', [CompletionResultType]::ParameterName, 'With --auth oauth2: the client id of your registered app; init then runs the authorization (as `mailfetch auth`) before it tries the login')
            [CompletionResult]::new('--oauth2-client-secret', '--oauth2-client-secret', [CompletionResultType]::ParameterName, 'With --auth oauth2: the client secret, for providers that want one (Google)')
            [CompletionResult]::new('--oauth2-auth-url', '--oauth2-auth-url', [CompletionResultType]::ParameterName, 'With --auth oauth2: the authorization endpoint [default: the profile''s]')
            [CompletionResult]::new('--oauth2-token-url', '--oauth2-token-url', [CompletionResultType]::ParameterName, 'With --auth oauth2: the token endpoint [default: the profile''s]')
            [CompletionResult]::new('--oauth2-device-url', '--oauth2-device-url', [CompletionResultType]::ParameterName, 'With --auth oauth2: the device authorization endpoint [default: the profile''s]')
            [CompletionResult]::new('--oauth2-scope', '--oauth2-scope', [CompletionResultType]::ParameterName, 'With --auth oauth2: the scopes, space-separated [default: the profile''s]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Login name [default: the address]')
            [CompletionResult]::new('--password-command', '--password-command', [CompletionResultType]::ParameterName, 'Command printing the password (e.g. "pass show mail/work")')
            [CompletionResult]::new('--password-env', '--password-env', [CompletionResultType]::ParameterName, 'Environment variable holding the password')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Where mail goes: maildir:PATH or mbox:PATH [default: maildir:~/Mail/NAME]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--device', '--device', [CompletionResultType]::ParameterName, 'With --auth oauth2: authorize with the device-code flow (a code to enter on any device) instead of a browser on this machine')
            [CompletionResult]::new('--srv', '--srv', [CompletionResultType]::ParameterName, 'For a custom domain, look up the server in DNS (RFC 6186 SRV records _imaps._tcp/_imap._tcp or _pop3s._tcp/_pop3._tcp) and propose it [default: ask at a terminal, no lookup without one]')
            [CompletionResult]::new('--no-srv', '--no-srv', [CompletionResultType]::ParameterName, 'Do not look up SRV records')
            [CompletionResult]::new('--no-test', '--no-test', [CompletionResultType]::ParameterName, 'Do not try the login before writing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an account of the same name without asking')
            [CompletionResult]::new('--non-interactive', '--non-interactive', [CompletionResultType]::ParameterName, 'Ask nothing, even at a terminal')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;accounts' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout instead of one line per account')
            [CompletionResult]::new('--names', '--names', [CompletionResultType]::ParameterName, 'Print only the account names, one per line (for scripts and shell completion)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;folders' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;certinfo' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;auth' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Give up after waiting this many minutes for the browser or the code')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--device', '--device', [CompletionResultType]::ParameterName, 'Use the device-code flow instead (enter a short code on any device; for a machine without a browser), where the provider offers it (Microsoft)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;upload' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Where to: an IMAP account of the config and a folder on its server (created if missing), e.g. --to newhome/Archive')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;verify' {
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Compare this local Maildir folder or mbox file...')
            [CompletionResult]::new('--remote', '--remote', [CompletionResultType]::ParameterName, '...with this folder of an IMAP account of the config')
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Verify only the accounts of shard K of N, as `pull --shard`')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Verify at most N accounts at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Verify at most N accounts at once')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout instead of the report lines (see JSON OUTPUT in the man page); `report` merges it with the pull documents of the same accounts')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;report' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the merged report as one JSON document (pull --accounts-from reads it)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;import' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Where to write the account files [default: accounts.d beside the config]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace account files that exist')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;profiles' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;generate' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`')
            [CompletionResult]::new('readme', 'readme', [CompletionResultType]::ParameterValue, 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Completions for SHELL')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailfetch;generate;man' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;generate;readme' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mailfetch;generate;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/mailfetch/config.toml]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where state (seen messages, locks) is kept [default: $XDG_STATE_HOME/mailfetch]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the protocol trace on stderr (passwords and AUTH payloads redacted)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'mailfetch;generate;help' {
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`')
            [CompletionResult]::new('readme', 'readme', [CompletionResultType]::ParameterValue, 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Completions for SHELL')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailfetch;generate;help;man' {
            break
        }
        'mailfetch;generate;help;readme' {
            break
        }
        'mailfetch;generate;help;completions' {
            break
        }
        'mailfetch;generate;help;help' {
            break
        }
        'mailfetch;help' {
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Fetch new mail from every account, or the ones named')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Count new messages per account; downloads nothing')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Keep running and fetch mail as it arrives: IMAP IDLE on each folder (up to 8) where the server offers it, else a pull every poll-interval seconds; SIGTERM or SIGINT ends it after the batch in progress, SIGHUP reloads the config')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the messages on an account''s server without downloading them: number or UID, date, sender, subject, size, and whether already fetched')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Add an account to the config: asks for the address and what else the flags do not say, guesses the provider, shows the server''s certificate before any password (pin it or give a CA file if it is not trusted), runs OAuth2 where the provider needs it, tries the login (after a failure: retry, change an answer, save anyway or quit), writes the file (mode 0600)')
            [CompletionResult]::new('accounts', 'accounts', [CompletionResultType]::ParameterValue, 'Show each account''s resolved server, port, TLS, protocol, target and state file')
            [CompletionResult]::new('folders', 'folders', [CompletionResultType]::ParameterValue, 'List an IMAP account''s folders on the server, with their message counts')
            [CompletionResult]::new('certinfo', 'certinfo', [CompletionResultType]::ParameterValue, 'Show the certificate chain an account''s server presents: names, expiry and SHA-256 fingerprints (for tls-fingerprint), and whether it verifies; sends no credential')
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'Authorize mailfetch for an OAuth2 account (auth = "oauth2" with oauth2-client-id): prints the provider''s login URL to open in a browser, then keeps the refresh token in the state directory, from which pull renews access tokens by itself')
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Store a local Maildir or mbox in a folder of an IMAP account: flags and dates kept, messages the folder already holds skipped, so a second run stores nothing')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Prove a copy complete and byte-identical (line ends aside): an account''s server against its target, or a local store against an IMAP folder; prints what is missing or different and exits 1 if anything is')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Merge the --json documents of pull, check or verify runs (the shards of a run, a retry) into one table: each account done, failed (with the reason) or, with --config, remaining, and its last verify result; messages and bytes in all. An account''s status comes from the last file that has it')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Write one accounts.d/NAME.toml per line of a CSV list (columns name, user, password, server, protocol, target; password is command:CMD, env:VAR, file:PATH, oauth2 or literal:SECRET, which goes to a 0600 NAME.password file, never into the account file), for a config with include = ["accounts.d/*.toml"]; nothing is written if a line is bad')
            [CompletionResult]::new('profiles', 'profiles', [CompletionResultType]::ParameterValue, 'Show the built-in provider profiles')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write the man page, shell completions or README.md''s generated tables to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mailfetch;help;pull' {
            break
        }
        'mailfetch;help;check' {
            break
        }
        'mailfetch;help;watch' {
            break
        }
        'mailfetch;help;list' {
            break
        }
        'mailfetch;help;init' {
            break
        }
        'mailfetch;help;accounts' {
            break
        }
        'mailfetch;help;folders' {
            break
        }
        'mailfetch;help;certinfo' {
            break
        }
        'mailfetch;help;auth' {
            break
        }
        'mailfetch;help;upload' {
            break
        }
        'mailfetch;help;verify' {
            break
        }
        'mailfetch;help;report' {
            break
        }
        'mailfetch;help;import' {
            break
        }
        'mailfetch;help;profiles' {
            break
        }
        'mailfetch;help;generate' {
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'The man page (roff), e.g. `mailfetch generate man > man/mailfetch.1`')
            [CompletionResult]::new('readme', 'readme', [CompletionResultType]::ParameterValue, 'README.md with its generated tables (config keys, exit codes) brought up to date: the file on stdin, the result on stdout (`scripts/generate` runs it)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Completions for SHELL')
            break
        }
        'mailfetch;help;generate;man' {
            break
        }
        'mailfetch;help;generate;readme' {
            break
        }
        'mailfetch;help;generate;completions' {
            break
        }
        'mailfetch;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
