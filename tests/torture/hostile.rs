//! Hostile server replies, against fake servers: the scripted POP3 server of
//! tests/support/fake_pop3.rs and a small scripted IMAP server here. Overlong lines, bogus
//! sizes (LIST or RFC822.SIZE tiny, the body huge or endless), negative and huge IMAP
//! literals, wrong message counts, duplicate UIDs, bytes that are not UTF-8. Each case runs
//! one pull (`timeout = 5`) and wants: a documented exit code (the case's own list, mostly 76;
//! 0 only where the reply is harmless, and then every message delivered), no panic (101) and
//! no signal, one line on stderr in words (not a parser's debug dump), under 15 s, a peak RSS
//! under 64 MB, and nothing in the target that is not a whole source message (Maildir `tmp/`
//! empty, nothing twice), nothing deleted on the server that is not delivered. The cases of
//! a scenario run at once; `MAILFETCH_TORTURE_VERBOSE` prints how each ended.

use crate::check::{self, tally, Row};
use crate::support::account::Account;
use crate::support::client::{maildir_messages, maildir_tmp_count, Client};
use crate::support::fake_pop3::{FakePop3, Fault, Mail, Script};
use crate::Scenario;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The account's `timeout`, seconds.
const TIMEOUT: u64 = 5;
/// A case must end within this.
const TIME_LIMIT: Duration = Duration::from_secs(15);
/// And stay under this peak RSS, KiB.
const RSS_LIMIT_KB: u64 = 64 * 1024;
/// What an endless reply sends at most.
const ENDLESS: usize = 512 << 20;

/// One hostile reply.
struct Case {
    what: &'static str,
    server: Server,
    /// Acceptable exit codes; 0 means the reply is harmless and everything must arrive.
    codes: &'static [i32],
    /// Exit 0 must have delivered every message (not so when the server said it has none).
    complete: bool,
    /// Only with --full (the case takes long).
    slow: bool,
}

enum Server {
    Pop3(Vec<Mail>, Fault),
    Imap(Vec<Vec<u8>>, ImapFault),
}

/// The cases of a scenario.
type Cases = fn() -> Vec<Case>;

pub fn scenarios() -> Vec<Scenario> {
    let groups: Vec<(&'static str, Cases)> = vec![
        ("hostile: overlong lines", overlong),
        ("hostile: bogus sizes", bogus_sizes),
        ("hostile: IMAP literals negative and huge", literals),
        ("hostile: wrong message counts", counts),
        ("hostile: duplicate UIDs", duplicates),
        ("hostile: invalid UTF-8 in replies", utf8),
    ];
    groups
        .into_iter()
        .map(|(name, cases)| Scenario::new(name, move |ctx| run_cases(cases(), ctx.full)))
        .collect()
}

/// Message `i` of about `size` bytes, LF line ends, with a dot-stuffing line.
fn text(i: usize, size: usize) -> Vec<u8> {
    check::message(&format!("hostile-{i}"), size)
}

/// A message whose body is one line of `len` bytes (LIST tells its size truly).
fn long_line(len: usize) -> Vec<u8> {
    let mut m = check::message("hostile-long-line", 100);
    m.extend(std::iter::repeat_n(b'z', len));
    m.push(b'\n');
    m
}

fn pop3_mails(sizes: &[usize]) -> Vec<Mail> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| Mail::new(&format!("uid-{i:04}"), &text(i, s)))
        .collect()
}

fn small_pop3() -> Vec<Mail> {
    pop3_mails(&[3000, 4000, 5000])
}

fn small_imap() -> Vec<Vec<u8>> {
    (0..3).map(|i| text(i, 3000 + 1000 * i)).collect()
}

fn pop3(fault: Fault, codes: &'static [i32], what: &'static str) -> Case {
    Case {
        what,
        server: Server::Pop3(small_pop3(), fault),
        codes,
        complete: true,
        slow: false,
    }
}

fn imap(fault: ImapFault, codes: &'static [i32], what: &'static str) -> Case {
    Case {
        what,
        server: Server::Imap(small_imap(), fault),
        codes,
        complete: true,
        slow: false,
    }
}

fn overlong() -> Vec<Case> {
    vec![
        pop3(
            Fault::EndlessGreeting(ENDLESS),
            &[76],
            "pop3 endless greeting",
        ),
        pop3(
            Fault::EndlessRetr(1, ENDLESS),
            &[76],
            "pop3 endless line in RETR",
        ),
        pop3(Fault::LongUidl(100_000), &[76], "pop3 UIDL line of 100 KB"),
        imap(
            ImapFault::EndlessGreeting,
            &[75, 76],
            "imap endless greeting",
        ),
        imap(
            ImapFault::EndlessListing,
            &[75, 76],
            "imap endless line in the listing",
        ),
        imap(
            ImapFault::EndlessAfterLiteral,
            &[75, 76],
            "imap endless line after a literal",
        ),
    ]
}

fn bogus_sizes() -> Vec<Case> {
    vec![
        Case {
            server: Server::Pop3(pop3_mails(&[2_000_000, 3000]), Fault::ListSize("10".into())),
            ..pop3(
                Fault::None,
                &[76],
                "pop3 LIST says 10 bytes, RETR sends 2 MB",
            )
        },
        pop3(
            Fault::ListSize("10".into()),
            &[0, 76],
            "pop3 LIST says 10 bytes, RETR sends 3 KB",
        ),
        pop3(
            Fault::EndlessLinesRetr(2, ENDLESS),
            &[76],
            "pop3 RETR of endless lines (LIST 4 KB)",
        ),
        pop3(
            Fault::ListSize("-5".into()),
            &[76],
            "pop3 negative LIST size",
        ),
        pop3(
            Fault::ListSize("9".repeat(30)),
            &[76],
            "pop3 LIST size of 30 digits",
        ),
        imap(
            ImapFault::HugeSize,
            &[0, 76],
            "imap RFC822.SIZE 4 GB, the body 3 KB",
        ),
        Case {
            server: Server::Pop3(
                vec![
                    Mail::new("uid-a", &text(0, 3000)),
                    Mail::new("uid-b", &long_line(10 << 20)),
                ],
                Fault::None,
            ),
            ..pop3(Fault::None, &[0, 76], "pop3 a 10 MB line inside a message")
        },
        Case {
            server: Server::Imap(
                vec![text(0, 3000), text(1, 30 << 20), text(2, 3000)],
                ImapFault::TinySize,
            ),
            ..imap(
                ImapFault::None,
                &[0, 76],
                "imap RFC822.SIZE 100, the body 30 MB",
            )
        },
    ]
}

/// In the reply to LOGIN, and in the body of a fetch (a refused literal is a protocol error,
/// which ends the run at once: no reconnect, as the server would answer the same way again).
fn literals() -> Vec<Case> {
    vec![
        imap(
            ImapFault::LoginLiteral("-5"),
            &[76],
            "imap literal {-5} at login",
        ),
        imap(
            ImapFault::LoginLiteral("18446744073709551616"),
            &[76],
            "imap literal {2^64} at login",
        ),
        imap(ImapFault::Literal("-5"), &[76], "imap literal {-5}"),
        imap(
            ImapFault::Literal("400000000"),
            &[76],
            "imap literal {400000000}",
        ),
        imap(
            ImapFault::Literal("9".repeat(26).leak()),
            &[76],
            "imap literal of 26 digits",
        ),
        imap(
            ImapFault::Literal("18446744073709551616"),
            &[76],
            "imap literal {2^64}",
        ),
        imap(ImapFault::Literal("+5"), &[76], "imap literal {+5}"),
    ]
}

fn counts() -> Vec<Case> {
    vec![
        pop3(
            Fault::StatCount("9999".into()),
            &[0, 76],
            "pop3 STAT says 9999 messages",
        ),
        pop3(
            Fault::StatCount("-1".into()),
            &[76],
            "pop3 STAT says -1 messages",
        ),
        pop3(
            Fault::UidlBeyondStat,
            &[76],
            "pop3 UIDL numbers one beyond STAT",
        ),
        imap(ImapFault::Exists(50), &[0, 76], "imap EXISTS 50, 3 listed"),
        // The server says the folder is empty: not asking is fine.
        Case {
            complete: false,
            ..imap(ImapFault::Exists(0), &[0, 76], "imap EXISTS 0, 3 listed")
        },
        imap(
            ImapFault::WrongUid,
            &[75, 76],
            "imap FETCH answers other UIDs",
        ),
    ]
}

fn duplicates() -> Vec<Case> {
    vec![
        pop3(Fault::DuplicateUidl, &[76], "pop3 duplicate UIDLs"),
        imap(
            ImapFault::DuplicateUid,
            &[76],
            "imap duplicate UIDs in the listing",
        ),
    ]
}

fn utf8() -> Vec<Case> {
    vec![
        pop3(Fault::InvalidUtf8Greeting, &[0, 76], "pop3 greeting"),
        pop3(Fault::InvalidUtf8Uidl, &[0, 76], "pop3 UIDL unique-id"),
        pop3(
            Fault::InvalidUtf8ErrOnRetr(2),
            &[75, 76],
            "pop3 -ERR text on RETR",
        ),
        imap(
            ImapFault::Utf8Texts,
            &[0, 76],
            "imap greeting and status texts",
        ),
        imap(ImapFault::Utf8Flag, &[0, 76], "imap keyword in FLAGS"),
    ]
}

/// The cases of a group run at once, each with its own server and client (most of their
/// time is waiting: timeouts, reconnect pauses).
fn run_cases(cases: Vec<Case>, full: bool) -> Row {
    let cases: Vec<Case> = cases.into_iter().filter(|c| full || !c.slow).collect();
    let rows: Vec<Row> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|case| {
                s.spawn(move || {
                    let mut row = Row::new(1);
                    one(case, &mut row);
                    row
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Row::broken("", "a case's harness panicked".into()))
            })
            .collect()
    });
    let mut row = Row::new(cases.len());
    for r in rows {
        row.tally.add(r.tally);
        row.peak_rss_kb = row.peak_rss_kb.max(r.peak_rss_kb);
        row.problems.extend(r.problems);
    }
    row
}

fn one(case: &Case, row: &mut Row) {
    let what = case.what;
    let account = |protocol: &str, port: u16, keep: bool| {
        let account = Account::fake(protocol, port).name("h").set("user", "alice");
        let account = account.password("secret").set("timeout", TIMEOUT);
        Client::new(&account.keep(keep).toml())
    };
    let (exit, client, expected, on_server) = match &case.server {
        Server::Pop3(mails, fault) => {
            let server = FakePop3::start(
                mails.clone(),
                Script {
                    pipelining: true,
                    fault: fault.clone(),
                    ..Script::default()
                },
            );
            let c = account("pop3", server.port(), false);
            let exit = check::pull(&c, &[], Some(TIME_LIMIT + Duration::from_secs(1)));
            let left = server.uidls();
            let on_server: Vec<Vec<u8>> = mails
                .iter()
                .filter(|m| left.contains(&m.uidl))
                .map(|m| m.text.clone())
                .collect();
            let expected: Vec<Vec<u8>> = mails.iter().map(|m| m.text.clone()).collect();
            (exit, c, expected, on_server)
        }
        Server::Imap(messages, fault) => {
            let server = FakeImap::start(messages.clone(), *fault);
            let c = account("imap", server.port, true);
            let exit = check::pull(&c, &[], Some(TIME_LIMIT + Duration::from_secs(1)));
            (exit, c, messages.clone(), messages.clone())
        }
    };
    row.saw(&exit);
    if std::env::var_os("MAILFETCH_TORTURE_VERBOSE").is_some() {
        eprintln!(
            "  {what}: {} (peak RSS {} KB)",
            exit.describe(),
            exit.maxrss_kb
        );
    }
    let err = exit.stderr.trim();
    match exit.code {
        Some(code) if case.codes.contains(&code) => {}
        Some(101) => row.problems.push(format!("{what}: panicked: {err}")),
        _ => row.problems.push(format!(
            "{what}: expected exit {:?}: {}",
            case.codes,
            exit.describe()
        )),
    }
    if exit.code != Some(0) {
        row.expect(err.lines().count() == 1 && !err.is_empty(), || {
            format!("{what}: not one line on stderr: {err:?}")
        });
    }
    row.expect(!err.contains("panicked"), || format!("{what}: {err}"));
    // Clear: words, not a parser's debug dump.
    row.expect(
        !err.contains("Error {") && !err.contains("input: ["),
        || format!("{what}: the error is a debug dump, not a message: {err}"),
    );
    row.expect(exit.elapsed < TIME_LIMIT, || {
        format!("{what}: took {:.1} s", exit.elapsed.as_secs_f64())
    });
    row.expect(exit.maxrss_kb < RSS_LIMIT_KB, || {
        format!("{what}: peak RSS {:.1} MB", exit.maxrss_kb as f64 / 1024.0)
    });
    let root = client.path("M");
    row.expect(maildir_tmp_count(&root) == 0, || {
        format!(
            "{what}: {} files left in the Maildir's tmp/",
            maildir_tmp_count(&root)
        )
    });
    let delivered = maildir_messages(&root);
    let finished = exit.code == Some(0) && case.complete;
    let t = tally(&expected, &delivered, &on_server, finished, false);
    row.expect(t.is_zero(), || {
        format!(
            "{what}: {t:?} ({} delivered, exit {:?})",
            delivered.len(),
            exit.code
        )
    });
    row.tally.add(t);
}

/// How the fake IMAP server misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ImapFault {
    /// `* OK ` and then bytes without a line end.
    EndlessGreeting,
    /// The listing's first FETCH response never ends its FLAGS list, nor its line.
    EndlessListing,
    /// The first body's literal is followed by bytes without a line end.
    EndlessAfterLiteral,
    /// Behave.
    None,
    /// Message 2 is listed with RFC822.SIZE 4000000000 (so it is fetched in pieces), its
    /// body is 3 KB.
    HugeSize,
    /// Message 2 (UID 2) is listed with RFC822.SIZE 100, whatever its size.
    TinySize,
    /// The body of UID 1 comes as this literal announcement, then a few bytes.
    Literal(&'static str),
    /// The reply to LOGIN (or AUTHENTICATE) carries an untagged FETCH with this literal.
    LoginLiteral(&'static str),
    /// SELECT/EXAMINE says this many messages exist; the listing has the real ones.
    Exists(usize),
    /// The bodies come back under UIDs nobody asked for.
    WrongUid,
    /// The listing gives message 2 the UID of message 1.
    DuplicateUid,
    /// The greeting and every tagged OK carry text that is not UTF-8.
    Utf8Texts,
    /// The listing gives each message a keyword of bytes that are not UTF-8.
    Utf8Flag,
}

/// A scripted IMAP server for one fault: messages with UIDs 1, 2, ..., UIDVALIDITY 42.
struct FakeImap {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeImap {
    fn start(messages: Vec<Vec<u8>>, fault: ImapFault) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake IMAP server");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let messages = Arc::new(messages);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let messages = Arc::clone(&messages);
                std::thread::spawn(move || {
                    let _ = ImapSession::new(stream, &messages, fault).map(|mut s| s.run());
                });
            }
        });
        FakeImap { port, stop }
    }
}

impl Drop for FakeImap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct ImapSession<'a> {
    input: BufReader<TcpStream>,
    out: TcpStream,
    messages: &'a [Vec<u8>],
    fault: ImapFault,
}

/// CRLF line ends, as IMAP sends a message.
fn wire(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 20);
    for line in text.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The UIDs of an IMAP sequence set (`1:3,5`, `2:*`) among `1..=max`.
fn uid_set(set: &str, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for part in set.split(',') {
        let num = |s: &str| {
            if s == "*" {
                max
            } else {
                s.parse().unwrap_or(0)
            }
        };
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (num(a), num(b)),
            None => (num(part), num(part)),
        };
        let (a, b) = (a.min(b), a.max(b));
        out.extend((a..=b).filter(|&u| u >= 1 && u <= max));
    }
    out
}

impl<'a> ImapSession<'a> {
    fn new(
        stream: TcpStream,
        messages: &'a [Vec<u8>],
        fault: ImapFault,
    ) -> std::io::Result<ImapSession<'a>> {
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        Ok(ImapSession {
            input: BufReader::new(stream.try_clone()?),
            out: stream,
            messages,
            fault,
        })
    }

    fn w(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)
    }

    /// `count` bytes of `unit`, repeated, no line end; ends early when the client hangs up.
    fn endless(&mut self, unit: &[u8], count: usize) -> std::io::Result<()> {
        let chunk = unit.repeat((64 << 10) / unit.len());
        let mut left = count;
        while left > 0 {
            let n = left.min(chunk.len());
            self.out.write_all(&chunk[..n])?;
            left -= n;
        }
        Ok(())
    }

    fn ok_text(&self) -> &'static [u8] {
        if self.fault == ImapFault::Utf8Texts {
            b"completed \xff\xfe \xc3\x28"
        } else {
            b"completed"
        }
    }

    fn tagged_ok(&mut self, tag: &str) -> std::io::Result<()> {
        let mut line = format!("{tag} OK ").into_bytes();
        line.extend_from_slice(self.ok_text());
        line.extend_from_slice(b"\r\n");
        self.w(&line)
    }

    fn run(&mut self) -> std::io::Result<()> {
        match self.fault {
            ImapFault::EndlessGreeting => {
                self.w(b"* OK ")?;
                return self.endless(b"x", ENDLESS);
            }
            ImapFault::Utf8Texts => self.w(
                b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS] fake \xff\xfe \xc3\x28 ready\r\n",
            )?,
            _ => self.w(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS] fake IMAP ready\r\n")?,
        }
        loop {
            let mut line = String::new();
            if self.input.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end().to_string();
            let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let tag = tag.to_string();
            let upper = rest.to_ascii_uppercase();
            let verb = upper.split(' ').next().unwrap_or("").to_string();
            match verb.as_str() {
                "CAPABILITY" => {
                    self.w(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS\r\n")?;
                    self.tagged_ok(&tag)?;
                }
                "LOGIN" => {
                    self.login_fault()?;
                    self.tagged_ok(&tag)?
                }
                "AUTHENTICATE" => {
                    if !upper.contains(' ') || upper.trim_end().ends_with("PLAIN") {
                        self.w(b"+ \r\n")?;
                        let mut resp = String::new();
                        self.input.read_line(&mut resp)?;
                    }
                    self.login_fault()?;
                    self.tagged_ok(&tag)?;
                }
                "SELECT" | "EXAMINE" => {
                    let exists = match self.fault {
                        ImapFault::Exists(n) => n,
                        _ => self.messages.len(),
                    };
                    let n = self.messages.len();
                    self.w(format!(
                        "* {exists} EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n\
                             * OK [UIDVALIDITY 42] UIDs valid\r\n* OK [UIDNEXT {}] next\r\n",
                        n + 1
                    )
                    .as_bytes())?;
                    let ro = if verb == "EXAMINE" {
                        "[READ-ONLY]"
                    } else {
                        "[READ-WRITE]"
                    };
                    self.w(format!("{tag} OK {ro} done\r\n").as_bytes())?;
                }
                "LIST" | "LSUB" => {
                    self.w(b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n")?;
                    self.tagged_ok(&tag)?;
                }
                "LOGOUT" => {
                    self.w(b"* BYE bye\r\n")?;
                    self.tagged_ok(&tag)?;
                    return Ok(());
                }
                "UID" if upper.starts_with("UID FETCH") => {
                    let set = rest.split(' ').nth(2).unwrap_or("").to_string();
                    if upper.contains("RFC822.SIZE") && !upper.contains("BODY") {
                        self.listing(&set)?;
                    } else if let Some(range) = upper
                        .split_once("BODY.PEEK[]<")
                        .and_then(|(_, r)| r.split_once('>'))
                        .and_then(|(r, _)| r.split_once('.'))
                    {
                        let offset: usize = range.0.parse().unwrap_or(0);
                        let len: usize = range.1.parse().unwrap_or(0);
                        self.piece(&set, offset, len)?;
                    } else if upper.contains("BODY.PEEK[]") || upper.contains("BODY[]") {
                        self.bodies(&set)?;
                    } else if upper.contains("(UID)") {
                        for u in uid_set(&set, self.messages.len()) {
                            self.w(format!("* {u} FETCH (UID {u})\r\n").as_bytes())?;
                        }
                    }
                    self.tagged_ok(&tag)?;
                }
                "UID" if upper.starts_with("UID SEARCH") => {
                    self.w(b"* SEARCH\r\n")?;
                    self.tagged_ok(&tag)?;
                }
                _ => self.tagged_ok(&tag)?,
            }
            self.out.flush()?;
        }
    }

    fn login_fault(&mut self) -> std::io::Result<()> {
        if let ImapFault::LoginLiteral(n) = self.fault {
            self.w(format!("* 1 FETCH (UID 1 BODY[] {{{n}}}\r\nabc").as_bytes())?;
            self.out.flush()?;
            std::thread::sleep(Duration::from_secs(2));
            self.w(b")\r\n")?;
        }
        Ok(())
    }

    /// `UID FETCH set (UID RFC822.SIZE FLAGS INTERNALDATE)`.
    fn listing(&mut self, set: &str) -> std::io::Result<()> {
        for u in uid_set(set, self.messages.len()) {
            let size = match self.fault {
                ImapFault::TinySize if u == 2 => 100,
                ImapFault::HugeSize if u == 2 => 4_000_000_000,
                _ => wire(&self.messages[u - 1]).len(),
            };
            let uid = match self.fault {
                ImapFault::DuplicateUid if u == 2 => 1,
                _ => u,
            };
            let mut line =
                format!("* {u} FETCH (UID {uid} RFC822.SIZE {size} FLAGS (").into_bytes();
            match self.fault {
                ImapFault::EndlessListing => {
                    self.w(&line)?;
                    return self.endless(b"\\Flagged ", ENDLESS);
                }
                ImapFault::Utf8Flag => line.extend_from_slice(b"\\Seen k\xff\xfe\xc3\x28"),
                _ => line.extend_from_slice(b"\\Seen"),
            }
            line.extend_from_slice(b") INTERNALDATE \"02-Dec-2026 06:00:00 +0000\")\r\n");
            self.w(&line)?;
        }
        Ok(())
    }

    /// `UID FETCH set (UID BODY.PEEK[]<offset.len>)`: that piece of each message.
    fn piece(&mut self, set: &str, offset: usize, len: usize) -> std::io::Result<()> {
        for u in uid_set(set, self.messages.len()) {
            let body = wire(&self.messages[u - 1]);
            let part = &body[offset.min(body.len())..(offset + len).min(body.len())];
            let head = format!(
                "* {u} FETCH (UID {u} BODY[]<{offset}> {{{}}}\r\n",
                part.len()
            );
            self.w(head.as_bytes())?;
            self.w(part)?;
            self.w(b")\r\n")?;
        }
        Ok(())
    }

    /// `UID FETCH set (UID BODY.PEEK[])`.
    fn bodies(&mut self, set: &str) -> std::io::Result<()> {
        for u in uid_set(set, self.messages.len()) {
            let body = wire(&self.messages[u - 1]);
            let uid = match self.fault {
                ImapFault::WrongUid => u + 100,
                _ => u,
            };
            if let ImapFault::Literal(n) = self.fault {
                if u == 1 {
                    self.w(format!("* {u} FETCH (UID {uid} BODY[] {{{n}}}\r\nabc").as_bytes())?;
                    self.out.flush()?;
                    std::thread::sleep(Duration::from_secs(2));
                    return self.w(b")\r\n");
                }
            }
            self.w(format!("* {u} FETCH (UID {uid} BODY[] {{{}}}\r\n", body.len()).as_bytes())?;
            self.w(&body)?;
            if self.fault == ImapFault::EndlessAfterLiteral {
                return self.endless(b" FLAGS", ENDLESS);
            }
            self.w(b")\r\n")?;
        }
        Ok(())
    }
}
