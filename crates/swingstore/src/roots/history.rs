//! The history of roots: which snapshot every root key named, at which position, ever.
//!
//! Each commit that sets a root to a value naming a snapshot also writes, in the same batch:
//!
//! * `h/<key length, u32 BE><key><position, u64 BE>` → the 32-byte hash: one record per
//!   snapshot a root ever used (Agoric's `snapshot.<vatID>.<position>` records, `inUse:0` once
//!   replaced), kept after the blob itself is gone, for state-sync exports;
//! * `n/<hash hex>` → the root key, position and epoch that last named the snapshot (a codec
//!   record): "once named by a committed root", what the archive tier keys on.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::Result;
use crate::hash::SnapshotHash;
use crate::schema::{HISTORY_PREFIX, NAMED_PREFIX, prefixed};

/// One root's use of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootUse {
    /// The root key (`v1.lastSnapshot`).
    pub key: String,
    /// `startPos.itemCount` of the root value that named it.
    pub position: u64,
    /// The snapshot.
    pub hash: SnapshotHash,
}

/// The last committed root to name a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedBy {
    /// The root key.
    pub key: String,
    /// Its position then.
    pub position: u64,
    /// The epoch of the commit.
    pub epoch: u64,
}

fn key_prefix(key: &str) -> Vec<u8> {
    let mut out = HISTORY_PREFIX.to_vec();
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

pub(crate) fn history_key(key: &str, position: u64) -> Vec<u8> {
    let mut out = key_prefix(key);
    out.extend_from_slice(&position.to_be_bytes());
    out
}

pub(crate) fn named_key(hash: &SnapshotHash) -> Vec<u8> {
    prefixed(NAMED_PREFIX, hash.to_hex().as_bytes())
}

/// Adds the history records of a root naming `hash` at `position` to `batch`.
pub(crate) fn stage(
    batch: &mut sled::Batch,
    key: &str,
    position: u64,
    hash: &SnapshotHash,
    epoch: u64,
) -> Result<()> {
    batch.insert(history_key(key, position), hash.as_bytes().as_slice());
    let named = NamedBy { key: key.to_owned(), position, epoch };
    batch.insert(named_key(hash), codec::encode(&named)?);
    Ok(())
}

/// Adds only the `h/` record of a root's use of `hash` at `position` (a state-sync import's
/// `inUse: 0` snapshot: when it was named, and whether since, is not known).
pub(crate) fn stage_use(batch: &mut sled::Batch, key: &str, position: u64, hash: &SnapshotHash) {
    batch.insert(history_key(key, position), hash.as_bytes().as_slice());
}

/// Parses an `h/` record.
fn parse(k: &[u8], v: &[u8]) -> Option<RootUse> {
    let rest = k.strip_prefix(HISTORY_PREFIX)?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let key = std::str::from_utf8(rest.get(4..4 + len)?).ok()?.to_owned();
    let position = u64::from_be_bytes(rest.get(4 + len..)?.try_into().ok()?);
    let hash = SnapshotHash::from_bytes(v.try_into().ok()?);
    Some(RootUse { key, position, hash })
}

/// Every history record, in key order (key, then position).
pub(crate) fn all(db: &sled::Db) -> Result<Vec<RootUse>> {
    let mut out = Vec::new();
    for item in db.scan_prefix(HISTORY_PREFIX) {
        let (k, v) = item?;
        match parse(&k, &v) {
            Some(r) => out.push(r),
            None => tracing::warn!("ignoring a malformed root history record"),
        }
    }
    Ok(out)
}

/// Who last named `hash`, if a committed root ever did.
pub(crate) fn named_by(db: &sled::Db, hash: &SnapshotHash) -> Result<Option<NamedBy>> {
    match db.get(named_key(hash))? {
        None => Ok(None),
        Some(bytes) => codec::decode(&bytes, &format!("root history of {hash}")).map(Some),
    }
}
