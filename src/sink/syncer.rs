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

use crate::error::{Error, Result};
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Files queued for sync at most; `submit` blocks beyond this.
const QUEUE: usize = 64;

/// Files synced together at most: the thread syncs a group once it holds this many, or
/// when [`Syncer::wait`] asks for it. Bounds the open files (with [`QUEUE`]) and how much a
/// sync has to write at once.
const GROUP: usize = 32;

enum Job {
    /// A file written (at this path), to be made durable.
    File(File, PathBuf),
    /// Sync what is held now: a batch waits for it.
    Flush,
}

/// The sync thread and its queue.
pub struct Syncer {
    jobs: Option<SyncSender<Job>>,
    /// One message per group synced: how many files it held, and the outcome.
    results: Receiver<(usize, Result<()>)>,
    outstanding: usize,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Start the thread.
    pub fn new() -> Syncer {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        let (done, results) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("mailfetch-sync".into())
            .spawn(move || {
                let mut group = Vec::new();
                for job in queue {
                    let flush = match job {
                        Job::File(file, path) => {
                            group.push((file, path));
                            group.len() >= GROUP
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
            })
            .ok();
        Syncer {
            jobs: Some(jobs),
            results,
            outstanding: 0,
            thread,
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
        let mut first = Ok(());
        if self.outstanding > 0 {
            if let Some(jobs) = &self.jobs {
                let _ = jobs.send(Job::Flush);
            }
        }
        while self.outstanding > 0 {
            let (n, r) = self.results.recv().unwrap_or_else(|_| {
                let e = Error::local(
                    "the sync thread",
                    std::io::Error::other("stopped unexpectedly"),
                );
                (self.outstanding, Err(e))
            });
            self.outstanding -= n.min(self.outstanding);
            if first.is_ok() {
                first = r;
            }
        }
        first
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
