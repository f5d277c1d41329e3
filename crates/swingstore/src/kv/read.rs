//! Reads: a key, a range or a prefix, the next key (Agoric's `getNextKey`); all see the open
//! block's writes over the committed state, except the `committed` ones.
//!
//! After a failed sync (the handle is poisoned) every read refuses with [`Error::Poisoned`]:
//! sled may hold the writes of the block whose commit failed, which were never durable and may
//! be gone after a crash, under the old epoch. Reopening re-reads what is durable.
//!
//! [`Error::Poisoned`]: crate::Error::Poisoned

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::MutexGuard;

use super::{KvStore, chunks, lock, utf8};
use crate::error::Result;
use crate::schema::{KV_PREFIX, prefixed};

impl KvStore {
    /// Reads `key`, seeing the open block's writes.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        self.durability.check_durable()?;
        if let Some(staged) = lock(&self.staged).get(key) {
            return Ok(staged.clone());
        }
        self.get_committed(key)
    }

    /// Reads the committed value of `key`, ignoring the open block.
    pub fn get_committed(&self, key: &str) -> Result<Option<String>> {
        self.durability.check_durable()?;
        match self.db.get(prefixed(KV_PREFIX, key.as_bytes()))? {
            Some(v) => Ok(Some(chunks::read_value(&self.db, key, &v)?)),
            None => Ok(None),
        }
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
        self.durability.check_durable()?;
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
        self.durability.check_durable()?;
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

    /// Visits every committed pair in key order, ignoring the open block, while the caller
    /// holds the commit lock (so that the pairs are those of one committed epoch).
    pub(crate) fn for_each_committed(
        &self,
        _commit: &MutexGuard<'_, ()>,
        mut f: impl FnMut(&str, &str) -> Result<()>,
    ) -> Result<()> {
        self.durability.check_durable()?;
        for item in self.db.scan_prefix(KV_PREFIX) {
            let (k, v) = item?;
            let key = utf8(&k[KV_PREFIX.len()..], "kv key")?;
            let value = chunks::read_value(&self.db, &key, &v)?;
            f(&key, &value)?;
        }
        Ok(())
    }
}
