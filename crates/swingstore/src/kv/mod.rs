//! The kvStore: string keys to string values on sled, with writes staged per block.
//!
//! Reads see the staged block (read-your-writes). A commit applies the whole block in one
//! `apply_batch` on sled's default tree (atomic: all or nothing after a crash), together with
//! the root index entries, the root generation and the next epoch, then flushes sled and fsyncs
//! its log before it returns, so a returned commit is durable; only then do the epoch and the
//! in-memory root index move. [`KvStore::abort`] drops the staged block. Keys: `crate::schema`.

mod chunks;
mod read;
mod write;

pub(crate) use chunks::{is_manifest, value_len};

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::codec;
use crate::config::GcConfig;
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, Result};
use crate::roots::history::RootUse;
use crate::roots::index::{RootEntry, RootIndex};
use crate::roots::pattern::RootPatterns;
use crate::schema::{CONFIG_KEY, EPOCH_KEY, ROOT_GEN_KEY, read_u64};

fn utf8(bytes: &[u8], what: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Codec { what: what.to_owned(), reason: "not UTF-8".into() })
}

/// Writes staged in the open block: `Some(value)` is a set, `None` a delete.
pub(crate) type Staged = BTreeMap<String, Option<String>>;

/// The block-staged kv store.
pub struct KvStore {
    db: sled::Db,
    staged: Mutex<Staged>,
    /// Last committed epoch (mirrors `s/epoch`).
    epoch: AtomicU64,
    /// Bumped by every commit that touches a root key (mirrors `s/root_generation`).
    root_generation: AtomicU64,
    config: RwLock<GcConfig>,
    /// Held by `commit` and by a whole collection, so a pass sees one committed state.
    commit_lock: Mutex<()>,
    /// The committed root index (`r/`), parsed: loaded from sled at open and updated by every
    /// commit once its batch is durable, so a mark walks memory, not the kv tree.
    roots: RwLock<RootIndex>,
    /// sled's log file, kept open to fsync it (sled's own `flush()` does not).
    db_file: File,
    kv_dir: PathBuf,
    durability: Arc<Durability>,
    /// Names in `kv/blobs/` known durable.
    value_files: Mutex<HashSet<std::ffi::OsString>>,
    /// Committed keys whose value is chunked (see `chunks.rs`).
    chunked: Mutex<HashSet<String>>,
    /// Root-history records the next commit writes in its batch (a state-sync import's
    /// `inUse: 0` snapshots); dropped by [`KvStore::abort`].
    pending_history: Mutex<Vec<RootUse>>,
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore")
            .field("epoch", &self.committed_epoch())
            .field("staged", &self.staged_len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl KvStore {
    /// Wraps an open sled database, creating the state records of a new store.
    pub(crate) fn open(
        db: sled::Db,
        db_file: File,
        kv_dir: PathBuf,
        durability: Arc<Durability>,
    ) -> Result<Self> {
        let config = match db.get(CONFIG_KEY)? {
            Some(bytes) => codec::decode::<GcConfig>(&bytes, "gc config")?,
            None => {
                let config = GcConfig::default();
                db.insert(CONFIG_KEY, codec::encode(&config)?)?;
                config
            }
        };
        let patterns = RootPatterns::new(&config.root_patterns)?;
        let roots = RwLock::new(RootIndex::load(&db, patterns)?);
        let db_for_chunks = db.clone();
        Ok(Self {
            roots,
            epoch: AtomicU64::new(read_u64(&db, EPOCH_KEY)?),
            root_generation: AtomicU64::new(read_u64(&db, ROOT_GEN_KEY)?),
            db,
            staged: Mutex::new(BTreeMap::new()),
            config: RwLock::new(config),
            commit_lock: Mutex::new(()),
            db_file,
            kv_dir,
            durability,
            value_files: Mutex::new(Default::default()),
            chunked: Mutex::new(chunks::chunked_keys(&db_for_chunks)?),
            pending_history: Mutex::new(Vec::new()),
        })
    }

    /// fsyncs the large-value files sled wrote since the last call (it writes them without
    /// fsync, and their log entries may already be durable), then `kv/blobs/`. Also drops the
    /// names sled removed since. Called by every commit and at open.
    pub(crate) fn sync_value_files(&self) -> Result<()> {
        let dir = self.kv_dir.join("blobs");
        let mut known = lock(&self.value_files);
        let mut present = std::collections::HashSet::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.durability.poison(Error::io(&dir, e))),
        };
        let mut new = false;
        for entry in entries {
            let entry = entry.map_err(|e| self.durability.poison(Error::io(&dir, e)))?;
            let name = entry.file_name();
            if !known.contains(&name) {
                self.durability.sync_path(SyncStep::KvBlobs, &entry.path())?;
                new = true;
            }
            present.insert(name);
        }
        if new {
            self.durability.sync_path(SyncStep::KvBlobs, &dir)?;
        }
        *known = present;
        Ok(())
    }

    /// Makes everything sled has been given durable: its flush (`sync_file_range` on Linux,
    /// which is not durability), its large-value files, then an fsync of its log. A failure
    /// poisons the handle.
    pub(crate) fn sync_log(&self, step: SyncStep) -> Result<()> {
        self.db.flush().map_err(|e| self.durability.poison(e.into()))?;
        // The large-value files first: the log names them, and must not be durable before.
        self.sync_value_files()?;
        let path = self.kv_dir.join("db");
        self.durability.sync_file(step, &self.db_file, &path)
    }

    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Stages `key = value` in the open block.
    pub fn set(&self, key: &str, value: &str) {
        lock(&self.staged).insert(key.to_owned(), Some(value.to_owned()));
    }

    /// Stages the deletion of `key` in the open block.
    pub fn delete(&self, key: &str) {
        lock(&self.staged).insert(key.to_owned(), None);
    }

    /// Number of writes staged in the open block.
    pub fn staged_len(&self) -> usize {
        lock(&self.staged).len()
    }

    /// Drops the open block.
    pub fn abort(&self) {
        lock(&self.staged).clear();
        lock(&self.pending_history).clear();
    }

    /// The last committed epoch.
    pub fn committed_epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub(crate) fn root_generation(&self) -> u64 {
        self.root_generation.load(Ordering::SeqCst)
    }

    /// The persisted collector configuration.
    pub fn config(&self) -> GcConfig {
        self.config.read().map(|c| c.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    pub(crate) fn is_root(&self, key: &str) -> bool {
        self.roots.read().unwrap_or_else(|p| p.into_inner()).is_root(key)
    }

    pub(crate) fn commit_guard(&self) -> MutexGuard<'_, ()> {
        lock(&self.commit_lock)
    }

    /// Visits every committed root in key order, with the snapshot it names or why its value
    /// does not parse. Walks the in-memory mirror of the root index: the cost grows with the
    /// number of roots only, whatever the size of the kv store.
    pub(crate) fn for_each_root(&self, mut f: impl FnMut(&str, &RootEntry) -> Result<()>) -> Result<()> {
        let index = self.roots.read().unwrap_or_else(|p| p.into_inner());
        for (key, entry) in index.iter() {
            f(key, entry)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entries = BTreeMap<String, RootEntry>;

    fn mirror(kv: &KvStore) -> Entries {
        kv.roots.read().map(|r| r.entries().clone()).unwrap_or_default()
    }

    fn in_sled(kv: &KvStore) -> Result<Entries> {
        let patterns = RootPatterns::new(&kv.config().root_patterns)?;
        Ok(RootIndex::load(kv.db(), patterns)?.entries().clone())
    }

    #[test]
    fn the_root_mirror_always_equals_the_index_in_sled() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::stream("a temp dir", e))?;
        let db = sled::Config::new().path(dir.path()).open()?;
        let db_file = File::open(dir.path().join("db")).map_err(|e| Error::io(dir.path().join("db"), e))?;
        let kv = KvStore::open(db, db_file, dir.path().to_owned(), Arc::new(Durability::new()?))?;
        let h = |n: u8| crate::hash::SnapshotHash::of(&[n]);
        let value = |n: u8| crate::roots::format_root_value(&h(n), 0);
        for round in 0..20u8 {
            kv.set(&format!("v{}.lastSnapshot", round % 5), &value(round));
            kv.set(&format!("v{}.vs.x", round % 5), "not a root");
            if round % 3 == 0 {
                kv.delete(&format!("v{}.lastSnapshot", (round + 2) % 5));
            }
            if round % 7 == 0 {
                kv.set("v9.lastSnapshot", "garbage");
            }
            if round % 4 == 0 {
                kv.abort();
            }
            kv.commit(|_| Ok(()))?;
            assert_eq!(mirror(&kv), in_sled(&kv)?, "round {round}");
        }
        kv.set_config(
            GcConfig { root_patterns: vec!["v*.lastSnapshot".into(), "v*.vs.x".into()], grace: 2 },
            // Roots values that do not parse: refused unless forced.
            true,
        )?;
        let index = in_sled(&kv)?;
        assert_eq!(mirror(&kv), index);
        assert!(index.contains_key("v0.vs.x"), "re-indexed under the new patterns");
        Ok(())
    }
}
