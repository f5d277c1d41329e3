//! What a run reports: the [`Summary`] (the JSON document and the table), the per-block
//! [`BlockStat`] series (the SVG chart), and both with the final blob set in [`SimResult`].

use serde::Serialize;

/// The store after one block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlockStat {
    pub block: u64,
    /// Blob files and their bytes on disk after the block's collection.
    pub blobs: u64,
    pub stored_bytes: u64,
    /// Distinct snapshots named by roots, and their bytes.
    pub live: u64,
    pub live_bytes: u64,
    /// Wall time of the block's `gc()` call (0 without gc).
    pub gc_us: u64,
}

/// What a run did, and the store it left. Its field names are the JSON document's
/// (docs/KERNEL-SIM.md, "Output").
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub workload: String,
    pub gc: bool,
    pub seed: u64,
    pub grace: u64,
    pub blocks: u64,
    pub epoch: u64,
    pub heap_source: String,
    pub vats_created: u64,
    pub vats_live: u64,
    pub vats_terminated: u64,
    pub deliveries: u64,
    pub snapshots_saved: u64,
    pub snapshots_deduplicated: u64,
    pub saved_raw_bytes: u64,
    pub page_ins: u64,
    pub restarts: u64,
    pub roots: u64,
    pub blobs: u64,
    pub live: u64,
    pub stored_bytes: u64,
    pub raw_bytes: u64,
    pub live_stored_bytes: u64,
    pub peak_stored_bytes: u64,
    pub peak_blobs: u64,
    pub swept: u64,
    pub swept_bytes: u64,
    pub kept_leased: u64,
    pub gc_passes: u64,
    pub gc_errors: u64,
    pub gc_p50_us: u64,
    pub gc_p99_us: u64,
    pub gc_max_us: u64,
    pub gc_total_us: u64,
    /// The store's backlog at the end (docs/CLI.md, `status`): pending blobs, garbage growth
    /// over the window, the epochs the window spans, and whether gc is falling behind.
    pub backlog_pending: u64,
    pub backlog_growth_blobs: i64,
    pub backlog_window_epochs: u64,
    pub backlog_falling_behind: bool,
    /// Blocks after whose collection the store said gc was falling behind.
    pub backlog_behind_blocks: u64,
    pub exports: u64,
    pub exported_snapshots: u64,
    pub exported_raw_bytes: u64,
    pub wall_ms: u64,
}

/// A run's summary, its per-block series and the final blob set.
#[derive(Debug, Clone, Default)]
pub struct SimResult {
    pub summary: Summary,
    pub series: Vec<BlockStat>,
    /// Hashes of every blob left in the store, sorted.
    pub final_blobs: Vec<String>,
    /// Stored (LZ4 blob) size of every snapshot saved.
    pub blob_sizes: std::collections::HashMap<swingstore::SnapshotHash, u64>,
}
