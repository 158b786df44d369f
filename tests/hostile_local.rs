//! Hostile things on this side of the connection (issue #14): a state directory others can
//! write to, links and forged records in it; a message that is one line of 100 MB; an LMTP
//! or SMTP target that answers without end. Each test replays the attack against the real
//! binary and checks the promised outcome: the exit code, one line, no damage, bounded
//! memory. No root and no Dovecot: the runs fail before they connect, or fetch from the fake
//! POP3 server, and the LMTP/SMTP target is a fake in this file.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::account::Account;
use support::client::{maildir_messages, Client};
use support::fake_pop3::{FakePop3, Mail, Script};
use support::listen::serve;

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery-staple";

/// An account `a` fetching by POP3 from 127.0.0.1:`port` (nothing listens on port 1: a run
/// that got as far as connecting fails with 69) into `target`.
fn client(port: u16, target: &str) -> Client {
    Client::new(&alice(port).target(target).keep(false).timeout(30).toml())
}

/// An account `a` of alice's on a fake POP3 server at 127.0.0.1:`port`.
fn alice(port: u16) -> Account {
    Account::fake("pop3", port)
        .set("user", USER)
        .password(PASSWORD)
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
fn a_state_dir_of_another_user_is_refused_with_exit_77() {
    let c = client(1, "maildir:{dir}/M");
    let dir = c.state_dir();
    fs::create_dir(&dir).unwrap();
    // Given away to nobody: only root can do that, and root is who the tests run as.
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; no memory is kept.
    if unsafe { libc::chown(path.as_ptr(), 65534, 65534) } != 0 {
        eprintln!("skipped: cannot chown (not root)");
        return;
    }
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    let line = one_line(&out.stderr);
    assert!(line.contains(&dir.display().to_string()), "{line}");
    assert!(
        line.contains("is owned by another user (uid 65534"),
        "{line}"
    );
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

/// The memory a run may take for a message of any size or shape.
const MEMORY_BOUND_KB: u64 = 32 * 1024;

/// A message that is one line of 100 MB, header and all, starting `From ` (so that mboxrd
/// must quote it, knowing only its start), without a line end.
fn one_line_of_100_mb() -> Mail {
    let mut text = b"From ".to_vec();
    text.resize(text.len() + (100 << 20), b'x');
    Mail::new("big", &text)
}

#[test]
fn a_100_mb_line_into_mbox_is_quoted_in_bounded_memory() {
    let server = FakePop3::start(vec![one_line_of_100_mb()], Script::default());
    let c = client(server.port(), "mbox:{dir}/box");
    let (code, peak_kb) = c.run_measured(&["pull", "--quiet"]);
    assert_eq!(code, 0);
    eprintln!("mbox, one line of 100 MB: peak RSS {peak_kb} kB");
    assert!(peak_kb < MEMORY_BOUND_KB, "peak RSS {peak_kb} kB");
    let mut head = vec![0u8; 256];
    let mut file = fs::File::open(c.path("box")).unwrap();
    file.read_exact(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("From MAILER-DAEMON "), "{head}");
    assert!(head.contains("\n>From xxx"), "{head}");
    let len = file.metadata().unwrap().len();
    assert!(len > 100 << 20 && len < (100 << 20) + 100, "{len}");
}

/// What the fake LMTP/SMTP server does after its greeting.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    /// Take every message.
    Accept,
    /// Answer LHLO/EHLO with `250-` lines until the client goes away.
    EndlessHello,
}

/// A fake LMTP/SMTP server on loopback: no pipelining, one recipient, and the DATA of each
/// message kept as it came over the wire (dot-stuffed, up to the final `.` line, which is
/// left out), or only counted beyond 1 MB.
struct FakeSmtp {
    port: u16,
    data: Arc<Mutex<Vec<Vec<u8>>>>,
    data_bytes: Arc<Mutex<u64>>,
}

impl FakeSmtp {
    fn start(behaviour: Behaviour) -> FakeSmtp {
        let data = Arc::new(Mutex::new(Vec::new()));
        let data_bytes = Arc::new(Mutex::new(0));
        let (d, n) = (Arc::clone(&data), Arc::clone(&data_bytes));
        let port = serve(move |stream| {
            let _ = serve_smtp(stream, behaviour, &d, &n);
        });
        FakeSmtp {
            port,
            data,
            data_bytes,
        }
    }

    fn data(&self) -> Vec<Vec<u8>> {
        self.data.lock().unwrap().clone()
    }
}

fn serve_smtp(
    stream: TcpStream,
    behaviour: Behaviour,
    kept: &Mutex<Vec<Vec<u8>>>,
    counted: &Mutex<u64>,
) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    out.write_all(b"220 fake ready\r\n")?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let verb = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let verb = verb.split_whitespace().next().unwrap_or("").to_string();
        match verb.as_str() {
            "LHLO" | "EHLO" if behaviour == Behaviour::EndlessHello => loop {
                out.write_all(b"250-an extension that is not the last\r\n")?;
            },
            "LHLO" | "EHLO" => out.write_all(b"250-fake\r\n250 8BITMIME\r\n")?,
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let (message, total) = read_data(&mut input)?;
                kept.lock().unwrap().push(message);
                *counted.lock().unwrap() += total;
                out.write_all(b"250 2.0.0 delivered\r\n")?;
            }
            "QUIT" => return out.write_all(b"221 bye\r\n"),
            _ => out.write_all(b"250 ok\r\n")?,
        }
    }
}

/// Read DATA up to the `.` line that ends it (the client waits for our reply after it, so it
/// is the last thing read); the first MB of it, and how many bytes it had.
fn read_data(input: &mut BufReader<TcpStream>) -> std::io::Result<(Vec<u8>, u64)> {
    const KEEP: usize = 1 << 20;
    let mut kept = Vec::new();
    // The last bytes seen, with a line end before the first: the end is CRLF . CRLF.
    let mut tail = b"\r\n".to_vec();
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        total += n as u64;
        if kept.len() < KEEP {
            kept.extend_from_slice(&buf[..n.min(KEEP - kept.len())]);
        }
        tail.extend_from_slice(&buf[..n]);
        let cut = tail.len().saturating_sub(5);
        tail.drain(..cut);
        if tail == b"\r\n.\r\n" || (total == 3 && tail.ends_with(b"\r\n.\r\n")) {
            let end = kept.len().saturating_sub(3);
            kept.truncate(end);
            return Ok((kept, total - 3));
        }
    }
}

/// An account fetching from the fake POP3 server on `pop3` into the fake LMTP server on
/// `lmtp`.
fn lmtp_client(pop3: u16, lmtp: u16) -> Client {
    let c = client(pop3, &format!("lmtp:127.0.0.1:{lmtp}"));
    let config = fs::read_to_string(c.config()).unwrap();
    c.set_config(&format!("{config}deliver-to = \"{USER}@example.org\"\n"));
    c
}

#[test]
fn a_100_mb_line_into_lmtp_is_sent_in_bounded_memory() {
    let server = FakePop3::start(vec![one_line_of_100_mb()], Script::default());
    let lmtp = FakeSmtp::start(Behaviour::Accept);
    let c = lmtp_client(server.port(), lmtp.port);
    let (code, peak_kb) = c.run_measured(&["pull", "--quiet"]);
    assert_eq!(code, 0);
    eprintln!("LMTP, one line of 100 MB: peak RSS {peak_kb} kB");
    assert!(peak_kb < MEMORY_BOUND_KB, "peak RSS {peak_kb} kB");
    let data = lmtp.data();
    assert_eq!(data.len(), 1);
    assert!(data[0].starts_with(b"From xxx"));
    // The message and the CRLF added after its last line.
    let sent = *lmtp.data_bytes.lock().unwrap();
    assert_eq!(sent, 5 + (100 << 20) + 2);
}

#[test]
fn an_lmtp_server_that_never_ends_its_hello_is_a_protocol_error() {
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: s\n\nbody\n")],
        Script::default(),
    );
    let lmtp = FakeSmtp::start(Behaviour::EndlessHello);
    let c = lmtp_client(server.port(), lmtp.port);
    let started = Instant::now();
    let (code, peak_kb) = c.run_measured(&["pull"]);
    assert_eq!(code, 76);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once"
    );
    assert!(peak_kb < MEMORY_BOUND_KB, "peak RSS {peak_kb} kB");
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 76, "{out:?}");
    let line = one_line(&out.stderr);
    assert!(
        line.contains("sent a reply of more than 1000 lines"),
        "{line}"
    );
    assert!(
        line.contains(&lmtp.port.to_string()),
        "names the server: {line}"
    );
}

#[test]
fn a_bare_cr_reaches_lmtp_as_a_line_end_and_cannot_end_the_data_early() {
    // CR . CR LF: for a server that takes a bare CR for a line end, the end of the data,
    // and what follows would be read as commands.
    let text = b"Subject: s\n\nbefore\r.\r\nRSET\r\nMAIL FROM:<evil@example.org>\nafter\r";
    let server = FakePop3::start(vec![Mail::new("u1", text)], Script::default());
    let lmtp = FakeSmtp::start(Behaviour::Accept);
    let c = lmtp_client(server.port(), lmtp.port);
    c.ok(&["pull", "--quiet"]);
    let data = lmtp.data();
    assert_eq!(data.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&data[0]),
        "Subject: s\r\n\r\nbefore\r\n..\r\nRSET\r\nMAIL FROM:<evil@example.org>\r\nafter\r\n"
    );
}

/// Two accounts on one fake POP3 server: `bug` (whose run the test hook makes panic) and
/// `fine`, each with one message, delivering into Maildirs of their own; `extra` is added to
/// both (e.g. a poll interval).
fn two_accounts(extra: &str) -> (FakePop3, Client) {
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: s\n\nbody\n")],
        Script::default(),
    );
    let account = |name: &str| {
        alice(server.port())
            .name(name)
            .target(&format!("maildir:{{dir}}/{name}"))
            .keep(true)
            .extra(extra)
            .toml()
    };
    let c = Client::new(&format!("{}{}", account("bug"), account("fine")));
    (server, c)
}

/// The hook that makes an account's run panic (see `jobs::TEST_PANIC`).
const TEST_PANIC: &str = "MAILFETCH_TEST_PANIC_ACCOUNT";

#[test]
fn a_panic_in_one_account_fails_it_with_exit_70_and_the_others_finish() {
    let (_server, c) = two_accounts("");
    let out = c
        .command(&["pull", "--quiet"])
        .env(TEST_PANIC, "bug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(70), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = one_line(&stderr);
    assert!(
        line.starts_with("mailfetch: bug: internal error, please report: "),
        "{line}"
    );
    assert_eq!(maildir_messages(&c.path("fine")).len(), 1);
    assert!(maildir_messages(&c.path("bug")).is_empty());
}

#[test]
fn a_panic_in_one_account_still_gives_the_json_document() {
    let (_server, c) = two_accounts("");
    let out = c
        .command(&["pull", "--json"])
        .env(TEST_PANIC, "bug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(70), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert_eq!(doc["exit_code"], 70);
    let accounts = doc["accounts"].as_array().unwrap();
    assert_eq!(accounts[0]["account"], "bug");
    assert_eq!(accounts[0]["ok"], false);
    assert_eq!(accounts[0]["exit_code"], 70);
    assert!(accounts[0]["error"]
        .as_str()
        .unwrap()
        .contains("internal error, please report"));
    assert_eq!(accounts[1]["account"], "fine");
    assert_eq!(accounts[1]["ok"], true);
    assert_eq!(accounts[1]["fetched"], 1);
}

#[test]
fn watch_retries_an_account_that_panicked_and_keeps_the_others() {
    let (_server, c) = two_accounts("poll-interval = 1\n");
    let mut child = c
        .command(&["watch"])
        .env(TEST_PANIC, "bug")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first pause after a failure is 2 s: two tries within 4.5 s.
    std::thread::sleep(Duration::from_millis(4500));
    let alive = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(alive, "watch went on");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let panics: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mailfetch: bug: internal error, please report: "))
        .collect();
    assert!(panics.len() >= 2, "retried: {stderr}");
    assert_eq!(
        panics.len(),
        stderr.lines().count(),
        "nothing else: {stderr}"
    );
    assert_eq!(maildir_messages(&c.path("fine")).len(), 1);
}
