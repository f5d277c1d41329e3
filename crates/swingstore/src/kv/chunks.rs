//! Large values, kept as chunks so that sled never writes a value file of its own.
//!
//! sled 0.34 writes any log item over a quarter of its segment (128 KiB by default) to a file of
//! its own, `kv/blobs/<lsn>`, without fsync, and names it from the log. The power-loss suite
//! showed that a torn crash can keep the log's pointer and lose the file, and sled's recovery
//! then returns a block half applied (docs/CRASH-SAFETY.md). So a value over [`CHUNK_BYTES`]
//! is stored as chunks `c/<key length, u32 BE><key><index, u32 BE>`, written in the same batch,
//! and `k/<key>` holds a manifest: `0xFF` (never the first byte of UTF-8, so no inline value
//! can be mistaken for one), the chunk count (u32 BE) and the length (u64 BE). Sixteen or so
//! chunks share a sled node, well under the threshold.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::schema::{CHUNK_PREFIX, KV_PREFIX, prefixed};

/// Largest value stored inline; longer ones are chunked.
pub(crate) const CHUNK_BYTES: usize = 4096;
/// First byte of a manifest.
const MANIFEST_TAG: u8 = 0xFF;

/// `c/<key length><key>`: the prefix of every chunk of `key`.
fn chunk_prefix(key: &str) -> Vec<u8> {
    let mut out = CHUNK_PREFIX.to_vec();
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

fn chunk_key(key: &str, index: u32) -> Vec<u8> {
    let mut out = chunk_prefix(key);
    out.extend_from_slice(&index.to_be_bytes());
    out
}

/// Whether a stored `k/` value is a manifest.
pub(crate) fn is_manifest(stored: &[u8]) -> bool {
    stored.first() == Some(&MANIFEST_TAG)
}

/// Adds `key = value` to `batch`: inline, or as chunks and a manifest. Returns whether chunked.
pub(crate) fn stage_set(batch: &mut sled::Batch, key: &str, value: &str) -> bool {
    let kv_key = prefixed(KV_PREFIX, key.as_bytes());
    let bytes = value.as_bytes();
    if bytes.len() <= CHUNK_BYTES {
        batch.insert(kv_key, bytes);
        return false;
    }
    let mut count = 0u32;
    for (i, piece) in bytes.chunks(CHUNK_BYTES).enumerate() {
        batch.insert(chunk_key(key, i as u32), piece);
        count += 1;
    }
    let mut manifest = vec![MANIFEST_TAG];
    manifest.extend_from_slice(&count.to_be_bytes());
    manifest.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    batch.insert(kv_key, manifest);
    true
}

/// Adds one write of a block to `batch`: the old value's chunks removed (when `was_chunked`),
/// then `key = value` (inline or chunked) or its removal. Returns whether the new value is chunked.
pub(crate) fn stage_write(
    batch: &mut sled::Batch,
    db: &sled::Db,
    key: &str,
    value: Option<&str>,
    was_chunked: bool,
) -> Result<bool> {
    if was_chunked {
        stage_remove_chunks(batch, db, key)?;
    }
    Ok(match value {
        Some(v) => stage_set(batch, key, v),
        None => {
            batch.remove(prefixed(KV_PREFIX, key.as_bytes()));
            false
        }
    })
}

/// Adds the removal of every chunk of `key` to `batch` (a later insert of the same chunk key
/// in the batch wins, so this may precede a new chunked value).
pub(crate) fn stage_remove_chunks(batch: &mut sled::Batch, db: &sled::Db, key: &str) -> Result<()> {
    for item in db.scan_prefix(chunk_prefix(key)) {
        let (k, _) = item?;
        batch.remove(k);
    }
    Ok(())
}

/// The value a stored `k/` value stands for: itself, or its chunks put back together.
pub(crate) fn read_value(db: &sled::Db, key: &str, stored: &[u8]) -> Result<String> {
    let bad =
        |reason: String| Error::Codec { what: format!("kv value {}", crate::error::shorten(key)), reason };
    let bytes = if is_manifest(stored) {
        let (count, len) = parse_manifest(stored).ok_or_else(|| bad("a damaged chunk manifest".into()))?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 << 20));
        for i in 0..count {
            let piece =
                db.get(chunk_key(key, i))?.ok_or_else(|| bad(format!("chunk {i} of {count} is missing")))?;
            out.extend_from_slice(&piece);
        }
        if out.len() as u64 != len {
            return Err(bad(format!("chunks hold {} bytes, the manifest says {len}", out.len())));
        }
        out
    } else {
        stored.to_vec()
    };
    String::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))
}

/// `(chunk count, length)` of a manifest.
fn parse_manifest(stored: &[u8]) -> Option<(u32, u64)> {
    let count = u32::from_be_bytes(stored.get(1..5)?.try_into().ok()?);
    let len = u64::from_be_bytes(stored.get(5..13)?.try_into().ok()?);
    (stored.len() == 13).then_some((count, len))
}

/// The length of the value a stored `k/` value stands for, without reading chunks.
pub(crate) fn value_len(stored: &[u8]) -> u64 {
    if is_manifest(stored) { parse_manifest(stored).map_or(0, |(_, len)| len) } else { stored.len() as u64 }
}

/// Every key whose committed value is chunked (read at open: one entry per chunk).
pub(crate) fn chunked_keys(db: &sled::Db) -> Result<HashSet<String>> {
    let mut keys = HashSet::new();
    for item in db.scan_prefix(CHUNK_PREFIX) {
        let (k, _) = item?;
        let rest = &k[CHUNK_PREFIX.len()..];
        let Some(len) = rest.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes) else {
            continue;
        };
        let Some(key) = rest.get(4..4 + len as usize) else { continue };
        if let Ok(key) = std::str::from_utf8(key) {
            keys.insert(key.to_owned());
        }
    }
    Ok(keys)
}
