//! The store's status board: what each collection leaves in the status (and the backlog),
//! handed to the writer thread.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{BacklogTracker, StatusWriter, StoreStatus};
use crate::error::{Error, Result};
use crate::gc::{AreaTotals, GcReport};

/// The status of one open store.
#[derive(Debug)]
pub(crate) struct StatusBoard {
    writer: StatusWriter,
    backlog: Mutex<BacklogTracker>,
}

/// Fills the figures of a full pass into `s`.
pub(crate) fn fill(s: &mut StoreStatus, report: &GcReport, totals: &AreaTotals) {
    s.epoch = report.epoch;
    s.roots = report.roots;
    s.live = report.live;
    s.blobs = totals.blobs;
    s.stored_bytes = totals.stored_bytes;
    s.live_bytes = totals.live_bytes;
    s.garbage_blobs = totals.blobs.saturating_sub(totals.live_blobs);
    s.garbage_bytes = totals.stored_bytes.saturating_sub(totals.live_bytes);
    s.pending = report.pending;
    s.missing_live = totals.missing_live;
    s.errors = report.errors.len() as u64;
    s.archive_errors = report.archive_errors;
    s.failed_closed = None;
    s.last_error = None;
    s.last_pass = report.clone();
}

impl StatusBoard {
    /// Starts the board (and its writer) for the store at `root`.
    pub fn start(root: &Path, metrics_path: Option<PathBuf>) -> Self {
        Self {
            writer: StatusWriter::start(root, metrics_path),
            backlog: Mutex::new(BacklogTracker::default()),
        }
    }

    /// Takes in the outcome of a collection (not a dry run).
    pub fn observe(&self, epoch: u64, result: &Result<(GcReport, Option<AreaTotals>)>) {
        match result {
            Ok((report, Some(totals))) => {
                let garbage = totals.blobs.saturating_sub(totals.live_blobs);
                let garbage_bytes = totals.stored_bytes.saturating_sub(totals.live_bytes);
                let backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner()).record(
                    report.epoch,
                    garbage,
                    garbage_bytes,
                    report.swept,
                    report.swept_bytes,
                    report.pending,
                );
                self.writer.update(|s| {
                    fill(s, report, totals);
                    s.backlog = backlog;
                    s.passes_total += 1;
                    s.swept_total += report.swept;
                    s.swept_bytes_total += report.swept_bytes;
                });
            }
            Ok((_, None)) => self.writer.update(|s| {
                // Skipped: nothing that could change a decision changed; only the epoch moved.
                s.epoch = epoch;
                s.passes_total += 1;
            }),
            Err(e) => self.writer.update(|s| {
                s.epoch = epoch;
                s.passes_total += 1;
                match e {
                    Error::BadRoot { .. } => s.failed_closed = Some(e.to_string()),
                    other => s.last_error = Some(other.to_string()),
                }
            }),
        }
    }

    /// The latest status, and whether any collection has run since the store was opened.
    pub fn latest(&self) -> StoreStatus {
        self.writer.latest()
    }

    /// Where the metrics file goes from now on.
    pub fn set_metrics_path(&self, path: Option<PathBuf>) {
        self.writer.set_metrics_path(path);
    }

    /// Writes what is pending and stops the writer.
    pub fn stop(&self) {
        self.writer.stop();
    }
}
