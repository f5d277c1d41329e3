//! swingstore: a SwingSet-style kvStore on sled with atomic, durable block commits, a
//! content-addressed snapshot store (sha256-named LZ4 blobs), and a mark-and-sweep collector
//! with grace epochs and leases. See docs/ARCHITECTURE.md.
//!
//! ```no_run
//! # fn main() -> swingstore::Result<()> {
//! use swingstore::{SwingStore, format_root_value};
//! let store = SwingStore::create("/var/lib/node/swingstore")?;
//! let saved = store.save_bytes(b"heap bytes")?;
//! store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 0));
//! store.commit()?; // durable when it returns: the blob first, then the root
//! let report = store.gc()?;
//! println!("swept {} blobs", report.swept);
//! # Ok(()) }
//! ```
//!
//! The API is this page: [`SwingStore`] (open, save, load, lease, commit, gc, inspect), its
//! [`KvStore`], state sync in Agoric's format ([`SwingStore::export_state`],
//! [`export_to_dir`], [`import_from_dir`], [`import_state`]; docs/STATE-SYNC.md), and the types
//! they take and return. Modules are private; test hooks and the
//! records the fuzz targets decode are behind features (`failpoints`, `internals`) and hidden.

#![warn(missing_docs)]

mod archiver;
mod blob;
mod codec;
mod config;
mod durability;
mod error;
mod gc;
mod hash;
mod inspect;
mod kv;
mod layout;
mod lease;
mod paths;
mod roots;
mod schema;
mod statesync;
mod status;
mod store;

pub use archiver::{ArchiveConfig, ArchiveFailure, Archiver, MAX_ARCHIVE_LOCATION_BYTES};
pub use blob::{BlobMeta, BlobReader, into_store_error};
pub use config::{
    ConfigChange, DEFAULT_GRACE, DEFAULT_ROOT_PATTERN, GcConfig, MAX_ROOT_PATTERN_BYTES, MAX_ROOT_PATTERNS,
};
pub use error::{Error, Result};
pub use gc::{Candidate, GcOptions, GcReport, Kept, Progress, SweepError};
pub use hash::SnapshotHash;
pub use inspect::{BlobInfo, BlobState, Stats, VerifyReport};
pub use kv::KvStore;
pub use lease::Lease;
pub use paths::{is_inside as path_is_inside, resolve as resolve_path};
pub use roots::{NamedBy, RootPatterns, RootUse, format_root_value, parse_root_reference, parse_root_value};
pub use statesync::{
    ArtifactMode, DATA_FILE, ExportArtifact, ExportDataHash, ExportDir, ExportSource, ExportSummary,
    ImportOptions, ImportReport, MANIFEST_FILE, Manifest, StateExporter, export_to_dir, import_from_dir,
    import_state,
};
pub use status::{Backlog, METRICS_FILE, STATUS_FILE, StoreStatus};
pub use store::{OpenOptions, SaveInfo, SwingStore};

// Test hooks (feature `failpoints`): pause, crash or fail at named points, and the store's
// durability steps. For the crash tests; not part of the API. Without the feature the module
// is private and every hook compiles to nothing.
#[cfg(feature = "failpoints")]
#[doc(hidden)]
pub mod failpoint;
#[cfg(not(feature = "failpoints"))]
mod failpoint;

/// The records kept in sled and their codec (feature `internals`), for the fuzz targets and
/// the golden-bytes tests; not part of the API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::codec::{decode, encode};
    pub use crate::gc::state::GcState;

    /// The save pipeline (sha256 ∥ LZ4 on both cores) writing to memory: the physical limit
    /// a save is measured against. Returns the frame and the hash.
    pub fn compress_to_memory(input: &[u8]) -> crate::Result<(Vec<u8>, crate::SnapshotHash)> {
        crate::blob::compress_to_memory(input)
    }

    /// The mark alone (for benchmarks): the number of distinct live snapshots.
    pub fn mark(store: &crate::SwingStore) -> crate::Result<usize> {
        crate::roots::live::mark(store.kv(), false).map(|live| live.live.len())
    }
}
