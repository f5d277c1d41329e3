//! Creating and opening a store: the directory rules, the exclusive lock, sled's recovery
//! quirks, and what a crash may have left behind.
//!
//! **Directory rule.** A store is created only in a missing or empty directory; an existing
//! directory is opened only if it already is a store (it holds the `SNAPGC-STORE` marker, or a
//! `kv/` database written before the marker existed). So `--store` pointed at a directory of
//! someone's files never cleans it; and the cleaning steps remove only names the store writes.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use super::create::{
    KV_STAGING, STORE_MARKER_TEXT, create_dir_durably, create_kv, needs_new_kv, parent_of,
    remove_dir_if_present,
};
use super::handle::{Inner, SwingStore};
use super::recover::{
    remove_temp_leftovers, remove_unfinished_sled_snapshots, sync_blob_area, sync_value_files_before_open,
};
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, IoContext, Result};
use crate::kv::KvStore;
use crate::layout::Layout;
use crate::lease::SweepLock;
use crate::schema::{self, SAVE_GEN_KEY, SESSION_KEY};

/// How to open a store.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Create the store (and its directory) if it does not exist. An existing directory that
    /// is not a store is used only if it is empty.
    pub create: bool,
}

/// What the directory holds before we touch it.
enum Found {
    /// Nothing there: create the directory and the store.
    Missing,
    /// An empty directory: create the store in it.
    Empty,
    /// A store (with the marker, or an older one with only `kv/`).
    Store { marked: bool },
    /// A directory with files of someone else's.
    NotAStore,
}

fn inspect(root: &Path, layout: &Layout) -> Result<Found> {
    let meta = match fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(Error::io(root, e)),
    };
    if !meta.is_dir() {
        return Err(Error::NoStore { path: root.to_owned(), reason: "not a directory".into() });
    }
    let marked = layout.marker_file().is_file();
    if marked || layout.kv_dir().is_dir() {
        return Ok(Found::Store { marked });
    }
    // Empty, or holding only what a creation cut short leaves: the lock file (taken before the
    // marker is written) or the import marker (an import that crashed before it made the store).
    for entry in fs::read_dir(root).at(root)? {
        let entry = entry.at(root)?;
        let name = entry.file_name();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let ours = is_file && (name == "LOCK" || name == crate::layout::IMPORT_MARKER);
        if !ours {
            return Ok(Found::NotAStore);
        }
    }
    Ok(Found::Empty)
}

impl SwingStore {
    /// Opens (or with `create`, creates) the store at `path`, exclusively.
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        open(path.as_ref(), options)
    }

    /// Opens or creates the store at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path, OpenOptions { create: true })
    }
}

/// Opens (creating it) the store a state-sync import is building: the one open that accepts
/// the import marker.
pub(crate) fn open_for_import(root: &Path) -> Result<SwingStore> {
    open_inner(root, OpenOptions { create: true }, true)
}

fn open(root: &Path, options: OpenOptions) -> Result<SwingStore> {
    open_inner(root, options, false)
}

fn open_inner(root: &Path, options: OpenOptions, importing: bool) -> Result<SwingStore> {
    let durability = Arc::new(Durability::new()?);
    let layout = Layout::new(root);
    if !importing && layout.import_marker().exists() {
        return Err(Error::NoStore {
            path: root.to_owned(),
            reason: format!(
                "a state-sync import into it did not finish ({} is present), so nothing in it \
                 counts; re-run `snapgc state import` (it starts over) or remove the directory",
                crate::layout::IMPORT_MARKER
            ),
        });
    }
    let found = match inspect(root, &layout)? {
        Found::NotAStore => {
            return Err(Error::NoStore {
                path: root.to_owned(),
                reason: if options.create {
                    "the directory is not empty and is not a snapgc store; refusing to create a store \
                     in it (a store cleans its tmp/ and snapshots/ areas)"
                        .into()
                } else {
                    "the directory is not a snapgc store (no SNAPGC-STORE marker, no kv/ database)".into()
                },
            });
        }
        Found::Missing if !options.create => {
            return Err(Error::NoStore { path: root.to_owned(), reason: "no such directory".into() });
        }
        Found::Empty if !options.create => {
            return Err(Error::NoStore {
                path: root.to_owned(),
                reason: "the directory is empty: not a snapgc store".into(),
            });
        }
        found => found,
    };
    if matches!(found, Found::Missing) {
        create_dir_durably(root, &durability)?;
    }
    durability.set_scope(root);
    let lock_path = layout.lock_file();
    let lock_file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .at(&lock_path)?;
    take_store_lock(&lock_file, &lock_path, root)?;

    // Under the lock: make the directory a store (marker, areas), durably.
    if !matches!(found, Found::Store { marked: true }) {
        fs::write(layout.marker_file(), STORE_MARKER_TEXT).at(&layout.marker_file())?;
        durability.sync_path(SyncStep::StoreCreate, &layout.marker_file())?;
    }
    for dir in [layout.blob_dir(), layout.temp_dir()] {
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    // At every open, not only at creation: a process killed while creating the store (after
    // the mkdir, before its syncs) leaves a directory the next open cannot tell from a durable
    // one. Two directory fsyncs per open.
    durability.sync_path(SyncStep::StoreCreate, &parent_of(root))?;
    durability.sync_path(SyncStep::StoreCreate, root)?;

    if needs_new_kv(&layout)? {
        create_kv(&layout, &durability)?;
    }
    remove_dir_if_present(&layout.root().join(KV_STAGING))?;
    remove_unfinished_sled_snapshots(&layout.kv_dir())?;
    // sled writes its large-value files without fsync: a killed process may have left some
    // that the log it flushed already names. Sync them before sled's recovery (which fsyncs
    // the log) can make that log durable.
    sync_value_files_before_open(&layout, &durability)?;
    // We hold the store alone: every temp file of ours is a leftover of a dead process (and a
    // restarted process may get the same pid, hence the same temp names).
    let temps_removed = remove_temp_leftovers(&layout.temp_dir())?;
    if temps_removed > 0 {
        tracing::info!("removed {temps_removed} temp files left by an earlier process");
    }
    let db = open_sled(&layout.kv_dir(), root)?;
    let db_path = layout.kv_dir().join("db");
    // sled's recovery writes a snapshot file and removes the older ones without syncing kv/.
    durability.sync_path(SyncStep::KvDir, &layout.kv_dir())?;
    let db_file = File::open(&db_path).at(&db_path)?;
    let kv = KvStore::open(db, db_file, layout.kv_dir(), Arc::clone(&durability))?;
    kv.sync_value_files()?;
    let unclean = kv.db().contains_key(SESSION_KEY)?;
    if unclean {
        tracing::info!("the store was not closed cleanly: the next collection lists the blob area");
        crate::gc::state::GcState::forget(kv.db())?;
        // A killed process leaves renamed blobs whose bytes or names may not be durable yet
        // (its commit never ran): make the whole blob area durable before any root of this
        // session can name one of them.
        sync_blob_area(&layout, &durability)?;
    }
    kv.db().insert(SESSION_KEY, &[1u8])?;
    // Durable before any unlink of this session: otherwise a crash could lose the marker,
    // bring back unlinked files, and the next open would not list the blob area.
    kv.sync_log(SyncStep::OpenMarker)?;
    let save_generation = AtomicU64::new(schema::read_u64(kv.db(), SAVE_GEN_KEY)?);
    let sweep = SweepLock::for_store(root);
    let syncer = super::syncer::Syncer::start(Arc::clone(&durability))?;
    let status = crate::status::StatusBoard::start(root, super::status::read_metrics_path(kv.db())?);
    let archive = crate::archive::ArchiveSlot::default();
    *archive.config.write().unwrap_or_else(|p| p.into_inner()) = crate::archive::load_config(kv.db())?;
    Ok(SwingStore {
        inner: Arc::new(Inner {
            layout,
            kv,
            sweep,
            durability,
            save_generation,
            gc_lock: Mutex::new(()),
            needs_scan: AtomicBool::new(unclean),
            saved_in_block: AtomicBool::new(false),
            blob_dir_dirty: AtomicBool::new(false),
            syncer,
            status,
            simulate_crash: AtomicBool::new(false),
            archive,
            _lock_file: lock_file,
        }),
    })
}

/// Takes the store's exclusive lock. A holder that goes away within a moment is waited for:
/// a process that forks while it holds the store (to exec a child) shares the lock until the
/// child's exec closes it, so a close-then-reopen in such a process can meet it briefly.
fn take_store_lock(lock_file: &File, lock_path: &Path, root: &Path) -> Result<()> {
    let mut delay = std::time::Duration::from_millis(1);
    for attempt in 0..10 {
        match lock_file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) if attempt < 9 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(fs::TryLockError::WouldBlock) => break,
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(lock_path, e)),
        }
    }
    Err(Error::InUse { path: root.to_owned() })
}

/// The sled configuration: no background flusher (the store syncs sled itself, at the points
/// it names, and a flusher thread's failed fsync would only be logged). Test builds can give
/// sled tiny log segments (`SWINGSTORE_SLED_SEGMENT_SIZE`, a power of two), so that short
/// power-loss runs reach segment reuse and large-value files.
fn sled_config(dir: &Path) -> sled::Config {
    let config = sled::Config::new().path(dir).flush_every_ms(None);
    #[cfg(feature = "failpoints")]
    if let Some(size) = std::env::var("SWINGSTORE_SLED_SEGMENT_SIZE").ok().and_then(|v| v.parse().ok()) {
        return config.segment_size(size);
    }
    config
}

/// Opens sled. We hold the store's LOCK, so no other process has the database; if sled still
/// reports its own file lock taken, it is this process's previous handle whose background
/// threads are finishing their shutdown (sled 0.34 releases the lock asynchronously): retry
/// briefly.
pub(super) fn open_sled(dir: &Path, root: &Path) -> Result<sled::Db> {
    // Up to about 10 s in all: sled's I/O threads finish quickly, but a loaded machine can
    // delay them.
    let mut delay = std::time::Duration::from_millis(2);
    for _ in 0..48 {
        match sled_config(dir).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(250));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(Error::InUse { path: root.to_owned() })
}
