//! Leases and the sweep lock.
//!
//! One mutex guards the lease counts, the names of temp files being written, and every
//! transition of a blob between "on disk" and "gone": publishing a save (new or dedup), and the
//! sweep's final re-check and unlink. So a lease taken, or a save finished, before the sweep
//! reaches a blob always wins.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::hash::SnapshotHash;

/// State under the sweep lock.
#[derive(Debug, Default)]
pub(crate) struct SweepLocked {
    /// Lease count per snapshot.
    pub leases: HashMap<SnapshotHash, usize>,
    /// Temp files of saves in progress in this process (the collector leaves them alone).
    pub active_temps: HashSet<String>,
}

impl SweepLocked {
    pub fn is_leased(&self, hash: &SnapshotHash) -> bool {
        self.leases.get(hash).is_some_and(|&n| n > 0)
    }
}

/// The sweep lock, shared by the store, its lease guards and the collector.
#[derive(Debug, Default)]
pub(crate) struct SweepLock(Mutex<SweepLocked>);

impl SweepLock {
    pub fn lock(&self) -> MutexGuard<'_, SweepLocked> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
