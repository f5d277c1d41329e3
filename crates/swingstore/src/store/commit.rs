//! How a block becomes durable.
//!
//! `commit()`, with the block closed to new writes (the kv store's staged map is locked) and
//! under the commit lock (which every collection also holds):
//!
//! 1. every staged root that parses must name a present blob (one stat each), or the commit is
//!    refused with [`Error::DanglingRoot`] and the block stays staged;
//! 2. every blob renamed into `snapshots/` since the last sync is fsynced — each was handed to
//!    the sync threads when it was renamed (`syncer.rs`), so commit waits only for those still in
//!    flight — then `snapshots/` once ([`SyncStep::BlobFile`], [`SyncStep::BlobDir`]);
//! 3. the kv store writes the block in one sled batch, flushes, and fsyncs sled's large-value
//!    files, if any, and its log ([`SyncStep::KvBlobs`], [`SyncStep::KvLog`]); only then do the
//!    epoch and the in-memory root index move.
//!
//! So no root is ever durable before the bytes and the name of the blob it names, and a
//! commit that returned is on disk. Any failed sync poisons the handle.

use std::sync::atomic::Ordering;

use super::handle::SwingStore;
use crate::durability::SyncStep;
use crate::error::{Error, Result};
use crate::kv::Staged;
use crate::roots::parse_root_value;

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
            inner.make_blobs_durable(SyncStep::BlobDir)?;
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
