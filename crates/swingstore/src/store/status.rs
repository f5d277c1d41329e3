//! The store's status for operators (`crate::status`): kept by every collection, written to
//! `status.json` and the metrics file by a thread of its own, and readable here.

use std::path::{Path, PathBuf};

use super::handle::{Inner, SwingStore};
use crate::error::{Error, Result};
use crate::gc::{AreaTotals, GcOptions, GcReport};
use crate::schema::METRICS_FILE_KEY;
use crate::status::{StoreStatus, fill};

impl Inner {
    /// Takes in the outcome of a collection (not a dry run).
    pub(crate) fn observe(&self, result: &Result<(GcReport, Option<AreaTotals>)>) {
        self.status.observe(self.kv.committed_epoch(), result);
    }
}

/// The configured metrics file, if any.
pub(super) fn read_metrics_path(db: &sled::Db) -> Result<Option<PathBuf>> {
    match db.get(METRICS_FILE_KEY)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes.to_vec())
            .map(|s| Some(PathBuf::from(s)))
            .map_err(|_| Error::Codec { what: "metrics file setting".into(), reason: "not UTF-8".into() }),
    }
}

impl SwingStore {
    /// The store's status: what the last collection of this handle saw, or, before any, what a
    /// dry run sees now (a stopped store opened just to look). One shape either way: the last
    /// pass's lists of candidates and kept blobs are empty (as in `status.json`), and a root that
    /// makes the pass fail closed is reported in `failed_closed` (the store needs attention),
    /// not as an error.
    pub fn status(&self) -> Result<StoreStatus> {
        let latest = self.inner.status.latest();
        if latest.passes_total > 0 {
            return Ok(StoreStatus { epoch: self.epoch(), ..latest });
        }
        let mut status = StoreStatus::default();
        match self.run_dry_pass(&GcOptions { dry_run: true, ..GcOptions::default() }) {
            Ok((mut report, totals)) => {
                report.candidates.clear();
                report.kept.clear();
                if let Some(totals) = totals {
                    fill(&mut status, &report, &totals);
                }
            }
            Err(e @ Error::BadRoot { .. }) => {
                status.epoch = self.epoch();
                status.failed_closed = Some(e.to_string());
            }
            Err(e) => return Err(e),
        }
        status.pid = std::process::id();
        status.updated_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Ok(status)
    }

    /// Where the Prometheus metrics file is written (`None`: `<store>/metrics.prom`).
    pub fn metrics_file(&self) -> Result<Option<PathBuf>> {
        read_metrics_path(self.inner.kv.db())
    }

    /// Sets where the Prometheus metrics file is written (`None`: `<store>/metrics.prom`), for
    /// example node_exporter's textfile directory. Persisted in the store (durably).
    pub fn set_metrics_file(&self, path: Option<&Path>) -> Result<()> {
        self.check_writable()?;
        let db = self.inner.kv.db();
        match path {
            Some(p) => {
                let text =
                    p.to_str().ok_or_else(|| Error::Config(format!("{} is not UTF-8", p.display())))?;
                db.insert(METRICS_FILE_KEY, text.as_bytes())?;
            }
            None => {
                db.remove(METRICS_FILE_KEY)?;
            }
        }
        self.inner.kv.sync_log(crate::durability::SyncStep::Config)?;
        self.inner.status.set_metrics_path(path.map(Path::to_owned));
        Ok(())
    }
}
