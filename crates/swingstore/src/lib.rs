//! swingstore: a SwingSet-style kvStore on sled with atomic, durable block commits, a
//! content-addressed snapshot store (sha256-named LZ4 blobs), and a mark-and-sweep collector
//! with grace epochs and leases. See docs/ARCHITECTURE.md.
//!
//! ```no_run
//! # fn main() -> swingstore::Result<()> {
//! use swingstore::{SwingStore, root::format_root_value};
//! let store = SwingStore::create("/var/lib/node/swingstore")?;
//! let saved = store.save_bytes(b"heap bytes")?;
//! store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 0));
//! store.commit()?;
//! let report = store.gc()?;
//! println!("swept {} blobs", report.swept);
//! # Ok(()) }
//! ```

pub mod blob;
pub mod codec;
mod durability;
pub mod error;
pub mod failpoint;
pub mod gc;
pub mod hash;
pub mod inspect;
pub mod kv;
pub mod layout;
pub mod lease;
pub mod meta;
pub mod root;
mod store;

pub use blob::BlobReader;
pub use error::{Error, Result};
pub use gc::{GcOptions, GcReport};
pub use hash::SnapshotHash;
pub use kv::KvStore;
pub use lease::Lease;
pub use meta::{BlobMeta, GcConfig};
pub use store::{ConfigChange, OpenOptions, SaveInfo, SwingStore};
