//! What is in the blob area: the blobs the store has records of, and what a listing of
//! `snapshots/` finds. Used by the collector and by the operator views.

use std::collections::BTreeMap;
use std::fs;

use crate::blob::BlobMeta;
use crate::codec;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::layout::parse_blob_file_name;
use crate::schema::META_PREFIX;
use crate::store::SwingStore;

/// Every blob the store has metadata for, in hash order (deterministic), with its decoded
/// metadata or the decode error.
pub(crate) fn known_blobs(store: &SwingStore) -> Result<BTreeMap<SnapshotHash, Result<BlobMeta, String>>> {
    let mut out = BTreeMap::new();
    for item in store.inner.kv.db().scan_prefix(META_PREFIX) {
        let (k, v) = item?;
        let name = String::from_utf8_lossy(&k[META_PREFIX.len()..]).into_owned();
        let Ok(hash) = SnapshotHash::parse(&name) else {
            tracing::warn!("ignoring metadata under a malformed name {}", crate::error::shorten(&name));
            continue;
        };
        let meta = codec::decode::<BlobMeta>(&v, &format!("blob metadata {hash}")).map_err(|e| e.to_string());
        out.insert(hash, meta);
    }
    Ok(out)
}

/// The current metadata record of one blob, if it decodes.
pub(crate) fn current_meta(store: &SwingStore, hash: &SnapshotHash) -> Result<Option<BlobMeta>> {
    let bytes = store.inner.kv.db().get(crate::schema::meta_key(hash))?;
    Ok(bytes.and_then(|b| codec::decode::<BlobMeta>(&b, "blob metadata").ok()))
}

/// What a listing of the blob area found.
#[derive(Debug, Default)]
pub(crate) struct AreaListing {
    /// Blob-named entries (regular files or not) by hash.
    pub blob_files: BTreeMap<SnapshotHash, fs::FileType>,
    /// Names that are not blob names, sorted.
    pub strays: Vec<String>,
}

impl AreaListing {
    /// Whether a regular file holds the blob.
    pub fn has_file(&self, hash: &SnapshotHash) -> bool {
        self.blob_files.get(hash).is_some_and(|t| t.is_file())
    }
}

pub(crate) fn list_blob_area(store: &SwingStore) -> Result<AreaListing> {
    let dir = store.layout().blob_dir();
    let mut listing = AreaListing::default();
    let entries = fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        match parse_blob_file_name(&name) {
            Some(hash) => {
                listing.blob_files.insert(hash, file_type);
            }
            None => listing.strays.push(name),
        }
    }
    listing.strays.sort();
    Ok(listing)
}
