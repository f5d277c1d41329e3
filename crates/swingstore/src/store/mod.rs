//! [`SwingStore`]: the kvStore and the snapshot store behind one handle, opened exclusively.
//!
//! * `handle.rs`: the handle, its shared state, and the clean close;
//! * `open.rs`: opening a store (directory rules, lock, sled); `create.rs`: creating its pieces
//!   durably; `recover.rs`: what a dead process left;
//! * `save.rs`: how a save is published under its hash;
//! * `commit.rs`: how a block becomes durable (its blobs first, then its keys);
//! * `syncer.rs`: early writeback (each saved blob fsynced in the background);
//! * `load.rs`: verified loads; `config.rs`: guarded configuration changes.

mod commit;
mod config;
mod create;
mod handle;
mod load;
mod open;
mod recover;
mod save;
mod status;
mod syncer;

pub use handle::SwingStore;
pub(crate) use load::open_blob;
pub use open::OpenOptions;
pub(crate) use open::open_for_import;
pub use save::SaveInfo;
