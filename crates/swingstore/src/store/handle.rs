//! The handle and what an open store holds: [`SwingStore`], its shared state, and how it is
//! closed (cleanly: its blobs and unlinks made durable before the unclean-close marker goes).

use std::fs::File;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::GcConfig;
use crate::durability::{Durability, SyncStep};
use crate::error::Result;
use crate::hash::SnapshotHash;
use crate::kv::KvStore;
use crate::layout::Layout;
use crate::lease::{Lease, SweepLock};

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
    /// A blob was renamed into `snapshots/` since the directory's last sync.
    pub blob_dir_dirty: AtomicBool,
    /// A collection (not a dry run) ran since the blob directory's last sync at close: it may
    /// have unlinked or quarantined files there, which only [`SyncStep::CloseBlobs`] makes
    /// durable.
    pub blob_dir_unlinked: AtomicBool,
    /// Early writeback: fsyncs each published blob in the background.
    pub syncer: super::syncer::Syncer,
    /// What collections saw, for `status.json` and the metrics file.
    pub status: crate::status::StatusBoard,
    /// Test hook: close as a killed process would have left the store (no clean-close marker).
    pub simulate_crash: AtomicBool,
    /// Opened read-only (`status`): writes nothing, not even at close.
    pub read_only: bool,
    /// The configured archive and the attached archiver.
    pub archive: crate::archiver::ArchiveSlot,
    /// Held for the life of the store: the exclusive lock file.
    pub(super) _lock_file: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.simulate_crash.load(Ordering::SeqCst) {
            return;
        }
        if self.read_only {
            self.syncer.stop();
            self.status.stop();
            return;
        }
        // A clean close: the next open need not look for crash leftovers. Blobs saved since
        // the last commit and unlinks (never fsynced while the store runs: a lost one leaves an
        // orphan that the listing after an unclean shutdown adopts) are made durable first, so
        // that an OS crash right after a clean close cannot bring back files unnoticed or leave
        // a renamed name without its bytes.
        let clean = !self.needs_scan.load(Ordering::SeqCst) && self.durability.check().is_ok();
        if clean {
            match self.make_blobs_durable(SyncStep::CloseBlobs) {
                Ok(()) => {
                    let _ = self.kv.db().remove(crate::schema::SESSION_KEY);
                }
                Err(e) => tracing::warn!("{e}; the next open will list the blob area"),
            }
        }
        self.syncer.stop();
        self.status.stop();
        if let Err(e) = self.kv.db().flush() {
            tracing::warn!("flushing the store on close failed: {e}");
        }
    }
}

impl SwingStore {
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

impl Inner {
    /// Step 2 of a commit, and what a clean close does: waits for the sync threads to finish
    /// every blob published so far (`syncer.rs`), then fsyncs the blob directory if a blob was
    /// renamed into it since its last sync — or, with [`SyncStep::CloseBlobs`], also if a
    /// collection ran in the session (its unlinks are made durable only here). A session that
    /// only saved and committed leaves nothing for the close to sync (issue 25).
    pub(super) fn make_blobs_durable(&self, dir_step: SyncStep) -> Result<()> {
        self.durability.check()?;
        self.syncer.wait()?;
        let renamed = self.blob_dir_dirty.swap(false, Ordering::SeqCst);
        let unlinked =
            dir_step == SyncStep::CloseBlobs && self.blob_dir_unlinked.swap(false, Ordering::SeqCst);
        if !renamed && !unlinked {
            return Ok(());
        }
        self.durability.sync_path(dir_step, &self.layout.blob_dir())
    }
}
