//! The man page and completions are generated from the CLI definitions and checked in;
//! these tests fail when the checked-in files differ from what the CLI generates now, and
//! check that the man page renders without groff warnings.

use std::path::Path;
use std::process::Command;

fn generate(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_mailfetch"))
        .arg("generate")
        .args(args)
        .output()
        .expect("run mailfetch generate");
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
        "{file} is out of date; regenerate with: target/release/mailfetch generate {} > {file}",
        args.join(" ")
    );
}

#[test]
fn man_page_is_current() {
    assert_current("man/mailfetch.1", &["man"]);
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
        .args(["-man", "-ww", "-z"])
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
