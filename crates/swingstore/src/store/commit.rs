//! How a block becomes durable.
//!
//! `commit()`, with the block closed to new writes (the kv store's staged map is locked) and
//! under the commit lock (which every collection also holds):
//!
//! 1. every staged root that parses must name a present blob (one stat each), or the commit is
//!    refused with [`Error::DanglingRoot`] and the block stays staged;
//! 2. every blob renamed into `snapshots/` since the last sync is fsynced (in parallel), then
//!    `snapshots/` once ([`SyncStep::BlobFile`], [`SyncStep::BlobDir`]);
//! 3. the kv store writes the block in one sled batch, flushes, and fsyncs sled's log and
//!    `kv/` ([`SyncStep::KvLog`], [`SyncStep::KvDir`]); only then do the epoch and the
//!    in-memory root index move.
//!
//! So no root is ever durable before the bytes and the name of the blob it names, and a
//! commit that returned is on disk. Any failed sync poisons the handle.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Inner, SwingStore};
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::kv::Staged;
use crate::root::parse_root_value;

/// Most fsyncs in flight at once: enough for the device to merge them into few journal
/// commits, few enough not to swamp a two-core machine with threads.
const PARALLEL_SYNCS: usize = 8;

impl SwingStore {
    /// Applies the open block atomically and durably; returns the new committed epoch.
    ///
    /// Refused, with the block left staged, if a staged root names a snapshot that is not in
    /// the store ([`Error::DanglingRoot`]). A root value that does not parse is accepted (the
    /// collector then refuses to delete anything until it is fixed).
    pub fn commit(&self) -> Result<u64> {
        let inner = &self.inner;
        inner.kv.commit(|staged| {
            check_staged_roots(self, staged)?;
            make_blobs_durable(inner, SyncStep::BlobFile, SyncStep::BlobDir)?;
            inner.saved_in_block.store(false, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// Step 1: a committed, well-formed root always names a present blob.
fn check_staged_roots(store: &SwingStore, staged: &Staged) -> Result<()> {
    let kv = &store.inner.kv;
    for (key, value) in staged {
        let Some(value) = value else { continue };
        if !kv.is_root(key) {
            continue;
        }
        // A value that does not parse is the mark's business (it fails closed on it).
        let Ok(hash) = parse_root_value(key, value.as_bytes()) else { continue };
        if !store.contains(&hash) {
            return Err(Error::DanglingRoot { key: crate::error::shorten(key), hash: hash.to_hex() });
        }
    }
    Ok(())
}

/// Step 2: fsyncs the blobs published since the last sync, then the blob directory. Also
/// used by a clean close (with [`SyncStep::CloseBlobs`], which also makes unlinks durable).
pub(super) fn make_blobs_durable(inner: &Inner, file_step: SyncStep, dir_step: SyncStep) -> Result<()> {
    inner.durability.check()?;
    let pending: Vec<SnapshotHash> = inner.sweep.lock().unsynced.drain().collect();
    // A clean close always syncs the directory: it makes the session's unlinks durable.
    let closing = dir_step == SyncStep::CloseBlobs;
    if pending.is_empty() && !closing {
        return Ok(());
    }
    let paths: Vec<PathBuf> = pending.iter().map(|h| inner.layout.blob_path(h)).collect();
    sync_files_in_parallel(&inner.durability, file_step, &paths)?;
    inner.durability.sync_path(dir_step, &inner.layout.blob_dir())
}

/// fsyncs every file of `paths` as `step`, up to [`PARALLEL_SYNCS`] at a time. A file that is
/// gone has nothing left to make durable.
pub(super) fn sync_files_in_parallel(
    durability: &Durability,
    step: SyncStep,
    paths: &[PathBuf],
) -> Result<()> {
    if paths.is_empty() || !durability.runs(step) {
        return Ok(());
    }
    let sync_one = |path: &Path| -> Result<()> {
        match File::open(path) {
            Ok(file) => durability.sync_file(step, &file, path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(durability.poison(Error::io(path, e))),
        }
    };
    if paths.len() == 1 {
        return sync_one(&paths[0]);
    }
    let next = AtomicUsize::new(0);
    let workers = paths.len().min(PARALLEL_SYNCS);
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(path) = paths.get(i) else { return Ok(()) };
                        sync_one(path)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(durability.poison(Error::io("<sync thread>", io::Error::other("panicked"))))
                })
            })
            .collect()
    });
    results.into_iter().collect()
}
