//! [`SwingStore`]: the kvStore and the snapshot store behind one handle, opened exclusively.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::blob::{self, BlobReader};
use crate::codec;
use crate::error::{Error, IoContext, Result};
use crate::failpoint::{self, points};
use crate::hash::SnapshotHash;
use crate::kv::{self, KvStore, META_PREFIX, SAVE_GEN_KEY, SESSION_KEY};
use crate::layout::Layout;
use crate::lease::{Lease, SweepLock};
use crate::meta::{BlobMeta, GcConfig};

/// How to open a store.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Create the store (and its directory) if it does not exist.
    pub create: bool,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveInfo {
    pub hash: SnapshotHash,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    /// The epoch of the block this save belongs to (committed epoch + 1 when it was
    /// published). The root naming it must be committed in that block: with grace 0, a blob
    /// whose block committed without a root naming it may be collected by the next pass.
    pub saved_epoch: u64,
    /// The blob was already stored: its protection was renewed (and its file replaced by the
    /// freshly written, identical one).
    pub deduplicated: bool,
}

/// A handle on an open store. Cheap to clone; all clones share one open store, and it is
/// closed (cleanly) when the last clone is dropped.
#[derive(Clone)]
pub struct SwingStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub layout: Layout,
    pub kv: KvStore,
    pub sweep: Arc<SweepLock>,
    /// Bumped by every save (mirrors `s/save_generation`).
    pub save_generation: AtomicU64,
    /// Serialises collections.
    pub gc_lock: Mutex<()>,
    /// A directory listing is needed: the last session did not close cleanly, or a leftover
    /// (temp file, orphan) may exist.
    pub needs_scan: AtomicBool,
    /// A save renamed a blob into `snapshots/` since the directory was last fsynced.
    pub blob_dir_dirty: AtomicBool,
    /// Test hook: close as a killed process would have left the store (no clean-close marker).
    pub simulate_crash: AtomicBool,
    /// Held for the life of the store: the exclusive lock file.
    _lock_file: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A clean close: the next open need not look for crash leftovers. Unlinks are never
        // fsynced while the store runs (a lost one leaves an orphan that the listing after an
        // unclean shutdown adopts), so they are made durable here, before the marker goes:
        // otherwise an OS crash right after a clean close could bring files back unnoticed.
        let clean = !self.needs_scan.load(Ordering::SeqCst) && !self.simulate_crash.load(Ordering::SeqCst);
        if clean {
            match blob::sync_dir(&self.layout.blob_dir()) {
                Ok(()) => {
                    let _ = self.kv.db().remove(SESSION_KEY);
                }
                Err(e) => tracing::warn!("{e}; the next open will list the blob area"),
            }
        }
        if let Err(e) = self.kv.db().flush() {
            tracing::warn!("flushing the store on close failed: {e}");
        }
    }
}

pub(crate) fn meta_key(hash: &SnapshotHash) -> Vec<u8> {
    kv::prefixed(META_PREFIX, hash.to_hex().as_bytes())
}

impl SwingStore {
    /// Opens (or with `create`, creates) the store at `path`, exclusively.
    pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        let layout = Layout::new(path.as_ref());
        let root = layout.root();
        if options.create {
            fs::create_dir_all(root).at(root)?;
        } else if !root.is_dir() {
            return Err(Error::NoStore { path: root.to_owned(), reason: "no such directory".into() });
        }
        if !options.create && !layout.kv_dir().is_dir() {
            return Err(Error::NoStore {
                path: root.to_owned(),
                reason: "the directory has no kv/ database: not a snapgc store".into(),
            });
        }
        let lock_path = layout.lock_file();
        let lock_file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .at(&lock_path)?;
        take_store_lock(&lock_file, &lock_path, root)?;
        let fresh = !layout.kv_dir().is_dir();
        for dir in [layout.kv_dir(), layout.blob_dir(), layout.temp_dir()] {
            fs::create_dir_all(&dir).at(&dir)?;
        }
        if fresh {
            blob::sync_dir(root)?;
        }
        remove_unfinished_sled_snapshots(&layout.kv_dir())?;
        // We hold the store alone: every temp file is a leftover of a dead process (and a
        // restarted process may get the same pid, hence the same temp names).
        let temps_removed = remove_temp_leftovers(&layout.temp_dir())?;
        if temps_removed > 0 {
            tracing::info!("removed {temps_removed} temp files left by an earlier process");
        }
        let db = open_sled(&layout)?;
        let kv = KvStore::open(db)?;
        let unclean = kv.db().contains_key(SESSION_KEY)?;
        if unclean {
            tracing::info!("the store was not closed cleanly: the next collection lists the blob area");
            kv.db().remove(kv::GC_STATE_KEY)?;
        }
        kv.db().insert(SESSION_KEY, &[1u8])?;
        kv.db().flush()?;
        let save_generation = AtomicU64::new(kv::read_u64(kv.db(), SAVE_GEN_KEY)?);
        Ok(Self {
            inner: Arc::new(Inner {
                layout,
                kv,
                sweep: Arc::new(SweepLock::default()),
                save_generation,
                gc_lock: Mutex::new(()),
                needs_scan: AtomicBool::new(unclean),
                simulate_crash: AtomicBool::new(false),
                // A crash may have left renames unsynced: the first commit syncs the directory.
                blob_dir_dirty: AtomicBool::new(true),
                _lock_file: lock_file,
            }),
        })
    }

    /// Test hook (feature `failpoints`): drop this handle as if the process had been killed:
    /// the store is left marked as not closed cleanly, so the next open treats it as after a
    /// crash (lists the blob area, forgets the collector's skip state). Unflushed sled writes
    /// still reach the disk; real kills are in the crashtest crate.
    #[cfg(feature = "failpoints")]
    pub fn close_as_if_crashed(self) {
        self.inner.simulate_crash.store(true, Ordering::SeqCst);
    }

    /// Opens or creates the store at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path, OpenOptions { create: true })
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

    /// Applies the open block atomically and durably; returns the new committed epoch.
    ///
    /// First fsyncs the blob directory if a save renamed a blob into it since the last commit
    /// (one directory fsync per block, not per save): every blob a root of this block can name
    /// is then durable before the root is.
    pub fn commit(&self) -> Result<u64> {
        // Runs with the block closed to new writes, so no root can be staged into this block
        // after the directory fsync for a blob renamed after it.
        self.inner.kv.commit(|| {
            if self.inner.blob_dir_dirty.swap(false, Ordering::SeqCst)
                && let Err(e) = blob::sync_dir(&self.inner.layout.blob_dir())
            {
                self.inner.blob_dir_dirty.store(true, Ordering::SeqCst);
                return Err(e);
            }
            Ok(())
        })
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

    /// Persists a new collector configuration (root patterns, default grace) and rebuilds the
    /// root index. The open block must be empty.
    pub fn set_config(&self, config: GcConfig) -> Result<()> {
        self.inner.kv.set_config(config)
    }

    /// Takes a lease on `hash`: the blob is not deleted while the lease lives.
    pub fn lease(&self, hash: SnapshotHash) -> Lease {
        Lease::take(Arc::clone(&self.inner.sweep), hash)
    }

    /// Saves a snapshot from a stream: hashes and compresses in one pass with bounded memory,
    /// writes a temp file, fsyncs, and publishes it under its hash. A snapshot already stored is
    /// not rewritten, but its protection is renewed exactly as for a new save.
    pub fn save(&self, input: &mut (dyn Read + Send)) -> Result<SaveInfo> {
        let layout = &self.inner.layout;
        let name = blob::temp_name();
        self.inner.sweep.lock().active_temps.insert(name.clone());
        let written = blob::write_temp(&layout.temp_dir(), name.clone(), input);
        let result = written.and_then(|temp| {
            failpoint::hit(points::SAVE_AFTER_WRITE).at(&temp.path)?;
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

    /// Records metadata, renames the temp file into place and fsyncs the directory, all under
    /// the sweep lock (so a sweep never sees a half-published blob, and a dedup hit renews the
    /// protection of a blob the sweep has not yet deleted, or re-creates it if it has).
    ///
    /// A blob that already exists is replaced by the new, fsynced temp file all the same: the
    /// rename is atomic (readers that have the old file open keep it) and it heals a blob
    /// damaged in place. The directory is fsynced by the next `commit()`, before the block's
    /// roots (which may name this blob) are written.
    fn publish(&self, temp: &blob::TempBlob) -> Result<SaveInfo> {
        let layout = &self.inner.layout;
        let db = self.inner.kv.db();
        let dest = layout.blob_path(&temp.hash);
        let _locked = self.inner.sweep.lock();
        let saved_epoch = self.inner.kv.committed_epoch() + 1;
        let existing = fs::symlink_metadata(&dest).ok();
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            // A directory squats on the blob's name: leave it for the operator, fail loudly.
            return Err(Error::io(&dest, io::Error::other("a directory is in the way of this blob")));
        }
        let deduplicated = existing.as_ref().is_some_and(|m| m.is_file());
        let meta = BlobMeta {
            raw_bytes: temp.raw_bytes,
            stored_bytes: temp.stored_bytes,
            saved_epoch,
            condemned_epoch: None,
        };
        let save_generation = self.inner.save_generation.load(Ordering::SeqCst) + 1;
        let mut batch = sled::Batch::default();
        batch.insert(meta_key(&temp.hash), codec::encode(&meta)?);
        batch.insert(SAVE_GEN_KEY, &save_generation.to_be_bytes());
        db.apply_batch(batch)?;
        self.inner.save_generation.store(save_generation, Ordering::SeqCst);
        failpoint::hit(points::SAVE_AFTER_META).at(&dest)?;
        fs::rename(&temp.path, &dest).at(&dest)?;
        // The directory entry is made durable by the next commit, before any root can name it.
        self.inner.blob_dir_dirty.store(true, Ordering::SeqCst);
        failpoint::hit(points::SAVE_BEFORE_DIR_SYNC).at(&dest)?;
        Ok(SaveInfo {
            hash: temp.hash,
            raw_bytes: temp.raw_bytes,
            stored_bytes: temp.stored_bytes,
            saved_epoch,
            deduplicated,
        })
    }

    /// The metadata of a blob, if the store has a (decodable) record of it.
    pub fn blob_meta(&self, hash: &SnapshotHash) -> Result<Option<BlobMeta>> {
        match self.inner.kv.db().get(meta_key(hash))? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes, &format!("blob metadata {hash}")).map(Some),
        }
    }

    /// Whether the blob file is present (as a regular file).
    pub fn contains(&self, hash: &SnapshotHash) -> bool {
        fs::symlink_metadata(self.inner.layout.blob_path(hash)).is_ok_and(|m| m.is_file())
    }

    fn open_for_read(&self, hash: &SnapshotHash) -> Result<(File, Option<u64>)> {
        let path = self.inner.layout.blob_path(hash);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Corrupt {
                hash: hash.to_hex(),
                expected: "a regular file".into(),
                actual: "a symbolic link".into(),
            });
        }
        let file = blob::open_blob(&path, hash)?;
        // Damaged metadata only loses the length bound; the hash still verifies the content.
        let expected = self.blob_meta(hash).ok().flatten().map(|m| m.raw_bytes);
        Ok((file, expected))
    }

    /// Opens a snapshot as a streaming reader that verifies length and sha256 at the end.
    /// Take a [`lease`](Self::lease) first if the root that named it may move meanwhile.
    pub fn load(&self, hash: &SnapshotHash) -> Result<BlobReader> {
        let (file, expected) = self.open_for_read(hash)?;
        Ok(BlobReader::new(file, *hash, expected))
    }

    /// Writes the verified raw bytes of a snapshot to `out` (decode and hash on two threads).
    /// Returns the raw length. On a verification error `out` has received unverified bytes.
    pub fn load_into(&self, hash: &SnapshotHash, out: &mut dyn Write) -> Result<u64> {
        let (file, expected) = self.open_for_read(hash)?;
        blob::copy_verified(file, *hash, expected, out)
    }

    /// Reads a whole snapshot into memory, verified (small snapshots and tests only).
    pub fn load_bytes(&self, hash: &SnapshotHash) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.load_into(hash, &mut out)?;
        Ok(out)
    }

    /// Decodes and verifies a snapshot without keeping its bytes. Returns the raw length.
    pub fn verify_blob(&self, hash: &SnapshotHash) -> Result<u64> {
        self.load_into(hash, &mut io::sink())
    }
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

/// Opens sled. We hold the store's LOCK, so no other process has the database; if sled still
/// reports its own file lock taken, it is this process's previous handle whose background
/// threads are finishing their shutdown (sled 0.34 releases the lock asynchronously): retry
/// briefly.
fn open_sled(layout: &Layout) -> Result<sled::Db> {
    // Up to about 10 s in all: sled's I/O threads finish quickly, but a loaded machine can
    // delay them.
    let mut delay = std::time::Duration::from_millis(2);
    for _ in 0..48 {
        match sled::Config::new().path(layout.kv_dir()).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(250));
            }
            Err(other) => return Err(Error::Db(other)),
        }
    }
    Err(Error::InUse { path: layout.root().to_owned() })
}

/// Removes every file in the temp area; returns how many.
fn remove_temp_leftovers(temp_dir: &Path) -> Result<u64> {
    let mut removed = 0;
    for entry in fs::read_dir(temp_dir).at(temp_dir)? {
        let entry = entry.at(temp_dir)?;
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Not a file, or not ours to remove: the collector reports it.
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
