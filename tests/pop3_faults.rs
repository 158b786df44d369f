//! The POP3 client against a scripted fake server (`tests/support/fake_pop3.rs`), for what a
//! real Dovecot will not do: drop the connection mid-message, stall, answer `-ERR` or garbage,
//! send an endless line, list bad UIDLs, refuse the login, hang up before QUIT.
//!
//! Every scenario runs the real binary (`keep = false`, `timeout = 2`) and checks the same
//! promises: the exit code of its class and one clear line on stderr; only complete messages
//! in the store (Maildir `tmp/` empty; an mbox of whole messages, read by Python's `mailbox`);
//! nothing deleted on the server that is not durably delivered (no DELE, or no completed
//! QUIT); and a consistent state, shown by a second run against a healthy server that
//! delivers each remaining message exactly once, fetches nothing again, and leaves the server
//! empty.

mod support;

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};
use support::account::Account;
use support::client::{maildir_messages, maildir_tmp_count, Client};
use support::fake_pop3::{FakePop3, Fault, Mail, Script};
use support::read_mbox_with_python;

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery-staple";
/// The account's `timeout`, in seconds.
const TIMEOUT: u64 = 2;

/// `n` messages of about 4 KB, each with lines that need dot-stuffing.
fn mails(n: usize) -> Vec<Mail> {
    (1..=n).map(|i| mail(i, 60)).collect()
}

/// Message `i` with `lines` body lines of 70 bytes.
fn mail(i: usize, lines: usize) -> Mail {
    let mut text = format!(
        "Return-Path: <sender{i}@example.org>\nFrom: Sender {i} <sender{i}@example.org>\n\
         To: {USER}@example.com\nSubject: message {i}\nMessage-ID: <{i}@example.org>\n\n\
         Body of message {i}.\n.a line that starts with a dot\n..\n"
    )
    .into_bytes();
    for j in 0..lines {
        text.extend_from_slice(format!("{:<69}\n", format!("line {j} of message {i}")).as_bytes());
    }
    Mail::new(&format!("uid-{i:04}"), &text)
}

/// Where the account delivers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Maildir,
    Mbox,
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// A fake server with a mailbox, and a mailfetch account (`t`) pointed at it.
struct Fixture {
    server: FakePop3,
    client: Client,
    mails: Vec<Mail>,
    store: Store,
    tls: &'static str,
    allow_plaintext: bool,
}

impl Fixture {
    /// `mails` served by a server following `script`, delivered to a Maildir.
    fn new(mails: Vec<Mail>, script: Script) -> Fixture {
        let server = FakePop3::start(mails.clone(), script);
        let fx = Fixture {
            server,
            client: Client::new(""),
            mails,
            store: Store::Maildir,
            tls: "none",
            allow_plaintext: true,
        };
        fx.write_config();
        fx
    }

    /// Deliver into an mbox instead.
    fn mbox(mut self) -> Fixture {
        self.store = Store::Mbox;
        self.write_config();
        self
    }

    /// Use `tls = MODE`.
    fn tls(mut self, mode: &'static str) -> Fixture {
        self.tls = mode;
        self.write_config();
        self
    }

    /// Leave out `allow-plaintext-password = true`.
    fn forbid_plaintext_password(mut self) -> Fixture {
        self.allow_plaintext = false;
        self.write_config();
        self
    }

    fn write_config(&self) {
        let target = match self.store {
            Store::Maildir => "maildir:{dir}/Maildir",
            Store::Mbox => "mbox:{dir}/inbox.mbox",
        };
        let mut account = Account::fake("pop3", self.server.port())
            .name("t")
            .tls(self.tls)
            .set("user", USER)
            .password(PASSWORD)
            .target(target)
            .keep(false)
            .set("timeout", TIMEOUT);
        if !self.allow_plaintext {
            account = account.without("allow-plaintext-password");
        }
        self.client.set_config(&account.toml());
    }

    /// `mailfetch pull`.
    fn pull(&self) -> Run {
        self.run(&["pull"])
    }

    /// `mailfetch ARGS`, killed (and the test failed) if it runs for 30 s.
    fn run(&self, args: &[&str]) -> Run {
        self.run_within(args, None)
    }

    /// `mailfetch ARGS` with at most `memory` bytes of data (heap, anonymous maps: setrlimit
    /// RLIMIT_DATA), so that a run that tries to hold more aborts instead of succeeding.
    fn run_within(&self, args: &[&str], memory: Option<u64>) -> Run {
        let (out, err) = (self.client.path("stdout"), self.client.path("stderr"));
        let mut command = self.client.command(args);
        command
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap());
        if let Some(bytes) = memory {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_DATA, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("start mailfetch");
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mailfetch {args:?} hung");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: fs::read_to_string(out).unwrap(),
            stderr: fs::read_to_string(err).unwrap(),
            elapsed: started.elapsed(),
        }
    }

    /// The messages in the store, after checking that nothing partial is there: Maildir
    /// `tmp/` is empty, an mbox is whole messages each followed by one blank line, and no
    /// dotlock is left behind.
    fn delivered(&self) -> Vec<Vec<u8>> {
        let mut got = match self.store {
            Store::Maildir => {
                let root = self.client.path("Maildir");
                assert_eq!(
                    maildir_tmp_count(&root),
                    0,
                    "a partial message is left in tmp/"
                );
                maildir_messages(&root)
            }
            Store::Mbox => {
                let path = self.client.path("inbox.mbox");
                assert!(
                    !self.client.path("inbox.mbox.lock").exists(),
                    "the mbox dotlock was left behind"
                );
                let raw = fs::read(&path).unwrap_or_default();
                if raw.is_empty() {
                    return Vec::new();
                }
                assert!(
                    raw.starts_with(b"From "),
                    "the mbox does not start with a From line"
                );
                assert!(raw.ends_with(b"\n\n"), "the mbox ends inside a message");
                read_mbox_with_python(&path)
            }
        };
        got.sort();
        got
    }

    /// The store holds exactly `expected` (complete copies), each once.
    fn assert_delivered(&self, expected: &[&Mail]) {
        let got = self.delivered();
        let mut want: Vec<Vec<u8>> = expected.iter().map(|m| m.text.clone()).collect();
        want.sort();
        assert!(
            got == want,
            "the store holds {:?}, expected {:?}",
            subjects(&got),
            subjects(&want)
        );
    }

    /// Nothing was deleted on the server.
    fn assert_server_untouched(&self) {
        let all: Vec<String> = self.mails.iter().map(|m| m.uidl.clone()).collect();
        assert_eq!(
            self.server.uidls(),
            all,
            "messages were deleted on the server"
        );
    }

    /// A run against a healthy server (with `pipelining` or not) succeeds, fetches only what
    /// is not in the store yet, leaves every message in the store exactly once, and deletes
    /// them all from the server.
    fn assert_healthy_rerun_completes(&self, pipelining: bool) {
        let before = self.delivered();
        self.server.set_script(Script {
            pipelining,
            ..Script::default()
        });
        let run = self.pull();
        assert_eq!(run.code, 0, "the healthy second run failed: {run:?}");
        let session = self.server.sessions();
        for uidl in self.server.uidls_named(session, "RETR") {
            let m = self.mails.iter().find(|m| m.uidl == uidl).unwrap();
            assert!(
                !before.contains(&m.text),
                "{uidl} was fetched again although it was delivered before"
            );
        }
        self.assert_delivered(&self.mails.iter().collect::<Vec<_>>());
        assert_eq!(
            self.server.uidls(),
            Vec::<String>::new(),
            "keep = false must leave the server empty"
        );
    }
}

/// The subjects of `messages`, for readable failures.
fn subjects(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(m);
            let subject = text.lines().find_map(|l| l.strip_prefix("Subject: "));
            format!("{} ({} bytes)", subject.unwrap_or("?"), m.len())
        })
        .collect()
}

/// The run failed with exit `code` and said so on stderr in exactly one line, naming the
/// account and containing `says`.
fn assert_failed(run: &Run, code: i32, says: &str) {
    assert_eq!(run.code, code, "wrong exit code: {run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr: {:?}",
        run.stderr
    );
    assert!(
        lines[0].starts_with("mailfetch: t: ") && lines[0].contains(says),
        "expected \"mailfetch: t: ...{says}...\", got {:?}",
        lines[0]
    );
}

/// No command of `session` starts with one of `verbs`.
fn assert_not_sent(server: &FakePop3, session: usize, verbs: &[&str]) {
    let commands = server.commands(session);
    for c in &commands {
        let verb = c.split(' ').next().unwrap_or("");
        assert!(!verbs.contains(&verb), "{verb} was sent: {commands:?}");
    }
}

fn pipelined() -> Script {
    Script {
        pipelining: true,
        ..Script::default()
    }
}

fn with_fault(pipelining: bool, fault: Fault) -> Script {
    Script {
        pipelining,
        fault,
        ..Script::default()
    }
}

#[test]
fn disconnect_mid_retr_delivers_nothing_partial_and_deletes_nothing() {
    let fx = Fixture::new(mails(3), with_fault(true, Fault::DisconnectMidRetr(2)));
    let run = fx.pull();
    assert_failed(&run, 75, "closed the connection");
    // Message 1 was whole, so it is kept (and recorded); message 2 is not in the store.
    fx.assert_delivered(&[&fx.mails[0]]);
    assert_not_sent(&fx.server, 1, &["DELE", "QUIT"]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(true);
}

#[test]
fn disconnect_mid_retr_leaves_only_whole_messages_in_the_mbox() {
    let fx = Fixture::new(mails(3), with_fault(false, Fault::DisconnectMidRetr(2))).mbox();
    let run = fx.pull();
    assert_failed(&run, 75, "closed the connection");
    fx.assert_delivered(&[&fx.mails[0]]);
    assert_not_sent(&fx.server, 1, &["DELE", "QUIT"]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(false);
}

#[test]
fn err_on_retr_is_a_protocol_error_and_deletes_nothing() {
    let err = Fault::ErrOn(
        "RETR 2".into(),
        "[SYS/PERM] cannot read this message".into(),
    );
    let fx = Fixture::new(mails(3), with_fault(true, err));
    let run = fx.pull();
    assert_failed(
        &run,
        76,
        "answered RETR with an error: [SYS/PERM] cannot read this message",
    );
    fx.assert_delivered(&[&fx.mails[0]]);
    assert_not_sent(&fx.server, 1, &["DELE", "QUIT"]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(true);
}

/// RFC 3206: `[SYS/TEMP]` may answer any command and means "try again later".
#[test]
fn err_sys_temp_on_retr_is_a_temporary_failure_and_deletes_nothing() {
    let err = Fault::ErrOn(
        "RETR 2".into(),
        "[SYS/TEMP] storage is busy, try again later".into(),
    );
    let fx = Fixture::new(mails(3), with_fault(false, err));
    let run = fx.pull();
    assert_failed(&run, 75, "[SYS/TEMP] storage is busy");
    fx.assert_delivered(&[&fx.mails[0]]);
    assert_not_sent(&fx.server, 1, &["DELE", "QUIT"]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(false);
}

#[test]
fn err_sys_temp_on_uidl_is_a_temporary_failure() {
    let err = Fault::ErrOn("UIDL".into(), "[SYS/TEMP] index is being rebuilt".into());
    let fx = Fixture::new(mails(2), with_fault(true, err));
    let run = fx.pull();
    assert_failed(&run, 75, "[SYS/TEMP] index is being rebuilt");
    assert_not_sent(&fx.server, 1, &["RETR", "DELE", "QUIT"]);
    fx.assert_delivered(&[]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(true);
}

#[test]
fn err_sys_temp_on_quit_is_a_temporary_failure_and_the_next_run_deletes() {
    let err = Fault::ErrOn("QUIT".into(), "[SYS/TEMP] cannot expunge now".into());
    let fx = Fixture::new(mails(2), with_fault(false, err));
    let run = fx.pull();
    assert_failed(&run, 75, "[SYS/TEMP] cannot expunge now");
    fx.assert_delivered(&fx.mails.iter().collect::<Vec<_>>());
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(false);
    assert_not_sent(&fx.server, 2, &["RETR"]);
}

#[test]
fn garbage_reply_to_retr_is_a_protocol_error_and_deletes_nothing() {
    let fx = Fixture::new(mails(3), with_fault(false, Fault::GarbageOnRetr(2)));
    let run = fx.pull();
    assert_failed(&run, 76, "not +OK or -ERR");
    fx.assert_delivered(&[&fx.mails[0]]);
    assert_not_sent(&fx.server, 1, &["DELE", "QUIT"]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(false);
}

#[test]
fn garbage_greeting_is_a_protocol_error_before_any_login() {
    let fx = Fixture::new(mails(2), with_fault(false, Fault::GarbageGreeting));
    let run = fx.pull();
    assert_failed(&run, 76, "220 mail.example.com ESMTP");
    assert_eq!(fx.server.commands(1), Vec::<String>::new());
    fx.assert_delivered(&[]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(false);
}

/// Data memory allowed to runs that face an endless line: less than the line, so a client
/// that tried to hold it would abort instead of exiting 76.
const MEMORY_LIMIT: u64 = 24 << 20;
/// The length of an endless line.
const ENDLESS: usize = 50 << 20;

#[test]
fn endless_message_line_is_cut_off_early_with_bounded_memory() {
    // A message LIST announces as 100 bytes; RETR then sends 50 MB without a line end.
    let mut text = b"Subject: tiny\n\n".to_vec();
    text.resize(96, b'a');
    text.push(b'\n');
    let tiny = Mail::new("uid-tiny", &text);
    assert_eq!(tiny.wire().len(), 100);
    for store in [Store::Maildir, Store::Mbox] {
        let script = with_fault(true, Fault::EndlessRetr(1, ENDLESS));
        let fx = Fixture::new(vec![tiny.clone()], script);
        let fx = if store == Store::Mbox { fx.mbox() } else { fx };
        let run = fx.run_within(&["pull"], Some(MEMORY_LIMIT));
        assert_failed(&run, 76, "more data for a message than it announced");
        assert!(
            run.elapsed < Duration::from_secs(TIMEOUT),
            "took {:?}",
            run.elapsed
        );
        // The client hung up long before the end: what the server got rid of is bounded by
        // the kernel's socket buffers, not by the 50 MB.
        let sent = fx.server.endless_bytes_sent();
        assert!(
            sent < 20 << 20,
            "the client read {sent} bytes of an endless line"
        );
        fx.assert_delivered(&[]);
        assert_not_sent(&fx.server, 1, &["DELE", "QUIT"]);
        fx.assert_server_untouched();
        fx.assert_healthy_rerun_completes(true);
    }
}

#[test]
fn endless_greeting_line_is_refused_without_reading_it_all() {
    let fx = Fixture::new(mails(1), with_fault(false, Fault::EndlessGreeting(ENDLESS)));
    let run = fx.run_within(&["pull"], Some(MEMORY_LIMIT));
    assert_failed(&run, 76, "sent a line longer than");
    assert!(
        run.elapsed < Duration::from_secs(TIMEOUT),
        "took {:?}",
        run.elapsed
    );
    let sent = fx.server.endless_bytes_sent();
    assert!(
        sent < 20 << 20,
        "the client read {sent} bytes of an endless line"
    );
    assert_eq!(fx.server.commands(1), Vec::<String>::new());
    fx.assert_delivered(&[]);
    fx.assert_server_untouched();
}

#[test]
fn server_stalling_mid_message_times_out_after_the_timeout() {
    let fx = Fixture::new(mails(3), with_fault(true, Fault::StallMidRetr(2)));
    let run = fx.pull();
    assert_failed(&run, 75, "timed out");
    let timeout = Duration::from_secs(TIMEOUT);
    assert!(
        run.elapsed >= timeout && run.elapsed < timeout + Duration::from_secs(3),
        "gave up after {:?} with timeout = {TIMEOUT}",
        run.elapsed
    );
    fx.assert_delivered(&[&fx.mails[0]]);
    assert_not_sent(&fx.server, 1, &["DELE", "QUIT"]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(true);
}

#[test]
fn refused_password_is_an_authentication_error() {
    let refuse = Fault::RefusePass("[AUTH] Authentication failed.".into());
    let fx = Fixture::new(mails(2), with_fault(false, refuse));
    let run = fx.pull();
    assert_failed(&run, 77, "[AUTH] Authentication failed.");
    assert!(run.stderr.contains("check user and password"), "{run:?}");
    assert_not_sent(&fx.server, 1, &["STAT", "UIDL", "LIST", "RETR", "DELE"]);
    fx.assert_delivered(&[]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(false);
}

#[test]
fn refusal_for_the_servers_own_reason_is_quoted_and_blames_no_password() {
    // solid-pop3d answers PASS so when it cannot open the maildrop.
    let refuse = Fault::RefusePass("message is damaged".into());
    let fx = Fixture::new(mails(2), with_fault(false, refuse));
    let run = fx.pull();
    assert_failed(&run, 77, "refused the login (PASS): message is damaged");
    assert!(!run.stderr.contains("check user and password"), "{run:?}");
    fx.assert_server_untouched();
}

#[test]
fn mailbox_in_use_is_a_temporary_failure() {
    let refuse = Fault::RefusePass("[IN-USE] Mailbox is locked by another POP3 session".into());
    let fx = Fixture::new(mails(2), with_fault(false, refuse));
    let run = fx.pull();
    assert_failed(&run, 75, "[IN-USE]");
    assert_not_sent(&fx.server, 1, &["STAT", "UIDL", "LIST", "RETR", "DELE"]);
    fx.assert_delivered(&[]);
    fx.assert_server_untouched();
}

#[test]
fn duplicate_uidls_are_a_protocol_error_before_any_retr() {
    let fx = Fixture::new(mails(3), with_fault(true, Fault::DuplicateUidl));
    let run = fx.pull();
    assert_failed(&run, 76, "same UIDL \"uid-0001\" to two messages");
    assert_not_sent(&fx.server, 1, &["RETR", "DELE", "QUIT"]);
    fx.assert_delivered(&[]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(true);
}

#[test]
fn uidl_naming_a_message_beyond_stat_is_a_protocol_error() {
    let fx = Fixture::new(mails(3), with_fault(false, Fault::UidlBeyondStat));
    let run = fx.pull();
    assert_failed(&run, 76, "UIDL names message 4, but STAT said 3");
    assert_not_sent(&fx.server, 1, &["RETR", "DELE", "QUIT"]);
    fx.assert_delivered(&[]);
    fx.assert_server_untouched();
    fx.assert_healthy_rerun_completes(false);
}

#[test]
fn server_without_pipelining_is_served_in_lock_step() {
    let fx = Fixture::new(mails(5), Script::default());
    let run = fx.pull();
    assert_eq!(run.code, 0, "{run:?}");
    let commands = fx.server.commands(1);
    assert_eq!(fx.server.uidls_named(1, "RETR").len(), 5, "{commands:?}");
    assert_eq!(fx.server.uidls_named(1, "DELE").len(), 5, "{commands:?}");
    assert_eq!(
        fx.server.max_outstanding(1),
        1,
        "more than one command in flight without PIPELINING: {commands:?}"
    );
    fx.assert_delivered(&fx.mails.iter().collect::<Vec<_>>());
    assert_eq!(fx.server.uidls(), Vec::<String>::new());
}

#[test]
fn server_with_pipelining_receives_several_retrs_before_the_first_reply() {
    let script = Script {
        hold_first_retr: true,
        ..pipelined()
    };
    let fx = Fixture::new(mails(5), script);
    let run = fx.pull();
    assert_eq!(run.code, 0, "{run:?}");
    let early = fx.server.received_before_first_reply(1, "RETR");
    assert!(
        early >= 2,
        "only {early} RETR sent before the first reply: {:?}",
        fx.server.commands(1)
    );
    fx.assert_delivered(&fx.mails.iter().collect::<Vec<_>>());
    assert_eq!(fx.server.uidls(), Vec::<String>::new());
}

#[test]
fn dele_replies_interleaved_with_retr_replies_are_matched_in_order() {
    // Twelve 1 MB messages: the pipelining window (8 MB) holds eight RETRs. RETR 2 is slow,
    // so the batch of the first messages is committed (after 1 s) while RETRs are in flight,
    // and its DELEs go out between RETRs.
    let big: Vec<Mail> = (1..=12).map(|i| mail(i, 15_000)).collect();
    let script = Script {
        slow_retr: Some((2, Duration::from_millis(1100))),
        ..pipelined()
    };
    let fx = Fixture::new(big, script);
    let run = fx.pull();
    assert_eq!(run.code, 0, "{run:?}");
    let commands = fx.server.commands(1);
    let first_dele = commands.iter().position(|c| c.starts_with("DELE"));
    let last_retr = commands.iter().rposition(|c| c.starts_with("RETR"));
    assert!(
        first_dele.is_some() && first_dele < last_retr,
        "no DELE was sent between RETRs: {commands:?}"
    );
    assert_eq!(fx.server.uidls_named(1, "DELE").len(), 12, "{commands:?}");
    fx.assert_delivered(&fx.mails.iter().collect::<Vec<_>>());
    assert_eq!(fx.server.uidls(), Vec::<String>::new());
    assert!(run.stdout.contains("12 new messages"), "{run:?}");
}

#[test]
fn tls_none_without_allow_plaintext_password_sends_no_password() {
    let fx = Fixture::new(mails(1), Script::default()).forbid_plaintext_password();
    let run = fx.pull();
    assert_failed(&run, 78, "allow-plaintext-password");
    assert_not_sent(&fx.server, 1, &["USER", "PASS", "AUTH", "APOP"]);
    let all = fx.server.all_commands();
    assert!(!all.iter().any(|c| c.contains(PASSWORD)), "{all:?}");
    fx.assert_delivered(&[]);
}

#[test]
fn starttls_without_stls_offered_is_refused_before_login() {
    let fx = Fixture::new(mails(1), Script::default()).tls("starttls");
    let run = fx.pull();
    assert_failed(&run, 76, "does not offer STLS");
    assert_eq!(fx.server.commands(1), vec!["CAPA".to_string()]);
    fx.assert_delivered(&[]);
}

/// The scenario of both "hang up before QUIT" tests.
fn interrupted_before_quit_is_finished_by_the_next_run(fault: Fault) {
    let fx = Fixture::new(mails(3), with_fault(true, fault));
    let run = fx.pull();
    assert_failed(&run, 75, "closed the connection");
    // Everything was delivered and recorded; the deletions were rolled back with the session.
    fx.assert_delivered(&fx.mails.iter().collect::<Vec<_>>());
    fx.assert_server_untouched();

    fx.server.set_script(pipelined());
    let run = fx.pull();
    assert_eq!(run.code, 0, "{run:?}");
    assert_not_sent(&fx.server, 2, &["RETR"]);
    assert_eq!(fx.server.uidls_named(2, "DELE").len(), 3);
    fx.assert_delivered(&fx.mails.iter().collect::<Vec<_>>());
    assert_eq!(fx.server.uidls(), Vec::<String>::new());
}

#[test]
fn drop_at_first_dele_next_run_deletes_delivered_mail_without_refetching() {
    interrupted_before_quit_is_finished_by_the_next_run(Fault::DropOnDele);
}

#[test]
fn drop_at_quit_next_run_deletes_delivered_mail_without_refetching() {
    interrupted_before_quit_is_finished_by_the_next_run(Fault::DropOnQuit);
}

#[test]
fn verbose_trace_never_shows_the_password() {
    let fx = Fixture::new(mails(1), Script::default());
    let run = fx.run(&["--verbose", "pull"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(fx.server.commands(1).contains(&format!("PASS {PASSWORD}")));
    assert!(run.stderr.contains("PASS <redacted>"), "{}", run.stderr);
    assert!(!run.stderr.contains(PASSWORD), "{}", run.stderr);
}

#[test]
fn verbose_trace_never_shows_the_auth_plain_payload() {
    use base64::Engine;
    let script = Script {
        sasl_plain: true,
        ..Script::default()
    };
    let fx = Fixture::new(mails(1), script);
    let run = fx.run(&["--verbose", "pull"]);
    assert_eq!(run.code, 0, "{run:?}");
    let payload = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
    assert!(fx
        .server
        .commands(1)
        .contains(&format!("AUTH PLAIN {payload}")));
    assert!(
        run.stderr.contains("AUTH PLAIN <redacted>"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&payload), "{}", run.stderr);
    assert!(!run.stderr.contains(PASSWORD), "{}", run.stderr);
}
