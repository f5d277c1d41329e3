//! The swingstore test suite, one binary (linking sled + sha2 + lz4 once, not per file):
//!
//! * `store`: the kv blocks, durability across a real process death, saves, loads and damage;
//! * `gc`: the collector's rules, each by its name in docs/GC.md;
//! * `races`: pause-point races and injected sync failures (hooks scoped to each test's store);
//! * `model`: property tests against a simple model of the store;
//! * `golden`: the exact bytes of every on-disk record, so no dependency bump changes the format;
//! * `statesync`: state-sync export and import: round trips, every refusal, the import marker;
//! * `store_dirs`: which directories are stores, the format gate, the committed fixtures.

mod common;
mod fixed_costs;
mod gc;
mod gc_guards;
mod golden;
mod hardening;
mod model;
mod races;
mod statesync;
mod statesync_edges;
mod statesync_live;
mod status;
mod store;
mod store_dirs;
