//! Mark: the live set, from the committed root index only.
//!
//! The index (`r/<key>`, written in the same atomic batch as the keys) is mirrored in memory,
//! parsed, by the kv store (loaded at open, updated by each commit after its batch applied), so
//! the cost grows with the number of roots, not with the number of kv keys.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::kv::KvStore;

/// The snapshots named by committed roots.
#[derive(Debug, Default)]
pub struct LiveSet {
    /// Number of root keys.
    pub roots: u64,
    /// Each live snapshot and the root keys naming it (in key order; empty lists when the
    /// caller did not ask for keys).
    pub live: HashMap<SnapshotHash, Vec<String>>,
    /// Root keys whose value does not parse, with the reason.
    pub bad_roots: Vec<(String, String)>,
}

impl LiveSet {
    /// Whether a committed root names `hash`.
    pub fn contains(&self, hash: &SnapshotHash) -> bool {
        self.live.contains_key(hash)
    }

    /// The first root key naming `hash`.
    pub fn first_root(&self, hash: &SnapshotHash) -> Option<&str> {
        self.live.get(hash).and_then(|keys| keys.first()).map(String::as_str)
    }
}

/// Scans every committed root. Bad roots are collected, not fatal (see [`mark`]).
pub fn scan_roots(kv: &KvStore) -> Result<LiveSet> {
    collect(kv, true)
}

/// Walks the roots; with `with_keys`, records which keys name each snapshot (for reasons and
/// listings), otherwise only which snapshots are live (no allocation per root).
fn collect(kv: &KvStore, with_keys: bool) -> Result<LiveSet> {
    let mut set = LiveSet::default();
    kv.for_each_root(|key, entry| {
        set.roots += 1;
        match entry {
            Ok(hash) => {
                let keys = set.live.entry(*hash).or_default();
                if with_keys {
                    keys.push(key.to_owned());
                }
            }
            Err(reason) => set.bad_roots.push((key.to_owned(), reason.clone())),
        }
        Ok(())
    })?;
    Ok(set)
}

/// The live set, failing closed: any bad root (or any error reading roots) is an error naming
/// the key, and the collector then deletes nothing.
pub fn mark(kv: &KvStore, with_keys: bool) -> Result<LiveSet> {
    let set = collect(kv, with_keys)?;
    if let Some((key, reason)) = set.bad_roots.first() {
        let more = set.bad_roots.len() - 1;
        let reason = if more > 0 { format!("{reason}; and {more} more bad roots") } else { reason.clone() };
        return Err(Error::BadRoot { key: crate::error::shorten(key), reason });
    }
    Ok(set)
}
