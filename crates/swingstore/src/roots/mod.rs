//! Roots: how a committed kv key becomes a live snapshot hash, in one place.
//!
//! 1. [`pattern`]: a key is a root when it matches a configured pattern (`v*.lastSnapshot`).
//! 2. [`value`]: its value is Agoric's JSON naming the snapshot (`snapshotID`).
//! 3. [`index`]: committed roots are indexed (`r/` in sled, written in the commit's batch) and
//!    mirrored in memory, parsed, once the commit is durable.
//! 4. [`live`]: the mark walks the mirror to the live set, failing closed on a bad root.
//! 5. [`history`]: every snapshot a root ever named, and the root that last named each.

pub(crate) mod history;
pub(crate) mod index;
pub(crate) mod live;
pub(crate) mod pattern;
pub(crate) mod value;

pub use history::{NamedBy, RootUse};
pub use pattern::RootPatterns;
pub use value::{format_root_value, parse_root_reference, parse_root_value};
