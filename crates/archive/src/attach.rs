//! Wiring an archive to a store: [`StoreArchiver`] is the store's [`swingstore::Archiver`];
//! [`attach`] opens the archive a store is configured with and hands it to its collector.

use std::io::{Read, Write};
use std::sync::Arc;

use swingstore::{ArchiveFailure, NamedBy, SnapshotHash, SwingStore};

use crate::error::Result;
use crate::store::Archive;
use crate::write::Archived;

/// Called after each archive step (statistics).
pub type Observer = Arc<dyn Fn(&Archived) + Send + Sync>;

/// The collector's archiver: archives each snapshot it is handed (reading the store's
/// verifying reader), durably, before the store unlinks it.
pub struct StoreArchiver {
    archive: Arc<Archive>,
    observer: Option<Observer>,
}

impl StoreArchiver {
    /// An archiver writing to `archive`.
    pub fn new(archive: Arc<Archive>) -> Self {
        Self { archive, observer: None }
    }

    /// Also calls `observer` after each step.
    pub fn with_observer(archive: Arc<Archive>, observer: Observer) -> Self {
        Self { archive, observer: Some(observer) }
    }
}

impl swingstore::Archiver for StoreArchiver {
    fn is_archived(&self, hash: &SnapshotHash) -> std::result::Result<bool, ArchiveFailure> {
        // A manifest that exists but does not read, or names a missing pack, is not a copy.
        Ok(self.archive.holds(hash)?)
    }

    fn archive(
        &self,
        hash: &SnapshotHash,
        named_by: &NamedBy,
        epoch: u64,
        bytes: &mut (dyn Read + Send),
    ) -> std::result::Result<(), ArchiveFailure> {
        // The store's BlobReader fails on bytes that do not verify: no second hash here.
        let done = self.archive.archive_stream(hash, named_by, epoch, bytes, true)?;
        if let Some(observer) = &self.observer {
            observer(&done);
        }
        Ok(())
    }

    fn read_archived(
        &self,
        hash: &SnapshotHash,
        out: &mut dyn Write,
    ) -> std::result::Result<Option<u64>, ArchiveFailure> {
        match self.archive.get_into(hash, out) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens the archive `store` is configured with (`None`: none configured).
pub fn open_for(store: &SwingStore) -> Result<Option<Arc<Archive>>> {
    match store.archive_config() {
        None => Ok(None),
        Some(config) => Ok(Some(Arc::new(Archive::open_owned(&config.location, &store.store_id()?, &[])?))),
    }
}

/// Opens the archive `store` is configured with and attaches it to the store's collector.
/// If it cannot be opened, the error is returned and nothing is attached: the collector then
/// keeps every blob that needs archiving (fail closed) and reports it.
pub fn attach(store: &SwingStore) -> Result<Option<Arc<Archive>>> {
    let archive = open_for(store)?;
    if let Some(archive) = &archive {
        store.set_archiver(Arc::new(StoreArchiver::new(Arc::clone(archive))));
    }
    Ok(archive)
}
