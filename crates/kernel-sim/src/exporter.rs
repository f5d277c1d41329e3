//! State-sync export: a slow reader that must be able to read every snapshot the committed
//! roots named when it started, however long it takes, while the kernel keeps committing,
//! moving roots and collecting.
//!
//! The kernel collects the set and leases every snapshot in it on its own thread, right after
//! the commit and before the next one; the exporter thread then reads and verifies them one by
//! one (each after the page-in delay) and drops each lease once that snapshot is read.

use std::thread::{self, JoinHandle};
use std::time::Duration;

use swingstore::{Lease, SnapshotHash, SwingStore};

use crate::error::{Result, SimError};

/// An export in flight.
#[derive(Debug)]
pub struct Export {
    /// Snapshots it reads.
    pub snapshots: u64,
    handle: JoinHandle<Result<u64>>,
}

impl Export {
    /// Leases every snapshot of `hashes` now, then reads them on a thread.
    pub fn start(store: &SwingStore, block: u64, hashes: Vec<SnapshotHash>, delay: Duration) -> Result<Self> {
        let leased: Vec<Lease> = hashes.iter().map(|h| store.lease(*h)).collect();
        let snapshots = leased.len() as u64;
        let store = store.clone();
        let handle = thread::Builder::new()
            .name(format!("export {block}"))
            .spawn(move || {
                let mut bytes = 0;
                for lease in leased {
                    if !delay.is_zero() {
                        thread::sleep(delay);
                    }
                    let hash = lease.hash();
                    bytes += store.verify_blob(&hash).map_err(|e| SimError::Export {
                        block,
                        hash: hash.to_hex(),
                        reason: e.to_string(),
                    })?;
                    drop(lease);
                }
                Ok(bytes)
            })
            .map_err(|e| SimError::Config(format!("cannot start an exporter thread: {e}")))?;
        Ok(Self { snapshots, handle })
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the exporter: raw bytes read, or the (fatal) reason it failed.
    pub fn finish(self) -> Result<u64> {
        self.handle.join().map_err(|_| SimError::Thread("exporter"))?
    }
}
