//! The store's durability steps, by name: what `--list-syncs` prints and `--skip-sync NAME`
//! switches off (through `SWINGSTORE_SKIP_SYNC` in the environment of the processes that open
//! the store). The list is the library's own (`swingstore::failpoint::SYNC_STEPS`).

pub use swingstore::failpoint::{SYNC_STEPS, SyncStep};

/// The step named `name`.
pub fn step(name: &str) -> Option<SyncStep> {
    SyncStep::named(name)
}

/// Every step's name, in the order a store meets them.
pub fn names() -> Vec<&'static str> {
    SYNC_STEPS.iter().map(|s| s.name()).collect()
}
