//! What ships beside the binary, checked as a user's machine would use it: the shell
//! completions (run in bash, fish and zsh against a config with two accounts), the systemd
//! user units (`systemd-analyze verify`), `scripts/install` (into a temporary DESTDIR), and
//! the `cargo deb` asset list of Cargo.toml. scripts/test installs bash's companions fish,
//! zsh and systemd when missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// PATH with the mailfetch under test first, as the completion hooks call `mailfetch`.
fn path_with_mailfetch() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_mailfetch")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A config with two accounts, in a private temporary directory.
fn config_with_two_accounts() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[accounts.work]\nhost = \"127.0.0.1\"\nprotocol = \"imap\"\nuser = \"me\"\n\
         password-env = \"NOPE\"\ntarget = \"maildir:/nonexistent/work\"\n\n\
         [accounts.home-pop]\nhost = \"127.0.0.1\"\nprotocol = \"pop3\"\nuser = \"me\"\n\
         password-env = \"NOPE\"\ntarget = \"maildir:/nonexistent/home\"\n",
    )
    .unwrap();
    (dir, path)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What bash's completion offers for `line` (the last word being completed), as a sorted
/// list, with `MAILFETCH_CONFIG` unset so only what the line says counts.
fn bash_complete(line: &[&str]) -> Vec<String> {
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source completions/mailfetch.bash; COMP_WORDS=({}); COMP_CWORD={}; _mailfetch; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words.join(" "),
        line.len() - 1
    );
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo())
        .env("PATH", path_with_mailfetch())
        .env_remove("MAILFETCH_CONFIG"));
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    got
}

#[test]
fn accounts_names_prints_one_name_per_line() {
    let (_dir, config) = config_with_two_accounts();
    let out = run(Command::new(env!("CARGO_BIN_EXE_mailfetch"))
        .arg("--config")
        .arg(&config)
        .args(["accounts", "--names"]));
    let mut names: Vec<_> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["home-pop", "work"]);
}

#[test]
fn bash_completes_account_names_for_every_command_that_takes_one() {
    let (_dir, config) = config_with_two_accounts();
    let config = config.to_str().unwrap();
    for command in [
        "pull", "check", "watch", "list", "folders", "certinfo", "auth", "verify",
    ] {
        assert_eq!(
            bash_complete(&["mailfetch", "--config", config, command, ""]),
            ["home-pop", "work"],
            "{command} <TAB>"
        );
    }
    assert_eq!(
        bash_complete(&["mailfetch", "pull", "--config", config, "--no-keep", "w"]),
        ["work"],
        "after options, by prefix"
    );
    assert_eq!(
        bash_complete(&["mailfetch", "--config", config, "upload", "x", "--to", ""]),
        ["home-pop/", "work/"],
        "upload --to ACCOUNT/FOLDER"
    );
}

#[test]
fn bash_completes_options_and_enum_values_as_clap_defines_them() {
    let (_dir, config) = config_with_two_accounts();
    let config = config.to_str().unwrap();
    let pull = bash_complete(&["mailfetch", "--config", config, "pull", "--"]);
    for flag in ["--since", "--dry-run", "--limit", "--no-keep", "--jobs"] {
        assert!(
            pull.iter().any(|f| f == flag),
            "pull --<TAB> lacks {flag}: {pull:?}"
        );
    }
    assert!(
        !pull.iter().any(|f| f == "work"),
        "no account where an option is typed"
    );
    assert_eq!(
        bash_complete(&["mailfetch", "init", "--tls", ""]),
        ["implicit", "none", "starttls"]
    );
    assert_eq!(
        bash_complete(&["mailfetch", "init", "--protocol", ""]),
        ["imap", "pop3"]
    );
    let profiles = bash_complete(&["mailfetch", "init", "--profile", ""]);
    for profile in ["gmail", "outlook", "office365", "custom"] {
        assert!(
            profiles.iter().any(|p| p == profile),
            "--profile lacks {profile}"
        );
    }
    // The value of --limit is not an account.
    let limit = bash_complete(&["mailfetch", "--config", config, "pull", "--limit", ""]);
    assert!(!limit.iter().any(|f| f == "work"), "{limit:?}");
}

#[test]
fn fish_completes_account_names_and_enum_values() {
    let (_dir, config) = config_with_two_accounts();
    let config = config.to_str().unwrap();
    let complete = |line: &str| -> Vec<String> {
        let out = run(Command::new("fish")
            .arg("--no-config")
            .arg("-c")
            .arg(format!(
                "source completions/mailfetch.fish; complete -C '{line}'"
            ))
            .current_dir(repo())
            .env("PATH", path_with_mailfetch())
            .env_remove("MAILFETCH_CONFIG"));
        let mut got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        got.sort();
        got
    };
    assert_eq!(
        complete(&format!("mailfetch --config {config} pull ")),
        ["home-pop", "work"]
    );
    assert_eq!(
        complete(&format!("mailfetch --config {config} list h")),
        ["home-pop"]
    );
    assert_eq!(
        complete("mailfetch init --tls "),
        ["implicit", "none", "starttls"]
    );
}

#[test]
fn zsh_completion_loads_and_finds_the_accounts_of_the_config_on_the_line() {
    let (dir, config) = config_with_two_accounts();
    let script = std::fs::read_to_string(repo().join("completions/_mailfetch")).unwrap();
    assert!(
        script.matches(":_mailfetch_accounts'").count() >= 8,
        "every ACCOUNT operand completes with _mailfetch_accounts"
    );
    let out = run(Command::new("zsh")
        .arg("-f")
        .arg("-c")
        .arg(format!(
            "autoload -Uz compinit; compinit -u -d {}/zcompdump; source completions/_mailfetch; \
             BUFFER='mailfetch --config {} pull '; _mailfetch_account_names",
            dir.path().display(),
            config.display()
        ))
        .current_dir(repo())
        .env("PATH", path_with_mailfetch())
        .env_remove("MAILFETCH_CONFIG"));
    let mut names: Vec<_> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["home-pop", "work"]);
}

/// `systemd-analyze verify` of `units` as a user manager sees them, with ExecStart= pointing
/// at the mailfetch under test (verify checks that the binary exists). Returns its stderr.
fn verify_units(units: &[PathBuf]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let mut copies = Vec::new();
    for unit in units {
        let text = std::fs::read_to_string(unit).unwrap();
        let copy = dir.path().join(unit.file_name().unwrap());
        let exe = env!("CARGO_BIN_EXE_mailfetch");
        std::fs::write(&copy, text.replace("/usr/bin/mailfetch", exe)).unwrap();
        copies.push(copy);
    }
    Command::new("systemd-analyze")
        .args(["verify", "--user", "--man=no"])
        .args(&copies)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("systemd-analyze (package systemd) is needed to check the units")
}

fn shipped_units() -> Vec<PathBuf> {
    [
        "mailfetch.service",
        "mailfetch.timer",
        "mailfetch-watch.service",
    ]
    .iter()
    .map(|u| repo().join("contrib/systemd").join(u))
    .collect()
}

#[test]
fn systemd_units_verify_cleanly() {
    let out = verify_units(&shipped_units());
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let service =
        std::fs::read_to_string(repo().join("contrib/systemd/mailfetch.service")).unwrap();
    assert!(
        service.contains("Type=oneshot")
            && service.contains("ExecStart=/usr/bin/mailfetch --quiet pull")
    );
    let timer = std::fs::read_to_string(repo().join("contrib/systemd/mailfetch.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*:0/5") && timer.contains("Persistent=true"));
    let watch =
        std::fs::read_to_string(repo().join("contrib/systemd/mailfetch-watch.service")).unwrap();
    assert!(watch.contains("ExecStart=/usr/bin/mailfetch watch"));
    assert!(
        watch.contains("Restart=on-failure") && watch.contains("RestartPreventExitStatus=77 78")
    );
}

#[test]
fn systemd_verify_catches_a_broken_unit() {
    // The check above is only worth something if verify complains about a mistake.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("mailfetch.timer");
    let timer = std::fs::read_to_string(repo().join("contrib/systemd/mailfetch.timer")).unwrap();
    std::fs::write(
        &broken,
        timer.replace("OnCalendar=*:0/5", "OnCalendr=*:0/5"),
    )
    .unwrap();
    let out = verify_units(&[broken]);
    assert!(!out.stderr.is_empty(), "a misspelt key went unnoticed");
}

#[test]
fn install_puts_every_file_in_its_place_under_destdir() {
    let dest = tempfile::tempdir().unwrap();
    let out = run(Command::new(repo().join("scripts/install"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_mailfetch"))
        .arg("/usr/local")
        .env("DESTDIR", dest.path()));
    let said = String::from_utf8(out.stdout).unwrap();
    for (file, from) in [
        ("bin/mailfetch", env!("CARGO_BIN_EXE_mailfetch").to_string()),
        ("share/man/man1/mailfetch.1", "man/mailfetch.1".into()),
        (
            "share/bash-completion/completions/mailfetch",
            "completions/mailfetch.bash".into(),
        ),
        (
            "share/zsh/site-functions/_mailfetch",
            "completions/_mailfetch".into(),
        ),
        (
            "share/fish/vendor_completions.d/mailfetch.fish",
            "completions/mailfetch.fish".into(),
        ),
    ] {
        let path = dest.path().join("usr/local").join(file);
        assert_eq!(
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            std::fs::read(repo().join(&from)).unwrap(),
            "{file}"
        );
        assert!(
            said.contains(&path.display().to_string()),
            "not reported: {file}"
        );
    }
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&dest.path().join("usr/local/bin/mailfetch")), 0o755);
    let units = dest.path().join("usr/local/lib/systemd/user");
    for unit in [
        "mailfetch.service",
        "mailfetch.timer",
        "mailfetch-watch.service",
    ] {
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        assert!(
            !text.contains("/usr/bin/mailfetch"),
            "{unit} names the installed binary"
        );
        if unit.ends_with(".service") {
            assert!(
                text.contains("ExecStart=/usr/local/bin/mailfetch "),
                "{unit}: {text}"
            );
        }
        assert_eq!(mode(&units.join(unit)), 0o644);
    }
}

#[test]
fn install_into_home_puts_the_units_where_systemd_user_looks() {
    let home = tempfile::tempdir().unwrap();
    let prefix = home.path().join(".local");
    let dest = tempfile::tempdir().unwrap();
    run(Command::new(repo().join("scripts/install"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_mailfetch"))
        .arg(&prefix)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env("DESTDIR", dest.path()));
    let under = |p: &Path| dest.path().join(p.strip_prefix("/").unwrap());
    assert!(under(&prefix.join("bin/mailfetch")).is_file());
    let unit = under(&home.path().join(".config/systemd/user/mailfetch.service"));
    let text = std::fs::read_to_string(&unit).unwrap_or_else(|e| panic!("{}: {e}", unit.display()));
    assert!(text.contains(&format!(
        "ExecStart={}/bin/mailfetch --quiet pull",
        prefix.display()
    )));
}

#[test]
fn cargo_deb_assets_all_exist() {
    let manifest: toml::Table = std::fs::read_to_string(repo().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    assert_eq!(deb["depends"].as_str(), Some("$auto"));
    assert!(deb["extended-description"]
        .as_str()
        .is_some_and(|d| d.len() > 100));
    let assets = deb["assets"].as_array().expect("assets");
    let mut shipped = Vec::new();
    for asset in assets {
        let [source, dest, mode] = asset.as_array().unwrap().as_slice() else {
            panic!("an asset is [source, destination, mode]: {asset}");
        };
        let (source, dest) = (source.as_str().unwrap(), dest.as_str().unwrap());
        assert!(
            u32::from_str_radix(mode.as_str().unwrap(), 8).is_ok(),
            "{asset}"
        );
        if source != "target/release/mailfetch" {
            assert!(repo().join(source).is_file(), "{source} does not exist");
        }
        shipped.push(source.to_string());
        assert!(dest.starts_with("usr/"), "{dest}");
    }
    for needed in [
        "target/release/mailfetch",
        "man/mailfetch.1",
        "completions/mailfetch.bash",
        "completions/_mailfetch",
        "completions/mailfetch.fish",
        "contrib/systemd/mailfetch.service",
        "contrib/systemd/mailfetch.timer",
        "contrib/systemd/mailfetch-watch.service",
    ] {
        assert!(
            shipped.iter().any(|s| s == needed),
            "the .deb lacks {needed}"
        );
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo deb"),
        "README says how to build the .deb"
    );
}
