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

use super::create::{create_kv, needs_new_kv, remove_kv_staging};
use super::handle::{Inner, SwingStore};
use super::identify::{Found, inspect, marker_text};
use super::recover::{
    remove_temp_leftovers, remove_unfinished_sled_snapshots, sync_blob_area, sync_value_files_before_open,
};
use super::sled_db::open_sled;
use crate::durability::{Durability, SyncStep, parent_of};
use crate::error::{Error, IoContext, Result};
use crate::kv::KvStore;
use crate::layout::{IMPORT_MARKER, Layout};
use crate::lease::SweepLock;
use crate::schema::{self, SAVE_GEN_KEY, SESSION_KEY};

/// How to open a store.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Create the store (and its directory) if it does not exist. An existing directory that
    /// is not a store is used only if it is empty.
    pub create: bool,
}

impl SwingStore {
    /// Opens (or with `create`, creates) the store at `path`, exclusively.
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        open_inner(path.as_ref(), options, Holder::Take)
    }

    /// Opens or creates the store at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path, OpenOptions { create: true })
    }

    /// Opens an existing store to look at it (what `snapgc status` does on a stopped store):
    /// none of an open's recovery work (no temp file, leftover or unfinished sled file is
    /// removed; no directory is created; no unclean-close bookkeeping), nothing written by this
    /// crate, and every write refused ([`Error::ReadOnly`]). The lock is taken *shared*, once,
    /// without waiting: [`Error::InUse`] if a process has the store open; and a writer's open
    /// waits for read-only handles to go (up to about a minute) instead of failing. sled's own
    /// open still runs its recovery on the database files.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        open_read_only(path.as_ref())
    }
}

/// Who takes the store's lock.
pub(crate) enum Holder {
    /// The open takes it (exclusive).
    Take,
    /// The caller holds it already (a state-sync import, on this open file description).
    Held(File),
}

/// Opens (creating it) the store a state-sync import is building, under the lock the import
/// holds: the one open that accepts the import marker.
pub(crate) fn open_for_import(root: &Path, lock: &File) -> Result<SwingStore> {
    open_with_lock(root, OpenOptions { create: true }, lock, true)
}

/// Opens an existing store under a lock the caller holds (a state-sync import looking at its
/// target).
pub(crate) fn open_held(root: &Path, lock: &File) -> Result<SwingStore> {
    open_with_lock(root, OpenOptions { create: false }, lock, false)
}

fn open_with_lock(root: &Path, options: OpenOptions, lock: &File, importing: bool) -> Result<SwingStore> {
    let lock = lock.try_clone().at(&Layout::new(root).lock_file())?;
    if importing {
        open_importing(root, options, lock)
    } else {
        open_inner(root, options, Holder::Held(lock))
    }
}

fn import_marker_refusal(root: &Path) -> Error {
    Error::NoStore {
        path: root.to_owned(),
        reason: format!(
            "a state-sync import into it did not finish ({IMPORT_MARKER} is present), so nothing in it \
             counts; re-run `snapgc state import` (it starts over) or remove the directory"
        ),
    }
}

fn open_inner(root: &Path, options: OpenOptions, holder: Holder) -> Result<SwingStore> {
    if Layout::new(root).import_marker().exists() {
        return Err(import_marker_refusal(root));
    }
    open_checked(root, options, holder)
}

fn open_importing(root: &Path, options: OpenOptions, lock: File) -> Result<SwingStore> {
    open_checked(root, options, Holder::Held(lock))
}

/// Refuses what `found` does not allow opening with `options`.
fn refuse_unless_usable(root: &Path, options: OpenOptions, found: Found) -> Result<Found> {
    match found {
        Found::NotAStore(what) => Err(Error::NoStore {
            path: root.to_owned(),
            reason: if options.create {
                format!(
                    "the directory is not empty ({what}) and is not a snapgc store; refusing to \
                     create a store in it (a store cleans its tmp/ and snapshots/ areas)"
                )
            } else {
                format!(
                    "the directory is not a snapgc store ({what}; no SNAPGC-STORE marker, no kv/ \
                     holding sled's files)"
                )
            },
        }),
        Found::Missing if !options.create => {
            Err(Error::NoStore { path: root.to_owned(), reason: "no such directory".into() })
        }
        Found::Empty if !options.create => Err(Error::NoStore {
            path: root.to_owned(),
            reason: "the directory is empty: not a snapgc store".into(),
        }),
        found => Ok(found),
    }
}

fn open_checked(root: &Path, options: OpenOptions, holder: Holder) -> Result<SwingStore> {
    let durability = Arc::new(Durability::new()?);
    let layout = Layout::new(root);
    let found = refuse_unless_usable(root, options, inspect(root)?)?;
    if matches!(found, Found::Missing) {
        durability.create_dir_all(SyncStep::StoreCreate, root)?;
    }
    durability.set_scope(root);
    let lock_path = layout.lock_file();
    let lock_file = match holder {
        Holder::Held(file) => file,
        Holder::Take => {
            let file = open_lock_file(&lock_path)?;
            take_store_lock(&file, &lock_path, root)?;
            file
        }
    };
    // Looked at again under the lock: another process may have made or changed the store
    // between the first look and the lock.
    let found = refuse_unless_usable(root, options, inspect(root)?)?;

    // Under the lock: make the directory a store (marker, areas), durably.
    let mut created = false;
    if !matches!(found, Found::Store { marked: true }) {
        fs::write(layout.marker_file(), marker_text()).at(&layout.marker_file())?;
        durability.sync_path(SyncStep::StoreCreate, &layout.marker_file())?;
        created = true;
    }
    for dir in [layout.blob_dir(), layout.temp_dir()] {
        match fs::create_dir(&dir) {
            Ok(()) => created = true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    let new_kv = needs_new_kv(&layout)?;
    // The store directory and its parent, whenever this open creates something in it (or
    // `kv/`), and before a state-sync import's first sync (its marker's name). Otherwise only
    // after an unclean close or while nothing is committed (below): see `dir_synced`.
    let dir_synced = created || new_kv || layout.import_marker().exists();
    if dir_synced {
        sync_store_dir(&durability, root)?;
    }

    if new_kv {
        create_kv(&layout, &durability)?;
    }
    remove_kv_staging(&layout)?;
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
    let syncer = super::syncer::Syncer::start(Arc::clone(&durability))?;
    let unclean = kv.db().contains_key(SESSION_KEY)?;
    // A killed process may have left a change of the store directory unsynced: a creation cut
    // between `kv/`'s rename and its sync (nothing committed yet), or a state-sync import cut
    // between its marker's removal and `import-finish` (its store still open: unclean). After a
    // clean close with a commit, every change of the directory was synced by the open or the
    // step that made it, so a clean reopen syncs neither directory (issue 25).
    if !dir_synced && (unclean || kv.committed_epoch() == 0) {
        sync_store_dir(&durability, root)?;
    }
    if unclean {
        tracing::info!("the store was not closed cleanly: the next collection lists the blob area");
        crate::gc::state::GcState::forget(kv.db())?;
        // A killed process leaves renamed blobs whose bytes or names may not be durable yet
        // (its commit never ran): make the whole blob area durable before any root of this
        // session can name one of them.
        sync_blob_area(&layout, &durability, &syncer)?;
    }
    kv.db().insert(SESSION_KEY, &[1u8])?;
    // Durable before any unlink of this session: otherwise a crash could lose the marker,
    // bring back unlinked files, and the next open would not list the blob area.
    kv.sync_log(SyncStep::OpenMarker)?;
    finish_open(layout, kv, durability, syncer, unclean, lock_file, false)
}

/// [`SyncStep::StoreCreate`]: the store directory's name in its parent, and its entries.
fn sync_store_dir(durability: &Durability, root: &Path) -> Result<()> {
    durability.sync_path(SyncStep::StoreCreate, &parent_of(root))?;
    durability.sync_path(SyncStep::StoreCreate, root)
}

fn open_lock_file(lock_path: &Path) -> Result<File> {
    fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(lock_path).at(lock_path)
}

/// The handle, once the store's files are in order.
fn finish_open(
    layout: Layout,
    kv: KvStore,
    durability: Arc<Durability>,
    syncer: super::syncer::Syncer,
    unclean: bool,
    lock_file: File,
    read_only: bool,
) -> Result<SwingStore> {
    let root = layout.root().to_owned();
    let save_generation = AtomicU64::new(schema::read_u64(kv.db(), SAVE_GEN_KEY)?);
    let sweep = SweepLock::for_store(&root);
    let status = crate::status::StatusBoard::start(&root, super::status::read_metrics_path(kv.db())?);
    let archive = crate::archiver::ArchiveSlot::default();
    *archive.config.write().unwrap_or_else(|p| p.into_inner()) = crate::archiver::load_config(kv.db())?;
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
            blob_dir_unlinked: AtomicBool::new(false),
            syncer,
            status,
            simulate_crash: AtomicBool::new(false),
            read_only,
            archive,
            _lock_file: lock_file,
        }),
    })
}

/// [`SwingStore::open_read_only`].
fn open_read_only(root: &Path) -> Result<SwingStore> {
    let layout = Layout::new(root);
    if layout.import_marker().exists() {
        return Err(import_marker_refusal(root));
    }
    match inspect(root)? {
        Found::Store { .. } => {}
        found => {
            refuse_unless_usable(root, OpenOptions { create: false }, found)?;
            return Err(Error::NoStore { path: root.to_owned(), reason: "not a snapgc store".into() });
        }
    }
    let lock_path = layout.lock_file();
    let lock_file = match fs::File::open(&lock_path) {
        Ok(file) => file,
        // A store never opened since it was copied: nobody holds it. The lock file is the one
        // thing a read-only open creates (empty).
        Err(e) if e.kind() == io::ErrorKind::NotFound => open_lock_file(&lock_path)?,
        Err(e) => return Err(Error::io(&lock_path, e)),
    };
    match lock_file.try_lock_shared() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(Error::InUse { path: root.to_owned() }),
        Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
    }
    let durability = Arc::new(Durability::read_only(root)?);
    durability.set_scope(root);
    let unfinished = super::recover::unfinished_sled_snapshots(&layout.kv_dir())?;
    if let Some(name) = unfinished.first() {
        return Err(Error::NoStore {
            path: root.to_owned(),
            reason: format!(
                "it was not closed cleanly and needs recovery (sled's unfinished {name}), which a \
                 read-only open does not do: any other command (or the kernel) recovers it"
            ),
        });
    }
    // Not recovery: the invariant sled's own recovery needs (its value files durable before
    // it makes a log naming them durable).
    let writer = Durability::new()?;
    writer.set_scope(root);
    sync_value_files_before_open(&layout, &writer)?;
    let db = open_sled(&layout.kv_dir(), root)?;
    let db_path = layout.kv_dir().join("db");
    let db_file = File::open(&db_path).at(&db_path)?;
    let kv = KvStore::open(db, db_file, layout.kv_dir(), Arc::clone(&durability))?;
    let unclean = kv.db().contains_key(SESSION_KEY)?;
    let syncer = super::syncer::Syncer::start(Arc::clone(&durability))?;
    finish_open(layout, kv, durability, syncer, unclean, lock_file, true)
}

/// Takes the store's exclusive lock. A holder that goes away within a moment is waited for:
/// a process that forks while it holds the store (to exec a child) shares the lock until the
/// child's exec closes it, so a close-then-reopen in such a process can meet it briefly. A
/// read-only handle (`status`, holding the lock shared) is waited for longer, up to
/// [`READERS_WAIT`]: a status poll must never make a kernel's open fail.
pub(crate) fn take_store_lock(lock_file: &File, lock_path: &Path, root: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(1);
    let mut writer_seen = 0;
    loop {
        match lock_file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(lock_path, e)),
        }
        // Held: by readers only (a shared lock is granted), or by a writer.
        let readers_only = match lock_file.try_lock_shared() {
            Ok(()) => {
                lock_file.unlock().at(lock_path)?;
                true
            }
            Err(fs::TryLockError::WouldBlock) => false,
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(lock_path, e)),
        };
        if readers_only {
            if started.elapsed() > READERS_WAIT {
                return Err(Error::InUse { path: root.to_owned() });
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        writer_seen += 1;
        if writer_seen >= 10 {
            return Err(Error::InUse { path: root.to_owned() });
        }
        std::thread::sleep(delay);
        delay *= 2;
    }
}

/// Longest a writer's open waits for read-only handles to close.
const READERS_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
