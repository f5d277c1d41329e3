//! Sweep: decide for every known blob, record condemnations, delete what is due.
//!
//! Each deletion re-checks, under the sweep lock and right before the unlink, that the blob is
//! not leased and that no save has published it since the pass started (a dedup save in the
//! open block keeps the saved epoch, so the save generation is what tells).

use std::collections::BTreeMap;
use std::fs;
use std::io;

use super::Pass;
use super::area::current_meta;
use super::policy::{Decision, decide};
use super::report::{Candidate, GcReport, Kept, SweepError};
use crate::blob::BlobMeta;
use crate::codec;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::hooks::{self, points};
use crate::schema::meta_key;

pub(crate) struct Outcome {
    pub report: GcReport,
    /// Nothing left that a later pass must look at before `next_due_epoch`.
    pub settled: bool,
    pub next_due_epoch: u64,
    pub blobs_left: u64,
    pub bytes_left: u64,
    /// Known live blobs (with a decodable record) and their stored bytes.
    pub live_blobs: u64,
    pub live_bytes: u64,
}

/// Decides for every blob of `known`, records condemnations, and deletes what is due.
pub(super) fn run(
    pass: &Pass<'_>,
    known: &BTreeMap<SnapshotHash, Result<BlobMeta, String>>,
    mut report: GcReport,
    mut settled: bool,
) -> Result<Outcome> {
    let store = pass.store;
    let inner = &store.inner;
    let live = pass.live;
    let options = pass.options;
    let (epoch, grace) = (pass.epoch, pass.grace);
    let mut next_due = u64::MAX;
    let mut due: Vec<(SnapshotHash, BlobMeta, u64)> = Vec::new();
    let mut condemn: Vec<(SnapshotHash, BlobMeta)> = Vec::new();
    let mut blobs_left = 0u64;
    let mut bytes_left = 0u64;
    let (mut live_blobs, mut live_bytes) = (0u64, 0u64);
    {
        let locked = inner.sweep.lock();
        for (hash, meta) in known {
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
                    live_blobs += 1;
                    live_bytes += meta.stored_bytes;
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
        return Ok(Outcome {
            report,
            settled: false,
            next_due_epoch: next_due,
            blobs_left,
            bytes_left,
            live_blobs,
            live_bytes,
        });
    }

    // Condemnations may be written lazily: losing them in a crash only delays a sweep.
    hooks::hit(pass.store.inner.durability.scope(), points::GC_BEFORE_CONDEMN)
        .map_err(|e| Error::io("gc", e))?;
    // Under the sweep lock, and only where no save renewed the blob since it was read: a save
    // from another thread must never be overwritten by the stale record.
    if !condemn.is_empty() {
        let _locked = inner.sweep.lock();
        let db = inner.kv.db();
        let mut batch = sled::Batch::default();
        for (hash, meta) in &condemn {
            if _locked.saved_since(hash, pass.save_generation) {
                continue;
            }
            let current = current_meta(store, hash)?;
            if current.is_some_and(|c| c.saved_epoch == meta.saved_epoch) {
                batch.insert(meta_key(hash), codec::encode(meta)?);
            }
        }
        db.apply_batch(batch)?;
    }
    hooks::hit(pass.store.inner.durability.scope(), points::GC_AFTER_CONDEMN)
        .map_err(|e| Error::io("gc", e))?;

    let budget = options.budget.unwrap_or(u64::MAX);
    let total = due.len() as u64;
    let archive = if due.is_empty() { None } else { store.archive_config() };
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
        // History first: with an archive configured, a blob a root once named is archived
        // (durably) before it is unlinked, or kept. Without one, not even a lookup.
        if let Some(archive) = &archive
            && let Err(error) = archive_first(pass, archive, &hash)
        {
            settled = false;
            report.archive_errors += 1;
            report.errors.push(SweepError { item: hash.to_hex(), error });
            blobs_left += 1;
            bytes_left += stored;
            continue;
        }
        match sweep_one(pass, &hash, &decided)? {
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
    Ok(Outcome { report, settled, next_due_epoch: next_due, blobs_left, bytes_left, live_blobs, live_bytes })
}

/// Archives `hash` if a committed root once named it and the archive does not hold it yet:
/// under a lease (so nothing deletes it meanwhile), outside the sweep lock (archiving may be
/// slow or remote). `Err` keeps the blob: unarchived history is never deleted.
fn archive_first(
    pass: &Pass<'_>,
    config: &crate::archive::ArchiveConfig,
    hash: &SnapshotHash,
) -> std::result::Result<(), String> {
    let store = pass.store;
    let named = match store.named_by(hash) {
        Ok(Some(named)) => named,
        // Never named by a committed root (an aborted block's garbage): not history.
        Ok(None) => return Ok(()),
        Err(e) => return Err(format!("reading which root named it: {e}; kept (not archived)")),
    };
    let Some(archiver) = store.archiver() else {
        return Err(format!(
            "the store's archive {} is not attached (it could not be opened?): kept, not archived",
            config.location
        ));
    };
    match archiver.is_archived(hash) {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(e) => return Err(format!("asking the archive {}: {e}; kept", config.location)),
    }
    let _lease = store.lease(*hash);
    let mut reader = match store.load(hash) {
        Ok(reader) => reader,
        Err(e) if e.is_not_found() => {
            // Already unlinked (by a pass a crash interrupted after its archive step): the
            // record that is left goes; there are no bytes left to archive.
            tracing::warn!("snapshot {hash} is due, named by {} but already gone", named.key);
            return Ok(());
        }
        Err(e) => return Err(format!("reading it for the archive: {e}; kept")),
    };
    archiver
        .archive(hash, &named, pass.epoch, &mut reader)
        .map_err(|e| format!("archiving it to {}: {e}; kept", config.location))?;
    hooks::hit(store.inner.durability.scope(), points::SWEEP_AFTER_ARCHIVE)
        .map_err(|e| format!("after archiving: {e}"))?;
    Ok(())
}

enum SweepOutcome {
    Deleted,
    Leased,
    Resaved,
    Failed(String),
}

/// Deletes one blob, re-checking under the sweep lock that it is still not leased and not
/// re-saved since the decision.
fn sweep_one(pass: &Pass<'_>, hash: &SnapshotHash, decided: &BlobMeta) -> Result<SweepOutcome> {
    hooks::hit(pass.store.inner.durability.scope(), points::SWEEP_BEFORE_UNLINK)
        .map_err(|e| Error::io("gc", e))?;
    let store = pass.store;
    let inner = &store.inner;
    let locked = inner.sweep.lock();
    if locked.is_leased(hash) {
        return Ok(SweepOutcome::Leased);
    }
    if locked.saved_since(hash, pass.save_generation) {
        return Ok(SweepOutcome::Resaved);
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
    hooks::hit(pass.store.inner.durability.scope(), points::SWEEP_AFTER_UNLINK)
        .map_err(|e| Error::io(&path, e))?;
    // Still under the lock, so a save of the same bytes cannot slip its record in between.
    // The file is gone; if its record cannot be removed now, a later pass meets ENOENT and
    // removes it then.
    let mut batch = sled::Batch::default();
    batch.remove(meta_key(hash));
    batch.remove(crate::roots::history::named_key(hash));
    if let Err(e) = inner.kv.db().apply_batch(batch) {
        tracing::warn!("blob {hash} deleted but its metadata could not be removed: {e}");
    }
    drop(locked);
    Ok(SweepOutcome::Deleted)
}
