//! Early writeback of saved blobs.
//!
//! A blob's bytes must be durable before any root naming it is (`commit.rs`). Rather than fsync
//! every blob of a block when the block commits, one after another, each blob is handed to a
//! small pool of sync threads the moment it is renamed into place: its fsync runs while the
//! kernel goes on (the next save compresses on both cores, the fsync waits on the disk), and
//! `commit()` only waits for the ones still in flight before it syncs the directory. Several
//! fsyncs are in flight at once, so the device can merge them into few journal commits.
//!
//! A failed fsync poisons the store (through [`Durability`]), and the commit waiting for it
//! returns the error.
//!
//! The store's one parallel-fsync mechanism: the whole blob area synced at an unclean open
//! (`recover.rs`, [`SyncStep::OpenBlobs`]) goes through the same threads.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;

use crate::durability::{Durability, SyncStep};
use crate::error::{Error, Result};

/// Sync threads: fsyncs mostly wait on the device; a few in flight let it merge them.
const THREADS: usize = 4;

#[derive(Debug, Default)]
struct Progress {
    /// Blobs handed over so far, and blobs synced (or found gone) so far.
    queued: u64,
    done: u64,
}

#[derive(Debug, Default)]
struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pool of sync threads of one open store.
#[derive(Debug)]
pub(crate) struct Syncer {
    queue: Mutex<Option<mpsc::Sender<(SyncStep, PathBuf)>>>,
    shared: Arc<Shared>,
    durability: Arc<Durability>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Syncer {
    /// Starts the sync threads.
    pub fn start(durability: Arc<Durability>) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<(SyncStep, PathBuf)>();
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared::default());
        let mut threads = Vec::with_capacity(THREADS);
        for i in 0..THREADS {
            let (rx, shared, durability) = (Arc::clone(&rx), Arc::clone(&shared), Arc::clone(&durability));
            let thread = std::thread::Builder::new()
                .name(format!("swingstore-sync-{i}"))
                .spawn(move || {
                    loop {
                        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((step, path)) = next else { break };
                        // A failure poisons the store; the waiting commit reports it.
                        let _ = durability.sync_if_present(step, &path);
                        shared.lock().done += 1;
                        shared.changed.notify_all();
                    }
                })
                .map_err(|e| Error::stream("the sync threads", e))?;
            threads.push(thread);
        }
        Ok(Self { queue: Mutex::new(Some(tx)), shared, durability, threads: Mutex::new(threads) })
    }

    /// Hands over a file to fsync as `step` (a blob just renamed into place: `BlobFile`).
    pub fn push(&self, step: SyncStep, path: PathBuf) {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = queue.as_ref() {
            self.shared.lock().queued += 1;
            if tx.send((step, path)).is_err() {
                // No thread left to sync it: the store cannot promise durability any more.
                self.shared.lock().done += 1;
                self.durability.poison(Error::stream(
                    "the sync threads",
                    std::io::Error::other("the sync threads stopped"),
                ));
            }
        }
    }

    /// Waits until every blob handed over before this call is synced; `Err(Poisoned)` if a
    /// sync failed.
    pub fn wait(&self) -> Result<()> {
        let mut progress = self.shared.lock();
        let target = progress.queued;
        while progress.done < target {
            progress = self.shared.changed.wait(progress).unwrap_or_else(|p| p.into_inner());
        }
        drop(progress);
        self.durability.check()
    }

    /// Stops the threads once the queue is drained.
    pub fn stop(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}
