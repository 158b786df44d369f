//! One server family running from its cached chroot (`scripts/interop serve`), and the
//! independent client (`mailtool.py`: Python's imaplib and poplib) that puts mail into it
//! and reads back what it serves.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one family serves and how it stores mail.
pub struct Family {
    /// The name `scripts/interop` knows it by.
    pub name: &'static str,
    /// The name printed in the matrix.
    pub server: &'static str,
    /// Whether it has IMAP (then mail goes in by APPEND, else into the POP3 store).
    pub imap: bool,
    /// Whether its plain POP3 port offers STLS.
    pub pop3_stls: bool,
    /// The `auth` of POP3 and of IMAP accounts in the scenarios (the `auto` choice has a
    /// line of its own for each protocol).
    pub pop3_auth: &'static str,
    pub imap_auth: &'static str,
    /// Headers the server adds or rewrites in what it serves (compared without them).
    pub rewritten_headers: &'static [&'static str],
    /// IMAP: what a folder name below INBOX's level starts with, and the hierarchy
    /// delimiter.
    pub folder_prefix: &'static str,
    pub delimiter: char,
}

/// Every family, in the brief's priority order.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "mailutils",
        server: "mailutils-3.15",
        imap: true,
        pop3_stls: true,
        pop3_auth: "auto",
        // `auto` picks AUTHENTICATE PLAIN over TLS (imap4d ends its tagged OK with a bare
        // LF) and CRAM-MD5 in plaintext (refused: no CRAM secrets); LOGIN works.
        imap_auth: "user",
        // imap4d keeps its UID bookkeeping and \Seen state in the spool's headers.
        rewritten_headers: &["X-IMAPbase", "X-UID", "X-UIDL", "Status", "X-Status"],
        folder_prefix: "",
        delimiter: '/',
    },
    Family {
        name: "courier",
        server: "courier-1.0.16/5.0.13",
        imap: true,
        pop3_stls: true,
        pop3_auth: "user",
        imap_auth: "auto",
        rewritten_headers: &[],
        // every folder lives below INBOX (the "INBOX." namespace)
        folder_prefix: "INBOX.",
        delimiter: '.',
    },
    Family {
        name: "popa3d",
        server: "popa3d-1.0.3",
        imap: false,
        pop3_stls: false,
        pop3_auth: "user",
        imap_auth: "auto",
        rewritten_headers: &["Status", "X-Status"],
        folder_prefix: "",
        delimiter: '/',
    },
    Family {
        name: "solid-pop3d",
        server: "solid-pop3d-0.15",
        imap: false,
        pop3_stls: false,
        pop3_auth: "user",
        imap_auth: "auto",
        rewritten_headers: &["Status", "X-Status"],
        folder_prefix: "",
        delimiter: '/',
    },
    Family {
        name: "cyrus",
        server: "cyrus-3.6.1",
        imap: true,
        pop3_stls: true,
        pop3_auth: "auto",
        imap_auth: "auto",
        rewritten_headers: &[],
        folder_prefix: "INBOX.",
        delimiter: '.',
    },
];

/// A running instance: `scripts/interop serve` in its namespace, killed on drop (and by
/// the kernel if this process dies: PDEATHSIG).
pub struct Server {
    pub family: &'static Family,
    env: HashMap<String, String>,
    child: Child,
    state: PathBuf,
    next_user: std::cell::Cell<u32>,
}

/// A user of the instance (every scenario takes its own).
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    pub uid: u32,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cache_dir() -> PathBuf {
    std::env::var_os("MAILFETCH_INTEROP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/mailfetch-interop"))
}

/// Whether `scripts/interop build FAMILY` has made its chroot (and it is current).
pub fn chroot_ready(family: &str) -> bool {
    let out = Command::new(repo().join("scripts/interop"))
        .arg("families")
        .env("MAILFETCH_INTEROP_CACHE", cache_dir())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.starts_with(&format!("{family} ready"))),
        Err(_) => false,
    }
}

impl Server {
    /// Start `family`'s servers; waits until every port accepts connections.
    pub fn start(family: &'static Family) -> Result<Server, String> {
        let state = tempfile::Builder::new()
            .prefix(&format!("mailfetch-interop-{}-", family.name))
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?
            .keep();
        let log = fs::File::create(state.join("serve.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(repo().join("scripts/interop"));
        cmd.args(["serve", family.name, "--state"])
            .arg(&state)
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        // SAFETY: prctl only, async-signal-safe; the servers die with this process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("scripts/interop serve: {e}"))?;
        let mut server = Server {
            family,
            env: HashMap::new(),
            child,
            state: state.clone(),
            next_user: std::cell::Cell::new(1),
        };
        let started = Instant::now();
        loop {
            if state.join("ready").exists() {
                break;
            }
            let failed = state.join("failed").exists();
            if failed || server.child.try_wait().ok().flatten().is_some() {
                return Err(format!(
                    "{} did not start: {}",
                    family.name,
                    server.log_tail()
                ));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("{} did not start within 30 s", family.name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let env = fs::read_to_string(state.join("env")).map_err(|e| e.to_string())?;
        server.env = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(server)
    }

    /// The last lines of every log the instance wrote.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        let mut files = vec![self.state.join("serve.log")];
        if let Ok(d) = fs::read_dir(self.state.join("log")) {
            files.extend(d.flatten().map(|e| e.path()));
        }
        for f in files {
            let text = fs::read_to_string(&f).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            if !tail.is_empty() {
                out.push_str(&format!("[{}] ", f.display()));
                out.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join(" | "));
                out.push(' ');
            }
        }
        out
    }

    pub fn port(&self, key: &str) -> Option<u16> {
        self.env.get(key).and_then(|v| v.parse().ok())
    }

    pub fn ca(&self) -> PathBuf {
        self.state.join("tls/ca.pem")
    }

    /// A user nobody else uses.
    pub fn new_user(&self) -> User {
        let n = self.next_user.get();
        let max: u32 = self
            .env
            .get("USERS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        assert!(
            n <= max,
            "more than {max} users taken from {}",
            self.family.name
        );
        self.next_user.set(n + 1);
        User {
            name: format!("user{n}"),
            password: format!("pass-{n}-mailfetch"),
            uid: 5000 + n,
        }
    }

    fn tool(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let out = Command::new("python3")
            .arg(repo().join("tests/interop/mailtool.py"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mailtool {}: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(out.stdout)
    }

    fn login_args(&self, port: &str, user: &User) -> Vec<String> {
        vec![
            "127.0.0.1".into(),
            self.port(port).unwrap_or(0).to_string(),
            self.ca().display().to_string(),
            user.name.clone(),
            user.password.clone(),
        ]
    }

    /// Put `messages` (LF line ends) into `user`'s `folder` with `flags`: IMAP APPEND where
    /// the family has IMAP, else appended to the user's mbox spool as the daemon reads it.
    pub fn deliver(&self, user: &User, folder: &str, flags: &str, messages: &[Vec<u8>]) {
        if messages.is_empty() {
            return;
        }
        if self.family.imap {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut files = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                let p = dir.path().join(format!("{i:06}"));
                fs::write(&p, m).expect("write message");
                files.push(p.display().to_string());
            }
            let mut args: Vec<String> = vec!["append".into()];
            args.extend(self.login_args("IMAPS", user));
            args.push(folder.into());
            args.push(flags.into());
            // One APPEND session per 200 messages keeps the argument list short.
            for chunk in files.chunks(200) {
                let mut a = args.clone();
                a.extend(chunk.iter().cloned());
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                self.tool(&a).unwrap_or_else(|e| panic!("{e}"));
            }
        } else {
            assert_eq!(folder, "INBOX", "a POP3-only server has only INBOX");
            self.append_spool(user, messages);
        }
    }

    /// Append to the user's mbox spool (mboxo: a `From ` line at a line start is quoted
    /// with `>`, as the daemons' own delivery agents would), under the spool's dotlock.
    fn append_spool(&self, user: &User, messages: &[Vec<u8>]) {
        let spool = self.state.join("mail").join(&user.name);
        let lock = self.state.join("mail").join(format!("{}.lock", user.name));
        let started = Instant::now();
        while fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "spool lock stuck"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut text = fs::read(&spool).unwrap_or_default();
        for m in messages {
            text.extend_from_slice(b"From mailfetch-interop@localhost Thu Jan  5 10:00:00 2023\n");
            for line in m.split_inclusive(|&b| b == b'\n') {
                if line.starts_with(b"From ") {
                    text.push(b'>');
                }
                text.extend_from_slice(line);
            }
            if !text.ends_with(b"\n") {
                text.push(b'\n');
            }
            // The blank line that ends a message in an mbox is written with it, not with the
            // next one: some daemons (solid-pop3d) serve it as part of the message, which
            // must not change when more mail arrives.
            text.push(b'\n');
        }
        let tmp = self.state.join("mail").join(format!(".{}.new", user.name));
        fs::write(&tmp, &text).expect("write spool");
        chown(&tmp, Some(user.uid), Some(user.uid)).expect("chown spool");
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).expect("chmod spool");
        fs::rename(&tmp, &spool).expect("rename spool");
        let _ = fs::remove_file(&lock);
    }

    /// What POP3 RETR serves for `user` now, CRLF turned into LF, in message order.
    pub fn pop3_messages(&self, user: &User) -> Result<Vec<Vec<u8>>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut a: Vec<String> = vec!["pop3-dump".into()];
        a.extend(self.login_args("POP3S", user));
        a.push(dir.path().display().to_string());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.tool(&a)?;
        Ok(read_numbered(dir.path(), "uidl")
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// What IMAP `BODY.PEEK[]` serves in `user`'s `folder`, CRLF turned into LF, with each
    /// message's flags, in UID order.
    pub fn imap_messages(
        &self,
        user: &User,
        folder: &str,
    ) -> Result<Vec<(Vec<u8>, String)>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut a: Vec<String> = vec!["imap-dump".into()];
        a.extend(self.login_args("IMAPS", user));
        a.push(folder.into());
        a.push(dir.path().display().to_string());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.tool(&a)?;
        Ok(read_numbered(dir.path(), "flags"))
    }

    /// The messages of `user`'s INBOX as the source protocol serves them.
    pub fn inbox(&self, user: &User, imap: bool) -> Result<Vec<Vec<u8>>, String> {
        if imap {
            Ok(self
                .imap_messages(user, "INBOX")?
                .into_iter()
                .map(|(m, _)| m)
                .collect())
        } else {
            self.pop3_messages(user)
        }
    }

    /// `m` without the headers this server adds or rewrites.
    pub fn normalize(&self, m: &[u8]) -> Vec<u8> {
        strip_headers(m, self.family.rewritten_headers)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // the namespace is gone with its PID 1; give the kernel a moment to unmount
        if std::env::var_os("MAILFETCH_INTEROP_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.state);
        }
    }
}

/// Files `DIR/NAME` with a companion `DIR/NAME.EXT`, sorted by NAME as a number.
fn read_numbered(dir: &Path, ext: &str) -> Vec<(Vec<u8>, String)> {
    let mut names: Vec<u64> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let base = fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|f| f.parse::<u64>().ok() == Some(n))
                .unwrap();
            let body = fs::read(dir.join(&base)).unwrap_or_default();
            let extra = fs::read_to_string(dir.join(format!("{base}.{ext}"))).unwrap_or_default();
            (body, extra)
        })
        .collect()
}

/// `m` without the header fields named in `names` (case-insensitive, with their folded
/// continuation lines); the body is untouched.
pub fn strip_headers(m: &[u8], names: &[&str]) -> Vec<u8> {
    if names.is_empty() {
        return m.to_vec();
    }
    let mut out = Vec::with_capacity(m.len());
    let mut in_header = true;
    let mut dropping = false;
    for line in m.split_inclusive(|&b| b == b'\n') {
        if in_header {
            if line == b"\n" {
                in_header = false;
            } else if line.starts_with(b" ") || line.starts_with(b"\t") {
                if dropping {
                    continue;
                }
            } else {
                let name = line.split(|&b| b == b':').next().unwrap_or_default();
                dropping = names
                    .iter()
                    .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
                if dropping {
                    continue;
                }
            }
        }
        out.extend_from_slice(line);
    }
    out
}
