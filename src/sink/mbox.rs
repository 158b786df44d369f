//! mbox delivery in the mboxrd dialect (RFC 4155 and the mboxrd convention): a `From `
//! separator line with the envelope sender and date, every line matching `^>*From ` quoted
//! with one more `>`, a newline added if the message lacks a final one, and exactly one blank
//! line after each message. The quoting is done as the message streams through (see
//! [`Quoter`]): no line is held whole, so a message that is one line of 100 MB costs no more
//! memory than any other.
//!
//! The file is shared with MUAs and MDAs, so a batch holds both kinds of lock they use: a
//! `FILE.lock` dotlock (broken when its owner is dead, or when older than
//! [`STALE_DOTLOCK`]) and an fcntl write lock. Bytes are appended in place, so the batch
//! journals its starting length and its pid first: a failed message is truncated away at
//! once, and a crash mid-batch is cut away by the next run.
//!
//! Cut away, not truncated: once the crashed run is dead its dotlock is stale, and another
//! program (a MUA, an MDA, mailfetch for another account) may break it and append its own
//! mail after the torn batch before the next run comes. So beside the dotlock a file
//! `FILE.lock.TAG` (TAG: the pid and a number), which such a program does not remove, says
//! where the message being written began and its `From ` line. Recovery reads it and removes
//! only the batch's bytes: its complete messages, and the torn one up to the next `From `
//! line at a line start (the other program's first message: this sink, like careful MUAs,
//! starts a message after a blank line, and quotes body lines that would look like one).
//! Anything after that is moved down in place of the batch.

use super::{Intent, Meta, Outcome, Prepared, Recovered, Rollback, Sink, Unfinished};
use crate::error::{Class, Error, Result};
use crate::header::{return_path, MAX as HEADER_MAX};
use crate::signals::{self, AbortUnlink};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The kind of this sink's intents. Its intent is the rollback of a batch: the file's length
/// before it, a line end, and the tag of the batch's lock (see the module doc).
const KIND: &str = "mbox";

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
    dotlock: Option<Dotlock>,
    batch_start: u64,
    len: u64,
    buf: Vec<u8>,
    lines: Lines,
}

/// Bytes read from a message body at once.
const READ: usize = 64 * 1024;

/// A reader over each message's body with one buffer for all of them, so that no message
/// pays for allocating and zeroing its own.
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

    /// The bytes of `src` buffered and not yet taken, after a fresh read if there were none;
    /// empty at the end.
    fn fill(&mut self, src: &mut dyn Read) -> std::io::Result<&[u8]> {
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
        }
        Ok(&self.buf[self.pos..self.end])
    }

    /// Take the next bytes of `src` (see [`Lines::fill`]); empty at the end.
    fn chunk(&mut self, src: &mut dyn Read) -> std::io::Result<&[u8]> {
        self.fill(src)?;
        let start = std::mem::replace(&mut self.pos, self.end);
        Ok(&self.buf[start..self.end])
    }

    /// Append the next line of `src` (up to and including its LF, or to the end of the body),
    /// but no more than `max` bytes of it, to `out`; how many bytes that was, 0 at the end.
    fn read_line(
        &mut self,
        src: &mut dyn Read,
        out: &mut Vec<u8>,
        max: usize,
    ) -> std::io::Result<usize> {
        let start = out.len();
        while out.len() - start < max {
            let room = max - (out.len() - start);
            let avail = self.fill(src)?;
            if avail.is_empty() {
                break;
            }
            let avail = &avail[..avail.len().min(room)];
            let (take, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            out.extend_from_slice(&avail[..take]);
            self.pos += take;
            if done {
                break;
            }
        }
        Ok(out.len() - start)
    }
}

/// mboxrd quoting as a stream: every line matching `^>*From ` gets one more `>`, whatever
/// the line's length and however the message arrives in pieces, with no line held whole.
///
/// Only the start of a line decides, and a `>` added anywhere among a line's leading `>`s
/// is the same as one added in front: so the leading `>`s are copied as they come, and only
/// what follows them is held back while it could still become `From ` (at most four bytes).
struct Quoter {
    /// At the start of a line, or among its leading `>`s: not yet known whether it is quoted.
    deciding: bool,
    /// What follows the leading `>`s so far, while it is a proper prefix of `From `.
    held: [u8; 5],
    held_len: usize,
    /// The last byte taken.
    last: u8,
}

impl Quoter {
    /// A quoter at the start of a line.
    fn new() -> Quoter {
        Quoter {
            deciding: true,
            held: [0; 5],
            held_len: 0,
            last: b'\n',
        }
    }

    /// Quote `data`, the next piece of the message, into `out`.
    fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while let Some((&b, rest)) = data.split_first() {
            if !self.deciding {
                match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        out.extend_from_slice(&data[..=i]);
                        data = &data[i + 1..];
                        self.deciding = true;
                        self.last = b'\n';
                    }
                    None => {
                        out.extend_from_slice(data);
                        self.last = data[data.len() - 1];
                        data = &[];
                    }
                }
                continue;
            }
            data = rest;
            self.last = b;
            if self.held_len == 0 && b == b'>' {
                out.push(b);
                continue;
            }
            self.held[self.held_len] = b;
            self.held_len += 1;
            let held = &self.held[..self.held_len];
            if held == b"From " {
                out.push(b'>');
            } else if b"From ".starts_with(held) {
                continue;
            }
            out.extend_from_slice(held);
            self.held_len = 0;
            self.deciding = b == b'\n';
        }
    }

    /// The end of the message: what is held back is not `From `, and is written as it is.
    fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.held[..self.held_len]);
        self.held_len = 0;
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

/// The dotlocks this process holds (several accounts may deliver to one mbox at once).
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Tells apart the second names of this process's dotlocks.
static NEXT_TAG: AtomicU64 = AtomicU64::new(0);

/// Whether the dotlock at `path` was left by a dead process or is too old to trust. One that
/// names this process and that it does not hold was left by an earlier process with the same
/// pid.
fn dotlock_is_stale(path: &Path) -> bool {
    let text = fs::read_to_string(path).unwrap_or_default();
    let first = text.lines().next().unwrap_or("");
    if let Ok(pid) = first.trim().parse::<i32>() {
        if pid == std::process::id() as i32 {
            return !HELD
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|p| p == path);
        }
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

/// A dotlock we hold: `FILE.lock`, and beside it `FILE.lock.TAG` (TAG: our pid and a
/// number), which notes our progress and which other programs leave alone when they break
/// a stale lock.
struct Dotlock {
    lock: PathBuf,
    tag: String,
    own: Option<PathBuf>,
    /// `own`, open.
    file: File,
    /// `lock` is unlinked if a second signal ends the run (see the `signals` module).
    abort: Option<AbortUnlink>,
}

impl Dotlock {
    /// Note in the lock that a message with this `From ` line starts at `offset` (see the
    /// module doc). Best effort: without it, a recovery cuts nothing it cannot place.
    fn note(&self, offset: u64, from_line: &[u8]) {
        use std::os::unix::fs::FileExt;
        let mut text = format!("{PROGRESS} {offset} ").into_bytes();
        text.extend_from_slice(from_line);
        text.push(b'\n');
        let _ = self.file.write_all_at(&text, 0);
        let _ = self.file.set_len(text.len() as u64);
    }

    /// Remove the lock; and the progress file unless `keep_progress` (a batch whose fate the
    /// journal decides: the next run's recovery reads it).
    fn release(mut self, keep_progress: bool) {
        // Off the list first: once removed, the name may be another program's lock.
        self.abort = None;
        let _ = fs::remove_file(&self.lock);
        if let Some(own) = self.own.as_ref().filter(|_| !keep_progress) {
            let _ = fs::remove_file(own);
        }
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.lock);
    }
}

/// What `FILE.lock.TAG` holds: `mailfetch-mbox-progress OFFSET FROM-LINE`.
const PROGRESS: &str = "mailfetch-mbox-progress";

/// Whether `tag` can be the TAG of a `FILE.lock.TAG` of ours.
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// Where the message being written by the dead run whose lock had `tag` began, and its
/// `From ` line.
fn progress_of(mbox: &Path, tag: &str) -> Option<(u64, Vec<u8>)> {
    let text = fs::read(suffixed(mbox, &format!(".lock.{tag}"))).ok()?;
    let line = text.split(|&b| b == b'\n').next()?;
    let rest = line.strip_prefix(PROGRESS.as_bytes())?.strip_prefix(b" ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let offset = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
    Some((offset, rest[space + 1..].to_vec()))
}

/// Take the dotlock `FILE.lock`, breaking a stale one.
///
/// The lock is written whole under a name of its own, `FILE.lock.PID`, and then linked into
/// place, so `FILE.lock` always holds our pid: created empty and killed before the pid was
/// written, it would look like a live lock of an unknown owner and block every run for
/// [`STALE_DOTLOCK`]. Where hard links fail (filesystems without them), the lock is created
/// in place.
fn take_dotlock(mbox: &Path) -> Result<Dotlock> {
    let lock = suffixed(mbox, ".lock");
    let pid = std::process::id();
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let tag = format!("{pid}-{}", NEXT_TAG.fetch_add(1, Ordering::Relaxed));
        match create_dotlock(&lock, &suffixed(mbox, &format!(".lock.{tag}")), tag) {
            Ok(held) => {
                HELD.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(lock.clone());
                return Ok(held);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if dotlock_is_stale(&lock) {
                    let _ = fs::remove_file(&lock);
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

/// Create `lock` holding our pid, by way of `own` (see [`take_dotlock`]), then make `own`
/// the file that notes our progress (separate, so the lock holds nothing but the pid that
/// other programs read); `AlreadyExists` if someone holds the lock (or `own` is left from an
/// earlier process with our pid: the caller tries the next tag).
fn create_dotlock(lock: &Path, own: &Path, tag: String) -> std::io::Result<Dotlock> {
    let create = |path: &Path| {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
    };
    writeln!(create(own)?, "{}", std::process::id())?;
    let linked = fs::hard_link(own, lock);
    let _ = fs::remove_file(own);
    match linked {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(e),
        // No hard links here: create the lock in place.
        Err(_) => writeln!(create(lock)?, "{}", std::process::id())?,
        Ok(()) => {}
    }
    let file = match create(own) {
        Ok(file) => file,
        Err(e) => {
            let _ = fs::remove_file(lock);
            return Err(e);
        }
    };
    Ok(Dotlock {
        lock: lock.to_path_buf(),
        tag,
        own: Some(own.to_path_buf()),
        file,
        abort: signals::unlink_on_abort(lock),
    })
}

/// Where another program's mail begins in `file` after a torn batch whose last message
/// started at `offset` with `from_line` (see the module doc): at `offset` if that message
/// never got there, else at the first `From ` line after it that starts a line, else at
/// `end` (nothing but ours).
fn foreign_start(file: &File, offset: u64, from_line: &[u8], end: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; from_line.len() + 1];
    // `offset` comes from a file on disk: a damaged one may name any number, u64::MAX too.
    let fits = offset
        .checked_add(head.len() as u64)
        .is_some_and(|stop| stop <= end);
    let ours = fits && {
        file.read_exact_at(&mut head, offset)?;
        head[..from_line.len()] == *from_line && head[from_line.len()] == b'\n'
    };
    if !ours {
        return Ok(offset.min(end));
    }
    // Search "\nFrom " in chunks that overlap by its length less one.
    let needle = b"\nFrom ";
    let mut at = offset + from_line.len() as u64;
    let mut buf = vec![0u8; 256 * 1024];
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        if let Some(i) = memchr::memmem::find(&buf[..n], needle) {
            return Ok(at + i as u64 + 1);
        }
        if at + (n as u64) >= end {
            break;
        }
        at += (n - (needle.len() - 1)) as u64;
    }
    Ok(end)
}

/// Remove `file`'s bytes `from..to` (of `end`), moving what follows down.
fn cut(file: &File, from: u64, to: u64, end: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut src, mut dst) = (to, from);
    while src < end {
        let n = ((end - src) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], src)?;
        file.write_all_at(&buf[..n], dst)?;
        src += n as u64;
        dst += n as u64;
    }
    file.set_len(dst)?;
    file.sync_data()
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
                self.release_dotlock(false);
                return Err(e);
            }
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("just opened"))
    }

    fn release_dotlock(&mut self, keep_progress: bool) {
        if let Some(lock) = self.dotlock.take() {
            lock.release(keep_progress);
        }
    }

    fn unlock(&mut self) {
        self.unlock_keeping(false);
    }

    fn unlock_keeping(&mut self, keep_progress: bool) {
        if let Some(file) = self.file.take() {
            let _ = fcntl_lock(&file, &self.path, libc::F_UNLCK as libc::c_short);
        }
        self.release_dotlock(keep_progress);
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

    fn write_message(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<()> {
        self.lines.reset();
        // Read the header (up to 64 KB) first, for the Return-Path of the From line.
        let mut header = Vec::new();
        let mut more = true;
        while header.len() < HEADER_MAX {
            let start = header.len();
            let n = self
                .lines
                .read_line(body, &mut header, HEADER_MAX - start)
                .map_err(|e| Error::network("receiving a message", e))?;
            if n == 0 {
                more = false;
                break;
            }
            if header[start..] == *b"\n" {
                break;
            }
        }
        let from_line = format!(
            "From {} {}",
            return_path(&header).as_deref().unwrap_or("MAILER-DAEMON"),
            from_date(meta.internal_date)
        );
        if let Some(lock) = &self.dotlock {
            lock.note(self.len, from_line.as_bytes());
        }
        self.buf.extend_from_slice(from_line.as_bytes());
        self.buf.push(b'\n');
        let mut quoter = Quoter::new();
        quoter.push(&header, &mut self.buf);
        // The body follows; a header cut off at 64 KB continues where it was cut.
        while more {
            let chunk = self
                .lines
                .chunk(body)
                .map_err(|e| Error::network("receiving a message", e))?;
            more = !chunk.is_empty();
            quoter.push(chunk, &mut self.buf);
            if self.buf.len() >= BUFFER {
                self.flush_buf()?;
            }
        }
        quoter.finish(&mut self.buf);
        if quoter.last != b'\n' {
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

    fn begin(&mut self) -> Result<Option<Rollback>> {
        let path = self.path.clone();
        let file = self.lock()?;
        let len = file
            .metadata()
            .map_err(|e| Error::local(format!("cannot read {}", path.display()), e))?
            .len();
        // A message starts after a blank line, also when the file ends in another program's
        // torn one: so it is seen, and the recovery can tell where ours end.
        let pad: &[u8] = match last_two(file, len) {
            Ok([_, b'\n']) if len == 1 => b"",
            Ok([b'\n', b'\n']) => b"",
            Ok([_, b'\n']) => b"\n",
            Ok(_) if len > 0 => b"\n\n",
            _ => b"",
        };
        if !pad.is_empty() {
            use std::os::unix::fs::FileExt;
            file.write_all_at(pad, len)
                .map_err(|e| Error::local(format!("writing {}", path.display()), e))?;
        }
        self.batch_start = len;
        self.len = len + pad.len() as u64;
        let tag = self.dotlock.as_ref().map_or("", |l| l.tag.as_str());
        Ok(Some(Rollback(Intent {
            kind: KIND,
            data: format!("{len}\n{tag}").into_bytes(),
        })))
    }

    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<Outcome> {
        let start = self.len;
        let result = self.write_message(meta, body);
        if result.is_err() {
            self.truncate_to(start)?;
        }
        result.map(|()| Outcome::Delivered)
    }

    fn prepare(&mut self) -> Result<Prepared> {
        self.flush_buf()?;
        if let Some(file) = &self.file {
            file.sync_data()
                .map_err(|e| Error::local(format!("cannot sync {}", self.path.display()), e))?;
        }
        Ok(Prepared::default())
    }

    fn commit(&mut self) -> Result<()> {
        self.unlock();
        Ok(())
    }

    fn abort(&mut self) {
        let start = self.batch_start;
        // Not truncated: the next run's recovery cuts the batch away, by its progress file.
        let failed = self.truncate_to(start).is_err();
        self.unlock_keeping(failed);
    }

    fn recover(&mut self, unfinished: &Unfinished) -> Result<Option<Recovered>> {
        let Unfinished::Rollback { kind, data } = unfinished else {
            return Ok(None);
        };
        let Some(text) = std::str::from_utf8(data).ok().filter(|_| kind == KIND) else {
            return Ok(None);
        };
        let mut parts = text.split('\n');
        let Some(Ok(len)) = parts.next().map(str::parse::<u64>) else {
            return Ok(None);
        };
        // Written by a version that did not record its lock's tag: cut if a message starts
        // there.
        let tag = parts.next().filter(|t| valid_tag(t));
        let path = self.path.clone();
        let progress = tag.and_then(|tag| progress_of(&path, tag));
        let failed = |e| Error::local(format!("cannot recover {}", path.display()), e);
        let file = self.lock()?;
        let now = file.metadata().map_err(failed)?.len();
        if now > len {
            match (tag, progress) {
                (Some(_), Some((offset, from_line))) if offset >= len => {
                    let foreign = foreign_start(file, offset, &from_line, now).map_err(failed)?;
                    cut(file, len, foreign, now).map_err(failed)?;
                }
                // The run died before writing a message: what follows is not ours.
                (Some(_), _) => {}
                (None, _) => {
                    let mut head = [0u8; 5];
                    use std::os::unix::fs::FileExt;
                    if file.read_exact_at(&mut head, len).is_ok() && &head == b"From " {
                        cut(file, len, now, now).map_err(failed)?;
                    }
                }
            }
        }
        if let Some(tag) = tag {
            let _ = fs::remove_file(suffixed(&path, &format!(".lock.{tag}")));
        }
        self.unlock();
        Ok(None)
    }
}

/// The last two bytes before `len` (zeros where the file is shorter).
fn last_two(file: &File, len: u64) -> std::io::Result<[u8; 2]> {
    use std::os::unix::fs::FileExt;
    let mut two = [0u8; 2];
    match len {
        0 => {}
        1 => file.read_exact_at(&mut two[1..], 0)?,
        _ => file.read_exact_at(&mut two, len - 2)?,
    }
    Ok(two)
}

impl Drop for Mbox {
    /// Dropped holding the locks, the batch was neither committed nor aborted (its journal
    /// record failed): the progress file stays for the next run's recovery.
    fn drop(&mut self) {
        self.unlock_keeping(true);
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
    fn lines_longer_than_any_buffer_are_quoted_by_their_start_alone() {
        let gts = ">".repeat(300_000);
        let ys = "y".repeat(300_000);
        let long_header = format!("X-Long: {}", "a".repeat(100_000));
        let msg = format!("{long_header}\n>From h\n\n{gts}From x\n{ys}From z\nFrom");
        for step in [7, 4096, 1 << 20] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("box");
            let mut m = Mbox::open(&path).unwrap();
            m.begin().unwrap();
            m.deliver(&meta(), &mut Trickle(msg.as_bytes(), step))
                .unwrap();
            m.prepare().unwrap();
            m.commit().unwrap();
            let text = fs::read_to_string(&path).unwrap();
            let want = format!(
                "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n{long_header}\n>>From h\n\n\
                 >{gts}From x\n{ys}From z\nFrom\n\n"
            );
            assert!(text == want, "step {step}");
        }
    }

    /// A body that arrives `.1` bytes at a time.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn quoting_does_not_depend_on_how_the_body_arrives() {
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
        let intent = Unfinished::from(m.begin().unwrap().unwrap());
        m.deliver(&meta(), &mut &b"Subject: two\n\n"[..]).unwrap();
        m.flush_buf().unwrap();
        crash(m);
        let lock = dir.path().join("box.lock");
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
        let pid = std::process::id().to_string();
        assert_eq!(fs::read_to_string(&lock.lock).unwrap().trim(), pid);
        // Beside it, the progress file a program breaking the lock leaves for our recovery.
        let own = dir.path().join(format!("box.lock.{}", lock.tag));
        assert_eq!(lock.own.as_deref(), Some(own.as_path()));
        lock.note(7, b"From x@y Thu Jan  1 00:00:00 1970");
        assert_eq!(
            progress_of(&path, &lock.tag),
            Some((7, b"From x@y Thu Jan  1 00:00:00 1970".to_vec()))
        );
        assert_eq!(
            fs::read_to_string(&lock.lock).unwrap().trim(),
            pid,
            "the lock holds the pid alone"
        );
        lock.release(false);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A kill -9 of the process holding `m`: its locks stay behind, naming a process that
    /// no longer holds them.
    fn crash(m: Mbox) {
        let lock = m.dotlock.as_ref().map(|l| l.lock.clone());
        std::mem::forget(m);
        HELD.lock().unwrap().retain(|p| Some(p) != lock.as_ref());
    }

    /// Another program's mail appended the way careful MUAs do: after a blank line.
    fn append_as_a_mua(path: &Path, text: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        let old = fs::read(path).unwrap();
        if !old.ends_with(b"\n\n") {
            f.write_all(if old.ends_with(b"\n") { b"\n" } else { b"\n\n" })
                .unwrap();
        }
        f.write_all(text).unwrap();
    }

    #[test]
    fn recovery_cuts_out_the_torn_batch_and_keeps_mail_another_program_appended_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        deliver_all(&path, &[b"Subject: one\n\nbody\n"]);
        let before = fs::read(&path).unwrap();
        let mut m = Mbox::open(&path).unwrap();
        let intent = Unfinished::from(m.begin().unwrap().unwrap());
        m.deliver(&meta(), &mut &b"Subject: two\n\ncomplete\n"[..])
            .unwrap();
        // The third message is cut off mid-line by the crash.
        let from = b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970";
        m.dotlock.as_ref().unwrap().note(m.len, from);
        let mut torn = from.to_vec();
        torn.extend_from_slice(b"\nSubject: three\n\nhalf a li");
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&torn)
            .unwrap();
        crash(m);
        // A MUA breaks the dead run's lock and appends two messages.
        fs::remove_file(dir.path().join("box.lock")).unwrap();
        let mua = b"From mua@example.org Wed Dec  2 06:00:00 2026\nSubject: mua\n\n>From me\n\n\
                    From mua@example.org Wed Dec  2 06:00:01 2026\nSubject: mua 2\n\nhi\n\n";
        append_as_a_mua(&path, mua);
        let mut m = Mbox::open(&path).unwrap();
        m.recover(&intent).unwrap();
        let mut want = before;
        want.extend_from_slice(mua);
        assert_eq!(
            String::from_utf8(fs::read(&path).unwrap()).unwrap(),
            String::from_utf8(want).unwrap()
        );
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no lock files left: {left:?}");
    }

    #[test]
    fn a_run_that_died_before_its_first_message_leaves_what_follows_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        deliver_all(&path, &[b"Subject: one\n\nbody\n"]);
        let mut m = Mbox::open(&path).unwrap();
        let intent = Unfinished::from(m.begin().unwrap().unwrap());
        crash(m);
        fs::remove_file(dir.path().join("box.lock")).unwrap();
        append_as_a_mua(
            &path,
            b"From mua@example.org Wed Dec  2 06:00:00 2026\nSubject: mua\n\n",
        );
        let after_mua = fs::read(&path).unwrap();
        Mbox::open(&path).unwrap().recover(&intent).unwrap();
        assert_eq!(fs::read(&path).unwrap(), after_mua);
    }

    #[test]
    fn a_message_appended_after_a_torn_one_starts_after_a_blank_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        fs::write(
            &path,
            "From x@y Thu Jan  1 00:00:00 1970\nSubject: torn\n\nhalf",
        )
        .unwrap();
        deliver_all(&path, &[b"Subject: next\n\nbody\n"]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(
                "From x@y Thu Jan  1 00:00:00 1970\nSubject: torn\n\nhalf\n\nFrom MAILER-DAEMON "
            ),
            "{text:?}"
        );
    }

    #[test]
    fn a_progress_offset_near_u64_max_is_taken_as_never_written() {
        // Found by the fuzz target mbox_progress: the offset plus the From line overflowed.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        fs::write(&path, "From x@y Thu Jan  1 00:00:00 1970\n\nbody\n").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(
            foreign_start(&file, u64::MAX - 3, b"From x", 40).unwrap(),
            40
        );
    }
}
