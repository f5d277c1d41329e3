//! [`SwingStore`]: the kvStore and the snapshot store behind one handle, opened exclusively.
//!
//! * `handle.rs`: the handle, its shared state, and the clean close;
//! * `identify.rs`: what a directory holds (a store of a known format, someone's files), and
//!   what a wipe may remove;
//! * `open.rs`: opening a store (directory rules, lock, sled); `create.rs`: creating its pieces
//!   durably; `recover.rs`: what a dead process left;
//! * `sled_db.rs`: sled opened the store's way (used by `open.rs` and `create.rs`);
//! * `save.rs`: how a save is published under its hash;
//! * `commit.rs`: how a block becomes durable (its blobs first, then its keys);
//! * `syncer.rs`: early writeback (each saved blob fsynced in the background);
//! * `load.rs`: verified loads; `config.rs`: guarded configuration changes.

mod commit;
mod config;
mod create;
mod handle;
mod identify;
mod load;
mod open;
mod recover;
mod save;
mod sled_db;
mod status;
mod syncer;

pub use handle::SwingStore;
pub(crate) use identify::{Found, inspect, remove_planned, wipe_plan};
pub(crate) use load::open_blob;
pub use open::OpenOptions;
pub(crate) use open::{open_for_import, open_held, take_store_lock};
pub use save::SaveInfo;
