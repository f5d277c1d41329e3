//! Where a vat's worker is ([`Residency`]), and page-ins: a worker thread loads and verifies a
//! vat's last snapshot, then replays its transcript since, while the kernel goes on with other
//! vats, commits and collections.
//!
//! The kernel reads `vN.lastSnapshot` and takes a lease on the thread that issues the page-in
//! (so the collector can never delete the blob between the read and the load); the worker
//! drops the lease once it has read the blob.

use std::thread::{self, JoinHandle};
use std::time::Duration;

use swingstore::{Lease, SnapshotHash, SwingStore, parse_root_value};

use crate::error::{Result, SimError};
use crate::keys::root_key;

/// Where the vat's worker is.
#[derive(Debug)]
pub enum Residency {
    /// No worker: the next delivery pages it in.
    Offline,
    /// A worker is loading the last snapshot; deliveries wait in the vat's queue.
    Loading(PageIn),
    /// A worker holds the heap.
    Online(Vec<u8>),
}

/// A load in flight.
#[derive(Debug)]
pub struct PageIn {
    handle: JoinHandle<Result<Vec<u8>>>,
}

impl PageIn {
    /// Reads vat `vat`'s root, checks it names `expected`, leases that blob, and starts a worker
    /// that loads it after `delay`, then runs `replay` on the loaded heap (the transcript since
    /// the snapshot).
    pub fn start<F>(
        store: &SwingStore,
        vat: u64,
        expected: SnapshotHash,
        delay: Duration,
        replay: F,
    ) -> Result<Self>
    where
        F: FnOnce(&mut Vec<u8>) + Send + 'static,
    {
        let fail = |reason: String| SimError::PageIn { vat, hash: expected.to_hex(), reason };
        let key = root_key(vat);
        let value = store.kv().get(&key)?.ok_or_else(|| fail(format!("{key} is missing")))?;
        let hash = parse_root_value(&key, value.as_bytes()).map_err(|e| fail(e.to_string()))?;
        if hash != expected {
            return Err(fail(format!("{key} names {hash}, the kernel expected {expected}")));
        }
        let lease: Lease = store.lease(hash);
        let store = store.clone();
        let handle = thread::Builder::new()
            .name(format!("page-in v{vat}"))
            .spawn(move || {
                if !delay.is_zero() {
                    thread::sleep(delay);
                }
                let loaded = store.load_bytes(&hash);
                drop(lease);
                let mut heap = loaded.map_err(|e| SimError::PageIn {
                    vat,
                    hash: hash.to_hex(),
                    reason: e.to_string(),
                })?;
                replay(&mut heap);
                Ok(heap)
            })
            .map_err(|e| fail(format!("cannot start a worker thread: {e}")))?;
        Ok(Self { handle })
    }

    /// Waits for the worker: the replayed heap, or the (fatal) reason it failed.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.handle.join().map_err(|_| SimError::Thread("page-in"))?
    }
}
