//! How a save is published under its hash.
//!
//! 1. The bytes stream through sha256 ∥ LZ4 into `tmp/save-<pid>-<n>.tmp` (no fsync here).
//! 2. Under the sweep lock: the metadata is written (saved epoch = committed epoch + 1,
//!    condemnation cleared), the temp file is renamed to `snapshots/<hash>.lz4`, and the file is
//!    handed to the sync threads (the next commit waits for them, see `commit.rs`). A blob that already exists is renewed
//!    exactly the same way (Agoric #5901: an identical save must protect the blob again), and
//!    the identical new file replaces it (atomic; it heals a blob damaged in place).

use std::fs;
use std::io::{self, Read};
use std::sync::atomic::Ordering;

use super::handle::SwingStore;
use crate::blob;
use crate::blob::BlobMeta;
use crate::codec;
use crate::error::{Error, IoContext, Result};
use crate::failpoint::{self, points};
use crate::hash::SnapshotHash;
use crate::schema::{SAVE_GEN_KEY, meta_key};

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveInfo {
    /// The snapshot's name: the sha256 of its raw bytes.
    pub hash: SnapshotHash,
    /// Raw (uncompressed) length.
    pub raw_bytes: u64,
    /// Length of the blob file.
    pub stored_bytes: u64,
    /// The epoch of the block this save belongs to (committed epoch + 1 when it was
    /// published). The root naming it must be committed in that block: with grace 0, a blob
    /// whose block committed without a root naming it may be collected by the next pass.
    pub saved_epoch: u64,
    /// The blob was already stored: its protection was renewed (and its file replaced by the
    /// freshly written, identical one).
    pub deduplicated: bool,
}

impl SwingStore {
    /// Saves a snapshot from a stream: hashes and compresses in one pass with bounded memory,
    /// writes a temp file and publishes it under its hash. A snapshot already stored is
    /// renewed exactly as a new one (its protection restarts). The blob is durable once the
    /// block's `commit()` returns.
    pub fn save(&self, input: &mut (dyn Read + Send)) -> Result<SaveInfo> {
        self.check_writable()?;
        let layout = &self.inner.layout;
        let name = blob::temp_name();
        self.inner.sweep.lock().active_temps.insert(name.clone());
        let written = blob::write_temp(&layout.temp_dir(), name.clone(), input);
        let result = written.and_then(|temp| {
            failpoint::hit(self.inner.durability.scope(), points::SAVE_AFTER_WRITE).at(&temp.path)?;
            self.publish(&temp)
        });
        let temp_path = layout.temp_dir().join(&name);
        match fs::remove_file(&temp_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!("could not remove temp file {}: {e}", temp_path.display());
                self.inner.needs_scan.store(true, Ordering::SeqCst);
            }
        }
        self.inner.sweep.lock().active_temps.remove(&name);
        result
    }

    /// Saves `bytes` (convenience over [`save`](Self::save)).
    pub fn save_bytes(&self, bytes: &[u8]) -> Result<SaveInfo> {
        self.save(&mut io::Cursor::new(bytes))
    }

    /// Records metadata and renames the temp file into place, under the sweep lock (so a
    /// sweep never sees a half-published blob, and a dedup hit renews the protection of a
    /// blob the sweep has not yet deleted, or re-creates it if it has).
    fn publish(&self, temp: &blob::TempBlob) -> Result<SaveInfo> {
        let inner = &self.inner;
        let db = inner.kv.db();
        let dest = inner.layout.blob_path(&temp.hash);
        let mut locked = inner.sweep.lock();
        inner.durability.check()?;
        let saved_epoch = inner.kv.committed_epoch() + 1;
        let existing = fs::symlink_metadata(&dest).ok();
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            // A directory squats on the blob's name: leave it for the operator, fail loudly.
            return Err(Error::io(&dest, io::Error::other("a directory is in the way")));
        }
        let deduplicated = existing.as_ref().is_some_and(|m| m.is_file());
        let meta = BlobMeta {
            raw_bytes: temp.raw_bytes,
            stored_bytes: temp.stored_bytes,
            saved_epoch,
            condemned_epoch: None,
        };
        let save_generation = inner.save_generation.load(Ordering::SeqCst) + 1;
        let mut batch = sled::Batch::default();
        batch.insert(meta_key(&temp.hash), codec::encode(&meta)?);
        batch.insert(SAVE_GEN_KEY, &save_generation.to_be_bytes());
        db.apply_batch(batch)?;
        inner.save_generation.store(save_generation, Ordering::SeqCst);
        // A sweep that decided on this blob before now must not delete it (same saved epoch
        // or not: a re-save in the open block keeps the epoch but not the generation).
        locked.last_save.insert(temp.hash, save_generation);
        failpoint::hit(self.inner.durability.scope(), points::SAVE_AFTER_META).at(&dest)?;
        fs::rename(&temp.path, &dest).at(&dest)?;
        // Its bytes are synced from now on, in the background; the next commit waits for that,
        // then syncs its name, before any root of that block (which may name it) is written.
        inner.syncer.push(crate::durability::SyncStep::BlobFile, dest.clone());
        inner.blob_dir_dirty.store(true, Ordering::SeqCst);
        inner.saved_in_block.store(true, Ordering::SeqCst);
        drop(locked);
        failpoint::hit(self.inner.durability.scope(), points::SAVE_BEFORE_DIR_SYNC).at(&dest)?;
        Ok(SaveInfo {
            hash: temp.hash,
            raw_bytes: temp.raw_bytes,
            stored_bytes: temp.stored_bytes,
            saved_epoch,
            deduplicated,
        })
    }
}
