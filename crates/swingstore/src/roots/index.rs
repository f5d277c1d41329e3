//! The committed root index (`r/<key>` in sled), mirrored in memory and parsed.
//!
//! A root's `r/` entry is written in the same atomic batch as its `k/` value, so the index is
//! exactly the set of committed keys that match a root pattern. The mirror is loaded at open
//! and changed only once a commit is durable; the mark walks it, so its cost grows with the
//! number of roots, whatever the size of the kv store.

use std::collections::BTreeMap;

use super::pattern::RootPatterns;
use super::value::{parse_root_reference, parse_root_value};
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

/// Longest root value the index keeps (a snapshot reference is ~120 bytes); a longer one is
/// indexed as a marker, `0xFF` and its length, and is a bad root.
const MAX_ROOT_VALUE: usize = 4096;

/// The `r/` twin of a root value: the value itself, or the marker of one too long.
fn indexed(value: &[u8]) -> Vec<u8> {
    if value.len() <= MAX_ROOT_VALUE {
        return value.to_vec();
    }
    let mut marker = vec![0xFF];
    marker.extend_from_slice(&(value.len() as u64).to_be_bytes());
    marker
}

/// Parses one indexed root value (or long-value marker) into an index entry.
fn entry(key: &str, value: &[u8]) -> RootEntry {
    if value.first() == Some(&0xFF) {
        let len = value.get(1..9).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes);
        return Err(format!("the value is {len} bytes, too long to name a snapshot"));
    }
    if value.len() > MAX_ROOT_VALUE {
        return Err(format!("the value is {} bytes, too long to name a snapshot", value.len()));
    }
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

    /// Adds the index twin of a kv write, and the history records of a root value naming a
    /// snapshot, to the batch of the commit of `epoch`; returns whether `key` is a root.
    pub fn stage(&self, batch: &mut sled::Batch, key: &str, value: Option<&str>, epoch: u64) -> Result<bool> {
        if !self.is_root(key) {
            return Ok(false);
        }
        let root_key = prefixed(ROOT_PREFIX, key.as_bytes());
        match value {
            Some(v) => {
                batch.insert(root_key, indexed(v.as_bytes()));
                if v.len() <= MAX_ROOT_VALUE
                    && let Ok((hash, position)) = parse_root_reference(key, v.as_bytes())
                {
                    super::history::stage(batch, key, position, &hash, epoch)?;
                }
            }
            None => batch.remove(root_key),
        }
        Ok(true)
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
                // A chunked value (over 4 KiB) is too long to be a root value either way.
                let value: Vec<u8> = if crate::kv::is_manifest(&v) {
                    let mut marker = vec![0xFF];
                    marker.extend_from_slice(&crate::kv::value_len(&v).to_be_bytes());
                    marker
                } else {
                    indexed(&v)
                };
                let e = entry(&key, &value);
                batch.insert(prefixed(ROOT_PREFIX, key.as_bytes()), value);
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
