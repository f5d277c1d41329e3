//! The metadata record the store keeps (in sled, `m/<hex>`, through the codec) for each blob.

use serde::{Deserialize, Serialize};

/// What the store knows about one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    /// Uncompressed length: loads are bounded by it and verified against it.
    pub raw_bytes: u64,
    /// Length of the blob file (the LZ4 frame).
    pub stored_bytes: u64,
    /// Epoch of the block being built when it was last saved (committed epoch + 1).
    pub saved_epoch: u64,
    /// The committed epoch at which a collection found it unreferenced and unprotected.
    pub condemned_epoch: Option<u64>,
}
