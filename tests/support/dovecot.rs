//! A private Dovecot instance for integration tests, wrapping `scripts/dovecot`.
//!
//! [`Dovecot::shared()`] starts one instance per test binary (on first use)
//! and hands out `&'static Dovecot`; every test takes its own mailbox with
//! [`Dovecot::new_user`], so tests running in parallel never share a mailbox.
//!
//! Lifetime: a `static` is never dropped, so the instance is started with
//! `scripts/dovecot up --owner-pid <this process>`.  That spawns a detached
//! watchdog which stops Dovecot and deletes the state dir within about a
//! second after the test process has exited (normally or killed).  As a
//! second line of defence every later `scripts/dovecot up` reaps instances
//! under `/tmp/mailfetch-dovecot-*` whose owner process is gone.
//! [`Dovecot::start()`] gives a private instance that is stopped on `Drop`
//! (for tests that need to stop or break the server).
//!
//! Set `MAILFETCH_TEST_DOVECOT=/path/to/state` to make `shared()` attach to an
//! instance you started yourself with `scripts/dovecot up --state ...` (handy
//! for poking at the server after a test).
//!
//! Dovecot facts the tests may rely on (see scripts/dovecot for the config):
//! * ports: POP3 B+110 (plain, STLS), POP3S B+995, IMAP B+143 (plain,
//!   STARTTLS), IMAPS B+993 on 127.0.0.1; the certificate is for
//!   `localhost` and IP 127.0.0.1, issued by [`Dovecot::ca_file`].
//! * auth: PLAIN, LOGIN, CRAM-MD5, APOP (passwords stored in clear; the
//!   POP3 greeting carries an APOP timestamp); plaintext login is allowed on
//!   the plain ports (Dovecot would allow it on 127.0.0.1 anyway: it counts
//!   connections whose remote IP equals the local IP as "secured").  A
//!   failed login is answered after ~0.5 s, and there is no per-IP auth
//!   penalty, so wrong-password tests do not slow down other tests.
//! * POP3 UIDL is the Maildir base file name (`%g`), e.g.
//!   `1795321269.M827215P10265.vm,S=61,W=68`; RETR does not set \Seen.
//! * storage is Maildir with `/` as hierarchy separator; messages are
//!   stored with LF line ends (CRLF on input becomes LF, a lone CR stays),
//!   and are served with CRLF.  A message without a final newline gets
//!   CRLF appended by POP3 RETR, but not by IMAP BODY[].
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A mailbox owner on the test server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestUser {
    pub name: String,
    pub password: String,
}

impl AsRef<str> for TestUser {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

/// A running private Dovecot instance.
pub struct Dovecot {
    state: PathBuf,
    pop3: u16,
    pop3s: u16,
    imap: u16,
    imaps: u16,
    ca: PathBuf,
    wrong_ca: PathBuf,
    server_cert: PathBuf,
    lmtp: PathBuf,
    /// Keeps the state dir of an instance we started (deleted on drop of a
    /// private instance; a shared one is purged by the watchdog instead).
    dir: Option<tempfile::TempDir>,
    /// Stop on drop (private instances only).
    owned: bool,
    next_user: AtomicUsize,
    /// "" for our own instance; "<pid>-" when attached to a long-lived one,
    /// so that user names stay unique across test runs.
    user_tag: String,
}

static SHARED: OnceLock<Dovecot> = OnceLock::new();

/// Path of `scripts/dovecot` in this checkout.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dovecot")
}

impl Dovecot {
    /// The instance shared by all tests of this test binary, started on first
    /// use.  Panics (with the script's error output) if it cannot start.
    pub fn shared() -> &'static Dovecot {
        SHARED.get_or_init(|| match std::env::var_os("MAILFETCH_TEST_DOVECOT") {
            Some(dir) if !dir.is_empty() => Dovecot::attach(Path::new(&dir)),
            _ => Dovecot::launch(false),
        })
    }

    /// A private instance for this test alone; stopped and deleted on drop.
    pub fn start() -> Dovecot {
        Dovecot::launch(true)
    }

    fn launch(owned: bool) -> Dovecot {
        static LAUNCHES: AtomicUsize = AtomicUsize::new(0);
        let launch = LAUNCHES.fetch_add(1, Ordering::Relaxed) as u32;
        let pid = std::process::id();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut errors = String::new();
        for attempt in 0u32..8 {
            // 20000..60000; the +N offsets of two bases may collide, which
            // `up` detects (port in use) or fails on (bind error): retry.
            let seed = pid
                .wrapping_mul(7919)
                .wrapping_add((launch * 8 + attempt).wrapping_mul(4099))
                .wrapping_add(if attempt > 0 { nanos } else { 0 });
            let base = 20000 + (seed % 40000);
            let dir = tempfile::Builder::new()
                .prefix("mailfetch-dovecot-")
                .tempdir_in("/tmp")
                .expect("create state dir under /tmp");
            let out = Command::new(script())
                .arg("up")
                .arg("--state")
                .arg(dir.path())
                .args(["--port-base", &base.to_string(), "--users", "0"])
                .args(["--owner-pid", &pid.to_string(), "--quiet"])
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
            if out.status.success() {
                let mut d = Dovecot::from_env_text(&String::from_utf8_lossy(&out.stdout));
                d.dir = Some(dir);
                d.owned = owned;
                return d;
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            errors.push_str(&format!(
                "attempt {attempt} (port base {base}):\n{stderr}\n"
            ));
            if stderr.contains("must run as root") {
                break;
            }
        }
        panic!("scripts/dovecot up failed; integration tests need root and the Debian dovecot packages\n{errors}");
    }

    fn attach(dir: &Path) -> Dovecot {
        let out = Command::new(script())
            .arg("env")
            .arg(dir)
            .output()
            .expect("run scripts/dovecot env");
        assert!(
            out.status.success(),
            "MAILFETCH_TEST_DOVECOT={}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut d = Dovecot::from_env_text(&String::from_utf8_lossy(&out.stdout));
        d.user_tag = format!("{}-", std::process::id());
        assert!(
            TcpStream::connect(("127.0.0.1", d.pop3)).is_ok(),
            "MAILFETCH_TEST_DOVECOT={}: instance is not running (scripts/dovecot up --state {0})",
            dir.display()
        );
        d
    }

    /// Parses the `export MAILFETCH_TEST_X='value'` lines of `up`/`env`.
    fn from_env_text(text: &str) -> Dovecot {
        let get = |key: &str| -> String {
            let prefix = format!("export MAILFETCH_TEST_{key}=");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(|v| v.trim().trim_matches('\'').to_string())
                .unwrap_or_else(|| {
                    panic!("scripts/dovecot printed no MAILFETCH_TEST_{key}:\n{text}")
                })
        };
        let port = |key: &str| -> u16 {
            get(key)
                .parse()
                .unwrap_or_else(|e| panic!("bad {key}: {e}"))
        };
        Dovecot {
            state: PathBuf::from(get("STATE")),
            pop3: port("POP3_PORT"),
            pop3s: port("POP3S_PORT"),
            imap: port("IMAP_PORT"),
            imaps: port("IMAPS_PORT"),
            ca: PathBuf::from(get("CA")),
            wrong_ca: PathBuf::from(get("WRONG_CA")),
            server_cert: PathBuf::from(get("SERVER_CERT")),
            lmtp: PathBuf::from(get("LMTP_SOCKET")),
            dir: None,
            owned: false,
            next_user: AtomicUsize::new(1),
            user_tag: String::new(),
        }
    }

    // ---- where ---------------------------------------------------------

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }
    /// The name the server certificate is valid for (`localhost`; its SAN
    /// also has IP 127.0.0.1).
    pub fn tls_name(&self) -> &'static str {
        "localhost"
    }
    /// POP3, plain text with STLS.
    pub fn pop3(&self) -> u16 {
        self.pop3
    }
    /// POP3 over implicit TLS.
    pub fn pop3s(&self) -> u16 {
        self.pop3s
    }
    /// IMAP, plain text with STARTTLS.
    pub fn imap(&self) -> u16 {
        self.imap
    }
    /// IMAP over implicit TLS.
    pub fn imaps(&self) -> u16 {
        self.imaps
    }
    /// PEM file of the CA that issued the server certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca
    }
    /// PEM file of an unrelated CA: trusting only it must fail verification.
    pub fn wrong_ca_file(&self) -> &Path {
        &self.wrong_ca
    }
    /// PEM file of the server (leaf) certificate, e.g. for pinning tests.
    pub fn server_cert_file(&self) -> &Path {
        &self.server_cert
    }
    /// Unix socket of the LMTP service (deliver with `RCPT TO:<user name>`).
    pub fn lmtp_socket(&self) -> &Path {
        &self.lmtp
    }
    /// The instance's state dir (config, tls/, home/, log/).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }
    /// `STATE/dovecot.conf`, for `doveadm -c`.
    pub fn conf_file(&self) -> PathBuf {
        self.state.join("dovecot.conf")
    }
    /// Server-side Maildir root (INBOX) of a user.
    pub fn maildir(&self, user: impl AsRef<str>) -> PathBuf {
        self.state.join("home").join(user.as_ref()).join("Maildir")
    }
    /// Last `lines` lines of the Dovecot log (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let log = fs::read_to_string(self.state.join("log/dovecot.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    // ---- users ---------------------------------------------------------

    /// A new user with an empty INBOX.  The name is `<prefix>-<n>` with `n`
    /// unique per instance (the prefix is reduced to `[a-z0-9_-]`, at most
    /// 40 characters; `<prefix>-<pid>-<n>` when attached via
    /// `MAILFETCH_TEST_DOVECOT`); the password is `pw-<n>-<8 hex digits>`.
    pub fn new_user(&self, prefix: &str) -> TestUser {
        let n = self.next_user.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.add_user(n, prefix, &format!("pw-{n}-{:08x}", nanos ^ 0x5a5a_5a5a))
    }

    /// Like [`new_user`](Self::new_user) with a chosen password (no `:`,
    /// CR or LF; anything else, e.g. spaces and quotes, is fine).
    pub fn new_user_with_password(&self, prefix: &str, password: &str) -> TestUser {
        let n = self.next_user.fetch_add(1, Ordering::Relaxed);
        self.add_user(n, prefix, password)
    }

    fn add_user(&self, n: usize, prefix: &str, password: &str) -> TestUser {
        let mut clean: String = prefix
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(40)
            .collect();
        if clean.is_empty() || clean.starts_with('-') {
            clean.insert(0, 'u');
        }
        let name = format!("{clean}-{}{n}", self.user_tag);
        self.script(&["add-user", &self.state_str(), &name, password]);
        TestUser {
            name,
            password: password.to_string(),
        }
    }

    // ---- mail ----------------------------------------------------------

    /// Appends messages (in order, byte-exact) to the user's INBOX.
    pub fn seed<I, M>(&self, user: impl AsRef<str>, messages: I)
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        self.seed_folder(user, "INBOX", messages)
    }

    /// Appends messages to `folder` (e.g. `Archive` or `Lists/rust`; `/` is
    /// the hierarchy separator), creating and subscribing it if missing.
    /// UIDs follow the order of `messages`.  Stored bytes are the given bytes
    /// (except that CRLF is stored as LF, as Dovecot's own save does).
    pub fn seed_folder<I, M>(&self, user: impl AsRef<str>, folder: &str, messages: I)
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        let user = user.as_ref();
        let tmp = tempfile::tempdir().expect("tempdir for seeding");
        let mut files = Vec::new();
        let mut has_crlf = false;
        for (i, m) in messages.into_iter().enumerate() {
            let m = m.as_ref();
            has_crlf |= m.windows(2).any(|w| w == b"\r\n");
            let p = tmp.path().join(format!("{:06}.eml", i + 1));
            fs::write(&p, m).expect("write message file");
            files.push(p.to_string_lossy().into_owned());
        }
        if files.is_empty() {
            if folder != "INBOX" && !self.folder_exists(user, folder) {
                self.create_folder(user, folder);
            }
            return;
        }
        let state = self.state_str();
        let mut args = vec!["seed", state.as_str(), user, "--folder", folder];
        // Many messages: copy them into the Maildir directly (one `doveadm
        // save` costs ~12 ms).  Same result unless a message has CRLF, which
        // `doveadm save` stores as LF and the bulk path would keep.
        if files.len() >= 20 && !has_crlf {
            args.push("--bulk");
        }
        args.extend(files.iter().map(String::as_str));
        self.script(&args);
    }

    /// Creates (and subscribes) a folder.  Panics if it exists.
    pub fn create_folder(&self, user: impl AsRef<str>, folder: &str) {
        self.doveadm(&["mailbox", "create", "-s", "-u", user.as_ref(), folder]);
    }

    /// Deletes a folder with its messages (and unsubscribes it).
    pub fn delete_folder(&self, user: impl AsRef<str>, folder: &str) {
        self.doveadm(&["mailbox", "delete", "-s", "-u", user.as_ref(), folder]);
    }

    pub fn folder_exists(&self, user: impl AsRef<str>, folder: &str) -> bool {
        self.try_doveadm(&["mailbox", "status", "-u", user.as_ref(), "messages", folder])
            .status
            .success()
    }

    /// All folders of the user (INBOX included), as Dovecot lists them.
    pub fn folders(&self, user: impl AsRef<str>) -> Vec<String> {
        self.doveadm(&["mailbox", "list", "-u", user.as_ref()])
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Number of messages in a folder.
    pub fn count(&self, user: impl AsRef<str>, folder: &str) -> usize {
        let out = self.script(&["count", &self.state_str(), user.as_ref(), folder]);
        out.trim()
            .parse()
            .unwrap_or_else(|e| panic!("count printed {out:?}: {e}"))
    }

    /// The stored bytes of every message in a folder, in UID order (exactly
    /// the Maildir files: LF line ends).
    pub fn server_messages(&self, user: impl AsRef<str>, folder: &str) -> Vec<Vec<u8>> {
        let user = user.as_ref();
        // A file may be renamed (new/ -> cur/, flag change) between listing
        // and reading if a client is busy with the mailbox: list again.
        'retry: for _ in 0..5 {
            let mut out = Vec::new();
            for path in self.server_files(user, folder) {
                match fs::read(&path) {
                    Ok(data) => out.push(data),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'retry,
                    Err(e) => panic!("read {}: {e}", path.display()),
                }
            }
            return out;
        }
        panic!("messages of {user}/{folder} kept moving while reading them");
    }

    /// Paths of the Maildir files of a folder, in UID order.
    pub fn server_files(&self, user: impl AsRef<str>, folder: &str) -> Vec<PathBuf> {
        self.script(&["files", &self.state_str(), user.as_ref(), folder])
            .lines()
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .collect()
    }

    /// Message flags per message of a folder in UID order, e.g. `["\\Seen"]`.
    pub fn flags(&self, user: impl AsRef<str>, folder: &str) -> Vec<Vec<String>> {
        self.doveadm(&[
            "-f",
            "tab",
            "fetch",
            "-u",
            user.as_ref(),
            "flags",
            "mailbox",
            folder,
            "all",
        ])
        .lines()
        .skip(1) // header line
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
    }

    /// Runs `doveadm -c STATE/dovecot.conf ARGS...`; panics on failure and
    /// returns stdout.  Example: `dc.doveadm(&["expunge", "-u", &u.name,
    /// "mailbox", "INBOX", "all"])`.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let out = self.try_doveadm(args);
        assert!(
            out.status.success(),
            "doveadm {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like [`doveadm`](Self::doveadm) but returns the raw output.
    pub fn try_doveadm(&self, args: &[&str]) -> Output {
        Command::new("doveadm")
            .arg("-c")
            .arg(self.conf_file())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run doveadm")
    }

    /// Stops a private instance now (also done on drop).
    pub fn stop(&self) {
        let _ = Command::new(script())
            .arg("down")
            .arg(&self.state)
            .stdin(Stdio::null())
            .output();
    }

    fn state_str(&self) -> String {
        self.state.to_string_lossy().into_owned()
    }

    fn script(&self, args: &[&str]) -> String {
        let out = Command::new(script())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/dovecot");
        if !out.status.success() {
            let _ = std::io::stderr().write_all(&out.stderr);
            panic!(
                "scripts/dovecot {args:?} failed ({}):\n{}\n---- dovecot log tail\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(15)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until a port accepts connections (e.g. after a restart).
    pub fn wait_port(&self, port: u16, timeout: Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < end {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
        }
    }
}
