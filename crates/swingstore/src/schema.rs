//! The sled key schema: every key the store writes, in one place (docs/format.md has the same
//! table). Everything lives in sled's default tree, under a one-letter prefix:
//!
//! | key | value |
//! |---|---|
//! | `k/<key>` | a kvStore value (UTF-8), or the manifest of a chunked one (first byte `0xFF`) |
//! | `c/<len><key><i>` | chunk `i` of a value over 4 KiB (`kv/chunks.rs`) |
//! | `r/<key>` | the root index: a copy of the value of every committed key matching a root pattern |
//! | `h/<len><key><position>` | the snapshot a root named at a position, ever (`roots/history.rs`) |
//! | `n/<hex>` | the root key, position and epoch that last named a snapshot |
//! | `m/<hex>` | a blob's metadata record ([`BlobMeta`](crate::BlobMeta), through the codec) |
//! | `s/epoch`, `s/root_generation`, `s/save_generation` | store counters, 8 bytes big-endian |
//! | `s/config` | the collector configuration (codec record) |
//! | `s/gc_state` | the collector's skip state (codec record) |
//! | `s/store_id` | the store's id (32 hex digits), made when an archive is first configured or opened: the archive's owner |
//! | `s/metrics_file` | where the Prometheus metrics file goes (UTF-8 path), when not the default |
//! | `s/archive` | the archive configured for the store: location and retention (codec record) |
//! | `s/session_open` | present while a session is open: its presence at open means a crash |

use crate::error::{Error, Result};
use crate::hash::SnapshotHash;

/// kvStore data.
pub(crate) const KV_PREFIX: &[u8] = b"k/";
/// Chunks of large values.
pub(crate) const CHUNK_PREFIX: &[u8] = b"c/";
/// The root index.
pub(crate) const ROOT_PREFIX: &[u8] = b"r/";
/// Root history: every snapshot a root ever named.
pub(crate) const HISTORY_PREFIX: &[u8] = b"h/";
/// The root that last named a snapshot.
pub(crate) const NAMED_PREFIX: &[u8] = b"n/";
/// Blob metadata.
pub(crate) const META_PREFIX: &[u8] = b"m/";
pub(crate) const EPOCH_KEY: &[u8] = b"s/epoch";
pub(crate) const ROOT_GEN_KEY: &[u8] = b"s/root_generation";
pub(crate) const SAVE_GEN_KEY: &[u8] = b"s/save_generation";
pub(crate) const CONFIG_KEY: &[u8] = b"s/config";
pub(crate) const GC_STATE_KEY: &[u8] = b"s/gc_state";
/// The configured archive ([`ArchiveConfig`](crate::ArchiveConfig)); absent: none.
pub(crate) const ARCHIVE_KEY: &[u8] = b"s/archive";
pub(crate) const SESSION_KEY: &[u8] = b"s/session_open";

/// `prefix` followed by `key`.
pub(crate) fn prefixed(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + key.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(key);
    out
}

/// `m/<hex>`: the metadata record of a blob.
pub(crate) fn meta_key(hash: &SnapshotHash) -> Vec<u8> {
    prefixed(META_PREFIX, hash.to_hex().as_bytes())
}

/// A counter (0 when absent).
pub(crate) fn read_u64(db: &sled::Db, key: &[u8]) -> Result<u64> {
    match db.get(key)? {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| Error::Codec {
                what: String::from_utf8_lossy(key).into_owned(),
                reason: format!("expected 8 bytes, found {}", v.len()),
            })?;
            Ok(u64::from_be_bytes(bytes))
        }
    }
}

/// The store's id (32 hex digits, made once): what an archive records as its owner.
pub(crate) const STORE_ID_KEY: &[u8] = b"s/store_id";

/// Where the metrics file goes (a UTF-8 path), when it is not `<store>/metrics.prom`.
pub(crate) const METRICS_FILE_KEY: &[u8] = b"s/metrics_file";
