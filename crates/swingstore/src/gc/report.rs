//! What a collection reports.

use serde::{Deserialize, Serialize};

/// A blob the pass deletes (or, in a dry run, would delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The snapshot.
    pub hash: String,
    /// Bytes its file holds.
    pub stored_bytes: u64,
    /// Why it goes.
    pub reason: String,
}

/// A blob the pass keeps, and why (dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The snapshot.
    pub hash: String,
    /// Why it stays.
    pub reason: String,
}

/// A per-item problem met during the sweep (the pass went on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepError {
    /// The blob hash, or the file name for strays and temp files.
    pub item: String,
    /// What went wrong with it.
    pub error: String,
}

/// The outcome of one collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Committed epoch the pass worked at.
    pub epoch: u64,
    /// Root keys found.
    pub roots: u64,
    /// Distinct snapshots the roots name.
    pub live: u64,
    /// Blobs deleted (dry run: that would be).
    pub swept: u64,
    /// Bytes of the blobs deleted (dry run: that would be).
    pub swept_bytes: u64,
    /// Condemned blobs kept because their grace has not run out.
    pub kept_grace: u64,
    /// Unreferenced blobs still inside their protection window (saved recently).
    pub kept_young: u64,
    /// Blobs that would have gone but were leased.
    pub kept_leased: u64,
    /// Blobs due but left for a later pass by the budget.
    pub pending: u64,
    /// Grace (epochs) the pass used.
    pub grace: u64,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The pass decided from its saved state that nothing could have changed.
    pub skipped: bool,
    /// Files without metadata given metadata (and protection) by this pass.
    pub orphans_adopted: u64,
    /// Leftover temp files removed.
    pub temp_removed: u64,
    /// Files in the blob area that are not blobs (removed only by `now` passes).
    pub strays: Vec<String>,
    /// Dry run: what would be deleted.
    pub candidates: Vec<Candidate>,
    /// Dry run: every other blob and why it stays.
    pub kept: Vec<Kept>,
    /// Per-item failures; the pass went on.
    pub errors: Vec<SweepError>,
    /// Of those, blobs kept because they could not be archived (with an archive configured).
    #[serde(default)]
    pub archive_errors: u64,
    /// Time spent marking (or deciding to skip), in microseconds.
    pub mark_us: u64,
    /// Time spent sweeping, in microseconds.
    pub sweep_us: u64,
}
