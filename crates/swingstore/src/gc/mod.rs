//! The collector: mark the committed roots, sweep every blob not in the live set once its
//! grace has run out. No refcounts; see docs/GC.md for the exact semantics.
//!
//! A pass holds the commit lock throughout (it sees one committed state) and the sweep lock
//! around each unlink (leases and saves always win the race).

pub(crate) mod area;
mod leftovers;
pub(crate) mod policy;
mod report;
pub(crate) mod state;
mod sweep;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub use report::{Candidate, GcReport, Kept, SweepError};

use crate::error::{Error, Result};
use crate::roots::live::{self, LiveSet};
use crate::store::SwingStore;
use state::GcState;

/// Progress callback: `(done, total)`.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Options of one collection.
#[derive(Clone, Default)]
pub struct GcOptions {
    /// Grace for this pass only (default: the one persisted in the store).
    pub grace: Option<u64>,
    /// At most this many blobs deleted by this pass; the rest is left for the next.
    pub budget: Option<u64>,
    /// Decide and report, change nothing.
    pub dry_run: bool,
    /// Offline pass: no reader can be in flight and no block is open, so every unreferenced
    /// blob, orphan, stray and temp file goes at once, ignoring protection and grace.
    pub now: bool,
    /// Always list the blob area (find orphans and temp files), even after a clean session.
    pub scan: bool,
    /// Called as blobs are swept.
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for GcOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcOptions")
            .field("grace", &self.grace)
            .field("budget", &self.budget)
            .field("dry_run", &self.dry_run)
            .field("now", &self.now)
            .field("scan", &self.scan)
            .finish()
    }
}

/// What the blob area holds after a full pass.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AreaTotals {
    pub blobs: u64,
    pub stored_bytes: u64,
    pub live_blobs: u64,
    pub live_bytes: u64,
    pub missing_live: u64,
}

/// One collection's fixed inputs.
pub(crate) struct Pass<'a> {
    pub store: &'a SwingStore,
    pub live: &'a LiveSet,
    /// The committed epoch the pass works at.
    pub epoch: u64,
    pub grace: u64,
    pub options: &'a GcOptions,
    /// The save generation when the pass started: it deletes, condemns, adopts or quarantines
    /// nothing that a save published after that.
    pub save_generation: u64,
}

pub(crate) fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl SwingStore {
    /// One collection with the store's persisted configuration (call it after `commit()`).
    pub fn gc(&self) -> Result<GcReport> {
        self.gc_with(&GcOptions::default())
    }

    /// What a collection would do, changing nothing: `candidates` and `kept` say why.
    pub fn gc_dry_run(&self, grace: Option<u64>) -> Result<GcReport> {
        self.gc_with(&GcOptions { grace, dry_run: true, ..GcOptions::default() })
    }

    /// One collection with explicit options.
    pub fn gc_with(&self, options: &GcOptions) -> Result<GcReport> {
        let result = self.run_pass(options);
        if !options.dry_run {
            self.inner.observe(&result);
        }
        result.map(|(report, _)| report)
    }

    /// A dry-run pass and what the blob area holds (for the status of a stopped store).
    pub(crate) fn run_dry_pass(&self, options: &GcOptions) -> Result<(GcReport, Option<AreaTotals>)> {
        self.run_pass(&GcOptions { dry_run: true, ..options.clone() })
    }

    /// A pass, and what the blob area holds after it (`None` when it was skipped).
    fn run_pass(&self, options: &GcOptions) -> Result<(GcReport, Option<AreaTotals>)> {
        let inner = &self.inner;
        let _gc = inner.gc_lock.lock().unwrap_or_else(|p| p.into_inner());
        let _commit = inner.kv.commit_guard();
        if !options.dry_run {
            // Every committed root is durable (commit() syncs before it returns, and a failed
            // sync poisons): a pass never acts on state a crash could roll back.
            self.check_writable()?;
            // It may unlink or quarantine in `snapshots/`: the clean close syncs the directory.
            inner.blob_dir_unlinked.store(true, Ordering::SeqCst);
        }
        if options.now && !options.dry_run {
            // The offline pass deletes young blobs too: only sound with no block being built.
            let saving = !inner.sweep.lock().active_temps.is_empty();
            if inner.kv.staged_len() > 0 || saving || inner.saved_in_block.load(Ordering::SeqCst) {
                return Err(Error::BlockOpen {
                    what: "an offline (now) pass".into(),
                    reason: "commit or abort the staged writes, and commit the snapshots saved since the \
                             last commit"
                        .into(),
                });
            }
        }
        let started = Instant::now();
        let epoch = inner.kv.committed_epoch();
        let grace = options.grace.unwrap_or_else(|| inner.kv.config().grace);
        let root_generation = inner.kv.root_generation();
        let save_generation = {
            // From here on, a save is news to this pass: it must not lose its blob to it.
            let mut locked = inner.sweep.lock();
            locked.last_save.clear();
            inner.save_generation.load(Ordering::SeqCst)
        };
        let scan = options.scan || options.now || inner.needs_scan.load(Ordering::SeqCst);

        if !options.dry_run
            && !scan
            && let Some(report) = self.try_skip(epoch, grace, root_generation, save_generation, started)?
        {
            return Ok((report, None));
        }

        // Root keys are only needed to explain decisions (dry run) and to name missing ones.
        let live = live::mark(&inner.kv, options.dry_run)?;
        let mark_us = micros(started);
        let sweep_started = Instant::now();
        let pass = Pass { store: self, live: &live, epoch, grace, options, save_generation };
        let mut report = GcReport::default();
        let mut known = area::known_blobs(self)?;
        let mut settled = true;
        // A missing live snapshot is reported by every full pass until fixed (it never settles).
        let missing_live = if scan {
            leftovers::remove_temp_leftovers(&pass, &mut report)?;
            let listing = area::list_blob_area(self)?;
            leftovers::handle_strays(&pass, &listing, &mut report);
            report.strays.sort();
            settled &= leftovers::handle_orphans(&pass, &listing, &mut known, &mut report)?;
            leftovers::check_live_present(&pass, Some(&listing), &mut report)
        } else {
            leftovers::check_live_present(&pass, None, &mut report)
        };
        settled &= missing_live == 0;
        let outcome = sweep::run(&pass, &known, report, settled)?;
        let mut report = outcome.report;
        report.epoch = epoch;
        report.grace = grace;
        report.roots = live.roots;
        report.live = live.live.len() as u64;
        report.dry_run = options.dry_run;
        report.mark_us = mark_us;

        if !options.dry_run {
            let db = inner.kv.db();
            if outcome.settled {
                let state = GcState {
                    root_generation,
                    save_generation,
                    grace,
                    next_due_epoch: outcome.next_due_epoch,
                    roots: report.roots,
                    live: report.live,
                    blobs: outcome.blobs_left,
                    stored_bytes: outcome.bytes_left,
                };
                state.store(db)?;
                if scan {
                    inner.needs_scan.store(false, Ordering::SeqCst);
                }
            } else {
                GcState::forget(db)?;
            }
        }
        report.sweep_us = micros(sweep_started);
        let totals = AreaTotals {
            blobs: outcome.blobs_left,
            stored_bytes: outcome.bytes_left,
            live_blobs: outcome.live_blobs,
            live_bytes: outcome.live_bytes,
            missing_live,
        };
        Ok((report, Some(totals)))
    }

    /// The O(1) path: nothing that could change a decision has changed since the last full
    /// pass (same roots, no save, same grace, no kept lease or leftover, no blob falling due).
    fn try_skip(
        &self,
        epoch: u64,
        grace: u64,
        root_generation: u64,
        save_generation: u64,
        started: Instant,
    ) -> Result<Option<GcReport>> {
        let Some(state) = GcState::load(self.inner.kv.db())? else { return Ok(None) };
        if !state.still_holds(epoch, grace, root_generation, save_generation) {
            return Ok(None);
        }
        Ok(Some(GcReport {
            epoch,
            roots: state.roots,
            live: state.live,
            grace,
            skipped: true,
            mark_us: micros(started),
            ..GcReport::default()
        }))
    }
}
