//! Hostile things on this side of the connection (issue #14): a state directory others can
//! write to, links and forged records in it. Each test replays the attack against the real
//! binary and checks the promised outcome: the exit code, one line, no damage. No root and no
//! Dovecot: the runs fail before they connect, or fetch from the fake POP3 server.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::client::{maildir_messages, Client};
use support::fake_pop3::{FakePop3, Mail, Script};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery-staple";

/// An account `a` fetching by POP3 from 127.0.0.1:`port` (nothing listens on port 1: a run
/// that got as far as connecting fails with 69) into `target`.
fn client(port: u16, target: &str) -> Client {
    Client::new(&format!(
        "[accounts.a]\nprofile = \"custom\"\nprotocol = \"pop3\"\nhost = \"127.0.0.1\"\n\
         port = {port}\ntls = \"none\"\nallow-plaintext-password = true\nuser = \"{USER}\"\n\
         password = \"{PASSWORD}\"\ntarget = \"{target}\"\nkeep = false\ntimeout = 2\n"
    ))
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// The journal line of `record`, as the state module writes it: CRC-32 (IEEE) in hex.
fn journal_line(record: &str) -> String {
    let mut crc = !0u32;
    for &b in record.as_bytes() {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    format!("{:08x} {record}\n", !crc)
}

/// One line on stderr.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0]
}

#[test]
fn new_state_is_private_to_its_user() {
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: s\n\nbody\n")],
        Script::default(),
    );
    let c = client(server.port(), "maildir:{dir}/M");
    c.ok(&["pull", "--quiet"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 1);
    let dir = c.state_dir();
    assert_eq!(mode(&dir), 0o700);
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[test]
fn a_state_dir_others_can_write_is_refused_with_exit_77() {
    let c = client(1, "maildir:{dir}/M");
    let dir = c.state_dir();
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    let line = one_line(&out.stderr);
    assert!(line.contains(&dir.display().to_string()), "{line}");
    assert!(line.contains("writable by group or others"), "{line}");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

#[test]
fn a_lock_file_linked_to_another_file_does_not_overwrite_it() {
    let c = client(1, "maildir:{dir}/M");
    let dir = c.state_dir();
    fs::create_dir(&dir).unwrap();
    let victim = c.path("precious");
    fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("a.lock")).unwrap();
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    assert!(
        one_line(&out.stderr).contains("is a symbolic link"),
        "{out:?}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn a_journal_linked_to_another_file_is_neither_read_nor_written() {
    let c = client(1, "maildir:{dir}/M");
    let dir = c.state_dir();
    fs::create_dir(&dir).unwrap();
    let victim = c.path("precious");
    fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("a.state")).unwrap();
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    assert!(
        one_line(&out.stderr).contains("is a symbolic link"),
        "{out:?}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn a_forged_recovery_record_renames_nothing_outside_the_maildir() {
    let c = client(1, "maildir:{dir}/M");
    let dir = c.state_dir();
    fs::create_dir(&dir).unwrap();
    let theirs = c.path("attackers_key");
    fs::write(&theirs, "ssh-ed25519 AAAA attacker\n").unwrap();
    let keys = c.path("authorized_keys");
    fs::write(&keys, "ssh-ed25519 AAAA me\n").unwrap();
    // "maildir\n<theirs>\t<keys>", escaped as a journal field.
    let intent = format!("maildir%0A{}%09{}", theirs.display(), keys.display());
    let journal = [
        journal_line("mailfetch-state 1"),
        journal_line(&format!("B forward INBOX - {intent} 1")),
    ]
    .concat();
    fs::write(dir.join("a.state"), journal).unwrap();
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 74, "{out:?}");
    let line = one_line(&out.stderr);
    assert!(line.contains("damaged"), "{line}");
    assert_eq!(fs::read_to_string(&keys).unwrap(), "ssh-ed25519 AAAA me\n");
    assert!(theirs.exists());
}
