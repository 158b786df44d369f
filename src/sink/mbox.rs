//! mbox delivery in the mboxrd dialect (RFC 4155 and the mboxrd convention): a `From `
//! separator line with the envelope sender and date, every line matching `^>*From ` quoted
//! with one more `>`, a newline added if the message lacks a final one, and exactly one blank
//! line after each message.
//!
//! The file is shared with MUAs and MDAs, so a batch holds both kinds of lock they use: a
//! `FILE.lock` dotlock (broken when its owner is dead, or when older than
//! [`STALE_DOTLOCK`]) and an fcntl write lock. Bytes are appended in place, so the batch
//! journals its starting length first: a failed message is truncated away at once, and a
//! crash mid-batch is truncated away by the next run.

use super::{return_path, Meta, Sink};
use crate::error::{Class, Error, Result};
use crate::state::Recovery;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// A dotlock whose owner cannot be checked is considered abandoned after this age.
pub const STALE_DOTLOCK: Duration = Duration::from_secs(5 * 60);
/// How long to wait for another program's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// Flush the write buffer at this size.
const BUFFER: usize = 256 * 1024;

/// An mbox file.
pub struct Mbox {
    path: PathBuf,
    file: Option<File>,
    dotlock: Option<PathBuf>,
    batch_start: u64,
    len: u64,
    buf: Vec<u8>,
    lines: Lines,
}

/// Bytes read from a message body at once.
const READ: usize = 64 * 1024;

/// A line reader over each message's body with one buffer for all of them, so that no
/// message pays for allocating and zeroing its own; lines are found with `memchr` and copied
/// once, from this buffer to the write buffer.
struct Lines {
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl Lines {
    /// Forget what is buffered: the start of another message's body.
    fn reset(&mut self) {
        self.pos = 0;
        self.end = 0;
    }

    /// Append the next line of `src` (up to and including its LF, or to the end of the body)
    /// to `out`; how many bytes that was, 0 at the end.
    fn read_line(&mut self, src: &mut dyn Read, out: &mut Vec<u8>) -> std::io::Result<usize> {
        let start = out.len();
        loop {
            if self.pos == self.end {
                if self.buf.len() < READ {
                    self.buf.resize(READ, 0);
                }
                self.pos = 0;
                self.end = loop {
                    match src.read(&mut self.buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                if self.end == 0 {
                    return Ok(out.len() - start);
                }
            }
            let avail = &self.buf[self.pos..self.end];
            match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    out.extend_from_slice(&avail[..=i]);
                    self.pos += i + 1;
                    return Ok(out.len() - start);
                }
                None => {
                    out.extend_from_slice(avail);
                    self.pos = self.end;
                }
            }
        }
    }
}

fn lock_error(path: &Path, e: std::io::Error) -> Error {
    Error::local(format!("cannot lock {}", path.display()), e)
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether the dotlock at `path` was left by a dead process or is too old to trust.
fn dotlock_is_stale(path: &Path) -> bool {
    let text = fs::read_to_string(path).unwrap_or_default();
    if let Ok(pid) = text.trim().parse::<i32>() {
        if pid > 0 && !pid_alive(pid) {
            return true;
        }
    }
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > STALE_DOTLOCK)
}

/// Take the dotlock `FILE.lock`, breaking a stale one.
///
/// The lock is written whole under a name of its own, `FILE.lock.PID`, and then linked into
/// place, so `FILE.lock` always holds our pid: created empty and killed before the pid was
/// written, it would look like a live lock of an unknown owner and block every run for
/// [`STALE_DOTLOCK`]. Where hard links fail (filesystems without them), the lock is created
/// in place.
fn take_dotlock(mbox: &Path) -> Result<PathBuf> {
    let lock = suffixed(mbox, ".lock");
    let pid = std::process::id();
    let own = suffixed(mbox, &format!(".lock.{pid}"));
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match create_dotlock(&lock, &own, pid) {
            Ok(()) => return Ok(lock),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if dotlock_is_stale(&lock) {
                    let _ = fs::remove_file(&lock);
                    remove_orphans(mbox);
                    continue;
                }
                if Instant::now() >= deadline {
                    return Err(Error::new(
                        Class::Temporary,
                        format!(
                            "{} is locked by another program ({})",
                            mbox.display(),
                            lock.display()
                        ),
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(lock_error(&lock, e)),
        }
    }
}

/// `path` with `suffix` appended to its file name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Create `lock` holding `pid`, by way of `own` (see [`take_dotlock`]); `AlreadyExists` if
/// someone holds it.
fn create_dotlock(lock: &Path, own: &Path, pid: u32) -> std::io::Result<()> {
    let write_pid = |path: &Path, new: bool| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .create_new(new)
            .mode(0o644)
            .open(path)?;
        writeln!(f, "{pid}")
    };
    write_pid(own, false)?;
    let linked = fs::hard_link(own, lock);
    let _ = fs::remove_file(own);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => write_pid(lock, true),
        other => other,
    }
}

/// Remove `FILE.lock.PID` files that dead processes left behind (killed between writing and
/// removing them); looked for only after breaking a stale lock, the sign of such a death.
fn remove_orphans(mbox: &Path) {
    let (Some(dir), Some(name)) = (mbox.parent(), mbox.file_name()) else {
        return;
    };
    let mut prefix = name.to_owned();
    prefix.push(".lock.");
    let prefix = prefix.as_encoded_bytes().to_vec();
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.as_encoded_bytes().strip_prefix(prefix.as_slice()) else {
            continue;
        };
        let pid = std::str::from_utf8(pid)
            .ok()
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| p > 0 && !pid_alive(p)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Take an fcntl write lock on the whole file, waiting up to [`LOCK_WAIT`].
fn fcntl_lock(file: &File, path: &Path, kind: libc::c_short) -> Result<()> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        // SAFETY: a zeroed flock is a valid argument; the fd is ours.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        let busy = matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES));
        if !busy {
            return Err(lock_error(path, err));
        }
        if Instant::now() >= deadline {
            return Err(Error::new(
                Class::Temporary,
                format!("{} is locked by another program (fcntl)", path.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The asctime-style date of the `From ` line, in UTC.
fn from_date(secs: Option<i64>) -> String {
    let when = secs
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_else(chrono::Utc::now);
    when.format("%a %b %e %H:%M:%S %Y").to_string()
}

/// Whether `line` must be quoted: `^>*From `.
fn needs_quote(line: &[u8]) -> bool {
    let rest = &line[line.iter().take_while(|&&b| b == b'>').count()..];
    rest.starts_with(b"From ")
}

impl Mbox {
    /// An mbox at `path` (created on first delivery if missing).
    pub fn open(path: &Path) -> Result<Mbox> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| {
                Error::local(format!("cannot create directory {}", parent.display()), e)
            })?;
        }
        Ok(Mbox {
            path: path.to_path_buf(),
            file: None,
            dotlock: None,
            batch_start: 0,
            len: 0,
            buf: Vec::with_capacity(BUFFER + 64 * 1024),
            lines: Lines {
                buf: Vec::new(),
                pos: 0,
                end: 0,
            },
        })
    }

    /// Open the file and take both locks.
    fn lock(&mut self) -> Result<&File> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&self.path)
                .map_err(|e| Error::local(format!("cannot open {}", self.path.display()), e))?;
            self.dotlock = Some(take_dotlock(&self.path)?);
            if let Err(e) = fcntl_lock(&file, &self.path, libc::F_WRLCK as libc::c_short) {
                self.release_dotlock();
                return Err(e);
            }
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("just opened"))
    }

    fn release_dotlock(&mut self) {
        if let Some(lock) = self.dotlock.take() {
            let _ = fs::remove_file(lock);
        }
    }

    fn unlock(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = fcntl_lock(&file, &self.path, libc::F_UNLCK as libc::c_short);
        }
        self.release_dotlock();
    }

    fn flush_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = self.file.as_mut().expect("locked");
        file.seek(SeekFrom::Start(self.len))
            .and_then(|_| file.write_all(&self.buf))
            .map_err(|e| Error::local(format!("writing {}", self.path.display()), e))?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn truncate_to(&mut self, len: u64) -> Result<()> {
        self.buf.clear();
        if let Some(file) = &self.file {
            file.set_len(len)
                .and_then(|_| file.sync_data())
                .map_err(|e| Error::local(format!("cannot truncate {}", self.path.display()), e))?;
        }
        self.len = len;
        Ok(())
    }

    /// Copy the rest of a message line by line, quoting `^>*From ` lines; `at_line_start`
    /// tells whether the first byte starts a line, `last` is left as the last byte copied.
    fn copy_lines(
        &mut self,
        body: &mut dyn Read,
        mut at_line_start: bool,
        last: &mut u8,
    ) -> Result<()> {
        loop {
            let start = self.buf.len();
            let n = self
                .lines
                .read_line(body, &mut self.buf)
                .map_err(|e| Error::network("receiving a message", e))?;
            if n == 0 {
                return Ok(());
            }
            if at_line_start && needs_quote(&self.buf[start..]) {
                self.buf.insert(start, b'>');
            }
            *last = self.buf[self.buf.len() - 1];
            at_line_start = *last == b'\n';
            if self.buf.len() >= BUFFER {
                self.flush_buf()?;
            }
        }
    }

    fn write_message(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<()> {
        self.lines.reset();
        // Read the header (up to 64 KB) first, for the Return-Path of the From line.
        let mut header = Vec::new();
        let mut more = true;
        while header.len() < 64 * 1024 {
            let start = header.len();
            let n = self
                .lines
                .read_line(body, &mut header)
                .map_err(|e| Error::network("receiving a message", e))?;
            if n == 0 {
                more = false;
                break;
            }
            if header[start..] == *b"\n" {
                break;
            }
        }
        self.buf.extend_from_slice(b"From ");
        self.buf.extend_from_slice(
            return_path(&header)
                .as_deref()
                .unwrap_or("MAILER-DAEMON")
                .as_bytes(),
        );
        self.buf.push(b' ');
        self.buf
            .extend_from_slice(from_date(meta.internal_date).as_bytes());
        self.buf.push(b'\n');
        let mut last = b'\n';
        for line in header.split_inclusive(|&b| b == b'\n') {
            if needs_quote(line) {
                self.buf.push(b'>');
            }
            self.buf.extend_from_slice(line);
            last = *line.last().expect("non-empty");
        }
        // The body follows; a header cut off at 64 KB continues mid-line.
        if more {
            self.copy_lines(body, last == b'\n', &mut last)?;
        }
        if last != b'\n' {
            self.buf.push(b'\n');
        }
        self.buf.push(b'\n');
        self.flush_buf()
    }
}

impl Sink for Mbox {
    fn describe(&self) -> String {
        format!("{} (mbox)", self.path.display())
    }

    fn begin(&mut self) -> Result<Option<Recovery>> {
        let path = self.path.clone();
        let file = self.lock()?;
        let len = file
            .metadata()
            .map_err(|e| Error::local(format!("cannot read {}", path.display()), e))?
            .len();
        self.batch_start = len;
        self.len = len;
        Ok(Some(Recovery::Rollback(format!("mbox\n{len}"))))
    }

    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<()> {
        let start = self.len;
        let result = self.write_message(meta, body);
        if result.is_err() {
            self.truncate_to(start)?;
        }
        result
    }

    fn prepare(&mut self) -> Result<Option<Recovery>> {
        self.flush_buf()?;
        if let Some(file) = &self.file {
            file.sync_data()
                .map_err(|e| Error::local(format!("cannot sync {}", self.path.display()), e))?;
        }
        Ok(None)
    }

    fn commit(&mut self) -> Result<()> {
        self.unlock();
        Ok(())
    }

    fn abort(&mut self) {
        let start = self.batch_start;
        let _ = self.truncate_to(start);
        self.unlock();
    }

    fn recover(&mut self, intent: &Recovery) -> Result<()> {
        let Recovery::Rollback(text) = intent else {
            return Ok(());
        };
        let Some(("mbox", len)) = text.split_once('\n') else {
            return Ok(());
        };
        let Ok(len) = len.parse::<u64>() else {
            return Ok(());
        };
        let path = self.path.clone();
        let file = self.lock()?;
        let now = file
            .metadata()
            .map_err(|e| Error::local(format!("cannot read {}", path.display()), e))?
            .len();
        // Only cut what is recognisably ours: the file grew, and a message starts there.
        let mut head = [0u8; 5];
        let ours = now > len && {
            let mut f = file;
            f.seek(SeekFrom::Start(len))
                .and_then(|_| f.read_exact(&mut head))
                .is_ok()
                && &head == b"From "
        };
        if ours {
            self.truncate_to(len)?;
        }
        self.unlock();
        Ok(())
    }
}

impl Drop for Mbox {
    fn drop(&mut self) {
        self.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Flags;

    fn meta() -> Meta<'static> {
        Meta {
            mailbox: "INBOX",
            delimiter: None,
            flags: Flags::default(),
            internal_date: Some(0),
            size: 0,
        }
    }

    fn deliver_all(path: &Path, messages: &[&[u8]]) {
        let mut m = Mbox::open(path).unwrap();
        m.begin().unwrap();
        for msg in messages {
            m.deliver(&meta(), &mut &msg[..]).unwrap();
        }
        m.prepare().unwrap();
        m.commit().unwrap();
    }

    #[test]
    fn from_lines_are_quoted_mboxrd_style() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        deliver_all(
            &path,
            &[b"Return-Path: <a@b.example>\nSubject: x\n\nFrom here\n>From there\nno newline"],
        );
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "From a@b.example Thu Jan  1 00:00:00 1970\nReturn-Path: <a@b.example>\nSubject: x\n\n>From here\n>>From there\nno newline\n\n"
        );
        assert!(!path.with_extension("lock").exists());
    }

    #[test]
    fn quoting_does_not_depend_on_how_the_body_arrives() {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(self.0.len()).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let long = "x".repeat(200_000);
        let msg =
            format!("Subject: s\n\nFrom a\n>From b\n>>From c\nFro\n{long}\nFrom d\n.From e\nFrom ");
        let mut expected = None;
        for step in [1, 2, 3, 5, 7, 4096, 1 << 20] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("box");
            let mut m = Mbox::open(&path).unwrap();
            m.begin().unwrap();
            m.deliver(&meta(), &mut Trickle(msg.as_bytes(), step))
                .unwrap();
            m.deliver(&meta(), &mut Trickle(b"From x\n", step)).unwrap();
            m.prepare().unwrap();
            m.commit().unwrap();
            let text = fs::read_to_string(&path).unwrap();
            assert!(
                text.contains("\n>From a\n>>From b\n>>>From c\nFro\n"),
                "step {step}"
            );
            assert!(text.contains("\n>From d\n.From e\n>From \n\nFrom MAILER-DAEMON"));
            assert!(text.ends_with("\n>From x\n\n"), "step {step}");
            assert_eq!(
                expected.get_or_insert_with(|| text.clone()),
                &text,
                "step {step}"
            );
        }
    }

    #[test]
    fn failed_message_is_truncated_away() {
        struct Fails(usize);
        impl Read for Fails {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::ErrorKind::ConnectionReset.into());
                }
                self.0 -= 1;
                buf[..6].copy_from_slice(b"line\n\n");
                Ok(6)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        deliver_all(&path, &[b"Subject: one\n\nbody\n"]);
        let before = fs::read(&path).unwrap();
        let mut m = Mbox::open(&path).unwrap();
        m.begin().unwrap();
        assert!(m.deliver(&meta(), &mut Fails(3)).is_err());
        m.prepare().unwrap();
        m.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn rollback_removes_an_interrupted_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        deliver_all(&path, &[b"Subject: one\n\nbody\n"]);
        let before = fs::read(&path).unwrap();
        let mut m = Mbox::open(&path).unwrap();
        let intent = m.begin().unwrap().unwrap();
        m.deliver(&meta(), &mut &b"Subject: two\n\n"[..]).unwrap();
        m.flush_buf().unwrap();
        std::mem::forget(m); // crash: locks left behind (the dotlock names our live pid)
        let lock = dir.path().join("box.lock");
        fs::write(&lock, "999999999\n").unwrap(); // as if the owner had died
        let mut m = Mbox::open(&path).unwrap();
        m.recover(&intent).unwrap();
        assert_eq!(fs::read(&path).unwrap(), before);
        assert!(!lock.exists());
    }

    #[test]
    fn a_dotlock_holds_its_owners_pid_from_the_moment_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        let lock = take_dotlock(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&lock).unwrap().trim(),
            std::process::id().to_string()
        );
        // The file it was written under is gone: only the mbox and its lock remain.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn breaking_a_dead_owners_lock_also_removes_what_dead_owners_left_half_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        fs::write(dir.path().join("box.lock"), "999999999\n").unwrap();
        fs::write(dir.path().join("box.lock.999999998"), "999999998\n").unwrap();
        let live = dir.path().join(format!("box.lock.{}", std::process::id()));
        fs::write(&live, "").unwrap();
        let lock = take_dotlock(&path).unwrap();
        assert!(lock.exists());
        assert!(!dir.path().join("box.lock.999999998").exists());
        assert!(!live.exists(), "our own file was used and removed");
    }
}
