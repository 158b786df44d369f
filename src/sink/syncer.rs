//! Durability overlapped with the network: a background thread fsyncs each delivered file
//! while the caller goes on receiving the next message. The queue is bounded, so a disk that
//! falls behind slows the receiver down instead of letting unsynced files pile up, and
//! [`Syncer::wait`] is the barrier a batch passes before anything is recorded as delivered.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Files queued for fsync at most; `submit` blocks beyond this.
const QUEUE: usize = 64;

/// The fsync thread and its queue.
pub struct Syncer {
    jobs: Option<SyncSender<(File, PathBuf)>>,
    results: Receiver<Result<()>>,
    outstanding: usize,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Start the thread.
    pub fn new() -> Syncer {
        let (jobs, queue) = mpsc::sync_channel::<(File, PathBuf)>(QUEUE);
        let (done, results) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("mailfetch-fsync".into())
            .spawn(move || {
                for (file, path) in queue {
                    let r = file
                        .sync_data()
                        .map_err(|e| Error::local(format!("cannot sync {}", path.display()), e));
                    if done.send(r).is_err() {
                        return;
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

    /// Queue `file` (written at `path`) for fsync; blocks while the queue is full. Without a
    /// thread (it could not be started), syncs right here.
    pub fn submit(&mut self, file: File, path: PathBuf) -> Result<()> {
        match (&self.thread, &self.jobs) {
            (Some(_), Some(jobs)) => {
                if let Err(mpsc::SendError((file, path))) = jobs.send((file, path)) {
                    return file
                        .sync_data()
                        .map_err(|e| Error::local(format!("cannot sync {}", path.display()), e));
                }
                self.outstanding += 1;
                Ok(())
            }
            _ => file
                .sync_data()
                .map_err(|e| Error::local(format!("cannot sync {}", path.display()), e)),
        }
    }

    /// Wait until every file submitted so far is durable; the first failure, if any.
    pub fn wait(&mut self) -> Result<()> {
        let mut first = Ok(());
        while self.outstanding > 0 {
            self.outstanding -= 1;
            let r = self.results.recv().unwrap_or_else(|_| {
                Err(Error::local(
                    "the fsync thread",
                    std::io::Error::other("stopped unexpectedly"),
                ))
            });
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
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
        for i in 0..200 {
            let path = dir.path().join(format!("f{i}"));
            std::fs::write(&path, b"x").unwrap();
            s.submit(File::open(&path).unwrap(), path).unwrap();
        }
        s.wait().unwrap();
        assert_eq!(s.outstanding, 0);
        s.wait().unwrap();
    }
}
