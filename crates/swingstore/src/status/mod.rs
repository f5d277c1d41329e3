//! What a running store tells its operator: `<store>/status.json` and a Prometheus text file,
//! written by the store itself after its collections, so a second process can watch a running
//! node without taking the store's lock.
//!
//! * `backlog.rs`: is garbage being reclaimed as fast as it is made?
//! * `metrics.rs`: the Prometheus text exposition of the same figures.
//! * `writer.rs`: the thread that writes both files (temp file + rename, no fsync: they are
//!   informational), at most about once a second, off the collector's path.
//!
//! Wall-clock time appears here only for people (`updated_unix_ms`, the write throttle); no
//! decision of the store reads it.

mod backlog;
mod board;
mod metrics;
mod writer;

use serde::{Deserialize, Serialize};

pub use backlog::Backlog;
pub(crate) use backlog::BacklogTracker;
pub(crate) use board::{StatusBoard, fill};
pub(crate) use metrics::render as render_metrics;
pub(crate) use writer::StatusWriter;

/// `status.json`, relative to the store directory.
pub const STATUS_FILE: &str = "status.json";
/// The default metrics file, relative to the store directory.
pub const METRICS_FILE: &str = "metrics.prom";

/// The last full collection, as the status reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassSummary {
    /// The epoch it ran at.
    pub epoch: u64,
    /// Blobs it deleted, and their bytes.
    pub swept: u64,
    /// Their stored bytes.
    pub swept_bytes: u64,
    /// Blobs kept because their grace has not run out.
    pub kept_grace: u64,
    /// Unreferenced blobs kept inside their protection window.
    pub kept_young: u64,
    /// Blobs kept for a lease.
    pub kept_leased: u64,
    /// Blobs due but left by the budget.
    pub pending: u64,
    /// Per-item problems it met.
    pub errors: u64,
    /// Time spent marking, and sweeping, in microseconds.
    pub mark_us: u64,
    /// Time spent sweeping, in microseconds.
    pub sweep_us: u64,
}

/// What `status.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreStatus {
    /// The last committed epoch.
    pub epoch: u64,
    /// Committed root keys.
    pub roots: u64,
    /// Distinct snapshots the roots name.
    pub live: u64,
    /// Blobs the store has records of, and their bytes on disk.
    pub blobs: u64,
    /// Bytes of all blobs.
    pub stored_bytes: u64,
    /// Bytes of the live blobs.
    pub live_bytes: u64,
    /// Blobs no root names, and their bytes.
    pub garbage_blobs: u64,
    /// Bytes of the garbage blobs.
    pub garbage_bytes: u64,
    /// Condemned blobs waiting for their grace or for the budget.
    pub pending: u64,
    /// Live snapshots whose blob is missing (a vat that cannot be paged in).
    pub missing_live: u64,
    /// The last pass failed closed (a malformed root): nothing is deleted until it is fixed.
    pub failed_closed: Option<String>,
    /// The last pass failed otherwise (an I/O error, a poisoned handle).
    pub last_error: Option<String>,
    /// The last full collection.
    pub last_pass: PassSummary,
    /// Collections run, and blobs swept, since the store was opened.
    pub passes_total: u64,
    /// Blobs swept since the store was opened.
    pub swept_total: u64,
    /// Bytes swept since the store was opened.
    pub swept_bytes_total: u64,
    /// Is garbage reclaimed as fast as it is produced?
    pub backlog: Backlog,
    /// The process that wrote this file.
    pub pid: u32,
    /// When it was written (for people; nothing decides on it).
    pub updated_unix_ms: u64,
}

impl StoreStatus {
    /// Whether the status says something an operator must act on: a live snapshot is missing,
    /// or the last pass failed closed.
    pub fn needs_attention(&self) -> bool {
        self.missing_live > 0 || self.failed_closed.is_some()
    }

    /// The status as JSON (what `status.json` holds).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The status in Prometheus text format (what the metrics file holds).
    pub fn to_prometheus(&self) -> String {
        render_metrics(self)
    }
}
