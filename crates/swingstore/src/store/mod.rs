//! [`SwingStore`]: the kvStore and the snapshot store behind one handle, opened exclusively.
//!
//! * `open.rs`: creating and opening a store (lock, directory rules, crash leftovers).
//! * `save.rs`: how a save is published under its hash.
//! * `commit.rs`: how a block becomes durable (its blobs first, then its keys).
//! * `load.rs`: verified loads.

mod commit;
mod config;
mod load;
mod open;
mod save;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::durability::{Durability, SyncStep};
use crate::error::Result;
use crate::hash::SnapshotHash;
use crate::kv::KvStore;
use crate::layout::Layout;
use crate::lease::{Lease, SweepLock};
use crate::meta::GcConfig;

pub use config::ConfigChange;
pub(crate) use load::open_blob;
pub use open::OpenOptions;
pub use save::SaveInfo;

/// A handle on an open store. Cheap to clone; all clones share one open store, and it is
/// closed (cleanly) when the last clone is dropped.
#[derive(Clone)]
pub struct SwingStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SwingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwingStore")
            .field("path", &self.inner.layout.root())
            .field("epoch", &self.inner.kv.committed_epoch())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub layout: Layout,
    pub kv: KvStore,
    /// Shared with every other handle on the same store in this process, and with leases.
    pub sweep: Arc<SweepLock>,
    pub durability: Arc<Durability>,
    /// Bumped by every save (mirrors `s/save_generation`).
    pub save_generation: AtomicU64,
    /// Serialises collections.
    pub gc_lock: Mutex<()>,
    /// A directory listing is needed: the last session did not close cleanly, or a leftover
    /// (temp file, orphan) may exist.
    pub needs_scan: AtomicBool,
    /// A blob was published since the last commit (an offline pass must not run then).
    pub saved_in_block: AtomicBool,
    /// Test hook: close as a killed process would have left the store (no clean-close marker).
    pub simulate_crash: AtomicBool,
    /// Held for the life of the store: the exclusive lock file.
    _lock_file: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.simulate_crash.load(Ordering::SeqCst) {
            return;
        }
        // A clean close: the next open need not look for crash leftovers. Blobs saved since
        // the last commit and unlinks (never fsynced while the store runs: a lost one leaves an
        // orphan that the listing after an unclean shutdown adopts) are made durable first, so
        // that an OS crash right after a clean close cannot bring back files unnoticed or leave
        // a renamed name without its bytes.
        let clean = !self.needs_scan.load(Ordering::SeqCst) && self.durability.check().is_ok();
        if clean {
            match commit::make_blobs_durable(self, SyncStep::CloseBlobs, SyncStep::CloseBlobs) {
                Ok(()) => {
                    let _ = self.kv.db().remove(crate::kv::SESSION_KEY);
                }
                Err(e) => tracing::warn!("{e}; the next open will list the blob area"),
            }
        }
        if let Err(e) = self.kv.db().flush() {
            tracing::warn!("flushing the store on close failed: {e}");
        }
    }
}

impl SwingStore {
    /// Opens (or with `create`, creates) the store at `path`, exclusively.
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        open::open(path.as_ref(), options)
    }

    /// Opens or creates the store at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path, OpenOptions { create: true })
    }

    /// Test hook (feature `failpoints`): drop this handle as if the process had been killed:
    /// the store is left marked as not closed cleanly, so the next open treats it as after a
    /// crash (lists the blob area, forgets the collector's skip state). Unflushed sled writes
    /// still reach the disk; real kills are in the crashtest crate.
    #[cfg(feature = "failpoints")]
    pub fn close_as_if_crashed(self) {
        self.inner.simulate_crash.store(true, Ordering::SeqCst);
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        self.inner.layout.root()
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The kvStore.
    pub fn kv(&self) -> &KvStore {
        &self.inner.kv
    }

    /// Drops the open block's kv writes. (Snapshots saved in it stay, as young garbage.)
    pub fn abort(&self) {
        self.inner.kv.abort()
    }

    /// The last committed epoch.
    pub fn epoch(&self) -> u64 {
        self.inner.kv.committed_epoch()
    }

    /// The collector configuration persisted in the store.
    pub fn config(&self) -> GcConfig {
        self.inner.kv.config()
    }

    /// Takes a lease on `hash`: the blob is not deleted while the lease lives, by this handle
    /// or by any later handle on the same store in this process.
    pub fn lease(&self, hash: SnapshotHash) -> Lease {
        Lease::take(Arc::clone(&self.inner.sweep), hash)
    }

    /// `Err(Poisoned)` if an earlier sync of this handle failed.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.inner.durability.check()
    }
}
