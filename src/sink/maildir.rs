//! Maildir delivery (cr.yp.to/proto/maildir.html), with Maildir++ subfolders for IMAP folders.
//!
//! Each message is written to `tmp/` under a unique name, and only after it and `tmp/` are
//! durable is it renamed into `new/` (or `cur/` with an info suffix when it carries flags);
//! then the destination directory is fsync'd. Readers never see a partial message.
//!
//! Durability is per group, not per file: the files are handed to a background thread
//! ([`Syncer`]) as they are written, which makes them durable in groups of up to 32 with one
//! `syncfs(2)` each while the next messages arrive; [`Sink::prepare`] waits for the last
//! group, then fsyncs the batch's `tmp/` directories once. A batch shares the directory
//! syncs; the renames are journalled first so a crash between "durable in tmp/" and
//! "renamed" is finished by the next run instead of fetched again. Nothing is journalled
//! before `prepare` returns, so a crash costs at most the batch in progress (`pull`'s batch
//! size: 200 messages, 32 MB or one second), which is fetched again; its files in `tmp/` are
//! never published and are removed by a later run after 36 hours. Recovery trusts the
//! journal only as far as it must: it renames only from this Maildir's `tmp/` to its `new/`
//! or `cur/`, and refuses a batch that names anything else (see [`own_rename`]).
//!
//! The next message's file in `tmp/` is created ahead by another background thread
//! ([`Ahead`]), so that neither creating nor syncing a file waits on the thread that
//! receives the mail.

use super::syncer::Syncer;
use super::{Forward, Intent, Meta, Outcome, Prepared, Recovered, Rollback, Sink, Unfinished};
use crate::error::{Error, Result};
use crate::fsync::sync_dir;
use crate::signals::{self, AbortUnlink};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The kind of this sink's intents. Its intent is one line per message of the batch:
/// `TMP <tab> DEST`, the rename still to be made.
const KIND: &str = "maildir";

/// Per the Maildir spec, tmp files older than this are left over and may be removed.
const TMP_MAX_AGE: Duration = Duration::from_secs(36 * 3600);

struct Pending {
    tmp: String,
    dest: String,
    /// Until the batch is journalled: the file is unlinked if a second signal ends the run.
    abort: Option<AbortUnlink>,
}

/// A Maildir (with Maildir++ subfolders).
pub struct Maildir {
    root: PathBuf,
    host: String,
    ready: HashSet<String>,
    pending: Vec<Pending>,
    syncer: Syncer,
    ahead: Ahead,
}

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// The Maildir++ subfolder for remote folder `name` with hierarchy delimiter `delimiter`:
/// `""` for INBOX, else `.` plus the components joined by `.`. Every character that could
/// escape the Maildir or collide (`/`, `.`, `%`, `\`, control characters, NUL) is written as
/// `%XX`, so the result is always one path component inside the root and the mapping is
/// reversible (see [`maildir_to_folder`]).
pub fn folder_to_maildir(name: &str, delimiter: Option<char>) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return String::new();
    }
    let parts: Vec<&str> = match delimiter {
        Some(d) => name.split(d).collect(),
        None => vec![name],
    };
    let mut out = String::with_capacity(name.len() + 1);
    for part in parts {
        out.push('.');
        out.push_str(&crate::percent::encode(part, |c| {
            c.is_control() || matches!(c, '.' | '/' | '\\')
        }));
    }
    out
}

/// The inverse of [`folder_to_maildir`], joining components with `delimiter`.
pub fn maildir_to_folder(dir: &str, delimiter: char) -> Option<String> {
    if dir.is_empty() {
        return Some("INBOX".to_string());
    }
    let body = dir.strip_prefix('.')?;
    let mut parts = Vec::new();
    for part in body.split('.') {
        parts.push(crate::percent::decode(part)?);
    }
    Some(parts.join(&delimiter.to_string()))
}

/// The Maildir info suffix for `flags` (`:2,` then the letters in ASCII order).
fn info(meta: &Meta) -> String {
    let f = meta.flags;
    let mut s = String::from(":2,");
    for (on, letter) in [
        (f.draft, 'D'),
        (f.flagged, 'F'),
        (f.answered, 'R'),
        (f.seen, 'S'),
        (f.deleted, 'T'),
    ] {
        if on {
            s.push(letter);
        }
    }
    s
}

/// A new file name, unique per the Maildir spec: seconds, then microseconds, process ID and
/// a per-process delivery count, then the host.
fn unique_name(host: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let q = DELIVERIES.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        q,
    )
}

/// A file in `tmp/`: its name, the open file, and its registration to be unlinked if a
/// second signal ends the run (see the `signals` module).
type TmpFile = (String, File, Option<AbortUnlink>);

/// Create a new file in `tmp` under a unique name, readable by the owner only.
fn create_tmp(tmp: &Path, host: &str) -> std::io::Result<TmpFile> {
    let name = unique_name(host);
    let path = tmp.join(&name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    Ok((name, file, signals::unlink_on_abort(&path)))
}

/// The next delivery's file, created by a background thread while the current message is
/// received: creating a file can cost as much as receiving a small message (the inode
/// allocator of an ext4 without a journal scans past every inode freed in the last minutes;
/// a network filesystem costs a round trip), and this takes it off the receiving thread. One
/// file is created ahead, in the `tmp/` of the folder delivered to last; an unused one is
/// removed (a crash may leave it, empty, in `tmp/`, where [`Maildir::open`] removes it after
/// 36 hours like any other leftover).
struct Ahead {
    requests: Option<mpsc::SyncSender<PathBuf>>,
    created: mpsc::Receiver<(PathBuf, std::io::Result<TmpFile>)>,
    /// The `tmp/` directory of the request in flight.
    waiting: Option<PathBuf>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ahead {
    fn new(host: String) -> Ahead {
        let (requests, queue) = mpsc::sync_channel::<PathBuf>(1);
        let (done, created) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("mailfetch-create".into())
            .spawn(move || {
                for tmp in queue {
                    let r = create_tmp(&tmp, &host);
                    if done.send((tmp, r)).is_err() {
                        return;
                    }
                }
            })
            .ok();
        Ahead {
            requests: thread.as_ref().map(|_| requests),
            created,
            waiting: None,
            thread,
        }
    }

    /// A new file in `tmp` (its name and the open file), and the next one asked for.
    fn take(&mut self, tmp: &Path, host: &str) -> std::io::Result<TmpFile> {
        let mut made = None;
        if let Some(dir) = self.waiting.take() {
            if let Ok((dir_made, r)) = self.created.recv() {
                match r {
                    Ok(file) if dir_made == tmp && dir == tmp => made = Some(file),
                    Ok((name, _, _)) => {
                        let _ = fs::remove_file(dir_made.join(name));
                    }
                    // Created again below, here, so that the error is this delivery's.
                    Err(_) => {}
                }
            }
        }
        let made = match made {
            Some(m) => m,
            None => create_tmp(tmp, host)?,
        };
        if let Some(requests) = &self.requests {
            if requests.send(tmp.to_path_buf()).is_ok() {
                self.waiting = Some(tmp.to_path_buf());
            }
        }
        Ok(made)
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if self.waiting.take().is_some() {
            if let Ok((dir, Ok((name, _, _)))) = self.created.recv() {
                let _ = fs::remove_file(dir.join(name));
            }
        }
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// This host's name with `/` and `:` escaped as the Maildir spec says.
fn hostname() -> String {
    crate::net::hostname()
        .unwrap_or_else(|| "localhost".to_string())
        .replace('/', "\\057")
        .replace(':', "\\072")
}

impl Maildir {
    /// Open (creating if missing) the Maildir at `root`.
    pub fn open(root: &Path) -> Result<Maildir> {
        let host = hostname();
        let mut m = Maildir {
            root: root.to_path_buf(),
            ahead: Ahead::new(host.clone()),
            host,
            ready: HashSet::new(),
            pending: Vec::new(),
            syncer: Syncer::new(),
        };
        m.ensure("")?;
        m.clean_tmp("");
        Ok(m)
    }

    /// Make sure `folder` (a Maildir++ subfolder name, `""` for the root) has tmp/new/cur.
    fn ensure(&mut self, folder: &str) -> Result<()> {
        if self.ready.contains(folder) {
            return Ok(());
        }
        let dir = self.root.join(folder);
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for sub in ["tmp", "new", "cur"] {
            let path = dir.join(sub);
            builder.create(&path).map_err(|e| {
                Error::local(
                    format!("cannot create Maildir folder {}", path.display()),
                    e,
                )
            })?;
        }
        if !folder.is_empty() {
            // Maildir++: a subfolder is marked by this file.
            let marker = dir.join("maildirfolder");
            if !marker.exists() {
                File::create(&marker)
                    .map_err(|e| Error::local(format!("cannot create {}", marker.display()), e))?;
            }
        }
        sync_dir(&dir)?;
        sync_dir(dir.parent().unwrap_or(&self.root))?;
        self.ready.insert(folder.to_string());
        Ok(())
    }

    /// Remove tmp files older than 36 hours: left over by crashes (ours or anyone's).
    ///
    /// Their age is the time of their last change (ctime), not their modification time: a
    /// message's file carries the message's date as its mtime from the moment it is complete,
    /// and a file that a crash left for recovery to publish must not be taken for an old one.
    fn clean_tmp(&self, folder: &str) {
        use std::os::unix::fs::MetadataExt;
        let tmp = self.root.join(folder).join("tmp");
        let Ok(entries) = fs::read_dir(&tmp) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .ok()
                .and_then(|m| u64::try_from(m.ctime()).ok())
                .and_then(|secs| {
                    now.duration_since(UNIX_EPOCH + Duration::from_secs(secs))
                        .ok()
                })
                .is_some_and(|age| age > TMP_MAX_AGE);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn rel(folder: &str, sub: &str, name: &str) -> String {
        if folder.is_empty() {
            format!("{sub}/{name}")
        } else {
            format!("{folder}/{sub}/{name}")
        }
    }

    fn parent_of(&self, rel: &str) -> PathBuf {
        self.root
            .join(rel)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone())
    }
}

impl Sink for Maildir {
    fn describe(&self) -> String {
        format!("{} (Maildir)", self.root.display())
    }

    fn begin(&mut self) -> Result<Option<Rollback>> {
        Ok(None)
    }

    fn deliver(&mut self, meta: &Meta, body: &mut dyn Read) -> Result<Outcome> {
        let folder = folder_to_maildir(meta.mailbox, meta.delimiter);
        self.ensure(&folder)?;
        let tmp_dir = self.root.join(&folder).join("tmp");
        let (name, file, abort) = self.ahead.take(&tmp_dir, &self.host).map_err(|e| {
            Error::local(format!("cannot create a file in {}", tmp_dir.display()), e)
        })?;
        let tmp = Self::rel(&folder, "tmp", &name);
        let path = self.root.join(&tmp);
        // Written (and synced) by the sync thread, behind the receiver.
        let mut to = match self.syncer.open(file, path.clone()) {
            Ok(to) => to,
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(e);
            }
        };
        if let Err(e) = self.syncer.copy(body, &mut to, super::CHUNK) {
            self.syncer.discard(to);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        let modified = meta
            .internal_date
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64));
        let dest = if meta.flags.any() {
            Self::rel(&folder, "cur", &format!("{name}{}", info(meta)))
        } else {
            Self::rel(&folder, "new", &name)
        };
        if let Err(e) = self.syncer.close(to, modified) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        self.pending.push(Pending { tmp, dest, abort });
        Ok(Outcome::Delivered)
    }

    fn prepare(&mut self) -> Result<Prepared> {
        if self.pending.is_empty() {
            return Ok(Prepared::default());
        }
        // The files were synced in the background while the next ones arrived.
        self.syncer.wait()?;
        let mut dirs = HashSet::new();
        let mut intent = String::new();
        for p in &self.pending {
            dirs.insert(self.parent_of(&p.tmp));
            if !intent.is_empty() {
                intent.push('\n');
            }
            intent.push_str(&p.tmp);
            intent.push('\t');
            intent.push_str(&p.dest);
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        // The journal is about to name these files: from now on they are recovery's.
        for p in &mut self.pending {
            p.abort = None;
        }
        Ok(Prepared {
            forward: Some(Forward(Intent {
                kind: KIND,
                data: intent.into_bytes(),
            })),
            ..Prepared::default()
        })
    }

    fn commit(&mut self) -> Result<()> {
        let mut dirs = HashSet::new();
        for p in self.pending.drain(..) {
            let (from, to) = (self.root.join(&p.tmp), self.root.join(&p.dest));
            fs::rename(&from, &to).map_err(|e| {
                Error::local(format!("cannot move {} into place", from.display()), e)
            })?;
            dirs.insert(to.parent().map(Path::to_path_buf).unwrap_or_default());
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    fn abort(&mut self) {
        let _ = self.syncer.wait();
        for p in self.pending.drain(..) {
            let _ = fs::remove_file(self.root.join(&p.tmp));
        }
    }

    fn recover(&mut self, unfinished: &Unfinished) -> Result<Option<Recovered>> {
        let Unfinished::Forward { kind, data } = unfinished else {
            return Ok(None);
        };
        if kind != KIND {
            return Err(Error::local(
                "the state journal holds an unfinished batch of another kind of target; \
                 was the target changed? Finish it with the old target or run with --reset-state",
                std::io::ErrorKind::InvalidData.into(),
            ));
        }
        let damaged = |what: &str| {
            Error::local(
                format!(
                    "the state journal's unfinished batch names {what}, which is not a \
                     move from tmp/ to new/ or cur/ inside {}: the journal is damaged \
                     (or forged); nothing was moved. Run with --reset-state to start afresh",
                    self.root.display()
                ),
                std::io::ErrorKind::InvalidData.into(),
            )
        };
        let text = std::str::from_utf8(data).map_err(|_| damaged("bytes that are not text"))?;
        let lines = text.lines();
        // Every rename is checked before the first is made: a damaged or forged journal
        // renames nothing.
        let mut renames = Vec::new();
        for line in lines {
            let Some((tmp, dest)) = line.split_once('\t').filter(|(t, d)| own_rename(t, d)) else {
                return Err(damaged(&format!("{line:?}")));
            };
            renames.push((tmp, dest));
        }
        let mut dirs = HashSet::new();
        for (tmp, dest) in renames {
            let (from, to) = (self.root.join(tmp), self.root.join(dest));
            if from.exists() {
                fs::rename(&from, &to).map_err(|e| {
                    Error::local(format!("cannot move {} into place", from.display()), e)
                })?;
                dirs.insert(self.parent_of(dest));
            }
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(None)
    }
}

/// Whether `tmp` -> `dest` is a rename this sink journals: from `[FOLDER/]tmp/NAME` to
/// `[FOLDER/]new/NAME` or `[FOLDER/]cur/NAME` plus an info suffix, in the same folder, where
/// FOLDER is a Maildir++ subfolder (`.` and more) and no part is empty, `.` or `..`. Relative
/// paths only: [`Maildir::recover`] must never rename anything outside the Maildir, whatever
/// the journal says.
fn own_rename(tmp: &str, dest: &str) -> bool {
    fn split(path: &str) -> Option<(&str, &str, &str)> {
        let plain = |p: &str| !p.is_empty() && p != "." && p != ".." && !p.contains('\0');
        let parts: Vec<&str> = path.split('/').collect();
        let (folder, sub, name) = match parts[..] {
            [sub, name] => ("", sub, name),
            [folder, sub, name] if folder.starts_with('.') && plain(folder) => (folder, sub, name),
            _ => return None,
        };
        plain(name).then_some((folder, sub, name))
    }
    match (split(tmp), split(dest)) {
        (Some((f1, "tmp", n1)), Some((f2, "new" | "cur", n2))) => f1 == f2 && n2.starts_with(n1),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Flags;

    fn meta(mailbox: &str, flags: Flags) -> Meta<'_> {
        Meta {
            mailbox,
            delimiter: Some('/'),
            flags,
            internal_date: Some(1_000_000_000),
            size: 0,
        }
    }

    #[test]
    fn hostile_folder_names_stay_inside_the_maildir() {
        for (name, delim) in [
            ("../../etc", Some('/')),
            ("a/b", Some('/')),
            (".", None),
            ("..", Some('.')),
            ("x\0y\r\n", Some('/')),
            ("a%2Fb", Some('/')),
            ("Entw&APw-rfe", Some('/')),
        ] {
            let dir = folder_to_maildir(name, delim);
            assert!(dir.starts_with('.'), "{name:?} -> {dir:?}");
            assert!(
                !dir.contains('/') && !dir.contains('\0'),
                "{name:?} -> {dir:?}"
            );
            assert!(dir != "." && dir != "..", "{name:?} -> {dir:?}");
            let back = maildir_to_folder(&dir, delim.unwrap_or('/')).unwrap();
            assert_eq!(back, name, "round trip of {name:?} via {dir:?}");
        }
        assert_eq!(folder_to_maildir("INBOX", Some('/')), "");
        assert_eq!(
            folder_to_maildir("Work/Receipts", Some('/')),
            ".Work.Receipts"
        );
        assert_eq!(
            folder_to_maildir("Work.Receipts", Some('.')),
            ".Work.Receipts"
        );
        assert_eq!(
            folder_to_maildir("Work.Receipts", Some('/')),
            ".Work%2EReceipts"
        );
    }

    #[test]
    fn flagged_messages_go_to_cur_with_info_and_date() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Maildir::open(dir.path()).unwrap();
        let flags = Flags {
            seen: true,
            flagged: true,
            ..Flags::default()
        };
        m.deliver(&meta("INBOX", flags), &mut &b"a\n"[..]).unwrap();
        m.deliver(&meta("INBOX", Flags::default()), &mut &b"b\n"[..])
            .unwrap();
        m.prepare().unwrap();
        m.commit().unwrap();
        let cur: Vec<_> = fs::read_dir(dir.path().join("cur")).unwrap().collect();
        let new: Vec<_> = fs::read_dir(dir.path().join("new")).unwrap().collect();
        assert_eq!((cur.len(), new.len()), (1, 1));
        let cur = cur[0].as_ref().unwrap();
        assert!(cur.file_name().to_string_lossy().ends_with(":2,FS"));
        let mtime = cur.metadata().unwrap().modified().unwrap();
        assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    }

    #[test]
    fn prepared_batch_is_finished_by_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Maildir::open(dir.path()).unwrap();
        m.deliver(&meta("Sub", Flags::default()), &mut &b"x\n"[..])
            .unwrap();
        let intent = Unfinished::from(m.prepare().unwrap().forward.unwrap());
        drop(m); // crash before commit
        let mut m = Maildir::open(dir.path()).unwrap();
        m.recover(&intent).unwrap();
        m.recover(&intent).unwrap(); // idempotent
        let new: Vec<_> = fs::read_dir(dir.path().join(".Sub/new")).unwrap().collect();
        assert_eq!(new.len(), 1);
        assert!(dir.path().join(".Sub/maildirfolder").exists());
    }

    #[test]
    fn recovery_renames_nothing_outside_the_maildir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("M");
        let mut m = Maildir::open(&root).unwrap();
        m.deliver(&meta("INBOX", Flags::default()), &mut &b"x\n"[..])
            .unwrap();
        let Some(Forward(good)) = m.prepare().unwrap().forward else {
            panic!("a Maildir batch rolls forward");
        };
        let good = String::from_utf8(good.data).unwrap();
        let forward = |text: String| Unfinished::Forward {
            kind: KIND.into(),
            data: text.into_bytes(),
        };
        drop(m);
        let theirs = dir.path().join("theirs");
        fs::write(&theirs, "attacker's key").unwrap();
        let victim = dir.path().join("authorized_keys");
        fs::write(&victim, "my key").unwrap();
        let forged = [
            format!("{}\t{}", theirs.display(), victim.display()),
            format!("tmp/x\t../../{}", victim.display()),
            "../theirs\tnew/theirs".to_string(),
            "tmp/../../theirs\tnew/x".to_string(),
            ".Sub/tmp/x\tnew/x".to_string(),
            "cur/x\tnew/x".to_string(),
            "tmp/x\tnew/y".to_string(),
            "tmp/x".to_string(),
        ];
        for bad in forged {
            // The good rename comes first: nothing at all is renamed.
            let intent = forward(format!("{good}\n{bad}"));
            let mut m = Maildir::open(&root).unwrap();
            let err = m.recover(&intent).expect_err(&bad);
            assert_eq!(err.class().exit_code(), 74, "{bad}");
            assert!(err.message().contains("damaged"), "{err}");
            assert_eq!(fs::read_dir(root.join("new")).unwrap().count(), 0, "{bad}");
            assert_eq!(fs::read_to_string(&victim).unwrap(), "my key");
            assert!(theirs.exists());
        }
        let mut m = Maildir::open(&root).unwrap();
        eprintln!(
            "{good:?} {:?}",
            fs::read_dir(root.join("tmp")).unwrap().collect::<Vec<_>>()
        );
        m.recover(&forward(good)).unwrap();
        assert_eq!(fs::read_dir(root.join("new")).unwrap().count(), 1);
    }

    #[test]
    fn an_old_message_left_in_tmp_by_a_crash_is_published_by_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Maildir::open(dir.path()).unwrap();
        // Dated 2001: its file in tmp/ has that mtime.
        m.deliver(&meta("INBOX", Flags::default()), &mut &b"x\n"[..])
            .unwrap();
        let intent = Unfinished::from(m.prepare().unwrap().forward.unwrap());
        drop(m); // crash before commit
        let mut m = Maildir::open(dir.path()).unwrap();
        m.recover(&intent).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("new")).unwrap().count(), 1);
    }

    #[test]
    fn failed_delivery_leaves_nothing() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::ConnectionReset.into())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut m = Maildir::open(dir.path()).unwrap();
        assert!(m
            .deliver(&meta("INBOX", Flags::default()), &mut Broken)
            .is_err());
        // What is left in tmp/ is at most the empty file made ahead for the next delivery,
        // and that goes with the sink.
        let left: Vec<u64> = fs::read_dir(dir.path().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .collect();
        assert!(left.len() <= 1 && left.iter().all(|&n| n == 0), "{left:?}");
        drop(m);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn files_made_ahead_follow_the_folder_and_none_is_left_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Maildir::open(dir.path()).unwrap();
        for (i, folder) in ["INBOX", "INBOX", "Sub", "INBOX", "Sub", "Sub"]
            .iter()
            .enumerate()
        {
            let body = format!("message {i}\n");
            m.deliver(&meta(folder, Flags::default()), &mut body.as_bytes())
                .unwrap();
        }
        m.prepare().unwrap();
        m.commit().unwrap();
        drop(m);
        let read = |sub: &str| -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(dir.path().join(sub))
                .unwrap()
                .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(read("new"), ["message 0\n", "message 1\n", "message 3\n"]);
        assert_eq!(
            read(".Sub/new"),
            ["message 2\n", "message 4\n", "message 5\n"]
        );
        assert!(read("tmp").is_empty() && read(".Sub/tmp").is_empty());
    }
}
