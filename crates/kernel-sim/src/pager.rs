//! Page-ins: a worker thread loads and verifies a vat's last snapshot, then replays its
//! transcript since, while the kernel goes on with other vats, commits and collections.
//!
//! The kernel reads `vN.lastSnapshot` and takes a lease on the thread that issues the page-in
//! (so the collector can never delete the blob between the read and the load); the worker
//! drops the lease once it has read the blob.

use std::thread::{self, JoinHandle};
use std::time::Duration;

use swingstore::{Lease, SnapshotHash, SwingStore, parse_root_value};

use crate::error::{Result, SimError};
use crate::vat::{VatSpec, root_key};

/// A load in flight.
#[derive(Debug)]
pub struct PageIn {
    pub hash: SnapshotHash,
    handle: JoinHandle<Result<Vec<u8>>>,
}

impl PageIn {
    /// Reads the vat's root, leases the blob it names, and starts a worker that loads it after
    /// `delay` and replays deliveries `snap_at + 1 ..= deliveries`.
    pub fn start(
        store: &SwingStore,
        spec: &VatSpec,
        expected: SnapshotHash,
        snap_at: u64,
        deliveries: u64,
        delay: Duration,
    ) -> Result<Self> {
        let vat = spec.id;
        let fail = |reason: String| SimError::PageIn { vat, hash: expected.to_hex(), reason };
        let key = root_key(vat);
        let value = store.kv().get(&key)?.ok_or_else(|| fail(format!("{key} is missing")))?;
        let hash = parse_root_value(&key, value.as_bytes()).map_err(|e| fail(e.to_string()))?;
        if hash != expected {
            return Err(fail(format!("{key} names {hash}, the kernel expected {expected}")));
        }
        let lease: Lease = store.lease(hash);
        let store = store.clone();
        let spec = spec.clone();
        let handle = thread::Builder::new()
            .name(format!("page-in v{vat}"))
            .spawn(move || {
                if !delay.is_zero() {
                    thread::sleep(delay);
                }
                let loaded = store.load_bytes(&hash);
                drop(lease);
                let mut heap = loaded.map_err(|e| SimError::PageIn {
                    vat: spec.id,
                    hash: hash.to_hex(),
                    reason: e.to_string(),
                })?;
                spec.replay(&mut heap, snap_at + 1, deliveries);
                Ok(heap)
            })
            .map_err(|e| fail(format!("cannot start a worker thread: {e}")))?;
        Ok(Self { hash, handle })
    }

    /// Waits for the worker: the replayed heap, or the (fatal) reason it failed.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.handle.join().map_err(|_| SimError::Thread("page-in"))?
    }
}
