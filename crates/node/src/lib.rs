//! snapgc-node: the Node.js binding (napi-rs) of the `swingstore` library. Rust stays the only
//! place that knows the store: this crate converts values, moves disk and CPU work off the JS
//! thread, and streams snapshots both ways in bounded memory. The JS contract is
//! `js/swing-store/src/native.d.ts` (docs/NODE.md).
//!
//! * [`store`]: `SnapgcStore` (open, kv, commit, gc, status, leases, verify, close);
//! * [`save`]: `SnapgcSave`, a save fed chunk by chunk from JS through a bounded queue;
//! * [`load`]: `SnapgcLoad`, a verified load handed back chunk by chunk (the last one only after
//!   the length and sha256 verified);
//! * [`job`]: the promise-returning work on libuv's pool; [`error`]: the stable error codes.

pub mod error;
pub mod job;
pub mod load;
pub mod pool;
pub mod save;
pub mod store;
