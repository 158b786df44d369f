//! Durability overlapped with the network, in groups: a background thread makes the files
//! handed to it durable while the caller goes on receiving the next messages, and
//! [`Syncer::wait`] is the barrier a batch passes before anything is recorded as delivered.
//!
//! # One sync for many files
//!
//! The thread gathers files into groups of [`GROUP`] (or fewer, when a batch waits for them)
//! and, on Linux, makes a group durable with one `syncfs(2)` per filesystem its files live on
//! (normally one) instead of one `fdatasync(2)` per file. Each `fdatasync` of a new file
//! writes its inode and flushes the disk's cache (on ext4 with a journal: commits the
//! journal), and stalls the receiving thread's next `open(O_CREAT)` meanwhile; `syncfs`
//! writes the group's data and inodes and flushes once (see the Performance section of the
//! README for what that measured).
//!
//! The price: `syncfs` writes out every dirty page of that filesystem, not only ours, so a
//! pull beside another heavy writer on the same filesystem waits for that writer's data
//! too. It is still correct: `syncfs` returns once all of it is durable, and since Linux 5.8
//! it reports a writeback error that happened on the filesystem since the file was opened (a
//! failure of someone else's file included, which then fails our batch: the safe side,
//! fetched again next run). Elsewhere (and on kernels where `syncfs` fails) each file is
//! `fdatasync`'d.
//!
//! The queue is bounded, so a disk that falls behind slows the receiver down instead of
//! letting unsynced files pile up.
//!
//! # Writes behind the receiver
//!
//! The same thread writes the files, too: [`Syncer::open`] hands it a new file, the body goes
//! over in chunks the receiver reads the message straight into ([`Syncer::chunk`], at most
//! [`CHUNKS`] of them lent at a time, recycled), and [`Syncer::close`] sets its times and
//! queues it for its group's sync. So the receiver decrypts and parses the next message
//! while the kernel copies the last one into the page cache: on this project's VMs, where
//! the first touch of a page costs the hypervisor a fault, that copy was up to 0.4 s of
//! system time per 150 MB, on the receiving thread. A write that fails (a full disk) fails
//! that file's sync result: [`Syncer::open`] reports it as soon as it is back, [`Syncer::wait`]
//! at the latest, so the batch is never recorded.

use crate::error::{Error, Result};
use std::fs::{File, FileTimes};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::SystemTime;

/// Chunk buffers lent to the thread at most (see [`Syncer::chunk`]): with chunks of 256 KB,
/// 2 MB of a message in flight.
pub const CHUNKS: usize = 8;

/// Files queued for sync at most; `submit` blocks beyond this.
const QUEUE: usize = 64;

/// Files synced together at most: the thread syncs a group once it holds this many, or
/// when [`Syncer::wait`] asks for it. Bounds the open files (with [`QUEUE`]) and how much a
/// sync has to write at once.
const GROUP: usize = 32;

enum Job {
    /// A file written (at this path), to be made durable.
    File(File, PathBuf),
    /// A file to write (at this path): the chunks that follow go into it.
    Open(File, PathBuf),
    /// The next bytes of the file opened last.
    Write(Vec<u8>),
    /// The file opened last is complete: set its modification time, if any, and make it
    /// durable like a [`Job::File`].
    Close(Option<SystemTime>),
    /// The file opened last is abandoned (its caller removes it).
    Discard,
    /// Sync what is held now: a batch waits for it.
    Flush,
}

/// The file the thread is writing, and the first write failure on it.
pub struct Writing {
    file: File,
    path: PathBuf,
    failed: Option<Error>,
}

impl Writing {
    fn new(file: File, path: PathBuf) -> Writing {
        Writing {
            file,
            path,
            failed: None,
        }
    }

    /// The file, complete: its modification time set to `modified`, if any; or the write
    /// that failed.
    fn finish(self, modified: Option<SystemTime>) -> Result<(File, PathBuf)> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if let Some(t) = modified {
            let _ = self
                .file
                .set_times(FileTimes::new().set_modified(t).set_accessed(t));
        }
        Ok((self.file, self.path))
    }

    fn write(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            if let Err(e) = self.file.write_all(data) {
                self.failed = Some(Error::local(format!("writing {}", self.path.display()), e));
            }
        }
    }
}

/// The sync thread and its queue.
pub struct Syncer {
    jobs: Option<SyncSender<Job>>,
    /// One message per group synced: how many files it held, and the outcome.
    results: Receiver<(usize, Result<()>)>,
    outstanding: usize,
    /// A failure already taken from `results` by [`Syncer::open`], for [`Syncer::wait`].
    failed: Option<Error>,
    /// Chunk buffers back from the thread, and how many are lent out.
    spares: Receiver<Vec<u8>>,
    lent: usize,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Start the thread.
    pub fn new() -> Syncer {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        let (done, results) = mpsc::channel();
        let (give_back, spares) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("mailfetch-sync".into())
            .spawn(move || work(queue, &done, &give_back))
            .ok();
        Syncer {
            jobs: Some(jobs),
            results,
            outstanding: 0,
            failed: None,
            spares,
            lent: 0,
            thread,
        }
    }

    /// Start writing `file` (at `path`) on the thread, once the results already back show no
    /// failure (a full disk stops the batch here, not only at [`Syncer::wait`]). Then hand it
    /// the body with [`Syncer::write`] and end with [`Syncer::close`] or [`Syncer::discard`].
    /// Without a thread, the file is written here.
    pub fn open(&mut self, file: File, path: PathBuf) -> Result<Behind> {
        while let Ok((n, r)) = self.results.try_recv() {
            self.outstanding -= n.min(self.outstanding);
            if let Err(e) = r {
                self.failed.get_or_insert(e);
            }
        }
        if let Some(e) = &self.failed {
            return Err(Error::new(e.class(), e.message().to_string()));
        }
        match &self.jobs {
            Some(jobs) if self.thread.is_some() => {
                let job = Job::Open(file, path);
                if let Err(mpsc::SendError(Job::Open(file, path))) = jobs.send(job) {
                    return Ok(Behind::Here(Writing::new(file, path)));
                }
                Ok(Behind::Thread)
            }
            _ => Ok(Behind::Here(Writing::new(file, path))),
        }
    }

    /// An empty buffer of `capacity` for the next chunk of the file being written: one the
    /// thread gave back, or a new one while fewer than [`CHUNKS`] are lent; beyond that, it
    /// waits for the thread to finish one (so a slow disk slows the receiver).
    pub fn chunk(&mut self, capacity: usize) -> Vec<u8> {
        let mut buf = match self.spares.try_recv() {
            Ok(b) => {
                self.lent -= 1;
                b
            }
            Err(_) if self.lent < CHUNKS || self.thread.is_none() => Vec::new(),
            Err(_) => match self.spares.recv() {
                Ok(b) => {
                    self.lent -= 1;
                    b
                }
                Err(_) => Vec::new(),
            },
        };
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    /// The next bytes of the file `to` writes.
    pub fn write(&mut self, to: &mut Behind, data: Vec<u8>) {
        match to {
            Behind::Here(w) => w.write(&data),
            Behind::Thread => {
                if let Some(jobs) = &self.jobs {
                    self.lent += 1;
                    if jobs.send(Job::Write(data)).is_err() {
                        self.lent -= 1;
                    }
                }
            }
        }
    }

    /// The file `to` wrote is complete: set its modification time to `modified`, if any,
    /// and queue it to be made durable (as [`Syncer::submit`]).
    pub fn close(&mut self, to: Behind, modified: Option<SystemTime>) -> Result<()> {
        match to {
            Behind::Here(w) => {
                let (file, path) = w.finish(modified)?;
                self.submit(file, path)
            }
            Behind::Thread => {
                if let Some(jobs) = &self.jobs {
                    if jobs.send(Job::Close(modified)).is_ok() {
                        self.outstanding += 1;
                        return Ok(());
                    }
                }
                Err(thread_stopped())
            }
        }
    }

    /// Copy `body` to the end into the file `to` writes, read straight into chunks of
    /// `size` bytes that go to the thread as they fill (no copy on the way). Returns the
    /// bytes copied; a read error is a network error, as the body comes from the server.
    pub fn copy(&mut self, body: &mut dyn Read, to: &mut Behind, size: usize) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let mut buf = self.chunk(size);
            let n = body
                .take(size as u64)
                .read_to_end(&mut buf)
                .map_err(|e| Error::network("receiving a message", e))?;
            total += n as u64;
            if n > 0 {
                self.write(to, buf);
            }
            if n < size {
                return Ok(total);
            }
        }
    }

    /// The file `to` wrote is abandoned: the thread writes no more of it.
    pub fn discard(&mut self, to: Behind) {
        if let (Behind::Thread, Some(jobs)) = (to, &self.jobs) {
            let _ = jobs.send(Job::Discard);
        }
    }

    /// Queue `file` (written at `path`) to be made durable; blocks while the queue is full.
    /// Without a thread (it could not be started), syncs right here.
    pub fn submit(&mut self, file: File, path: PathBuf) -> Result<()> {
        match (&self.thread, &self.jobs) {
            (Some(_), Some(jobs)) => {
                if let Err(mpsc::SendError(Job::File(file, path))) =
                    jobs.send(Job::File(file, path))
                {
                    return sync_one(&file, &path);
                }
                self.outstanding += 1;
                Ok(())
            }
            _ => sync_one(&file, &path),
        }
    }

    /// Wait until every file submitted so far is durable; the first failure, if any.
    pub fn wait(&mut self) -> Result<()> {
        let mut first = self.failed.take().map_or(Ok(()), Err);
        if self.outstanding > 0 {
            if let Some(jobs) = &self.jobs {
                let _ = jobs.send(Job::Flush);
            }
        }
        while self.outstanding > 0 {
            let (n, r) = self
                .results
                .recv()
                .unwrap_or_else(|_| (self.outstanding, Err(thread_stopped())));
            self.outstanding -= n.min(self.outstanding);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// Where a file being written is written: on the thread, or (without one) here.
pub enum Behind {
    /// On the sync thread.
    Thread,
    /// Here, by [`Syncer::write`] itself.
    Here(Writing),
}

fn thread_stopped() -> Error {
    Error::local(
        "the sync thread",
        std::io::Error::other("stopped unexpectedly"),
    )
}

/// The thread: write what it is handed, gather complete files into groups, sync each group,
/// and send every outcome back (a file whose write failed is a group of one that failed).
fn work(queue: Receiver<Job>, done: &Sender<(usize, Result<()>)>, give_back: &Sender<Vec<u8>>) {
    let mut group = Vec::new();
    let mut writing: Option<Writing> = None;
    for job in queue {
        let flush = match job {
            Job::File(file, path) => {
                group.push((file, path));
                group.len() >= GROUP
            }
            Job::Open(file, path) => {
                writing = Some(Writing::new(file, path));
                false
            }
            Job::Write(data) => {
                if let Some(w) = &mut writing {
                    w.write(&data);
                }
                let _ = give_back.send(data);
                false
            }
            Job::Close(modified) => {
                let Some(w) = writing.take() else {
                    continue;
                };
                match w.finish(modified) {
                    Ok(file) => group.push(file),
                    Err(e) => {
                        if done.send((1, Err(e))).is_err() {
                            return;
                        }
                        continue;
                    }
                }
                group.len() >= GROUP
            }
            Job::Discard => {
                writing = None;
                false
            }
            Job::Flush => true,
        };
        if flush && !group.is_empty() {
            let r = sync_group(&group);
            if done.send((group.len(), r)).is_err() {
                return;
            }
            group.clear();
        }
    }
}

fn sync_one(file: &File, path: &std::path::Path) -> Result<()> {
    file.sync_data()
        .map_err(|e| Error::local(format!("cannot sync {}", path.display()), e))
}

/// Make every file of `group` durable: one `syncfs` per filesystem among them, falling back
/// to `fdatasync` per file.
fn sync_group(group: &[(File, PathBuf)]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let mut devices: Vec<(u64, usize)> = Vec::new();
        for (i, (file, path)) in group.iter().enumerate() {
            let dev = file
                .metadata()
                .map_err(|e| Error::local(format!("cannot sync {}", path.display()), e))?
                .dev();
            if !devices.iter().any(|&(d, _)| d == dev) {
                devices.push((dev, i));
            }
        }
        let mut fallback = false;
        for &(_, i) in &devices {
            let (file, path) = &group[i];
            // SAFETY: syncfs only reads the descriptor, which `file` keeps open.
            if unsafe { libc::syncfs(file.as_raw_fd()) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENOSYS) {
                    fallback = true;
                    break;
                }
                return Err(Error::local(format!("cannot sync {}", path.display()), e));
            }
        }
        if !fallback {
            return Ok(());
        }
    }
    group
        .iter()
        .try_for_each(|(file, path)| sync_one(file, path))
}

impl Default for Syncer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_returns_once_every_submitted_file_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Syncer::new();
        for i in 0..700 {
            let path = dir.path().join(format!("f{i}"));
            std::fs::write(&path, b"x").unwrap();
            s.submit(File::open(&path).unwrap(), path).unwrap();
        }
        s.wait().unwrap();
        assert_eq!(s.outstanding, 0);
        s.wait().unwrap();
    }

    #[test]
    fn a_file_written_behind_holds_the_whole_body_and_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Syncer::new();
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for i in 0..3 {
            let path = dir.path().join(format!("m{i}"));
            let mut to = s.open(File::create(&path).unwrap(), path.clone()).unwrap();
            let copied = s.copy(&mut &body[..], &mut to, 256 * 1024).unwrap();
            assert_eq!(copied, body.len() as u64);
            s.close(to, Some(when)).unwrap();
            assert!(
                s.lent <= CHUNKS,
                "at most {CHUNKS} chunks lent, not {}",
                s.lent
            );
        }
        s.wait().unwrap();
        for i in 0..3 {
            let path = dir.path().join(format!("m{i}"));
            assert!(std::fs::read(&path).unwrap() == body, "m{i} holds the body");
            let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
            assert_eq!(mtime, when);
        }
    }

    #[test]
    fn a_write_that_fails_behind_fails_the_next_open_or_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").unwrap();
        let mut s = Syncer::new();
        // Opened read-only: every write to it fails (EBADF), as on a full disk.
        let mut to = s.open(File::open(&path).unwrap(), path.clone()).unwrap();
        s.copy(&mut &b"some mail\n"[..], &mut to, 4096).unwrap();
        s.close(to, None).unwrap();
        let e = s.wait().unwrap_err();
        assert!(e.message().contains("writing"), "{}", e.message());
        // Once known, the failure stops the next file at once.
        let mut to = s.open(File::open(&path).unwrap(), path.clone()).unwrap();
        s.copy(&mut &b"more\n"[..], &mut to, 4096).unwrap();
        s.close(to, None).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let second = path.clone();
        assert!(s.open(File::open(&second).unwrap(), second).is_err());
        assert!(s.wait().is_err());
    }

    #[test]
    fn a_group_on_two_filesystems_is_synced_on_both() {
        let disk = tempfile::tempdir().unwrap();
        let shm = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
        let group: Vec<(File, PathBuf)> = [disk.path(), shm.path(), disk.path()]
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let path = d.join(format!("f{i}"));
                std::fs::write(&path, b"x").unwrap();
                (File::open(&path).unwrap(), path)
            })
            .collect();
        sync_group(&group).unwrap();
    }
}
