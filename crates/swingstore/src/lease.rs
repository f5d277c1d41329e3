//! Leases and the sweep lock.
//!
//! One mutex guards the lease counts, the names of temp files being written, and every
//! transition of a blob between "on disk" and "gone": publishing a save (new or dedup), and the
//! sweep's final re-check and unlink. So a lease taken, or a save finished, before the sweep
//! reaches a blob always wins.
//!
//! The lock (and so the lease table) belongs to the store *directory*, not to one handle: every
//! handle opened on the same store in this process shares it, so a lease taken through a
//! handle that was since dropped (a kernel restarting in-process while a reader still holds a
//! snapshot) still protects its blob from the next handle's collections.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::hash::SnapshotHash;

/// State under the sweep lock.
#[derive(Debug, Default)]
pub(crate) struct SweepLocked {
    /// Lease count per snapshot.
    pub leases: HashMap<SnapshotHash, usize>,
    /// Temp files of saves in progress in this process (the collector leaves them alone).
    pub active_temps: HashSet<String>,
    /// Save generation of the latest publish of each blob since the current (or last)
    /// collection started: a sweep never deletes a blob published after it decided.
    pub last_save: HashMap<SnapshotHash, u64>,
}

impl SweepLocked {
    pub fn is_leased(&self, hash: &SnapshotHash) -> bool {
        self.leases.get(hash).is_some_and(|&n| n > 0)
    }

    /// Whether `hash` was published after save generation `since`.
    pub fn saved_since(&self, hash: &SnapshotHash, since: u64) -> bool {
        self.last_save.get(hash).is_some_and(|&g| g > since)
    }
}

/// The sweep lock, shared by the store's handles, its lease guards and the collector.
#[derive(Debug, Default)]
pub(crate) struct SweepLock(Mutex<SweepLocked>);

/// The sweep lock of every store open (or leased) in this process, by canonical path.
static BY_STORE: Mutex<Vec<(PathBuf, Weak<SweepLock>)>> = Mutex::new(Vec::new());

impl SweepLock {
    pub fn lock(&self) -> MutexGuard<'_, SweepLocked> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The sweep lock of the store at `root`: the one a live handle or lease of this process
    /// already holds, or a new one.
    pub fn for_store(root: &Path) -> Arc<SweepLock> {
        let key = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
        let mut all = BY_STORE.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(lock) = all.iter().find(|(path, _)| *path == key).and_then(|(_, weak)| weak.upgrade()) {
            return lock;
        }
        let lock = Arc::new(SweepLock::default());
        all.push((key, Arc::downgrade(&lock)));
        lock
    }
}

/// A lease on a snapshot: while it lives, the collector never deletes that blob.
///
/// Take it before opening the blob (e.g. right after reading the root that names it); drop it
/// once the blob is open or read. Cloning is not offered: take another lease instead.
#[must_use = "the lease protects the blob only while it is held"]
pub struct Lease {
    lock: Arc<SweepLock>,
    hash: SnapshotHash,
}

impl Lease {
    pub(crate) fn take(lock: Arc<SweepLock>, hash: SnapshotHash) -> Self {
        *lock.lock().leases.entry(hash).or_insert(0) += 1;
        Self { lock, hash }
    }

    /// The leased snapshot.
    pub fn hash(&self) -> SnapshotHash {
        self.hash
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut locked = self.lock.lock();
        if let Some(n) = locked.leases.get_mut(&self.hash) {
            *n -= 1;
            if *n == 0 {
                locked.leases.remove(&self.hash);
            }
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({})", self.hash)
    }
}
