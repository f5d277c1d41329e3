//! The committed root index (`r/<key>` in sled), mirrored in memory and parsed.
//!
//! A root's `r/` entry is written in the same atomic batch as its `k/` value, so the index is
//! exactly the set of committed keys that match a root pattern. The mirror is loaded at open
//! and changed only once a commit is durable; the mark walks it, so its cost grows with the
//! number of roots, whatever the size of the kv store.

use std::collections::BTreeMap;

use super::pattern::RootPatterns;
use super::value::parse_root_value;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::schema::{KV_PREFIX, ROOT_PREFIX, prefixed};

/// What a root's value names: a snapshot, or why it does not parse.
pub(crate) type RootEntry = Result<SnapshotHash, String>;

/// The committed roots under the configured patterns.
#[derive(Debug)]
pub(crate) struct RootIndex {
    patterns: RootPatterns,
    entries: BTreeMap<String, RootEntry>,
}

/// Parses one root value into an index entry.
fn entry(key: &str, value: &[u8]) -> RootEntry {
    match parse_root_value(key, value) {
        Ok(hash) => Ok(hash),
        Err(Error::BadRoot { reason, .. }) => Err(reason),
        Err(other) => Err(other.to_string()),
    }
}

/// A sled key as text; a key that is not UTF-8 becomes a bad root (the collector then refuses
/// to run, naming it) rather than a store that cannot be opened.
fn key_text(raw: &[u8]) -> std::result::Result<String, String> {
    std::str::from_utf8(raw).map(str::to_owned).map_err(|_| String::from_utf8_lossy(raw).into_owned())
}

impl RootIndex {
    /// Reads the index from sled.
    pub fn load(db: &sled::Db, patterns: RootPatterns) -> Result<Self> {
        let mut entries = BTreeMap::new();
        for item in db.scan_prefix(ROOT_PREFIX) {
            let (k, v) = item?;
            match key_text(&k[ROOT_PREFIX.len()..]) {
                Ok(key) => {
                    let e = entry(&key, &v);
                    entries.insert(key, e);
                }
                Err(lossy) => {
                    entries.insert(lossy, Err("the key is not UTF-8".into()));
                }
            }
        }
        Ok(Self { patterns, entries })
    }

    /// Whether `key` is a root key under the configured patterns.
    pub fn is_root(&self, key: &str) -> bool {
        self.patterns.is_root(key)
    }

    /// Adds the index twin of a kv write to `batch`; returns whether `key` is a root.
    pub fn stage(&self, batch: &mut sled::Batch, key: &str, value: Option<&str>) -> bool {
        if !self.is_root(key) {
            return false;
        }
        let root_key = prefixed(ROOT_PREFIX, key.as_bytes());
        match value {
            Some(v) => batch.insert(root_key, v.as_bytes()),
            None => batch.remove(root_key),
        }
        true
    }

    /// Takes in a block's root writes, once the block is durable.
    pub fn apply<'a>(&mut self, writes: impl IntoIterator<Item = (&'a String, &'a Option<String>)>) {
        for (key, value) in writes {
            if !self.is_root(key) {
                continue;
            }
            match value {
                Some(v) => {
                    let e = entry(key, v.as_bytes());
                    self.entries.insert(key.clone(), e);
                }
                None => {
                    self.entries.remove(key);
                }
            }
        }
    }

    /// Committed root keys that `patterns` would no longer make roots.
    pub fn unrooted_by(&self, patterns: &RootPatterns) -> Vec<String> {
        self.entries.keys().filter(|key| !patterns.is_root(key)).cloned().collect()
    }

    /// The index under new patterns, built from the committed keys, with the sled writes that
    /// replace the old index in `batch`; also returns the keys that became roots.
    pub fn rebuild(
        &self,
        db: &sled::Db,
        patterns: RootPatterns,
        batch: &mut sled::Batch,
    ) -> Result<(Self, Vec<String>)> {
        for item in db.scan_prefix(ROOT_PREFIX) {
            let (k, _) = item?;
            batch.remove(k);
        }
        let mut entries = BTreeMap::new();
        let mut rooted = Vec::new();
        for item in db.scan_prefix(KV_PREFIX) {
            let (k, v) = item?;
            let key = key_text(&k[KV_PREFIX.len()..]).map_err(|lossy| Error::Codec {
                what: format!("kv key {}", crate::error::shorten(&lossy)),
                reason: "not UTF-8".into(),
            })?;
            if patterns.is_root(&key) {
                if !self.is_root(&key) {
                    rooted.push(key.clone());
                }
                batch.insert(prefixed(ROOT_PREFIX, key.as_bytes()), v.as_ref());
                let e = entry(&key, &v);
                entries.insert(key, e);
            }
        }
        Ok((Self { patterns, entries }, rooted))
    }

    /// Every committed root in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &RootEntry)> {
        self.entries.iter()
    }

    #[cfg(test)]
    pub fn entries(&self) -> &BTreeMap<String, RootEntry> {
        &self.entries
    }
}
