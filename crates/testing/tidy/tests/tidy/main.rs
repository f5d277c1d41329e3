//! Tidy tests (after rust-analyzer's `tidy.rs`): the docs are held to the code, and the tree to
//! its rules. Each module is one kind of check; `util` reads files, tables and code blocks.
//!
//! * `tree`: no committed path outside `fixtures/` looks like a store.
//! * `cli_doc`: docs/CLI.md's synopsis names every subcommand and flag clap knows, and its
//!   metrics table every metric the store writes.
//! * `format_doc`: docs/format.md's key table is `schema.rs`'s, its layout is what a store
//!   holds, and each record it says is pinned has golden bytes.
//! * `crash_doc`: every failpoint and durability step is in docs/CRASH-SAFETY.md's tables and
//!   every failpoint is set by a test.
//! * `doc_refs`: every test, source file and `swingstore::` module a doc names exists.
//! * `vendor`: the vendored sled's patch list matches the patch markers in its source.

mod cli_doc;
mod crash_doc;
mod doc_refs;
mod format_doc;
mod tree;
mod util;
mod vendor;

/// The CLI's clap definition, compiled here as it is in the binary.
#[path = "../../../../snapgc/src/cli.rs"]
#[allow(dead_code)]
mod snapgc_cli;
