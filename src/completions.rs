//! Shell completions: clap_complete's scripts, generated from the CLI definitions in `cli`,
//! plus a small hook per shell that completes what clap cannot know, the account names of
//! the config. Operands named ACCOUNT (`pull`, `check`, `watch`, `list`, ...) complete to
//! what `mailfetch accounts --names` prints, with the `--config` given on the command line,
//! and ACCOUNT/FOLDER values (`upload --to`, `verify --remote`) to `NAME/`. Enum values
//! (`--tls`, `--profile`, `--protocol`, the shell of `generate completions`) come from the
//! possible values of the clap definitions. Elvish and PowerShell get clap's scripts alone.
//!
//! The hooks are static shell text; what they need to know about the CLI (which commands
//! take accounts, which options take a value) is written into them from the clap tree here,
//! so a new subcommand with an ACCOUNT operand completes accounts without touching this file.

use crate::cli::{Cli, Shell};
use clap::CommandFactory;
use clap_complete::{generate, shells};

/// The value name that marks an operand or option value as an account of the config.
const ACCOUNT: &str = "ACCOUNT";
/// The value name of `ACCOUNT/FOLDER` values.
const ACCOUNT_FOLDER: &str = "ACCOUNT/FOLDER";

/// The completion script for `shell`.
pub fn render(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut text = Vec::new();
    let name = "mailfetch";
    match shell {
        Shell::Bash => generate(shells::Bash, &mut cmd, name, &mut text),
        Shell::Zsh => generate(shells::Zsh, &mut cmd, name, &mut text),
        Shell::Fish => generate(shells::Fish, &mut cmd, name, &mut text),
        Shell::Elvish => generate(shells::Elvish, &mut cmd, name, &mut text),
        Shell::Powershell => generate(shells::PowerShell, &mut cmd, name, &mut text),
    }
    let mut cmd = Cli::command();
    cmd.build();
    let facts = Facts::of(&cmd);
    match shell {
        Shell::Bash => text.extend_from_slice(bash_hook(&facts).as_bytes()),
        Shell::Zsh => return zsh_with_hook(&String::from_utf8_lossy(&text), &facts).into_bytes(),
        Shell::Fish => text.extend_from_slice(fish_hook(&facts).as_bytes()),
        Shell::Elvish | Shell::Powershell => {}
    }
    text
}

/// What the hooks need to know about the CLI, read from the clap tree.
struct Facts {
    /// Subcommands with an ACCOUNT operand.
    account_commands: Vec<String>,
    /// Long options whose value is ACCOUNT/FOLDER.
    folder_options: Vec<String>,
    /// Every option, short or long, that takes a value (so that its value is not taken for
    /// the subcommand or an operand).
    value_options: Vec<String>,
    /// The argument ids of ACCOUNT operands (zsh names its positional specs by them).
    account_ids: Vec<String>,
}

impl Facts {
    fn of(cmd: &clap::Command) -> Facts {
        let mut facts = Facts {
            account_commands: Vec::new(),
            folder_options: Vec::new(),
            value_options: Vec::new(),
            account_ids: Vec::new(),
        };
        let mut commands = vec![cmd];
        commands.extend(cmd.get_subcommands());
        for c in commands {
            for arg in c.get_arguments() {
                let value = arg
                    .get_value_names()
                    .and_then(|v| v.first().map(|s| s.as_str()));
                if arg.is_positional() {
                    if value == Some(ACCOUNT) {
                        push_new(&mut facts.account_commands, c.get_name());
                        push_new(&mut facts.account_ids, arg.get_id().as_str());
                    }
                    continue;
                }
                if !arg.get_num_args().is_some_and(|n| n.takes_values()) {
                    continue;
                }
                if let Some(long) = arg.get_long() {
                    push_new(&mut facts.value_options, &format!("--{long}"));
                    if value == Some(ACCOUNT_FOLDER) {
                        push_new(&mut facts.folder_options, &format!("--{long}"));
                    }
                }
                if let Some(short) = arg.get_short() {
                    push_new(&mut facts.value_options, &format!("-{short}"));
                }
            }
        }
        facts
    }
}

fn push_new(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|i| i == item) {
        list.push(item.to_string());
    }
}

/// Bash: clap's `_mailfetch` is kept as `_mailfetch_clap`, and a new `_mailfetch` answers
/// account operands itself and hands everything else to it.
fn bash_hook(f: &Facts) -> String {
    format!(
        r#"
# Account names, from the config (mailfetch accounts --names); written by
# `mailfetch generate completions bash` after clap's script, whose _mailfetch it wraps.
eval "$(declare -f _mailfetch | sed '1s/^_mailfetch /_mailfetch_clap /')"

_mailfetch_accounts() {{
    mailfetch "${{_mailfetch_config[@]}}" accounts --names 2>/dev/null
}}

_mailfetch() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" sub="" i w skip=0
    local -a _mailfetch_config=()
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for (( i = 1; i < COMP_CWORD; i++ )); do
        w="${{COMP_WORDS[i]}}"
        if (( skip )); then skip=0; continue; fi
        case "$w" in
            --config) _mailfetch_config=(--config "${{COMP_WORDS[i+1]/#\~/$HOME}}"); skip=1 ;;
            --config=*) _mailfetch_config=("--config=${{w#--config=}}") ;;
            {value_options}) skip=1 ;;
            -*) ;;
            *) [[ -z "$sub" ]] && sub="$w" ;;
        esac
    done
    if [[ -n "$sub" ]]; then
        case "$prev" in
            {folder_options})
                COMPREPLY=( $(compgen -W "$(_mailfetch_accounts)" -S / -- "$cur") )
                compopt -o nospace 2>/dev/null
                return 0
                ;;
        esac
        if (( ! skip )) && [[ "$cur" != -* && " {account_commands} " == *" $sub "* ]]; then
            COMPREPLY=( $(compgen -W "$(_mailfetch_accounts)" -- "$cur") )
            return 0
        fi
    fi
    _mailfetch_clap "${{COMP_WORDS[0]}}" "$cur" "$prev"
}}
"#,
        value_options = f.value_options.join("|"),
        folder_options = f.folder_options.join("|"),
        account_commands = f.account_commands.join(" "),
    )
}

/// Zsh: the ACCOUNT operands' `_default` action becomes `_mailfetch_accounts`, and
/// ACCOUNT/FOLDER values' `_mailfetch_account_folders`; both are defined before the script's
/// last lines call `_mailfetch`.
fn zsh_with_hook(clap: &str, f: &Facts) -> String {
    let functions = r#"(( $+functions[_mailfetch_account_names] )) ||
_mailfetch_account_names() {
    local -a line config
    local i
    line=(${(z)BUFFER})
    for (( i = 1; i <= $#line; i++ )); do
        case $line[i] in
            --config) config=(--config ${~${(Q)line[i+1]}}) ;;
            --config=*) config=(${(Q)line[i]}) ;;
        esac
    done
    mailfetch $config accounts --names 2>/dev/null
}
(( $+functions[_mailfetch_accounts] )) ||
_mailfetch_accounts() {
    local -a names
    names=(${(f)"$(_mailfetch_account_names)"})
    compadd -a names
}
(( $+functions[_mailfetch_account_folders] )) ||
_mailfetch_account_folders() {
    local -a names
    names=(${(f)"$(_mailfetch_account_names)"})
    compadd -S / -a names
}

"#;
    let mut out = String::new();
    let mut hooked = false;
    for line in clap.split_inclusive('\n') {
        let operand = f.account_ids.iter().any(|id| {
            line.starts_with(&format!("'*::{id} -- "))
                || line.starts_with(&format!("'::{id} -- "))
                || line.starts_with(&format!("':{id} -- "))
        });
        let folder = line.contains(&format!(":{ACCOUNT_FOLDER}:_default'"));
        if operand && line.contains(":_default'") {
            out.push_str(&line.replacen(":_default'", ":_mailfetch_accounts'", 1));
        } else if folder {
            out.push_str(&line.replacen(":_default'", ":_mailfetch_account_folders'", 1));
        } else {
            if !hooked && line.starts_with("if [ \"$funcstack[1]\" = \"_mailfetch\" ]") {
                out.push_str(functions);
                hooked = true;
            }
            out.push_str(line);
        }
    }
    if !hooked {
        out.push_str(functions);
    }
    out
}

/// Fish: clap's script completes options and their values; account operands are added for
/// the subcommands that take them, without file names.
fn fish_hook(f: &Facts) -> String {
    let folder_options: Vec<String> = f
        .folder_options
        .iter()
        .map(|o| format!("-l {}", o.trim_start_matches("--")))
        .collect();
    let mut s = format!(
        r#"
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
    contains -- $prev {value_options}; and return 1
    __fish_seen_subcommand_from {account_commands}
end
complete -c mailfetch -n __mailfetch_wants_account -f -a "(__mailfetch_accounts)"
"#,
        value_options = f.value_options.join(" "),
        account_commands = f.account_commands.join(" "),
    );
    for option in folder_options {
        s.push_str(&format!(
            "complete -c mailfetch {option} -x -a \"(__mailfetch_accounts | string replace -r '\\$' /)\"\n"
        ));
    }
    s
}
