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
    ///
    /// The path is made absolute (every process writes the same file, whatever its working
    /// directory) and refused, with [`Error::Config`], when it can never be right (issue 23):
    /// inside the store directory (other than the default `metrics.prom`) or inside a local
    /// archive directory, in a directory that does not exist, or naming an existing file that
    /// is not a metrics file this store wrote (anything but a regular file starting with
    /// `# HELP snapgc_`, or an empty one).
    pub fn set_metrics_file(&self, path: Option<&Path>) -> Result<()> {
        self.check_writable()?;
        let path = match path {
            Some(p) => Some(self.check_metrics_path(p)?),
            None => None,
        };
        let db = self.inner.kv.db();
        match &path {
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
        self.inner.status.set_metrics_path(path);
        Ok(())
    }

    /// The metrics path resolved, or why it is refused.
    fn check_metrics_path(&self, path: &Path) -> Result<PathBuf> {
        let shown = || crate::error::shorten(&path.display().to_string());
        let resolved = crate::paths::resolve(path).map_err(|e| Error::io(path, e))?;
        let store = crate::paths::resolve_target(self.path()).map_err(|e| Error::io(self.path(), e))?;
        let default = store.join(crate::status::METRICS_FILE);
        let inside_store = crate::paths::is_inside(path, &store).map_err(|e| Error::io(path, e))?;
        if inside_store && resolved != default {
            return Err(Error::Config(format!(
                "the metrics file {} is inside the store directory {}: it would replace the store's own files",
                shown(),
                store.display()
            )));
        }
        if let Some(archive) = self.archive_config()
            && !archive.location.contains("://")
            && crate::paths::is_inside(path, Path::new(&archive.location)).map_err(|e| Error::io(path, e))?
        {
            return Err(Error::Config(format!(
                "the metrics file {} is inside the archive directory {}",
                shown(),
                archive.location
            )));
        }
        match resolved.parent().map(std::fs::metadata) {
            Some(Ok(meta)) if meta.is_dir() => {}
            _ => {
                return Err(Error::Config(format!(
                    "the metrics file {}: its directory does not exist (create it first)",
                    shown()
                )));
            }
        }
        match std::fs::symlink_metadata(&resolved) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&resolved, e)),
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(Error::Config(format!(
                    "the metrics file {} exists and is not a regular file (a symlink, directory, device or FIFO)",
                    shown()
                )));
            }
            Ok(_) if !crate::status::writer::looks_like_metrics(&resolved) => {
                return Err(Error::Config(format!(
                    "the metrics file {} exists and is not a metrics file snapgc wrote: refusing to replace it",
                    shown()
                )));
            }
            Ok(_) => {}
        }
        Ok(resolved)
    }
}
