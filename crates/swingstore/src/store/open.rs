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

use super::handle::{Inner, SwingStore, sync_files_in_parallel};
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, IoContext, Result};
use crate::kv::KvStore;
use crate::layout::{Layout, TEMP_PREFIX, TEMP_SUFFIX, parse_blob_file_name};
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

/// Where a new sled database is built before it is renamed to `kv/`.
const KV_STAGING: &str = "kv.new";

/// Whether the store has no sled database yet: no `kv/`, or a `kv/` without sled's files (left
/// by a crash of an older version while it created one: nothing was ever committed in it).
fn needs_new_kv(layout: &Layout) -> Result<bool> {
    let kv = layout.kv_dir();
    if !kv.exists() {
        return Ok(true);
    }
    let empty = !kv.join("db").exists() && !kv.join("conf").exists();
    if empty {
        fs::remove_dir_all(&kv).at(&kv)?;
    }
    Ok(empty)
}

/// Builds a new sled database in `kv.new/`, makes its files and their names durable, then
/// renames it to `kv/` and syncs the store directory: a crash during creation leaves no
/// half-written `kv/` (sled writes its `conf` file in two writes; a store whose `conf` is torn
/// would never open again).
fn create_kv(layout: &Layout, durability: &Durability) -> Result<()> {
    let staging = layout.root().join(KV_STAGING);
    remove_dir_if_present(&staging)?;
    {
        let db = open_sled(&staging, layout.root())?;
        db.flush()?;
    }
    let mut dirs = vec![staging.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            if entry.file_type().at(&entry.path())?.is_dir() {
                dirs.push(entry.path());
            }
            durability.sync_path(SyncStep::KvCreate, &entry.path())?;
        }
    }
    durability.sync_path(SyncStep::KvCreate, &staging)?;
    fs::rename(&staging, layout.kv_dir()).at(&layout.kv_dir())?;
    durability.sync_path(SyncStep::KvCreate, layout.root())
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// fsyncs every file in `kv/blobs/` and the directory (see [`SyncStep::KvBlobs`]).
fn sync_value_files_before_open(layout: &Layout, durability: &Durability) -> Result<()> {
    let dir = layout.kv_dir().join("blobs");
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut any = false;
    for entry in entries {
        let entry = entry.at(&dir)?;
        durability.sync_path(SyncStep::KvBlobs, &entry.path())?;
        any = true;
    }
    if any {
        durability.sync_path(SyncStep::KvBlobs, &dir)?;
    }
    Ok(())
}

/// What the marker file says (informational; its presence is what counts).
const STORE_MARKER_TEXT: &str = "snapgc store\nformat 1\n";

/// The directory holding `dir` (`.` for a bare relative name).
fn parent_of(dir: &Path) -> std::path::PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => Path::new(".").to_owned(),
    }
}

/// `mkdir -p`, then fsyncs the parent of every directory it created, deepest first.
fn create_dir_durably(root: &Path, durability: &Durability) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(root);
    while let Some(dir) = at {
        if dir.as_os_str().is_empty() || dir.exists() {
            break;
        }
        missing.push(dir.to_owned());
        at = dir.parent();
    }
    fs::create_dir_all(root).at(root)?;
    for dir in &missing {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        durability.sync_path(SyncStep::StoreCreate, parent)?;
    }
    Ok(())
}

/// fsyncs every blob file and then `snapshots/` (after an unclean close).
fn sync_blob_area(layout: &Layout, durability: &Durability) -> Result<()> {
    let dir = layout.blob_dir();
    let mut paths = Vec::new();
    for entry in fs::read_dir(&dir).at(&dir)? {
        let entry = entry.at(&dir)?;
        let name = entry.file_name();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && name.to_str().and_then(parse_blob_file_name).is_some() {
            paths.push(entry.path());
        }
    }
    sync_files_in_parallel(durability, SyncStep::OpenBlobs, &paths)?;
    durability.sync_path(SyncStep::OpenBlobs, &dir)
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
fn open_sled(dir: &Path, root: &Path) -> Result<sled::Db> {
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

/// Removes the temp files saves write (`save-*.tmp`) from the temp area; returns how many.
/// Anything else there is not ours: it is left alone (the collector reports it).
fn remove_temp_leftovers(temp_dir: &Path) -> Result<u64> {
    let mut removed = 0;
    for entry in fs::read_dir(temp_dir).at(temp_dir)? {
        let entry = entry.at(temp_dir)?;
        let name = entry.file_name();
        let ours = name.to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX));
        if !ours {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove {}: {e}", entry.path().display()),
        }
    }
    Ok(removed)
}

/// sled 0.34 writes `snap.<lsn>.generating` and renames it when complete; a kill in between
/// leaves a file that makes the next open fail with `Corruption`. The completed snapshots and
/// the log are untouched by it, so removing it is safe (we hold the store's lock).
fn remove_unfinished_sled_snapshots(kv_dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(kv_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(kv_dir, e)),
    };
    for entry in entries {
        let entry = entry.at(kv_dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::info!("removing sled's unfinished snapshot {name}");
            fs::remove_file(entry.path()).at(&entry.path())?;
        }
    }
    Ok(())
}
