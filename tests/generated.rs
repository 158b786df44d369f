//! The man page and completions are generated from the CLI definitions, README's tables from
//! the config key table and the exit statuses, and checked in; these tests fail when the
//! checked-in files differ from what mailfetch generates now (and name `scripts/generate`,
//! which rewrites them all), check that the man page renders without groff warnings,
//! documents every option of every subcommand and every config key, and lists exit codes in
//! order.

use std::path::Path;
use std::process::Command;

fn generate(args: &[&str]) -> Vec<u8> {
    generate_from(args, &[])
}

/// What `mailfetch generate ARGS` writes, given `input` on stdin.
fn generate_from(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailfetch"))
        .arg("generate")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mailfetch generate");
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("run mailfetch generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn assert_current(file: &str, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let want = generate(args);
    let have = std::fs::read(&path).unwrap_or_default();
    assert!(
        have == want,
        "{file} is out of date; regenerate the man page and all completions with: scripts/generate \
         (this one alone: mailfetch generate {} > {file})",
        args.join(" ")
    );
}

#[test]
fn man_page_is_current() {
    assert_current("man/mailfetch.1", &["man"]);
}

#[test]
fn readme_tables_are_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let have = std::fs::read(&path).expect("README.md");
    let want = generate_from(&["readme"], &have);
    assert!(
        have == want,
        "README.md's tables of config keys or exit codes are out of date; regenerate them \
         with: scripts/generate (this one alone: mailfetch generate readme < README.md)"
    );
    let text = String::from_utf8(have).unwrap();
    for key in mailfetch::config::keys::KEYS {
        assert!(
            text.contains(&format!("`{}`", key.name)),
            "{} missing",
            key.name
        );
    }
    assert!(text.contains("| 143 |"), "the exit codes are in README");
}

#[test]
fn man_page_documents_every_config_key() {
    let text = rendered_man_page();
    let section = &text[text
        .find("\nCONFIGURATION\n")
        .expect("a CONFIGURATION section")..];
    let section = &section[..section.find("\nPROFILES\n").expect("then PROFILES")];
    let keys = mailfetch::config::keys::KEYS
        .iter()
        .chain(mailfetch::config::keys::FILE_KEYS);
    // An entry's tag is indented 7 (its text 14, or on the tag's line when the tag is
    // short): names, each but the last followed by a comma.
    let mut names: Vec<&str> = Vec::new();
    for line in section
        .lines()
        .filter(|l| l.starts_with("       ") && !l.starts_with("        "))
    {
        for word in line.split_whitespace() {
            match word.strip_suffix(',') {
                Some(name) => names.push(name),
                None => {
                    names.push(word);
                    break;
                }
            }
        }
    }
    for key in keys {
        assert!(
            names.contains(&key.name),
            "{} has no entry in CONFIGURATION",
            key.name
        );
    }
}

#[test]
fn completions_are_current() {
    for (shell, file) in [
        ("bash", "completions/mailfetch.bash"),
        ("zsh", "completions/_mailfetch"),
        ("fish", "completions/mailfetch.fish"),
        ("elvish", "completions/mailfetch.elv"),
        ("powershell", "completions/_mailfetch.ps1"),
    ] {
        assert_current(file, &["completions", shell]);
    }
}

#[test]
fn man_page_renders_without_groff_warnings() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/mailfetch.1");
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&page)
        .output()
        .expect("groff (package groff-base) is needed to check the man page");
    assert!(out.status.success(), "groff failed");
    assert!(
        out.stderr.is_empty(),
        "groff warnings:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The man page as a reader sees it: rendered by groff as plain text, without hyphenation
/// (so no flag is split over two lines).
fn rendered_man_page() -> String {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/mailfetch.1");
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-P", "-cbou", "-rHY=0", "-rLL=200n"])
        .arg(&page)
        .output()
        .expect("groff (package groff-base) is needed to check the man page");
    assert!(out.status.success(), "groff failed");
    String::from_utf8(out.stdout).expect("groff -Tutf8 writes UTF-8")
}

/// Every subcommand (nested ones too) with its path: ("pull", pull), ("generate man", ...).
fn subcommands(cmd: &clap::Command, prefix: &str, all: &mut Vec<(String, clap::Command)>) {
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let path = format!("{prefix}{}", sub.get_name());
        all.push((path.clone(), sub.clone()));
        subcommands(sub, &format!("{path} "), all);
    }
}

/// Whether `flag` occurs in `text` as a whole flag (`--keep` is not found in `--keep-all`).
fn has_flag(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(i, _)| {
        let next = text[i + flag.len()..].chars().next();
        !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn man_page_documents_every_option_of_every_subcommand() {
    use clap::CommandFactory;
    let text = rendered_man_page();
    let mut cmd = mailfetch::cli::Cli::command();
    cmd.build();
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long() {
            assert!(has_flag(&text, &format!("--{long}")), "--{long} missing");
        }
    }
    let mut all = Vec::new();
    subcommands(&cmd, "", &mut all);
    // Each subcommand's part of COMMANDS: from its heading (indented 3) to the next one.
    let commands = &text[text.find("\nCOMMANDS\n").expect("a COMMANDS section")..];
    let commands = &commands[..commands
        .find("\nCONFIGURATION\n")
        .expect("then CONFIGURATION")];
    let starts: Vec<usize> = all
        .iter()
        .map(|(path, _)| {
            commands
                .find(&format!("\n   {path}\n"))
                .unwrap_or_else(|| panic!("no heading for {path} in COMMANDS"))
        })
        .collect();
    for (i, (path, sub)) in all.iter().enumerate() {
        let end = starts[i + 1..]
            .iter()
            .copied()
            .min()
            .unwrap_or(commands.len());
        let end = if end > starts[i] { end } else { commands.len() };
        let block = &commands[starts[i]..end];
        let mut checked = 0;
        for arg in sub.get_arguments() {
            if arg.is_hide_set() || arg.is_global_set() || arg.get_id() == "help" {
                continue;
            }
            if let Some(long) = arg.get_long() {
                assert!(
                    has_flag(block, &format!("--{long}")),
                    "{path}: --{long} missing"
                );
                checked += 1;
            }
            if let Some(short) = arg.get_short() {
                assert!(
                    has_flag(block, &format!("-{short}")),
                    "{path}: -{short} missing"
                );
            }
            for value in arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
            {
                assert!(
                    block.contains(value.get_name()),
                    "{path}: value {} missing",
                    value.get_name()
                );
            }
        }
        if path == "pull" {
            assert!(
                checked >= 9,
                "pull has its --keep, --since, --limit... ({checked})"
            );
        }
    }
    for (path, _) in &all {
        let page_name = format!("mailfetch-{}(1)", path.replace(' ', "-"));
        assert!(
            !text.contains(&page_name),
            "refers to {page_name}, which does not ship"
        );
    }
}

/// The exit codes are listed in numeric order, in `--help` and in the man page.
#[test]
fn exit_codes_are_in_numeric_order() {
    let codes = |lines: Vec<&str>| -> Vec<u32> {
        lines
            .iter()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    };
    let help = mailfetch::cli::EXIT_CODES.lines().skip(1).collect();
    let text = rendered_man_page();
    // The section's lines, up to the next heading (the next line not indented).
    let status = text
        .lines()
        .skip_while(|l| *l != "EXIT STATUS")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect();
    for (what, found) in [("--help", codes(help)), ("man page", codes(status))] {
        assert!(found.len() >= 10, "{what}: exit codes found: {found:?}");
        let mut sorted = found.clone();
        sorted.sort_unstable();
        assert_eq!(found, sorted, "{what} lists the exit codes out of order");
    }
}

#[test]
fn man_page_has_the_sections_beyond_flags() {
    let page = String::from_utf8(generate(&["man"])).unwrap();
    for section in [
        "CONFIGURATION",
        "PROFILES",
        "FILES",
        "EXIT STATUS",
        "EXAMPLES",
        "SECURITY",
    ] {
        assert!(
            page.contains(&format!(".SH {section}")),
            "missing {section}"
        );
    }
    assert!(
        page.contains("pop.gmail.com"),
        "profiles come from the table"
    );
}
