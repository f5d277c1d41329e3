//! powerfs: an in-memory FUSE file system that models power loss, strictly, and the
//! `powerloss` harness that cuts the power under a running store (issue #11). Test tooling:
//! nothing in the library depends on it.
//!
//! # The crash model (strict POSIX, stricter than ext4)
//!
//! * Every inode has *live* and *durable* contents and size; `fsync`/`fdatasync` on any
//!   descriptor of the inode copies live → durable.
//! * Every directory has live and durable entries; `fsync` of the directory (`fsyncdir`)
//!   copies that directory's live entries → durable. Create, mkdir, rename, link and unlink
//!   change live entries only. A new file's durable content is empty; a new directory's
//!   durable entries are empty.
//! * `close`, `release`, `flush` make nothing durable; `sync_file_range` and `syncfs` never
//!   even reach a FUSE file system.
//! * A crash replaces live with durable everywhere; inodes no durable entry reaches from the
//!   root are gone. The torn variant first keeps a random subset of each file's unsynced
//!   4 KiB pages (at the durable or the live size).
//!
//! # Modules
//!
//! * [`model`]: the pure model and its crash semantics (unit-tested without FUSE).
//! * [`state`]: what a mount shares with the harness: model, request log, cut control.
//! * [`trigger`]: when to cut (the `n`-th request, a time, before/after the `k`-th request
//!   whose operation and path match a pattern, after the child exits).
//! * [`reqlog`]: the log of every request, dumped when a cut shows a violation.
//! * [`fuse`]: the fuser 0.18 adapter.
//! * [`mount`]: mount / crash / unmount / remount, and the FUSE probe.
//! * [`syncs`]: the names of the store's durability steps (`--list-syncs`, `--skip-sync`).
//! * [`configlog`]: a child's `set_config` and its side log (a returned one must be durable).
//! * [`harness`]: the cut loop and its report.

pub mod configlog;
pub mod fuse;
pub mod harness;
pub mod importlog;
pub mod model;
pub mod mount;
pub mod reqlog;
pub mod state;
pub mod syncs;
pub mod trigger;

pub use model::{Fs, Image};
pub use mount::{Mounted, mount, probe};
