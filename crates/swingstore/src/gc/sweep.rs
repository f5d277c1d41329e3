//! Sweep, in three steps with one tally of what stays: decide for every known blob
//! (`decide_all`), record the condemnations (`record`), delete what is due (`delete`).
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
use crate::failpoint::{self, points};
use crate::hash::SnapshotHash;
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

/// What a pass leaves on disk and what of it is live: every blob is counted once, where its
/// fate is settled (kept at the decision, or kept by the deletion step).
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    blobs_left: u64,
    bytes_left: u64,
    live_blobs: u64,
    live_bytes: u64,
}

impl Tally {
    /// A blob that stays: kept by its decision, deferred by the budget, or not deleted after all.
    fn stays(&mut self, stored_bytes: u64) {
        self.blobs_left += 1;
        self.bytes_left += stored_bytes;
    }

    /// A blob that stays and whose record cannot be read (its size is unknown).
    fn stays_unread(&mut self) {
        self.blobs_left += 1;
    }

    /// A live blob (it also stays).
    fn live(&mut self, stored_bytes: u64) {
        self.live_blobs += 1;
        self.live_bytes += stored_bytes;
        self.stays(stored_bytes);
    }

    fn outcome(self, report: GcReport, settled: bool, next_due_epoch: u64) -> Outcome {
        Outcome {
            report,
            settled,
            next_due_epoch,
            blobs_left: self.blobs_left,
            bytes_left: self.bytes_left,
            live_blobs: self.live_blobs,
            live_bytes: self.live_bytes,
        }
    }
}

/// The decisions of one pass.
struct Decided {
    /// Blobs to delete, in hash order, with the record they were decided on.
    due: Vec<(SnapshotHash, BlobMeta)>,
    /// Records whose condemnation changes (set, moved, or cleared for a live blob).
    condemn: Vec<(SnapshotHash, BlobMeta)>,
    /// The first epoch at which a kept blob falls due (`u64::MAX`: none).
    next_due: u64,
}

/// Decides for every blob of `known` (decide), records the condemnations (record), and deletes
/// what is due (delete).
pub(super) fn run(
    pass: &Pass<'_>,
    known: &BTreeMap<SnapshotHash, Result<BlobMeta, String>>,
    mut report: GcReport,
    settled: bool,
) -> Result<Outcome> {
    let mut tally = Tally::default();
    let (decided, settled) = decide_all(pass, known, &mut report, &mut tally, settled);
    if pass.options.dry_run {
        let report = dry_run_report(pass, &decided, report);
        return Ok(tally.outcome(report, false, decided.next_due));
    }
    record(pass, &decided.condemn)?;
    let swept_all = delete(pass, decided.due, &mut report, &mut tally)?;
    Ok(tally.outcome(report, settled && swept_all, decided.next_due))
}

/// Decide: one [`decide`] per known blob, under the sweep lock (a consistent view of the
/// leases). Fills the dry-run lists of `report`; returns the decisions and whether the pass is
/// still settled (a leased blob unsettles it).
fn decide_all(
    pass: &Pass<'_>,
    known: &BTreeMap<SnapshotHash, Result<BlobMeta, String>>,
    report: &mut GcReport,
    tally: &mut Tally,
    mut settled: bool,
) -> (Decided, bool) {
    let (live, options) = (pass.live, pass.options);
    let (epoch, grace) = (pass.epoch, pass.grace);
    let mut decided = Decided { due: Vec::new(), condemn: Vec::new(), next_due: u64::MAX };
    let locked = pass.store.inner.sweep.lock();
    for (hash, meta) in known {
        let meta = match meta {
            Ok(m) => *m,
            Err(reason) => {
                // Never deleted on a record we cannot read; reported by every full pass.
                tally.stays_unread();
                if !live.contains(hash) {
                    report.errors.push(SweepError { item: hash.to_hex(), error: reason.clone() });
                }
                continue;
            }
        };
        let condemn_at = |condemned: Option<u64>| BlobMeta { condemned_epoch: condemned, ..meta };
        let hex = hash.to_hex();
        match decide(&meta, live.contains(hash), locked.is_leased(hash), epoch, grace, options.now) {
            Decision::Live => {
                tally.live(meta.stored_bytes);
                if meta.condemned_epoch.is_some() {
                    decided.condemn.push((*hash, condemn_at(None)));
                }
                if options.dry_run {
                    let key = live.first_root(hash).unwrap_or_default();
                    report.kept.push(Kept { hash: hex, reason: format!("root {key}") });
                }
            }
            Decision::Leased { condemned } => {
                tally.stays(meta.stored_bytes);
                report.kept_leased += 1;
                settled = false;
                if !options.now && meta.condemned_epoch != Some(condemned) {
                    decided.condemn.push((*hash, condemn_at(Some(condemned))));
                }
                if options.dry_run {
                    report.kept.push(Kept { hash: hex, reason: "leased".into() });
                }
            }
            Decision::Young { until } => {
                tally.stays(meta.stored_bytes);
                report.kept_young += 1;
                decided.next_due = decided.next_due.min(until);
                if options.dry_run {
                    report.kept.push(Kept { hash: hex, reason: format!("young until epoch {until}") });
                }
            }
            Decision::Grace { condemned, until } => {
                tally.stays(meta.stored_bytes);
                report.kept_grace += 1;
                decided.next_due = decided.next_due.min(until);
                if meta.condemned_epoch != Some(condemned) {
                    decided.condemn.push((*hash, condemn_at(Some(condemned))));
                }
                if options.dry_run {
                    report.kept.push(Kept { hash: hex, reason: format!("grace ends at epoch {until}") });
                }
            }
            Decision::Sweep { condemned } => {
                if options.dry_run {
                    let reason = if options.now {
                        "unreferenced (offline pass)".to_owned()
                    } else {
                        format!("unreferenced since epoch {condemned}, grace {grace} ended")
                    };
                    report.candidates.push(Candidate { hash: hex, stored_bytes: meta.stored_bytes, reason });
                }
                // Recorded even though it is about to go: the budget (or a failed unlink)
                // may leave it for a later pass, whose grace arithmetic starts here.
                if !options.now && meta.condemned_epoch != Some(condemned) {
                    decided.condemn.push((*hash, condemn_at(Some(condemned))));
                }
                decided.due.push((*hash, meta));
            }
        }
    }
    (decided, settled)
}

/// A dry run's report: the same budget as a real pass, so what it would leave is pending, not
/// a candidate.
fn dry_run_report(pass: &Pass<'_>, decided: &Decided, mut report: GcReport) -> GcReport {
    let budget = usize::try_from(pass.options.budget.unwrap_or(u64::MAX)).unwrap_or(usize::MAX);
    let deferred = decided.due.len().saturating_sub(budget);
    report.candidates.truncate(report.candidates.len().saturating_sub(deferred));
    report.pending = deferred as u64;
    report.swept = report.candidates.len() as u64;
    report.swept_bytes = report.candidates.iter().map(|c| c.stored_bytes).sum();
    report
}

/// Record: writes the changed condemnations in one batch, lazily (losing them in a crash only
/// delays a sweep), under the sweep lock and only where no save renewed the blob since it was
/// read: a save from another thread must never be overwritten by the stale record.
fn record(pass: &Pass<'_>, condemn: &[(SnapshotHash, BlobMeta)]) -> Result<()> {
    let store = pass.store;
    let inner = &store.inner;
    failpoint::hit(inner.durability.scope(), points::GC_BEFORE_CONDEMN)
        .map_err(|e| Error::io(inner.durability.scope(), e))?;
    if !condemn.is_empty() {
        let locked = inner.sweep.lock();
        let mut batch = sled::Batch::default();
        for (hash, meta) in condemn {
            if locked.saved_since(hash, pass.save_generation) {
                continue;
            }
            let current = current_meta(store, hash)?;
            if current.is_some_and(|c| c.saved_epoch == meta.saved_epoch) {
                batch.insert(meta_key(hash), codec::encode(meta)?);
            }
        }
        inner.kv.db().apply_batch(batch)?;
    }
    failpoint::hit(inner.durability.scope(), points::GC_AFTER_CONDEMN)
        .map_err(|e| Error::io(inner.durability.scope(), e))
}

/// Delete: every due blob in turn, within the budget; with an archive configured, history is
/// archived first. Returns whether every due blob went (the pass stays settled).
///
/// No directory fsync after the unlinks: a lost unlink only leaves a file whose metadata may be
/// gone, an orphan that the listing after an unclean shutdown adopts and ages out again.
fn delete(
    pass: &Pass<'_>,
    due: Vec<(SnapshotHash, BlobMeta)>,
    report: &mut GcReport,
    tally: &mut Tally,
) -> Result<bool> {
    let options = pass.options;
    let budget = options.budget.unwrap_or(u64::MAX);
    let total = due.len() as u64;
    let archive = if due.is_empty() { None } else { pass.store.archive_config() };
    let mut all_gone = true;
    for (done, (hash, decided)) in due.into_iter().enumerate() {
        if let Some(progress) = &options.progress {
            progress(done as u64, total);
        }
        let outcome = if report.swept >= budget {
            SweepOutcome::Deferred
        } else if let Some(archive) = &archive
            && let Err(error) = archive_first(pass, archive, &hash)
        {
            // History first: a blob a root once named is archived (durably) before it is
            // unlinked, or kept. Without an archive, not even a lookup.
            report.archive_errors += 1;
            SweepOutcome::Failed(error)
        } else {
            sweep_one(pass, &hash, &decided)?
        };
        match outcome {
            SweepOutcome::Deleted => {
                report.swept += 1;
                report.swept_bytes += decided.stored_bytes;
                continue;
            }
            SweepOutcome::Deferred => report.pending += 1,
            SweepOutcome::Leased => report.kept_leased += 1,
            SweepOutcome::Resaved => report.kept_young += 1,
            SweepOutcome::Failed(error) => report.errors.push(SweepError { item: hash.to_hex(), error }),
        }
        all_gone = false;
        tally.stays(decided.stored_bytes);
    }
    if let Some(progress) = &options.progress {
        progress(total, total);
    }
    Ok(all_gone)
}

/// Archives `hash` if a committed root once named it and the archive does not hold it yet:
/// under a lease (so nothing deletes it meanwhile), outside the sweep lock (archiving may be
/// slow or remote). `Err` keeps the blob: unarchived history is never deleted.
fn archive_first(
    pass: &Pass<'_>,
    config: &crate::archiver::ArchiveConfig,
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
    failpoint::hit(store.inner.durability.scope(), points::SWEEP_AFTER_ARCHIVE)
        .map_err(|e| format!("after archiving: {e}"))?;
    Ok(())
}

/// What became of one due blob.
enum SweepOutcome {
    Deleted,
    /// Left for a later pass by the budget.
    Deferred,
    /// Leased between the decision and the unlink.
    Leased,
    /// Saved again between the decision and the unlink.
    Resaved,
    /// Not deleted (archive step or unlink failed): reported, kept.
    Failed(String),
}

/// Deletes one blob, re-checking under the sweep lock that it is still not leased and not
/// re-saved since the decision.
fn sweep_one(pass: &Pass<'_>, hash: &SnapshotHash, decided: &BlobMeta) -> Result<SweepOutcome> {
    failpoint::hit(pass.store.inner.durability.scope(), points::SWEEP_BEFORE_UNLINK)
        .map_err(|e| Error::io(pass.store.inner.durability.scope(), e))?;
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
    failpoint::hit(pass.store.inner.durability.scope(), points::SWEEP_AFTER_UNLINK)
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
