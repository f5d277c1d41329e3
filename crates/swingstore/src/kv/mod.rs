//! The kvStore: string keys to string values on sled, with writes staged per block.
//!
//! Reads see the staged block (read-your-writes). A commit applies the whole block in one
//! `apply_batch` on sled's default tree (atomic: all or nothing after a crash), together with
//! the root index entries, the root generation and the next epoch, then flushes sled and fsyncs
//! its log before it returns, so a returned commit is durable; only then do the epoch and the
//! in-memory root index move. [`KvStore::abort`] drops the staged block. Keys: `crate::schema`.

mod chunks;

pub(crate) use chunks::{is_manifest, value_len};

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::codec;
use crate::config::{ConfigChange, GcConfig};
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, Result};
use crate::hooks::{self, points};
use crate::roots::history::RootUse;
use crate::roots::index::{RootEntry, RootIndex};
use crate::roots::pattern::RootPatterns;
use crate::schema::{CONFIG_KEY, EPOCH_KEY, GC_STATE_KEY, KV_PREFIX, ROOT_GEN_KEY, prefixed, read_u64};

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

    /// Reads `key`, seeing the open block's writes.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        if let Some(staged) = lock(&self.staged).get(key) {
            return Ok(staged.clone());
        }
        self.get_committed(key)
    }

    /// Reads the committed value of `key`, ignoring the open block.
    pub fn get_committed(&self, key: &str) -> Result<Option<String>> {
        match self.db.get(prefixed(KV_PREFIX, key.as_bytes()))? {
            Some(v) => Ok(Some(chunks::read_value(&self.db, key, &v)?)),
            None => Ok(None),
        }
    }

    /// Stages `key = value` in the open block.
    pub fn set(&self, key: &str, value: &str) {
        lock(&self.staged).insert(key.to_owned(), Some(value.to_owned()));
    }

    /// Stages the deletion of `key` in the open block.
    pub fn delete(&self, key: &str) {
        lock(&self.staged).insert(key.to_owned(), None);
    }

    /// All `(key, value)` pairs whose key starts with `prefix`, in key order, open block included.
    pub fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let pairs = self.range(Bound::Included(prefix), Bound::Unbounded)?;
        Ok(pairs.into_iter().take_while(|(k, _)| k.starts_with(prefix)).collect())
    }

    /// All `(key, value)` pairs with `start <= key < end`, in key order, open block included.
    pub fn scan_range(&self, start: &str, end: &str) -> Result<Vec<(String, String)>> {
        self.range(Bound::Included(start), Bound::Excluded(end))
    }

    /// Pairs whose key lies within the bounds, in key order, open block included.
    pub fn range(&self, start: Bound<&str>, end: Bound<&str>) -> Result<Vec<(String, String)>> {
        let to_db = |b: Bound<&str>| match b {
            Bound::Included(k) => Bound::Included(prefixed(KV_PREFIX, k.as_bytes())),
            Bound::Excluded(k) => Bound::Excluded(prefixed(KV_PREFIX, k.as_bytes())),
            // The end of the kv area: the first key after every `k/...`.
            Bound::Unbounded => Bound::Excluded(b"k0".to_vec()),
        };
        let db_start = match start {
            Bound::Unbounded => Bound::Included(KV_PREFIX.to_vec()),
            other => to_db(other),
        };
        let mut merged = BTreeMap::new();
        for item in self.db.range((db_start, to_db(end))) {
            let (k, v) = item?;
            let key = utf8(&k[KV_PREFIX.len()..], "kv key")?;
            let value = chunks::read_value(&self.db, &key, &v)?;
            merged.insert(key, Some(value));
        }
        let staged = lock(&self.staged);
        let owned = |b: Bound<&str>| b.map(str::to_owned);
        for (k, v) in staged.range::<String, _>((owned(start), owned(end))) {
            merged.insert(k.clone(), v.clone());
        }
        Ok(merged.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }

    /// The first key strictly after `key` (open block included), like Agoric's `getNextKey`.
    pub fn next_key(&self, key: &str) -> Result<Option<String>> {
        let start = prefixed(KV_PREFIX, key.as_bytes());
        let mut committed = None;
        for item in self.db.range((Bound::Excluded(start), Bound::Unbounded)) {
            let (k, _) = item?;
            if !k.starts_with(KV_PREFIX) {
                break;
            }
            let candidate = utf8(&k[KV_PREFIX.len()..], "kv key")?;
            // Skip keys deleted in the open block.
            if matches!(lock(&self.staged).get(&candidate), Some(None)) {
                continue;
            }
            committed = Some(candidate);
            break;
        }
        let staged = lock(&self.staged);
        let staged_next = staged
            .range::<String, _>((Bound::Excluded(key.to_owned()), Bound::Unbounded))
            .find(|(_, v)| v.is_some())
            .map(|(k, _)| k.clone());
        Ok(match (committed, staged_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
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

    /// Visits every committed pair in key order, ignoring the open block, while the caller
    /// holds the commit lock (so that the pairs are those of one committed epoch).
    pub(crate) fn for_each_committed(
        &self,
        _commit: &MutexGuard<'_, ()>,
        mut f: impl FnMut(&str, &str) -> Result<()>,
    ) -> Result<()> {
        for item in self.db.scan_prefix(KV_PREFIX) {
            let (k, v) = item?;
            let key = utf8(&k[KV_PREFIX.len()..], "kv key")?;
            let value = chunks::read_value(&self.db, &key, &v)?;
            f(&key, &value)?;
        }
        Ok(())
    }

    /// State-sync import only, into a store marked as not yet imported (which refuses to
    /// open): writes plain kv pairs (`None` deletes) straight to sled in one batch, outside
    /// any block, so that an import of a million keys never holds them all in memory. Root
    /// keys are refused: they go through the import's one commit (root index, history). Not
    /// synced here: that commit's sync makes these writes durable with it.
    pub(crate) fn write_unstaged(&self, writes: &BTreeMap<String, Option<String>>) -> Result<()> {
        self.durability.check()?;
        let _commit = self.commit_guard();
        if let Some(key) = writes.keys().find(|k| self.is_root(k)) {
            return Err(Error::Config(format!(
                "internal: root key {} in an unstaged write",
                crate::error::shorten(key)
            )));
        }
        let mut batch = sled::Batch::default();
        let mut chunked = lock(&self.chunked);
        for (key, value) in writes {
            if chunked.contains(key) {
                chunks::stage_remove_chunks(&mut batch, &self.db, key)?;
            }
            let now_chunked = match value {
                Some(v) => chunks::stage_set(&mut batch, key, v),
                None => {
                    batch.remove(prefixed(KV_PREFIX, key.as_bytes()));
                    false
                }
            };
            if now_chunked {
                chunked.insert(key.clone());
            } else {
                chunked.remove(key);
            }
        }
        self.db.apply_batch(batch).map_err(|e| self.durability.poison(e.into()))
    }

    /// Stages root-history records for the next commit's batch, written before the block's
    /// own writes (so a root of the block that names the same key and position wins).
    pub(crate) fn stage_history(&self, uses: Vec<RootUse>) {
        lock(&self.pending_history).extend(uses);
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

    /// Applies the open block atomically and durably, advancing the epoch. Returns the new epoch.
    /// Only through [`SwingStore::commit`](crate::SwingStore::commit), whose `before_apply`
    /// checks the staged roots and makes the block's blobs durable with the block closed to
    /// new writes. An error before the batch leaves the block staged; a failure of the batch
    /// or of its sync poisons the handle, and neither the epoch nor the root index moves.
    pub(crate) fn commit(&self, before_apply: impl FnOnce(&Staged) -> Result<()>) -> Result<u64> {
        self.durability.check()?;
        let _commit = self.commit_guard();
        let mut staged = lock(&self.staged);
        before_apply(&staged)?;
        let mut batch = sled::Batch::default();
        let pending_history = std::mem::take(&mut *lock(&self.pending_history));
        for u in &pending_history {
            crate::roots::history::stage_use(&mut batch, &u.key, u.position, &u.hash);
        }
        let mut roots_touched = false;
        let mut chunked_now = Vec::new();
        {
            let roots = self.roots.read().unwrap_or_else(|p| p.into_inner());
            let was_chunked = lock(&self.chunked);
            for (key, value) in staged.iter() {
                if was_chunked.contains(key) {
                    chunks::stage_remove_chunks(&mut batch, &self.db, key)?;
                }
                let chunked = match value {
                    Some(v) => chunks::stage_set(&mut batch, key, v),
                    None => {
                        batch.remove(prefixed(KV_PREFIX, key.as_bytes()));
                        false
                    }
                };
                chunked_now.push((key, chunked));
                roots_touched |=
                    roots.stage(&mut batch, key, value.as_deref(), self.committed_epoch() + 1)?;
            }
        }
        let epoch = self.committed_epoch() + 1;
        let root_generation = self.root_generation() + u64::from(roots_touched);
        batch.insert(EPOCH_KEY, &epoch.to_be_bytes());
        batch.insert(ROOT_GEN_KEY, &root_generation.to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.durability.poison(e.into()))?;
        hooks::hit(self.durability.scope(), points::COMMIT_BEFORE_SYNC)
            .map_err(|e| self.durability.poison(Error::io("kv", e)))?;
        self.sync_log(SyncStep::KvLog)?;
        // Durable: only now does the rest of the store see the new epoch and roots.
        if roots_touched {
            self.roots.write().unwrap_or_else(|p| p.into_inner()).apply(staged.iter());
        }
        {
            let mut chunked = lock(&self.chunked);
            for (key, is_chunked) in chunked_now {
                if is_chunked {
                    chunked.insert(key.clone());
                } else {
                    chunked.remove(key);
                }
            }
        }
        staged.clear();
        self.epoch.store(epoch, Ordering::SeqCst);
        self.root_generation.store(root_generation, Ordering::SeqCst);
        Ok(epoch)
    }

    /// Replaces the collector configuration and rebuilds the root index from the committed
    /// keys, in one durable batch. The open block must be empty. Without `force`, refuses a
    /// change that would stop a committed root key from being a root.
    pub(crate) fn set_config(&self, config: GcConfig, force: bool) -> Result<ConfigChange> {
        config.validate()?;
        let patterns = RootPatterns::new(&config.root_patterns)?;
        self.durability.check()?;
        let _commit = self.commit_guard();
        if !lock(&self.staged).is_empty() {
            return Err(Error::Config(
                "commit or abort the open block before changing the configuration".into(),
            ));
        }
        let mut batch = sled::Batch::default();
        let (new_index, unrooted, rooted) = {
            let roots = self.roots.read().unwrap_or_else(|p| p.into_inner());
            let unrooted = roots.unrooted_by(&patterns);
            if !unrooted.is_empty() && !force {
                let keys = unrooted.iter().take(5).map(|k| crate::error::shorten(k)).collect();
                return Err(Error::WouldUnroot { count: unrooted.len(), keys });
            }
            let (new_index, rooted) = roots.rebuild(&self.db, patterns, &mut batch)?;
            (new_index, unrooted, rooted)
        };
        let root_generation = self.root_generation() + 1;
        batch.insert(ROOT_GEN_KEY, &root_generation.to_be_bytes());
        batch.insert(CONFIG_KEY, codec::encode(&config)?);
        batch.remove(GC_STATE_KEY);
        self.db.apply_batch(batch).map_err(|e| self.durability.poison(e.into()))?;
        self.sync_log(SyncStep::Config)?;
        let old = self.config();
        *self.roots.write().unwrap_or_else(|p| p.into_inner()) = new_index;
        self.root_generation.store(root_generation, Ordering::SeqCst);
        match self.config.write() {
            Ok(mut c) => *c = config.clone(),
            Err(poisoned) => *poisoned.into_inner() = config.clone(),
        }
        Ok(ConfigChange { old, new: config, unrooted, rooted })
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
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let db = sled::Config::new().path(dir.path()).open()?;
        let db_file = File::open(dir.path().join("db")).map_err(|e| Error::io("db", e))?;
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
            false,
        )?;
        let index = in_sled(&kv)?;
        assert_eq!(mirror(&kv), index);
        assert!(index.contains_key("v0.vs.x"), "re-indexed under the new patterns");
        Ok(())
    }
}
