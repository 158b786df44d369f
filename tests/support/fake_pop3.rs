//! A scripted fake POP3 server for what a real server will not do: drop the connection in the
//! middle of a message, stall, answer garbage, send an endless line, list duplicate UIDLs.
//!
//! Std only. It listens on 127.0.0.1 (a free port) and serves every connection in its own
//! thread with a [`Script`]: which capabilities CAPA lists and which [`Fault`] to commit. The
//! mailbox outlives connections and behaves like RFC 1939 says: DELE only marks a message,
//! and the marks take effect when the session ends with QUIT (the UPDATE state); a session
//! that ends any other way deletes nothing.
//!
//! Every line the client sends is logged as it arrives (by a reader thread, so commands
//! pipelined behind an unanswered one are logged before the server answers), and so is the
//! moment the server starts each reply. From that log a test can tell what was sent (was there
//! a DELE? a PASS?) and how many commands were outstanding at once (lock-step or pipelined).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a session waits for the client before giving up on it.
const CLIENT_IDLE: Duration = Duration::from_secs(30);

/// One message in the mailbox.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Its unique-id in UIDL.
    pub uidl: String,
    /// Its text with LF line ends, as a local store keeps it.
    pub text: Vec<u8>,
}

impl Mail {
    /// A message with unique-id `uidl` and LF-terminated `text`.
    pub fn new(uidl: &str, text: &[u8]) -> Mail {
        Mail {
            uidl: uidl.to_string(),
            text: text.to_vec(),
        }
    }

    /// The message with CRLF line ends: what RETR carries before dot-stuffing, and what LIST
    /// and STAT count.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + self.text.len() / 20);
        for line in self.text.split_inclusive(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// The RETR payload: dot-stuffed wire form, without the terminating `.` line.
    fn stuffed(&self) -> Vec<u8> {
        let wire = self.wire();
        let mut out = Vec::with_capacity(wire.len() + 64);
        for line in wire.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        out
    }
}

/// A way for the server to misbehave, in one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Behave.
    #[default]
    None,
    /// Greet like an SMTP server: a line that is neither `+OK` nor `-ERR`.
    GarbageGreeting,
    /// Greet with `+OK ` followed by this many bytes and no line end.
    EndlessGreeting(usize),
    /// Answer PASS with `-ERR` and this text (e.g. `[AUTH] ...`, `[IN-USE] ...`).
    RefusePass(String),
    /// Send the first half of message N, then close the connection.
    DisconnectMidRetr(u32),
    /// Answer the command line given (`RETR 2`, `UIDL`, `QUIT`) with `-ERR` and this text
    /// (e.g. `[SYS/TEMP] ...`). After QUIT the connection is closed, deleting nothing.
    ErrOn(String, String),
    /// Answer RETR N with a line that is neither `+OK` nor `-ERR`.
    GarbageOnRetr(u32),
    /// Answer RETR N with `+OK`, then this many bytes without a line end (whatever LIST said).
    EndlessRetr(u32, usize),
    /// Send the first half of message N, then go silent until the client gives up.
    StallMidRetr(u32),
    /// List message 2 in UIDL with the unique-id of message 1.
    DuplicateUidl,
    /// Number the last UIDL line one beyond the message count STAT gave.
    UidlBeyondStat,
    /// Close the connection, unanswered, on the first DELE.
    DropOnDele,
    /// Close the connection, unanswered, on QUIT (so no deletion takes effect).
    DropOnQuit,
    /// Report this text as every message's size in LIST (e.g. `10`, `-5`, a number of 30
    /// digits); RETR still sends the real message.
    ListSize(String),
    /// Answer STAT with `+OK COUNT SIZE`, this text for COUNT (the listings stay true).
    StatCount(String),
    /// Give message 1 a unique-id of this many bytes in UIDL.
    LongUidl(usize),
    /// Put bytes that are not UTF-8 (and not printable ASCII) into message 1's unique-id.
    InvalidUtf8Uidl,
    /// Greet with `+OK` and text that is not UTF-8.
    InvalidUtf8Greeting,
    /// Answer RETR N with `-ERR` and text that is not UTF-8.
    InvalidUtf8ErrOnRetr(u32),
    /// Answer RETR N with `+OK`, then this many bytes of well-formed 70-byte lines, never
    /// the terminating `.` line (whatever LIST said).
    EndlessLinesRetr(u32, usize),
}

/// How the server behaves in the sessions it accepts.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// CAPA lists PIPELINING.
    pub pipelining: bool,
    /// CAPA lists `SASL PLAIN` (and AUTH PLAIN is accepted).
    pub sasl_plain: bool,
    /// Hold the reply to the first RETR until a second RETR has arrived (at most 1 s), so a
    /// pipelining client is seen to pipeline however the threads are scheduled.
    pub hold_first_retr: bool,
    /// Hold the reply to RETR N for this long.
    pub slow_retr: Option<(u32, Duration)>,
    /// The misbehaviour.
    pub fault: Fault,
    /// Bearer-token logins (AUTH XOAUTH2 / OAUTHBEARER), for OAuth2 tests.
    pub bearer: Option<Bearer>,
}

/// How the server takes bearer-token logins: which SASL mechanisms CAPA lists, and which
/// tokens it accepts (a fake OAuth2 provider's judgement, see `fake_oauth`).
#[derive(Clone)]
pub struct Bearer {
    /// `XOAUTH2`, `OAUTHBEARER`.
    pub mechanisms: Vec<&'static str>,
    /// Whether `(user, token)` may log in.
    pub accept: super::fake_oauth::TokenCheck,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bearer({:?})", self.mechanisms)
    }
}

/// A bearer-token login as the server saw it (the SASL payload taken apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerLogin {
    /// The mechanism named in AUTH.
    pub mechanism: String,
    /// Whether the initial response came with the AUTH command.
    pub initial_response: bool,
    /// The user in the payload.
    pub user: String,
    /// The token in the payload.
    pub token: String,
    /// Whether the server accepted it.
    pub accepted: bool,
}

/// What happened on the wire, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The client sent this line (CRLF removed) in session N.
    Received(usize, String),
    /// The server started its reply to this command line in session N.
    Replying(usize, String),
}

struct Shared {
    mailbox: Mutex<Vec<Mail>>,
    script: Mutex<Script>,
    log: Mutex<Vec<Event>>,
    bearer_logins: Mutex<Vec<BearerLogin>>,
    /// Per session (index = session - 1): the unique-ids of messages 1, 2, ... in it.
    snapshots: Mutex<Vec<Vec<String>>>,
    active: Mutex<usize>,
    idle: Condvar,
    fault_bytes: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn log(&self, event: Event) {
        self.log.lock().unwrap().push(event);
    }
}

/// A running fake server; stops accepting when dropped.
pub struct FakePop3 {
    port: u16,
    shared: Arc<Shared>,
}

impl FakePop3 {
    /// Serve `mailbox` with `script` on a free loopback port.
    pub fn start(mailbox: Vec<Mail>, script: Script) -> FakePop3 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake POP3 server");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            mailbox: Mutex::new(mailbox),
            script: Mutex::new(script),
            log: Mutex::new(Vec::new()),
            bearer_logins: Mutex::new(Vec::new()),
            snapshots: Mutex::new(Vec::new()),
            active: Mutex::new(0),
            idle: Condvar::new(),
            fault_bytes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let acceptor = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if acceptor.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                // Counted here, before the client can see a greeting, so that a client that
                // got one is always waited for by `wait_idle`.
                *acceptor.active.lock().unwrap() += 1;
                let id = {
                    let mut snaps = acceptor.snapshots.lock().unwrap();
                    let mailbox = acceptor.mailbox.lock().unwrap();
                    snaps.push(mailbox.iter().map(|m| m.uidl.clone()).collect());
                    snaps.len()
                };
                let shared = Arc::clone(&acceptor);
                thread::spawn(move || serve(shared, stream, id));
            }
        });
        FakePop3 { port, shared }
    }

    /// The port to connect to on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Behave according to `script` from the next connection on.
    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().unwrap() = script;
    }

    /// Wait until every session has ended and its every line is logged.
    fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut active = self.shared.active.lock().unwrap();
        while *active > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the fake POP3 server still has a session open"
            );
            active = self.shared.idle.wait_timeout(active, left).unwrap().0;
        }
    }

    /// Everything that happened, once every session has ended.
    pub fn events(&self) -> Vec<Event> {
        self.wait_idle();
        self.shared.log.lock().unwrap().clone()
    }

    /// How many sessions were accepted.
    pub fn sessions(&self) -> usize {
        self.wait_idle();
        self.shared.snapshots.lock().unwrap().len()
    }

    /// The lines the client sent in `session` (1 is the first).
    pub fn commands(&self, session: usize) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Received(s, line) if s == session => Some(line),
                _ => None,
            })
            .collect()
    }

    /// The lines the client sent in every session.
    pub fn all_commands(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Received(_, line) => Some(line),
                _ => None,
            })
            .collect()
    }

    /// The unique-ids of the messages named by `verb N` commands (RETR, DELE) in `session`.
    pub fn uidls_named(&self, session: usize, verb: &str) -> Vec<String> {
        let snapshot = self.shared.snapshots.lock().unwrap()[session - 1].clone();
        self.commands(session)
            .iter()
            .filter_map(|line| {
                let (v, arg) = line.split_once(' ')?;
                let n: usize = arg.trim().parse().ok()?;
                (v.eq_ignore_ascii_case(verb)).then(|| snapshot[n - 1].clone())
            })
            .collect()
    }

    /// The unique-ids still in the mailbox.
    pub fn uidls(&self) -> Vec<String> {
        self.wait_idle();
        let mailbox = self.shared.mailbox.lock().unwrap();
        mailbox.iter().map(|m| m.uidl.clone()).collect()
    }

    /// The most commands the client had sent and not yet seen answered, in `session`. A
    /// reply is counted from the moment the server starts it, so a lock-step client, which
    /// waits for the whole reply, never shows more than 1.
    pub fn max_outstanding(&self, session: usize) -> usize {
        let (mut now, mut max) = (0usize, 0usize);
        for event in self.events() {
            match event {
                Event::Received(s, _) if s == session => {
                    now += 1;
                    max = max.max(now);
                }
                Event::Replying(s, _) if s == session => now = now.saturating_sub(1),
                _ => {}
            }
        }
        max
    }

    /// How many `verb` commands had arrived in `session` before the reply to the first began.
    pub fn received_before_first_reply(&self, session: usize, verb: &str) -> usize {
        let is = |line: &str| line.split(' ').next() == Some(verb);
        let mut n = 0;
        for event in self.events() {
            match event {
                Event::Received(s, line) if s == session && is(&line) => n += 1,
                Event::Replying(s, line) if s == session && is(&line) => return n,
                _ => {}
            }
        }
        n
    }

    /// The bearer-token logins tried, in order.
    pub fn bearer_logins(&self) -> Vec<BearerLogin> {
        self.wait_idle();
        self.shared.bearer_logins.lock().unwrap().clone()
    }

    /// The bytes the server managed to hand to the kernel for an endless line fault.
    pub fn endless_bytes_sent(&self) -> u64 {
        self.wait_idle();
        self.shared.fault_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for FakePop3 {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serve one connection, then wait for the client to close its side so that every line it
/// sent is in the log.
fn serve(shared: Arc<Shared>, stream: TcpStream, id: usize) {
    let script = shared.script.lock().unwrap().clone();
    let _ = stream.set_write_timeout(Some(CLIENT_IDLE));
    let (tx, rx) = mpsc::channel();
    let reader = stream.try_clone().map(|input| {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            let _ = input.set_read_timeout(Some(CLIENT_IDLE));
            let mut input = BufReader::new(input);
            loop {
                let mut line = Vec::new();
                match input.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                shared.log(Event::Received(id, text.clone()));
                // After the session has ended, keep reading: the log wants every line.
                let _ = tx.send(text);
            }
        })
    });
    let mailbox = shared.mailbox.lock().unwrap().clone();
    let mut session = Session {
        shared: Arc::clone(&shared),
        id,
        script,
        out: stream,
        rx,
        deleted: vec![false; mailbox.len()],
        mailbox,
        authorized: false,
        retrs: 0,
    };
    let _ = session.run();
    let _ = session.out.flush();
    let _ = session.out.shutdown(Shutdown::Write);
    drop(session);
    if let Ok(reader) = reader {
        let _ = reader.join();
    }
    let mut active = shared.active.lock().unwrap();
    *active -= 1;
    shared.idle.notify_all();
}

/// One POP3 session (RFC 1939 sections 4 to 6).
struct Session {
    shared: Arc<Shared>,
    id: usize,
    script: Script,
    out: TcpStream,
    rx: Receiver<String>,
    mailbox: Vec<Mail>,
    deleted: Vec<bool>,
    authorized: bool,
    retrs: usize,
}

/// Whether the session goes on after a command.
enum Next {
    Continue,
    Close,
}

impl Session {
    fn run(&mut self) -> io::Result<()> {
        match self.script.fault.clone() {
            Fault::GarbageGreeting => {
                return self.write(b"220 mail.example.com ESMTP Postfix\r\n");
            }
            Fault::EndlessGreeting(bytes) => {
                self.write(b"+OK ")?;
                return self.endless(bytes);
            }
            Fault::InvalidUtf8Greeting => {
                self.write(b"+OK \xff\xfe fake \xc3\x28 POP3 \xed\xa0\x80 ready\r\n")?
            }
            _ => self.write(b"+OK fake POP3 server ready\r\n")?,
        }
        loop {
            let line = match self.rx.recv_timeout(CLIENT_IDLE) {
                Ok(line) => line,
                Err(_) => return Ok(()),
            };
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                None => (line.to_ascii_uppercase(), String::new()),
            };
            if verb == "RETR" {
                self.retrs += 1;
                if self.script.hold_first_retr && self.retrs == 1 {
                    self.wait_for_second_retr();
                }
            }
            self.shared.log(Event::Replying(self.id, line.clone()));
            if let Fault::ErrOn(command, text) = &self.script.fault {
                if line.eq_ignore_ascii_case(command) {
                    let reply = format!("-ERR {text}\r\n");
                    self.write(reply.as_bytes())?;
                    if verb == "QUIT" {
                        return Ok(());
                    }
                    continue;
                }
            }
            if let Next::Close = self.command(&verb, &arg)? {
                return Ok(());
            }
        }
    }

    fn command(&mut self, verb: &str, arg: &str) -> io::Result<Next> {
        match verb {
            "CAPA" => {
                let mut capa =
                    String::from("+OK capability list follows\r\nUSER\r\nUIDL\r\nTOP\r\n");
                if self.script.pipelining {
                    capa.push_str("PIPELINING\r\n");
                }
                let mut sasl: Vec<&str> = Vec::new();
                if self.script.sasl_plain {
                    sasl.push("PLAIN");
                }
                if let Some(bearer) = &self.script.bearer {
                    sasl.extend(&bearer.mechanisms);
                }
                if !sasl.is_empty() {
                    capa.push_str(&format!("SASL {}\r\n", sasl.join(" ")));
                }
                capa.push_str(".\r\n");
                self.write(capa.as_bytes())?;
            }
            "USER" if !self.authorized => self.write(b"+OK send PASS\r\n")?,
            "PASS" if !self.authorized => {
                if let Fault::RefusePass(text) = &self.script.fault {
                    let reply = format!("-ERR {text}\r\n");
                    self.write(reply.as_bytes())?;
                } else {
                    self.authorized = true;
                    self.write(b"+OK logged in\r\n")?;
                }
            }
            "AUTH" if !self.authorized && self.bearer_mechanism(arg) => {
                return self.auth_bearer(arg)
            }
            "AUTH" if !self.authorized && self.script.sasl_plain => {
                self.authorized = true;
                self.write(b"+OK logged in\r\n")?;
            }
            "QUIT" => return self.quit(),
            _ if !self.authorized => self.write(b"-ERR log in first\r\n")?,
            "NOOP" => self.write(b"+OK\r\n")?,
            "STAT" => {
                let (count, size) = self
                    .live()
                    .fold((0, 0), |(c, s), (_, m)| (c + 1, s + m.wire().len()));
                let count = match &self.script.fault {
                    Fault::StatCount(text) => text.clone(),
                    _ => count.to_string(),
                };
                self.write(format!("+OK {count} {size}\r\n").as_bytes())?;
            }
            "UIDL" if arg.is_empty() => self.uidl_listing()?,
            "LIST" if arg.is_empty() => {
                let mut reply = String::from("+OK scan listing follows\r\n");
                for (n, m) in self.live() {
                    match &self.script.fault {
                        Fault::ListSize(size) => reply.push_str(&format!("{n} {size}\r\n")),
                        _ => reply.push_str(&format!("{n} {}\r\n", m.wire().len())),
                    }
                }
                reply.push_str(".\r\n");
                self.write(reply.as_bytes())?;
            }
            // RFC 1939: `LIST msg`, one scan line.
            "LIST" => match self.number(arg) {
                Some(i) => {
                    let size = match &self.script.fault {
                        Fault::ListSize(size) => size.clone(),
                        _ => self.mailbox[i].wire().len().to_string(),
                    };
                    self.write(format!("+OK {} {size}\r\n", i + 1).as_bytes())?;
                }
                None => self.write(b"-ERR no such message\r\n")?,
            },
            "RETR" => return self.retr(arg),
            "DELE" => {
                if self.script.fault == Fault::DropOnDele {
                    return Ok(Next::Close);
                }
                match self.number(arg) {
                    Some(i) => {
                        self.deleted[i] = true;
                        self.write(b"+OK marked\r\n")?;
                    }
                    None => self.write(b"-ERR no such message\r\n")?,
                }
            }
            "RSET" => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                self.write(b"+OK\r\n")?;
            }
            _ => self.write(b"-ERR unknown command\r\n")?,
        }
        Ok(Next::Continue)
    }

    /// Whether `AUTH arg` names a bearer-token mechanism this server takes.
    fn bearer_mechanism(&self, arg: &str) -> bool {
        let mech = arg.split(' ').next().unwrap_or("").to_ascii_uppercase();
        matches!(mech.as_str(), "XOAUTH2" | "OAUTHBEARER") && self.script.bearer.is_some()
    }

    /// RFC 5034 AUTH with XOAUTH2 or OAUTHBEARER (RFC 7628): take the payload apart, judge
    /// the token; a refusal is the mechanism's error challenge, answered by the client with
    /// an empty line, then -ERR.
    fn auth_bearer(&mut self, arg: &str) -> io::Result<Next> {
        use base64::Engine;
        let bearer = self.script.bearer.clone().expect("checked");
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, ir)) => (m.to_ascii_uppercase(), Some(ir.to_string())),
            None => (arg.to_ascii_uppercase(), None),
        };
        let initial_response = initial.is_some();
        let encoded = match initial {
            Some(ir) => ir,
            None => {
                self.write(b"+ \r\n")?;
                match self.rx.recv_timeout(CLIENT_IDLE) {
                    Ok(line) => line,
                    Err(_) => return Ok(Next::Close),
                }
            }
        };
        let payload = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default();
        let user = if mechanism == "XOAUTH2" {
            payload
                .strip_prefix("user=")
                .and_then(|r| r.split('\x01').next())
        } else {
            payload.split(',').find_map(|p| p.strip_prefix("a="))
        }
        .unwrap_or("")
        .to_string();
        let token = payload
            .split('\x01')
            .find_map(|p| p.strip_prefix("auth=Bearer "))
            .unwrap_or("")
            .to_string();
        let accepted =
            bearer.mechanisms.contains(&mechanism.as_str()) && (bearer.accept)(&user, &token);
        self.shared.bearer_logins.lock().unwrap().push(BearerLogin {
            mechanism,
            initial_response,
            user,
            token,
            accepted,
        });
        if accepted {
            self.authorized = true;
            self.write(b"+OK logged in\r\n")?;
        } else {
            // {"status":"401","schemes":"bearer"}
            self.write(b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n")?;
            let _ = self.rx.recv_timeout(CLIENT_IDLE);
            self.write(b"-ERR [AUTH] bearer token refused\r\n")?;
        }
        Ok(Next::Continue)
    }

    /// The messages not marked deleted, with their numbers.
    fn live(&self) -> impl Iterator<Item = (usize, &Mail)> {
        self.mailbox
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.deleted[*i])
            .map(|(i, m)| (i + 1, m))
    }

    /// The index of live message number `arg`.
    fn number(&self, arg: &str) -> Option<usize> {
        let n: usize = arg.parse().ok()?;
        (n >= 1 && n <= self.mailbox.len() && !self.deleted[n - 1]).then_some(n - 1)
    }

    fn uidl_listing(&mut self) -> io::Result<()> {
        let mut lines: Vec<(usize, String)> =
            self.live().map(|(n, m)| (n, m.uidl.clone())).collect();
        match self.script.fault {
            Fault::LongUidl(len) if !lines.is_empty() => lines[0].1 = "u".repeat(len),
            Fault::DuplicateUidl if lines.len() >= 2 => lines[1].1 = lines[0].1.clone(),
            Fault::UidlBeyondStat => {
                let count = lines.len();
                if let Some(last) = lines.last_mut() {
                    last.0 = count + 1;
                }
            }
            _ => {}
        }
        let mut reply = b"+OK unique-id listing follows\r\n".to_vec();
        for (i, (n, uidl)) in lines.into_iter().enumerate() {
            reply.extend_from_slice(format!("{n} {uidl}").as_bytes());
            if i == 0 && self.script.fault == Fault::InvalidUtf8Uidl {
                reply.extend_from_slice(b"\xff\xfe\xc3\x28");
            }
            reply.extend_from_slice(b"\r\n");
        }
        reply.extend_from_slice(b".\r\n");
        self.write(&reply)
    }

    fn retr(&mut self, arg: &str) -> io::Result<Next> {
        let Some(i) = self.number(arg) else {
            self.write(b"-ERR no such message\r\n")?;
            return Ok(Next::Continue);
        };
        let number = i as u32 + 1;
        if let Some((n, delay)) = self.script.slow_retr {
            if n == number {
                thread::sleep(delay);
            }
        }
        let payload = self.mailbox[i].stuffed();
        let ok = format!("+OK {} octets\r\n", self.mailbox[i].wire().len());
        let half = &payload[..payload.len() / 2];
        match self.script.fault.clone() {
            Fault::GarbageOnRetr(n) if n == number => self.write(b"* 1 FETCH (BODY[] {42}\r\n")?,
            Fault::DisconnectMidRetr(n) if n == number => {
                self.write(ok.as_bytes())?;
                self.write(half)?;
                return Ok(Next::Close);
            }
            Fault::StallMidRetr(n) if n == number => {
                self.write(ok.as_bytes())?;
                self.write(half)?;
                // Silent until the client hangs up (its reader thread sees EOF).
                while !matches!(
                    self.rx.recv_timeout(CLIENT_IDLE),
                    Err(RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout)
                ) {}
                return Ok(Next::Close);
            }
            Fault::EndlessRetr(n, bytes) if n == number => {
                self.write(ok.as_bytes())?;
                self.endless(bytes)?;
                return Ok(Next::Close);
            }
            Fault::EndlessLinesRetr(n, bytes) if n == number => {
                self.write(ok.as_bytes())?;
                self.endless_lines(bytes)?;
                return Ok(Next::Close);
            }
            Fault::InvalidUtf8ErrOnRetr(n) if n == number => {
                self.write(b"-ERR \xff\xfe message \xc3\x28 unavailable\r\n")?
            }
            _ => {
                let mut reply = ok.into_bytes();
                reply.extend_from_slice(&payload);
                reply.extend_from_slice(b".\r\n");
                self.write(&reply)?;
            }
        }
        Ok(Next::Continue)
    }

    /// Wait (at most 1 s) until a second RETR has arrived in this session.
    fn wait_for_second_retr(&self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let retrs = self
                .shared
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|e| matches!(e, Event::Received(s, l) if *s == self.id && l.starts_with("RETR")))
                .count();
            if retrs >= 2 {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// RFC 1939 section 6: QUIT enters the UPDATE state, where the marks take effect.
    fn quit(&mut self) -> io::Result<Next> {
        if self.script.fault == Fault::DropOnQuit {
            return Ok(Next::Close);
        }
        if self.authorized {
            let gone: Vec<&str> = self
                .mailbox
                .iter()
                .zip(&self.deleted)
                .filter(|(_, &d)| d)
                .map(|(m, _)| m.uidl.as_str())
                .collect();
            self.shared
                .mailbox
                .lock()
                .unwrap()
                .retain(|m| !gone.contains(&m.uidl.as_str()));
        }
        self.write(b"+OK bye\r\n")?;
        Ok(Next::Close)
    }

    /// Send `bytes` bytes of `x` without a line end, counting what the kernel accepted.
    fn endless(&mut self, bytes: usize) -> io::Result<()> {
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            self.out.write_all(&chunk[..n])?;
            self.shared
                .fault_bytes
                .fetch_add(n as u64, Ordering::SeqCst);
            left -= n;
        }
        Ok(())
    }

    /// Send `bytes` bytes of 70-byte CRLF lines (never a lone `.`), counted like `endless`.
    fn endless_lines(&mut self, bytes: usize) -> io::Result<()> {
        let line = format!("{}\r\n", "y".repeat(68));
        let chunk = line.repeat(64 * 1024 / line.len()).into_bytes();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            self.out.write_all(&chunk[..n])?;
            self.shared
                .fault_bytes
                .fetch_add(n as u64, Ordering::SeqCst);
            left -= n;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }
}
