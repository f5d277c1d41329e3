//! The archive tier's hook: where the store's configured archive is recorded (`s/archive`),
//! and the [`Archiver`] the collector hands a snapshot to before it unlinks it.
//!
//! The store knows only the archive's *location* (a directory or `s3://bucket[/prefix]`, kept
//! in sled so that every process opening the store, the kernel's or the CLI's, knows history
//! must be kept) and a trait. The archive itself (chunking, compression, object stores) lives
//! in the `archive` crate, which implements [`Archiver`]; the store never depends on it.
//!
//! With an archive configured, the collector archives every due blob that a committed root
//! once named ([`NamedBy`]) before unlinking it, and keeps it (reporting an error) when no
//! archiver is attached or archiving fails: unarchived history is never deleted. With none
//! configured, nothing changes (no lookup, no syscall).

use std::io::{Read, Write};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::roots::NamedBy;
use crate::schema::ARCHIVE_KEY;
use crate::store::SwingStore;

/// The archive configured for a store (the `s/archive` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveConfig {
    /// A directory, or `s3://bucket[/prefix]`.
    pub location: String,
    /// Retention: keep the last N archived snapshots of each root key; 0 keeps all.
    pub keep_last: u64,
}

/// Longest archive location accepted, in bytes.
pub const MAX_ARCHIVE_LOCATION_BYTES: usize = 4096;

impl ArchiveConfig {
    /// Checks the location (not empty, bounded, no NUL or line break).
    pub fn validate(&self) -> Result<()> {
        let loc = &self.location;
        if loc.is_empty() {
            return Err(Error::Config("the archive location is empty".into()));
        }
        if loc.len() > MAX_ARCHIVE_LOCATION_BYTES {
            return Err(Error::Config(format!(
                "the archive location is longer than {MAX_ARCHIVE_LOCATION_BYTES} bytes"
            )));
        }
        if loc.chars().any(|c| c == '\0' || c == '\n' || c == '\r') {
            return Err(Error::Config("the archive location holds a NUL or a line break".into()));
        }
        Ok(())
    }
}

/// Why archiving a snapshot failed (the collector then keeps the blob and reports this).
pub type ArchiveFailure = Box<dyn std::error::Error + Send + Sync>;

/// What the collector calls, before it unlinks a blob that a committed root once named.
///
/// `archive` must return only once the archive's record of the snapshot is durable: the blob
/// is unlinked right after. It is called outside the sweep lock, with a lease held on the blob,
/// from the thread running the collection (which holds the commit lock).
pub trait Archiver: Send + Sync {
    /// Whether the archive already holds a durable record of `hash` (then the blob is not read).
    fn is_archived(&self, hash: &SnapshotHash) -> std::result::Result<bool, ArchiveFailure>;

    /// Archives the snapshot read from `bytes` (its raw bytes, verified by the store as they
    /// are read: a read error means the blob is damaged, and nothing may be recorded).
    /// `named_by` is the committed root that last named it; `epoch` the store's committed epoch.
    fn archive(
        &self,
        hash: &SnapshotHash,
        named_by: &NamedBy,
        epoch: u64,
        bytes: &mut (dyn Read + Send),
    ) -> std::result::Result<(), ArchiveFailure>;
    /// Writes the archived raw bytes of `hash` to `out`, verified (length and sha256) as the
    /// archive reassembles them, and returns their length; `Ok(None)` when the archive does not
    /// hold `hash`. On an error `out` has received unverified bytes: the caller discards them.
    /// (A debug-mode state export ships archived history through this.)
    fn read_archived(
        &self,
        hash: &SnapshotHash,
        out: &mut dyn Write,
    ) -> std::result::Result<Option<u64>, ArchiveFailure>;
}

pub(crate) fn load_config(db: &sled::Db) -> Result<Option<ArchiveConfig>> {
    match db.get(ARCHIVE_KEY)? {
        None => Ok(None),
        Some(bytes) => codec::decode(&bytes, "archive config").map(Some),
    }
}

impl SwingStore {
    /// The archive configured for this store, if any.
    pub fn archive_config(&self) -> Option<ArchiveConfig> {
        self.inner.archive.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Configures (or with `None` removes) the store's archive, durably. From then on every
    /// collection in every process that opens the store archives before it unlinks history
    /// (and keeps history it cannot archive). Does not attach an archiver.
    pub fn set_archive_config(&self, config: Option<ArchiveConfig>) -> Result<()> {
        self.check_writable()?;
        let inner = &self.inner;
        // Under the commit lock, which every collection holds: a pass sees one configuration.
        if let Some(c) = &config {
            c.validate()?;
            self.check_archive_location(c)?;
            // The owner an archive records: made now, before any archive is opened.
            self.store_id()?;
        }
        let _commit = inner.kv.commit_guard();
        let db = inner.kv.db();
        match &config {
            Some(c) => {
                let encoded = codec::encode(c)?;
                codec::check_fits(&encoded, "archive config")?;
                db.insert(ARCHIVE_KEY, encoded)?;
            }
            None => {
                db.remove(ARCHIVE_KEY)?;
            }
        }
        // The next pass is a full one (it may now have blobs to archive, or none).
        db.remove(crate::schema::GC_STATE_KEY)?;
        inner.kv.sync_log(crate::durability::SyncStep::Config)?;
        *inner.archive.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// The store's id: 32 hex digits made once (when an archive is first configured or opened)
    /// and kept in the store, durably. An archive records the id of the store that owns it and
    /// refuses every other store.
    pub fn store_id(&self) -> Result<String> {
        let db = self.inner.kv.db();
        if let Some(id) = db.get(crate::schema::STORE_ID_KEY)? {
            return String::from_utf8(id.to_vec())
                .map_err(|_| Error::Codec { what: "store id".into(), reason: "not UTF-8".into() });
        }
        self.check_writable()?;
        let _commit = self.inner.kv.commit_guard();
        if let Some(id) = db.get(crate::schema::STORE_ID_KEY)? {
            return Ok(String::from_utf8_lossy(&id).into_owned());
        }
        let id = new_store_id(self.path());
        db.insert(crate::schema::STORE_ID_KEY, id.as_bytes())?;
        self.inner.kv.sync_log(crate::durability::SyncStep::Config)?;
        Ok(id)
    }

    /// Attaches the archiver the collector hands history to (the one for the configured
    /// location: the caller opens it). Shared by every clone of this handle.
    pub fn set_archiver(&self, archiver: Arc<dyn Archiver>) {
        *self.inner.archive.archiver.write().unwrap_or_else(|p| p.into_inner()) = Some(archiver);
    }

    /// Detaches the archiver (with an archive still configured, history is then kept).
    pub fn clear_archiver(&self) {
        *self.inner.archive.archiver.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Whether an archiver is attached.
    pub fn has_archiver(&self) -> bool {
        self.inner.archive.archiver.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    pub(crate) fn archiver(&self) -> Option<Arc<dyn Archiver>> {
        self.inner.archive.archiver.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl SwingStore {
    /// Checks an archive configuration as [`set_archive_config`](Self::set_archive_config)
    /// will, without changing anything: the location is well-formed and, for a directory,
    /// absolute, not a file, and neither inside the store nor containing it (the store's own
    /// files would be taken for archive objects, or replaced).
    pub fn check_archive_config(&self, config: &ArchiveConfig) -> Result<()> {
        config.validate()?;
        self.check_archive_location(config)
    }

    fn check_archive_location(&self, config: &ArchiveConfig) -> Result<()> {
        let loc = &config.location;
        if loc.contains("://") {
            return Ok(());
        }
        let path = std::path::Path::new(loc);
        if !path.is_absolute() {
            return Err(Error::Config(format!(
                "the archive directory {} is relative: give an absolute path (every process opening the store must find it)",
                crate::error::shorten(loc)
            )));
        }
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_dir()
        {
            return Err(Error::Config(format!(
                "the archive location {} is not a directory",
                crate::error::shorten(loc)
            )));
        }
        let resolved = crate::paths::resolve(path).map_err(|e| Error::io(path, e))?;
        let store = crate::paths::resolve(self.path()).map_err(|e| Error::io(self.path(), e))?;
        if resolved.starts_with(&store) || store.starts_with(&resolved) {
            return Err(Error::Config(format!(
                "the archive directory {} and the store {} must not contain one another",
                resolved.display(),
                store.display()
            )));
        }
        Ok(())
    }
}

/// A fresh store id: 32 hex digits of sha256 over the store's path, the time and the process.
fn new_store_id(root: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(root.as_os_str().as_encoded_bytes());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(N.fetch_add(1, std::sync::atomic::Ordering::SeqCst).to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The archive state of an open store.
#[derive(Default)]
pub(crate) struct ArchiveSlot {
    pub config: std::sync::RwLock<Option<ArchiveConfig>>,
    pub archiver: std::sync::RwLock<Option<Arc<dyn Archiver>>>,
}
