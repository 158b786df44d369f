//! A scripted fake IMAP server for providers no local server shows, std only, put behind
//! [`super::tls::TlsFront`] by the tests as the other fakes are.
//!
//! Gmail, as Google documents it (developers.google.com/gmail/imap/imap-extensions): one
//! store of messages with labels, each label shown as a folder (a message with three labels
//! is in three folders, each with its own UID, under one X-GM-MSGID); `[Gmail]/All Mail`
//! (`\All`) holds every message but Spam (`\Junk`) and Trash (`\Trash`); CAPABILITY offers
//! X-GM-EXT-1; LIST carries the RFC 6154 special-use attributes; FETCH answers X-GM-MSGID and
//! X-GM-LABELS. UIDs are given per folder the first time a message is seen there, so a label
//! added later gets the message a new UID in that folder only.
//!
//! [`Quirks`] script what other providers do: NetEase (163.com, 126.com) refuses SELECT
//! with `NO SELECT Unsafe Login` until the client has sent ID (RFC 2971), whether or not it
//! offers ID; Office 365 ends busy sessions with `* BYE` in the middle of a fetch.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The user and password the fake accepts.
pub const USER: &str = "me@gmail.com";
/// The password the fake accepts.
pub const PASSWORD: &str = "app-password";

/// One message of the store.
#[derive(Clone, Debug)]
pub struct Message {
    /// X-GM-MSGID.
    pub msgid: u64,
    /// The message, CRLF line ends, as the server holds it.
    pub body: Vec<u8>,
    /// Labels as on the wire (modified UTF-7): `\Inbox`, `\Sent`, `\Important`, `\Starred`,
    /// or user labels such as `Work`.
    pub labels: Vec<String>,
    /// In Spam (then in no other folder).
    pub spam: bool,
    /// In Trash (then in no other folder).
    pub trash: bool,
}

impl Message {
    /// A message with `labels`, neither spam nor trash.
    pub fn new(msgid: u64, body: &[u8], labels: &[&str]) -> Message {
        Message {
            msgid,
            body: body.to_vec(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            spam: false,
            trash: false,
        }
    }
}

/// What a provider does beside Gmail's model.
#[derive(Clone, Debug, Default)]
pub struct Quirks {
    /// Offer X-GM-EXT-1 (Gmail); without it the server shows the folders and no extension.
    pub gmail: bool,
    /// NetEase: SELECT and EXAMINE answer `NO SELECT Unsafe Login...` until ID was sent.
    pub require_id: bool,
    /// Whether ID is in CAPABILITY.
    pub advertise_id: bool,
    /// With `require_id`: SELECT stays refused even after ID (an account whose IMAP access
    /// is off).
    pub id_does_not_help: bool,
    /// Office 365: end the session with `* BYE` after this many message bodies were sent in
    /// it, once per server.
    pub bye_after_bodies: Option<usize>,
    /// Office 365: answer this many body fetches `NO [THROTTLED] ... Suggested Backoff Time`.
    pub throttled_fetches: usize,
    /// Office 365: answer this many SELECTs and EXAMINEs `NO [UNAVAILABLE]`.
    pub unavailable_selects: usize,
    /// A server at its connection limit: answer this many logins `NO [LIMIT] Too many
    /// simultaneous connections`, suggesting a wait of 300 ms.
    pub busy_logins: usize,
}

impl Quirks {
    /// Gmail as Google documents it.
    pub fn gmail() -> Quirks {
        Quirks {
            gmail: true,
            advertise_id: true,
            ..Quirks::default()
        }
    }
}

/// A folder as listed.
struct FolderDef {
    wire: &'static str,
    attributes: &'static str,
    /// Which messages it shows.
    holds: fn(&Message) -> bool,
}

fn user_label(m: &Message, label: &str) -> bool {
    !m.spam && !m.trash && m.labels.iter().any(|l| l == label)
}

/// Gmail's folders: system ones with their special-use attributes, and the user labels
/// `Work` and `Receipts`.
const FOLDERS: &[FolderDef] = &[
    FolderDef {
        wire: "INBOX",
        attributes: "\\HasNoChildren",
        holds: |m| user_label(m, "\\Inbox"),
    },
    FolderDef {
        wire: "Receipts",
        attributes: "\\HasNoChildren",
        holds: |m| user_label(m, "Receipts"),
    },
    FolderDef {
        wire: "Work",
        attributes: "\\HasNoChildren",
        holds: |m| user_label(m, "Work"),
    },
    FolderDef {
        wire: "[Gmail]",
        attributes: "\\HasChildren \\Noselect",
        holds: |_| false,
    },
    FolderDef {
        wire: "[Gmail]/All Mail",
        attributes: "\\All \\HasNoChildren",
        holds: |m| !m.spam && !m.trash,
    },
    FolderDef {
        wire: "[Gmail]/Drafts",
        attributes: "\\Drafts \\HasNoChildren",
        holds: |m| user_label(m, "\\Draft"),
    },
    FolderDef {
        wire: "[Gmail]/Important",
        attributes: "\\HasNoChildren \\Important",
        holds: |m| user_label(m, "\\Important"),
    },
    FolderDef {
        wire: "[Gmail]/Sent Mail",
        attributes: "\\HasNoChildren \\Sent",
        holds: |m| user_label(m, "\\Sent"),
    },
    FolderDef {
        wire: "[Gmail]/Spam",
        attributes: "\\HasNoChildren \\Junk",
        holds: |m| m.spam,
    },
    FolderDef {
        wire: "[Gmail]/Starred",
        attributes: "\\Flagged \\HasNoChildren",
        holds: |m| user_label(m, "\\Starred"),
    },
    FolderDef {
        wire: "[Gmail]/Trash",
        attributes: "\\HasNoChildren \\Trash",
        holds: |m| m.trash,
    },
];

/// The store and what clients did.
#[derive(Default)]
struct Store {
    messages: Vec<Message>,
    /// UIDs by (folder, X-GM-MSGID).
    uids: HashMap<(&'static str, u64), u32>,
    uid_next: HashMap<&'static str, u32>,
    /// Every command line received, in order.
    commands: Vec<String>,
    /// Whether the BYE quirk fired.
    bye_sent: bool,
    /// Fetches and selects refused so far by the throttling quirks.
    throttled: usize,
    unavailable: usize,
    busy: usize,
}

impl Store {
    /// The messages `folder` shows, with their UIDs, in UID order (message number order),
    /// giving UIDs to those seen there the first time.
    fn view(&mut self, folder: &'static FolderDef) -> Vec<(u32, Message)> {
        let mut out = Vec::new();
        for m in self.messages.iter().filter(|m| (folder.holds)(m)) {
            let next = self.uid_next.entry(folder.wire).or_insert(1);
            let uid = *self.uids.entry((folder.wire, m.msgid)).or_insert_with(|| {
                *next += 1;
                *next - 1
            });
            out.push((uid, m.clone()));
        }
        out.sort_by_key(|(uid, _)| *uid);
        out
    }
}

/// A running fake.
pub struct FakeGmail {
    port: u16,
    store: Arc<Mutex<Store>>,
}

impl FakeGmail {
    /// Serve `messages` on a loopback port (plain text; put a TLS front before it).
    pub fn start(messages: Vec<Message>, quirks: Quirks) -> FakeGmail {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(Mutex::new(Store {
            messages,
            ..Store::default()
        }));
        let shared = store.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (store, quirks) = (shared.clone(), quirks.clone());
                thread::spawn(move || {
                    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = Session::new(client, store, quirks).serve();
                });
            }
        });
        FakeGmail { port, store }
    }

    /// The port (plain IMAP on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Add a message to the store (new mail, or a copy with new labels: the same X-GM-MSGID
    /// replaces the old one, keeping its UIDs in the folders it was in).
    pub fn put(&self, message: Message) {
        let mut store = self.store.lock().unwrap();
        match store.messages.iter_mut().find(|m| m.msgid == message.msgid) {
            Some(m) => *m = message,
            None => store.messages.push(message),
        }
    }

    /// Every command line received so far.
    pub fn commands(&self) -> Vec<String> {
        self.store.lock().unwrap().commands.clone()
    }

    /// Whether the BYE quirk fired.
    pub fn said_bye(&self) -> bool {
        self.store.lock().unwrap().bye_sent
    }
}

/// One client connection.
struct Session {
    reader: BufReader<TcpStream>,
    out: TcpStream,
    store: Arc<Mutex<Store>>,
    quirks: Quirks,
    logged_in: bool,
    sent_id: bool,
    /// The selected folder and its view.
    selected: Option<(&'static FolderDef, Vec<(u32, Message)>)>,
    bodies: usize,
}

type Io<T> = std::io::Result<T>;

impl Session {
    fn new(client: TcpStream, store: Arc<Mutex<Store>>, quirks: Quirks) -> Session {
        Session {
            out: client.try_clone().unwrap(),
            reader: BufReader::new(client),
            store,
            quirks,
            logged_in: false,
            sent_id: false,
            selected: None,
            bodies: 0,
        }
    }

    fn capabilities(&self) -> String {
        let mut caps = String::from("IMAP4rev1 UNSELECT NAMESPACE QUOTA CHILDREN");
        if self.quirks.advertise_id {
            caps.push_str(" ID");
        }
        if self.quirks.gmail {
            caps.push_str(" XLIST X-GM-EXT-1");
        }
        if self.logged_in {
            caps.push_str(" UIDPLUS MOVE SPECIAL-USE");
        } else {
            caps.push_str(" AUTH=PLAIN");
        }
        caps
    }

    fn send(&mut self, text: &str) -> Io<()> {
        self.out.write_all(text.as_bytes())
    }

    fn serve(mut self) -> Io<()> {
        self.send("* OK Gimap ready for requests from 127.0.0.1\r\n")?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            self.store.lock().unwrap().commands.push(line.clone());
            let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
            let verb = verb.to_ascii_uppercase();
            let tag = tag.to_string();
            match verb.as_str() {
                "CAPABILITY" => {
                    let caps = self.capabilities();
                    self.send(&format!("* CAPABILITY {caps}\r\n{tag} OK Success\r\n"))?;
                }
                "LOGIN" => {
                    let words = strings(args);
                    self.login(&tag, words.first(), words.get(1))?;
                }
                "AUTHENTICATE" => {
                    let mut parts = args.split(' ');
                    let _mechanism = parts.next();
                    let response = match parts.next() {
                        Some(r) => r.to_string(),
                        None => {
                            self.send("+ \r\n")?;
                            let mut next = String::new();
                            self.reader.read_line(&mut next)?;
                            next.trim_end().to_string()
                        }
                    };
                    let decoded = base64_decode(&response);
                    let fields: Vec<String> = decoded
                        .split(|&b| b == 0)
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    self.login(&tag, fields.get(1), fields.get(2))?;
                }
                "ID" => {
                    self.sent_id = true;
                    self.send(&format!(
                        "* ID (\"name\" \"GImap\" \"vendor\" \"Google, Inc.\")\r\n{tag} OK Success\r\n"
                    ))?;
                }
                "LOGOUT" => {
                    self.send(&format!(
                        "* BYE LOGOUT Requested\r\n{tag} OK 73 good day\r\n"
                    ))?;
                    return Ok(());
                }
                "NOOP" | "ENABLE" => self.send(&format!("{tag} OK Success\r\n"))?,
                _ if !self.logged_in => {
                    self.send(&format!("{tag} BAD Command not allowed now\r\n"))?
                }
                "LIST" => {
                    let mut text = String::new();
                    for f in FOLDERS {
                        text.push_str(&format!(
                            "* LIST ({}) \"/\" \"{}\"\r\n",
                            f.attributes, f.wire
                        ));
                    }
                    text.push_str(&format!("{tag} OK Success\r\n"));
                    self.send(&text)?;
                }
                "STATUS" => {
                    let name = strings(args).into_iter().next().unwrap_or_default();
                    match folder(&name) {
                        Some(f) => {
                            let n = self.store.lock().unwrap().view(f).len();
                            self.send(&format!(
                                "* STATUS \"{}\" (MESSAGES {n})\r\n{tag} OK Success\r\n",
                                f.wire
                            ))?;
                        }
                        None => {
                            self.send(&format!("{tag} NO [NONEXISTENT] Unknown Mailbox\r\n"))?
                        }
                    }
                }
                "SELECT" | "EXAMINE" => self.select(&tag, &verb, args)?,
                "UNSELECT" | "CLOSE" => {
                    self.selected = None;
                    self.send(&format!(
                        "{tag} OK Returned to authenticated state. (Success)\r\n"
                    ))?;
                }
                "UID" => {
                    let (command, rest) = args.split_once(' ').unwrap_or((args, ""));
                    match command.to_ascii_uppercase().as_str() {
                        "FETCH" => {
                            if !self.fetch(&tag, rest)? {
                                return Ok(());
                            }
                        }
                        "SEARCH" => self.search(&tag, rest)?,
                        _ => self.send(&format!("{tag} BAD Unknown command\r\n"))?,
                    }
                }
                _ => self.send(&format!("{tag} BAD Unknown command\r\n"))?,
            }
        }
    }

    fn login(&mut self, tag: &str, user: Option<&String>, password: Option<&String>) -> Io<()> {
        {
            let mut store = self.store.lock().unwrap();
            if store.busy < self.quirks.busy_logins {
                store.busy += 1;
                drop(store);
                return self.send(&format!(
                    "{tag} NO [LIMIT] Too many simultaneous connections. Suggested Backoff \
                     Time: 300 milliseconds\r\n"
                ));
            }
        }
        if user.map(String::as_str) == Some(USER) && password.map(String::as_str) == Some(PASSWORD)
        {
            self.logged_in = true;
            let caps = self.capabilities();
            self.send(&format!(
                "{tag} OK [CAPABILITY {caps}] {USER} authenticated (Success)\r\n"
            ))
        } else {
            self.send(&format!(
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n"
            ))
        }
    }

    fn select(&mut self, tag: &str, verb: &str, args: &str) -> Io<()> {
        self.selected = None;
        if self.quirks.require_id && (!self.sent_id || self.quirks.id_does_not_help) {
            return self.send(&format!(
                "{tag} NO {verb} Unsafe Login. Please contact kefu@188.com for help\r\n"
            ));
        }
        {
            let mut store = self.store.lock().unwrap();
            if store.unavailable < self.quirks.unavailable_selects {
                store.unavailable += 1;
                drop(store);
                return self.send(&format!(
                    "{tag} NO [UNAVAILABLE] Server Unavailable. 15\r\n"
                ));
            }
        }
        let name = strings(args).into_iter().next().unwrap_or_default();
        let Some(f) = folder(&name).filter(|f| !f.attributes.contains("Noselect")) else {
            return self.send(&format!(
                "{tag} NO [NONEXISTENT] Unknown Mailbox: {name}\r\n"
            ));
        };
        let mut store = self.store.lock().unwrap();
        let view = store.view(f);
        let uid_next = store.uid_next.get(f.wire).copied().unwrap_or(1);
        drop(store);
        let validity = 600 + FOLDERS.iter().position(|g| g.wire == f.wire).unwrap_or(0);
        let mode = if verb == "EXAMINE" {
            "READ-ONLY"
        } else {
            "READ-WRITE"
        };
        let text = format!(
            "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)\r\n\
             * OK [PERMANENTFLAGS ()] Flags permitted.\r\n\
             * OK [UIDVALIDITY {validity}] UIDs valid.\r\n\
             * {} EXISTS\r\n* 0 RECENT\r\n\
             * OK [UIDNEXT {uid_next}] Predicted next UID.\r\n\
             * OK [HIGHESTMODSEQ 4511]\r\n\
             {tag} OK [{mode}] {} selected. (Success)\r\n",
            view.len(),
            f.wire
        );
        self.selected = Some((f, view));
        self.send(&text)
    }

    /// `UID SEARCH n:m` (message numbers), `UID SEARCH UID a:b [DELETED]` or `ALL`.
    fn search(&mut self, tag: &str, args: &str) -> Io<()> {
        let Some((_, view)) = &self.selected else {
            return self.send(&format!("{tag} BAD No mailbox selected\r\n"));
        };
        let words: Vec<String> = args.split(' ').map(|w| w.to_ascii_uppercase()).collect();
        let max_uid = view.last().map_or(0, |(u, _)| *u);
        let found: Vec<u32> = if words.iter().any(|w| w == "DELETED") {
            Vec::new()
        } else if words.first().map(String::as_str) == Some("UID") {
            let set = parse_set(words.get(1).map_or("", String::as_str), max_uid);
            view.iter().map(|(u, _)| *u).filter(|u| set(*u)).collect()
        } else if words.first().map(String::as_str) == Some("ALL") {
            view.iter().map(|(u, _)| *u).collect()
        } else {
            let set = parse_set(&words[0], view.len() as u32);
            view.iter()
                .enumerate()
                .filter(|(i, _)| set(*i as u32 + 1))
                .map(|(_, (u, _))| *u)
                .collect()
        };
        let list: Vec<String> = found.iter().map(u32::to_string).collect();
        let sep = if list.is_empty() { "" } else { " " };
        self.send(&format!(
            "* SEARCH{sep}{}\r\n{tag} OK SEARCH completed (Success)\r\n",
            list.join(" ")
        ))
    }

    /// `UID FETCH set (items)`. Returns false once the session was ended with BYE.
    fn fetch(&mut self, tag: &str, args: &str) -> Io<bool> {
        let Some((_, view)) = &self.selected else {
            self.send(&format!("{tag} BAD No mailbox selected\r\n"))?;
            return Ok(true);
        };
        let view = view.clone();
        let (set, items) = args.split_once(' ').unwrap_or((args, ""));
        let items = items.to_ascii_uppercase();
        let max_uid = view.last().map_or(0, |(u, _)| *u);
        let set = parse_set(set, max_uid);
        let body = items.contains("BODY.PEEK[]");
        // `BODY.PEEK[]<offset.length>`
        let partial = items.split_once("BODY.PEEK[]<").and_then(|(_, r)| {
            let (spec, _) = r.split_once('>')?;
            let (o, n) = spec.split_once('.')?;
            Some((o.parse::<usize>().ok()?, n.parse::<usize>().ok()?))
        });
        if body {
            let mut store = self.store.lock().unwrap();
            if store.throttled < self.quirks.throttled_fetches {
                store.throttled += 1;
                drop(store);
                self.send(&format!(
                    "{tag} NO [THROTTLED] Request is throttled. Suggested Backoff Time: 50 \
                     milliseconds\r\n"
                ))?;
                return Ok(true);
            }
        }
        for (i, (uid, m)) in view.iter().enumerate() {
            if !set(*uid) {
                continue;
            }
            if body {
                if let Some(after) = self.quirks.bye_after_bodies {
                    let mut store = self.store.lock().unwrap();
                    if self.bodies >= after && !store.bye_sent {
                        store.bye_sent = true;
                        drop(store);
                        self.send("* BYE System Error (Failure)\r\n")?;
                        let _ = self.out.shutdown(std::net::Shutdown::Both);
                        return Ok(false);
                    }
                }
                self.bodies += 1;
            }
            let mut head = format!("* {} FETCH (UID {uid}", i + 1);
            if items.contains("RFC822.SIZE") {
                head.push_str(&format!(" RFC822.SIZE {}", m.body.len()));
            }
            if items.contains("FLAGS") {
                head.push_str(" FLAGS ()");
            }
            if items.contains("INTERNALDATE") {
                head.push_str(" INTERNALDATE \"04-Dec-2026 10:00:00 +0000\"");
            }
            if self.quirks.gmail && items.contains("X-GM-MSGID") {
                head.push_str(&format!(" X-GM-MSGID {}", m.msgid));
            }
            if self.quirks.gmail && items.contains("X-GM-THRID") {
                head.push_str(&format!(" X-GM-THRID {}", m.msgid));
            }
            if self.quirks.gmail && items.contains("X-GM-LABELS") {
                let labels: Vec<String> = m.labels.iter().map(|l| label(l)).collect();
                head.push_str(&format!(" X-GM-LABELS ({})", labels.join(" ")));
            }
            let mut out = head.into_bytes();
            if body {
                let (origin, bytes) = match partial {
                    Some((o, n)) => {
                        let from = o.min(m.body.len());
                        let to = from.saturating_add(n).min(m.body.len());
                        (format!("<{o}>"), &m.body[from..to])
                    }
                    None => (String::new(), &m.body[..]),
                };
                out.extend_from_slice(
                    format!(" BODY[]{origin} {{{}}}\r\n", bytes.len()).as_bytes(),
                );
                out.extend_from_slice(bytes);
            }
            out.extend_from_slice(b")\r\n");
            self.out.write_all(&out)?;
        }
        self.send(&format!("{tag} OK Success\r\n"))?;
        Ok(true)
    }
}

/// A label as Gmail sends it: system labels as atoms, others quoted.
fn label(l: &str) -> String {
    if l.starts_with('\\') {
        l.to_string()
    } else {
        format!("\"{}\"", l.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The folder named `name` (INBOX in any case).
fn folder(name: &str) -> Option<&'static FolderDef> {
    FOLDERS
        .iter()
        .find(|f| f.wire == name || (f.wire == "INBOX" && name.eq_ignore_ascii_case("INBOX")))
}

/// The quoted strings and atoms of `args`, unquoted.
fn strings(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = args.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => s.extend(chars.next()),
                    '"' => break,
                    c => s.push(c),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    out
}

/// A sequence set (`1:4,7,9:*`) as a predicate; `*` is `max`.
fn parse_set(set: &str, max: u32) -> impl Fn(u32) -> bool {
    let number = move |s: &str| {
        if s == "*" {
            max
        } else {
            s.parse().unwrap_or(0)
        }
    };
    let ranges: Vec<(u32, u32)> = set
        .split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (number(a), number(b));
                (a.min(b), a.max(b))
            }
            None => (number(part), number(part)),
        })
        .collect();
    move |n| ranges.iter().any(|&(a, b)| a <= n && n <= b)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_default()
}
