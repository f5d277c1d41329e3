//! Records the store keeps about itself in sled, next to the kv data: per-blob metadata, the
//! collector configuration, and the collector's bookkeeping. All of them go through [`codec`].
//!
//! [`codec`]: crate::codec

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

/// Collector configuration, persisted in the store so every pass (kernel or CLI) uses the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcConfig {
    /// Key patterns whose values name live snapshots. `*` matches one or more characters
    /// other than `.`; everything else matches itself.
    pub root_patterns: Vec<String>,
    /// Default grace, in committed epochs.
    pub grace: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self { root_patterns: vec![DEFAULT_ROOT_PATTERN.to_owned()], grace: DEFAULT_GRACE }
    }
}

/// Most root patterns a configuration may hold (every committed key is matched against all).
pub const MAX_ROOT_PATTERNS: usize = 64;
/// Longest root pattern, in bytes.
pub const MAX_ROOT_PATTERN_BYTES: usize = 256;

impl GcConfig {
    /// Checks the patterns (syntax, count, length) and that the record fits what an open will
    /// decode, so a configuration that is accepted can always be read back.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        if self.root_patterns.len() > MAX_ROOT_PATTERNS {
            return Err(Error::Config(format!(
                "{} root patterns given; at most {MAX_ROOT_PATTERNS} are allowed",
                self.root_patterns.len()
            )));
        }
        if let Some(long) = self.root_patterns.iter().find(|p| p.len() > MAX_ROOT_PATTERN_BYTES) {
            return Err(Error::Config(format!(
                "root pattern {} is longer than {MAX_ROOT_PATTERN_BYTES} bytes",
                crate::error::shorten(long)
            )));
        }
        crate::root::RootPatterns::new(&self.root_patterns)?;
        let encoded = crate::codec::encode(self)?;
        crate::codec::check_fits(&encoded, "gc config")
    }
}

/// Agoric's root key: `vN.lastSnapshot`.
pub const DEFAULT_ROOT_PATTERN: &str = "v*.lastSnapshot";
/// Default grace in epochs.
pub const DEFAULT_GRACE: u64 = 2;

/// What the last full collection saw, so that a pass with nothing new to decide is O(1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcState {
    /// Root generation (bumped by every commit that touches a root key) at the mark.
    pub root_generation: u64,
    /// Save generation (bumped by every save, new or dedup) at the mark.
    pub save_generation: u64,
    /// The grace the pass used.
    pub grace: u64,
    /// Earliest committed epoch at which a kept blob falls due (`u64::MAX`: none).
    pub next_due_epoch: u64,
    /// Number of root keys and distinct live hashes found (reported by skipped passes).
    pub roots: u64,
    pub live: u64,
    /// Blob count and bytes known after the pass.
    pub blobs: u64,
    pub stored_bytes: u64,
}
