//! Sweep: decide for every known blob, adopt orphans, remove temp leftovers, delete what is due.

use std::collections::BTreeMap;
use std::fs;
use std::io;

use super::GcOptions;
use super::mark::LiveSet;
use super::policy::{Decision, decide};
use super::report::{Candidate, GcReport, Kept, SweepError};
use crate::codec;
use crate::error::{Error, Result};
use crate::failpoint::{self, points};
use crate::hash::SnapshotHash;
use crate::kv::META_PREFIX;
use crate::layout::parse_blob_file_name;
use crate::meta::BlobMeta;
use crate::store::{SwingStore, meta_key};

pub(crate) struct Outcome {
    pub report: GcReport,
    /// Nothing left that a later pass must look at before `next_due_epoch`.
    pub settled: bool,
    pub next_due_epoch: u64,
    pub blobs_left: u64,
    pub bytes_left: u64,
}

/// Every blob the store has metadata for, in hash order (deterministic), with its decoded
/// metadata or the decode error.
pub(crate) fn known_blobs(store: &SwingStore) -> Result<BTreeMap<SnapshotHash, Result<BlobMeta, String>>> {
    let mut out = BTreeMap::new();
    for item in store.inner.kv.db().scan_prefix(META_PREFIX) {
        let (k, v) = item?;
        let name = String::from_utf8_lossy(&k[META_PREFIX.len()..]).into_owned();
        let Ok(hash) = SnapshotHash::parse(&name) else {
            tracing::warn!("ignoring metadata under a malformed name {name:?}");
            continue;
        };
        let meta = codec::decode::<BlobMeta>(&v, &format!("blob metadata {hash}")).map_err(|e| e.to_string());
        out.insert(hash, meta);
    }
    Ok(out)
}

/// What a listing of the blob area found.
#[derive(Debug, Default)]
pub(crate) struct AreaListing {
    /// Blob-named files (regular or not) by hash.
    pub blob_files: BTreeMap<SnapshotHash, fs::FileType>,
    /// Names that are not blob names.
    pub strays: Vec<String>,
}

pub(crate) fn list_blob_area(store: &SwingStore) -> Result<AreaListing> {
    let dir = store.layout().blob_dir();
    let mut listing = AreaListing::default();
    let entries = fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        match parse_blob_file_name(&name) {
            Some(hash) => {
                listing.blob_files.insert(hash, file_type);
            }
            None => listing.strays.push(name),
        }
    }
    listing.strays.sort();
    Ok(listing)
}

fn record_meta(store: &SwingStore, hash: &SnapshotHash, meta: &BlobMeta) -> Result<()> {
    store.inner.kv.db().insert(meta_key(hash), codec::encode(meta)?)?;
    Ok(())
}

pub(crate) fn run(
    store: &SwingStore,
    live: &LiveSet,
    epoch: u64,
    grace: u64,
    scan: bool,
    options: &GcOptions,
) -> Result<Outcome> {
    let inner = &store.inner;
    let layout = store.layout();
    let mut report = GcReport::default();
    let mut settled = true;
    let mut known = known_blobs(store)?;

    if scan {
        // Temp files not being written by this process are crash leftovers. A save registers
        // its temp name under the sweep lock before creating the file, so a name not registered
        // under that lock is a leftover.
        let temp_dir = layout.temp_dir();
        for entry in fs::read_dir(&temp_dir).map_err(|e| Error::io(&temp_dir, e))? {
            let entry = entry.map_err(|e| Error::io(&temp_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if options.dry_run {
                continue;
            }
            let locked = inner.sweep.lock();
            if locked.active_temps.contains(&name) {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => report.temp_removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Reported, left alone; not retried every pass (it is not a blob).
                Err(e) => {
                    report.errors.push(SweepError { item: format!("tmp/{name}"), error: e.to_string() })
                }
            }
            drop(locked);
        }

        let listing = list_blob_area(store)?;
        for stray in &listing.strays {
            if options.now && !options.dry_run {
                match fs::remove_file(layout.blob_dir().join(stray)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => report.errors.push(SweepError { item: stray.clone(), error: e.to_string() }),
                }
            }
            report.strays.push(stray.clone());
        }
        // Orphans: blob files without metadata (a crash between rename and metadata, or lost
        // metadata). Adopted as young; an offline pass deletes the unreferenced ones instead.
        for (hash, file_type) in &listing.blob_files {
            if known.contains_key(hash) {
                continue;
            }
            if !file_type.is_file() {
                // Reported by every scanning pass and by `verify`; it needs an operator.
                report
                    .errors
                    .push(SweepError { item: hash.to_hex(), error: "not a regular file; left alone".into() });
                continue;
            }
            let referenced = live.contains(hash);
            if options.now && !referenced {
                let stored = fs::metadata(layout.blob_path(hash)).map(|m| m.len()).unwrap_or(0);
                known.insert(
                    *hash,
                    Ok(BlobMeta {
                        raw_bytes: 0,
                        stored_bytes: stored,
                        saved_epoch: 0,
                        condemned_epoch: None,
                    }),
                );
                continue;
            }
            if options.dry_run {
                report
                    .kept
                    .push(Kept { hash: hash.to_hex(), reason: "orphan (adopted by the next pass)".into() });
                settled = false;
                continue;
            }
            // Learn its raw length by verifying it; a blob that does not verify is left alone.
            match store.verify_blob(hash) {
                Ok(raw) => {
                    let stored = fs::metadata(layout.blob_path(hash)).map(|m| m.len()).unwrap_or(0);
                    let meta = BlobMeta {
                        raw_bytes: raw,
                        stored_bytes: stored,
                        saved_epoch: epoch + 1,
                        condemned_epoch: None,
                    };
                    record_meta(store, hash, &meta)?;
                    report.orphans_adopted += 1;
                    known.insert(*hash, Ok(meta));
                }
                Err(e) => {
                    // Quarantined under a non-blob name (a stray: kept, reported, removed only
                    // by an offline pass), so no later pass decodes it again.
                    let from = layout.blob_path(hash);
                    let to =
                        layout.blob_dir().join(format!("{}.corrupt", crate::layout::blob_file_name(hash)));
                    let moved = fs::rename(&from, &to).map(|()| format!("; moved to {}", to.display()));
                    report.errors.push(SweepError {
                        item: hash.to_hex(),
                        error: format!("orphan does not verify: {e}{}", moved.unwrap_or_default()),
                    });
                }
            }
        }
        if !listing.strays.is_empty() && !options.now {
            // Strays are reported each scanning pass; they do not need a rescan every block.
        }
    }

    let mut next_due = u64::MAX;
    let mut due: Vec<(SnapshotHash, BlobMeta, u64)> = Vec::new();
    let mut condemn: Vec<(SnapshotHash, BlobMeta)> = Vec::new();
    let mut blobs_left = 0u64;
    let mut bytes_left = 0u64;
    {
        let locked = inner.sweep.lock();
        for (hash, meta) in &known {
            let meta = match meta {
                Ok(m) => *m,
                Err(reason) => {
                    // Never deleted on a record we cannot read; reported by every full pass.
                    blobs_left += 1;
                    if !live.contains(hash) {
                        report.errors.push(SweepError { item: hash.to_hex(), error: reason.clone() });
                    }
                    continue;
                }
            };
            let decision =
                decide(&meta, live.contains(hash), locked.is_leased(hash), epoch, grace, options.now);
            let hex = hash.to_hex();
            match decision {
                Decision::Live => {
                    if meta.condemned_epoch.is_some() {
                        condemn.push((*hash, BlobMeta { condemned_epoch: None, ..meta }));
                    }
                    if options.dry_run {
                        let key = live.first_root(hash).unwrap_or_default();
                        report.kept.push(Kept { hash: hex, reason: format!("root {key}") });
                    }
                }
                Decision::Leased { condemned } => {
                    report.kept_leased += 1;
                    settled = false;
                    if !options.now && meta.condemned_epoch != Some(condemned) {
                        condemn.push((*hash, BlobMeta { condemned_epoch: Some(condemned), ..meta }));
                    }
                    if options.dry_run {
                        report.kept.push(Kept { hash: hex, reason: "leased".into() });
                    }
                }
                Decision::Young { until } => {
                    report.kept_young += 1;
                    next_due = next_due.min(until);
                    if options.dry_run {
                        report.kept.push(Kept { hash: hex, reason: format!("young until epoch {until}") });
                    }
                }
                Decision::Grace { condemned, until } => {
                    report.kept_grace += 1;
                    next_due = next_due.min(until);
                    if meta.condemned_epoch != Some(condemned) {
                        condemn.push((*hash, BlobMeta { condemned_epoch: Some(condemned), ..meta }));
                    }
                    if options.dry_run {
                        report.kept.push(Kept { hash: hex, reason: format!("grace ends at epoch {until}") });
                    }
                }
                Decision::Sweep { condemned } => {
                    let reason = if options.now {
                        "unreferenced (offline pass)".to_owned()
                    } else {
                        format!("unreferenced since epoch {condemned}, grace {grace} ended")
                    };
                    if options.dry_run {
                        report.candidates.push(Candidate {
                            hash: hex,
                            stored_bytes: meta.stored_bytes,
                            reason,
                        });
                    }
                    // Recorded even though it is about to go: the budget (or a failed unlink)
                    // may leave it for a later pass, whose grace arithmetic starts here.
                    if !options.now && meta.condemned_epoch != Some(condemned) {
                        condemn.push((*hash, BlobMeta { condemned_epoch: Some(condemned), ..meta }));
                    }
                    due.push((*hash, meta, condemned));
                    continue;
                }
            }
            blobs_left += 1;
            bytes_left += meta.stored_bytes;
        }
    }

    if options.dry_run {
        // The same budget as a real pass: what it would leave is pending, not a candidate.
        let budget = usize::try_from(options.budget.unwrap_or(u64::MAX)).unwrap_or(usize::MAX);
        let deferred = due.len().saturating_sub(budget);
        report.candidates.truncate(report.candidates.len().saturating_sub(deferred));
        report.pending = deferred as u64;
        report.swept = report.candidates.len() as u64;
        report.swept_bytes = report.candidates.iter().map(|c| c.stored_bytes).sum();
        return Ok(Outcome { report, settled: false, next_due_epoch: next_due, blobs_left, bytes_left });
    }

    // Condemnations may be written lazily: losing them in a crash only delays a sweep.
    failpoint::hit(points::GC_BEFORE_CONDEMN).map_err(|e| Error::io("gc", e))?;
    // Under the sweep lock, and only where no save renewed the blob since it was read: a save
    // from another thread must never be overwritten by the stale record.
    if !condemn.is_empty() {
        let _locked = inner.sweep.lock();
        let db = inner.kv.db();
        let mut batch = sled::Batch::default();
        for (hash, meta) in &condemn {
            let current =
                db.get(meta_key(hash))?.and_then(|b| codec::decode::<BlobMeta>(&b, "blob metadata").ok());
            if current.is_some_and(|c| c.saved_epoch == meta.saved_epoch) {
                batch.insert(meta_key(hash), codec::encode(meta)?);
            }
        }
        db.apply_batch(batch)?;
    }
    failpoint::hit(points::GC_AFTER_CONDEMN).map_err(|e| Error::io("gc", e))?;

    let budget = options.budget.unwrap_or(u64::MAX);
    let total = due.len() as u64;
    for (done, (hash, decided, _)) in due.into_iter().enumerate() {
        if let Some(progress) = &options.progress {
            progress(done as u64, total);
        }
        if report.swept >= budget {
            report.pending += 1;
            settled = false;
            blobs_left += 1;
            bytes_left += decided.stored_bytes;
            continue;
        }
        let stored = decided.stored_bytes;
        match sweep_one(store, &hash, &decided)? {
            SweepOutcome::Deleted => {
                report.swept += 1;
                report.swept_bytes += stored;
            }
            SweepOutcome::Leased => {
                report.kept_leased += 1;
                settled = false;
                blobs_left += 1;
                bytes_left += stored;
            }
            SweepOutcome::Resaved => {
                report.kept_young += 1;
                settled = false;
                blobs_left += 1;
                bytes_left += stored;
            }
            SweepOutcome::Failed(error) => {
                settled = false;
                report.errors.push(SweepError { item: hash.to_hex(), error });
                blobs_left += 1;
                bytes_left += stored;
            }
        }
    }
    if let Some(progress) = &options.progress {
        progress(total, total);
    }
    // No directory fsync after the unlinks: a lost unlink only leaves a file whose metadata may
    // be gone, an orphan that the listing after an unclean shutdown adopts and ages out again.
    Ok(Outcome { report, settled, next_due_epoch: next_due, blobs_left, bytes_left })
}

enum SweepOutcome {
    Deleted,
    Leased,
    Resaved,
    Failed(String),
}

/// Deletes one blob, re-checking under the sweep lock that it is still not leased and not
/// re-saved since the decision.
fn sweep_one(store: &SwingStore, hash: &SnapshotHash, decided: &BlobMeta) -> Result<SweepOutcome> {
    failpoint::hit(points::SWEEP_BEFORE_UNLINK).map_err(|e| Error::io("gc", e))?;
    let inner = &store.inner;
    let locked = inner.sweep.lock();
    if locked.is_leased(hash) {
        return Ok(SweepOutcome::Leased);
    }
    let current = match inner.kv.db().get(meta_key(hash)) {
        Ok(current) => current,
        Err(e) => return Ok(SweepOutcome::Failed(format!("reading its metadata: {e}"))),
    };
    let current = current.and_then(|bytes| codec::decode::<BlobMeta>(&bytes, "blob metadata").ok());
    if let Some(current) = current
        && current.saved_epoch != decided.saved_epoch
    {
        return Ok(SweepOutcome::Resaved);
    }
    let path = store.layout().blob_path(hash);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Ok(SweepOutcome::Failed(format!("{}: {e}", path.display()))),
    }
    failpoint::hit(points::SWEEP_AFTER_UNLINK).map_err(|e| Error::io(&path, e))?;
    // Still under the lock, so a save of the same bytes cannot slip its record in between.
    // The file is gone; if its record cannot be removed now, a later pass meets ENOENT and
    // removes it then.
    if let Err(e) = inner.kv.db().remove(meta_key(hash)) {
        tracing::warn!("blob {hash} deleted but its metadata could not be removed: {e}");
    }
    drop(locked);
    Ok(SweepOutcome::Deleted)
}
