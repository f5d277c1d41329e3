//! archive: the history tier of a swingstore. Snapshots a committed root once named are
//! archived before the collector unlinks them: cut into content-defined chunks (FastCDC),
//! each chunk named by its sha256 and compressed with zstd, the new chunks of one archive step
//! written together in one *pack* object, and one *manifest* per snapshot (its hash, raw length,
//! chunk list, the root key and position that last named it). Reading reassembles the bytes
//! and verifies the snapshot's sha256: the archive never returns unverified bytes.
//!
//! Objects live in an [`object_store`] backend: a local directory (durable: every put is
//! fsynced, file and directory) or S3 (`s3://bucket[/prefix]`, configured by the standard AWS
//! environment variables). See docs/ARCHIVE.md for the layout, the formats, retention and what
//! is durable when.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = swingstore::SwingStore::open("/var/lib/node/swingstore", Default::default())?;
//! // Opens the archive the store is configured with and attaches it to the collector.
//! if let Some(archive) = archive::attach(&store)? {
//!     for snapshot in archive.list()? {
//!         println!("{} {} bytes, {} at {}", snapshot.hash, snapshot.raw_bytes, snapshot.root, snapshot.position);
//!     }
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod attach;
mod error;
mod gc;
mod index;
mod inspect;
mod location;
mod manifest;
pub mod params;
mod read;
mod store;
mod write;

pub use attach::{Observer, StoreArchiver, attach, open_for};
pub use error::{Error, Result};
pub use gc::{ArchiveGcOptions, ArchiveGcReport};
pub use inspect::{ArchiveStats, ArchiveVerify, Problem};
pub use location::Location;
pub use manifest::{
    ChunkRef, Manifest, SnapshotEntry, max_chunks, max_json_bytes as max_manifest_json_bytes,
};
pub use store::{Archive, MARKER_OBJECT};
pub use write::Archived;

/// `text`, cut to 200 characters (for messages quoting names read from an archive).
pub(crate) fn short(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}
