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
pub(crate) mod writer;

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
    /// Per-item errors the last full pass reported (failed unlinks, blobs it could not archive,
    /// missing live snapshots): every one kept something it should have done.
    #[serde(default)]
    pub errors: u64,
    /// Of those, blobs kept because they could not be archived.
    #[serde(default)]
    pub archive_errors: u64,
    /// The last pass failed closed (a malformed root): nothing is deleted until it is fixed.
    pub failed_closed: Option<String>,
    /// The last pass failed otherwise (an I/O error, a poisoned handle).
    pub last_error: Option<String>,
    /// The report of the last full collection (its lists of candidates and kept blobs are
    /// empty: those are filled by dry runs only).
    pub last_pass: crate::GcReport,
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
    /// the last pass failed closed, or it reported errors (e.g. every `gc` failing on the
    /// archive, so that replaced snapshots pile up).
    pub fn needs_attention(&self) -> bool {
        self.missing_live > 0 || self.failed_closed.is_some() || self.errors > 0
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
