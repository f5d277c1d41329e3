//! The kernel: [`run`] drives a workload block by block against a [`SwingStore`], the way the
//! SwingSet kernel drives swing-store: deliveries (saving snapshots on schedule), `commit()`,
//! then `gc()`, with vats paged in on worker threads and optional state-sync exports.
//!
//! This file owns the block loop (the [`Kernel`]'s state, one block's steps, the collection
//! and the exports, the statistics). The rest of the simulation:
//! - [`config`]: the settings of a run and their defaults;
//! - [`results`]: what a run reports;
//! - [`lifecycle`]: vats being created, cloned, delivered to, paged in and out, terminated.
//!
//! Threads never cost determinism: a vat whose page-in is issued in block `b` runs its queued
//! deliveries at the start of block `b + 1` (waiting for its load if needed), whatever the
//! threads' timing; eviction is LRU in the logical order of deliveries. So the snapshots saved
//! (and, with no reader in flight at the end, the blob set left) depend on the seed only.

mod config;
mod lifecycle;
mod results;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use swingstore::{SnapshotHash, SwingStore};

pub use self::config::SimConfig;
pub use self::results::{BlockStat, SimResult, Summary};
use crate::error::{Result, SimError};
use crate::exporter::Export;
use crate::heap::HeapSource;
use crate::keys::ZYGOTE_ROOT_PATTERN;
use crate::pager::PageIn;
use crate::stats::percentile;
use crate::vat::Vat;
use crate::workload::{Event, Ids, Workload};

/// Progress callback: `(block, blocks)`.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// Runs `config` against an open, fresh `store`, starting vats from `sources`.
pub fn run(
    config: &SimConfig,
    store: &SwingStore,
    sources: &[HeapSource],
    progress: Progress,
) -> Result<SimResult> {
    if sources.is_empty() {
        return Err(SimError::Heaps("no heap source".into()));
    }
    config.validate()?;
    if store.epoch() != 0 || !store.kv().scan_prefix("v")?.is_empty() {
        return Err(SimError::Config(format!(
            "the store at {} is not empty (epoch {}): kernel-sim needs a fresh store",
            store.path().display(),
            store.epoch()
        )));
    }
    let mut gc_config = store.config();
    for pattern in [swingstore::DEFAULT_ROOT_PATTERN, ZYGOTE_ROOT_PATTERN] {
        if !gc_config.root_patterns.iter().any(|p| p == pattern) {
            gc_config.root_patterns.push(pattern.to_owned());
        }
    }
    if let Some(grace) = config.grace {
        gc_config.grace = grace;
    }
    store.set_config(gc_config)?;

    let started = Instant::now();
    let mut kernel = Kernel::new(config, store, sources);
    let blocks = config.blocks();
    let outcome = (|| -> Result<()> {
        for block in 1..=blocks {
            kernel.block(block)?;
            progress(block, blocks);
        }
        Ok(())
    })();
    // Whatever happened, wait for every thread (they hold leases and store handles).
    let drained = kernel.drain();
    outcome?;
    drained?;
    kernel.finish(started)
}

/// The kernel's state between blocks.
struct Kernel<'a> {
    config: &'a SimConfig,
    store: &'a SwingStore,
    sources: &'a [HeapSource],
    workload: Workload,
    ids: Ids,
    vats: BTreeMap<u64, Vat>,
    /// Zygotes still rooted under `zygote.<name>.snapshot`.
    zygotes: BTreeMap<String, SnapshotHash>,
    /// Stored size of every blob ever saved (content-addressed: it never changes).
    sizes: HashMap<SnapshotHash, u64>,
    /// Vats whose page-in was issued (their deliveries run at the next block's start).
    loading: BTreeSet<u64>,
    /// Vats whose worker holds a heap.
    online: BTreeSet<u64>,
    /// Loads of vats terminated while loading: joined at the next block's start.
    orphan_loads: Vec<PageIn>,
    exports: Vec<Export>,
    /// Logical time: one tick per delivery (and per vat started online), for the LRU.
    tick: u64,
    /// Blob files and bytes on disk, kept up to date from saves and sweeps.
    blobs: u64,
    stored_bytes: u64,
    summary: Summary,
    gc_us: Vec<u64>,
    series: Vec<BlockStat>,
}

impl<'a> Kernel<'a> {
    fn new(config: &'a SimConfig, store: &'a SwingStore, sources: &'a [HeapSource]) -> Self {
        let summary = Summary {
            workload: config.workload.name().to_owned(),
            gc: config.gc,
            seed: config.seed,
            grace: store.config().grace,
            heap_source: sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            ..Summary::default()
        };
        Self {
            config,
            store,
            sources,
            workload: Workload::new(config.workload, config.vats, config.seed),
            ids: Ids::default(),
            vats: BTreeMap::new(),
            zygotes: BTreeMap::new(),
            sizes: HashMap::new(),
            loading: BTreeSet::new(),
            online: BTreeSet::new(),
            orphan_loads: Vec::new(),
            exports: Vec::new(),
            tick: 0,
            blobs: 0,
            stored_bytes: 0,
            summary,
            gc_us: Vec::new(),
            series: Vec::new(),
        }
    }

    /// One block: last block's page-ins, a restart if due, the workload's events, `commit()`,
    /// an export if due, `gc()`, then the block's statistics.
    fn block(&mut self, block: u64) -> Result<()> {
        // The fixed point: vats paged in during the last block run their queued deliveries now.
        self.finish_page_ins()?;
        let restart = self.config.restart_every();
        if restart > 0 && block.is_multiple_of(restart) {
            self.restart();
        }
        for event in self.workload.plan(block, &mut self.ids, &self.vats) {
            match event {
                Event::CreateZygote { name } => self.create_zygote(&name)?,
                Event::DropZygote { name } => self.drop_zygote(&name),
                Event::CreateVat(new) => self.create_vat(new)?,
                Event::Deliver { vat, count } => self.deliver(vat, count)?,
                Event::Terminate { vat } => self.terminate(vat)?,
            }
        }

        let epoch = self.store.commit()?;
        if self.config.export_every > 0 && block.is_multiple_of(self.config.export_every) {
            self.start_export(block)?;
        }
        let gc_us = if self.config.gc { self.collect(epoch)? } else { 0 };
        self.reap_exports()?;
        self.record_block(block, gc_us);
        Ok(())
    }

    /// One `gc()` after the commit of `epoch`; returns its wall time in µs.
    fn collect(&mut self, epoch: u64) -> Result<u64> {
        let t = Instant::now();
        let options = swingstore::GcOptions { budget: self.config.gc_budget, ..Default::default() };
        let report = self.store.gc_with(&options)?;
        if self.config.gc && self.store.status()?.backlog.falling_behind {
            self.summary.backlog_behind_blocks += 1;
        }
        let gc_us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.gc_us.push(gc_us);
        self.summary.gc_passes += 1;
        self.summary.swept += report.swept;
        self.summary.swept_bytes += report.swept_bytes;
        self.summary.kept_leased += report.kept_leased;
        self.blobs = self.blobs.saturating_sub(report.swept);
        self.stored_bytes = self.stored_bytes.saturating_sub(report.swept_bytes);
        for e in &report.errors {
            self.summary.gc_errors += 1;
            tracing::warn!("gc at epoch {epoch}: {}: {}", e.item, e.error);
        }
        Ok(gc_us)
    }

    /// Pins the committed state (leasing every snapshot its roots name), then reads the
    /// snapshots on a thread.
    fn start_export(&mut self, block: u64) -> Result<()> {
        let export = Export::start(self.store, block, self.config.page_in_delay)?;
        self.summary.exports += 1;
        self.summary.exported_snapshots += export.snapshots;
        self.exports.push(export);
        Ok(())
    }

    /// Joins the exporters that are done.
    fn reap_exports(&mut self) -> Result<()> {
        let mut finished = Vec::new();
        let mut i = 0;
        while i < self.exports.len() {
            if self.exports[i].is_finished() {
                finished.push(self.exports.swap_remove(i));
            } else {
                i += 1;
            }
        }
        for export in finished {
            self.summary.exported_raw_bytes += export.finish()?;
        }
        Ok(())
    }

    /// The store after the block: one point of the series, and the peaks.
    fn record_block(&mut self, block: u64, gc_us: u64) {
        let live = self.live_set();
        let live_bytes = live.iter().map(|h| self.sizes.get(h).copied().unwrap_or(0)).sum();
        self.summary.peak_blobs = self.summary.peak_blobs.max(self.blobs);
        self.summary.peak_stored_bytes = self.summary.peak_stored_bytes.max(self.stored_bytes);
        self.series.push(BlockStat {
            block,
            blobs: self.blobs,
            stored_bytes: self.stored_bytes,
            live: live.len() as u64,
            live_bytes,
            gc_us,
        });
        self.summary.blocks = block;
    }

    /// Snapshots named by roots (after a commit: the committed roots).
    fn live_set(&self) -> BTreeSet<SnapshotHash> {
        self.vats.values().filter_map(|v| v.last_snapshot).chain(self.zygotes.values().copied()).collect()
    }

    /// Waits for every thread still running (page-ins, exports); the first error wins.
    fn drain(&mut self) -> Result<()> {
        let mut first: Result<()> = Ok(());
        let mut keep = |r: Result<()>| {
            if first.is_ok() {
                first = r;
            }
        };
        for load in self.take_page_ins() {
            keep(load.finish().map(drop));
        }
        for export in std::mem::take(&mut self.exports) {
            match export.finish() {
                Ok(bytes) => self.summary.exported_raw_bytes += bytes,
                Err(e) => keep(Err(e)),
            }
        }
        first
    }

    /// The store's own figures at the end, and the run's totals.
    fn finish(mut self, started: Instant) -> Result<SimResult> {
        let stats = self.store.stats()?;
        let blobs = self.store.list_blobs()?;
        let s = &mut self.summary;
        s.epoch = stats.epoch;
        s.roots = stats.roots;
        s.blobs = stats.blobs;
        s.live = stats.live;
        s.stored_bytes = stats.stored_bytes;
        s.raw_bytes = stats.raw_bytes;
        s.live_stored_bytes =
            blobs.iter().filter(|b| b.state == swingstore::BlobState::Live).map(|b| b.stored_bytes).sum();
        s.vats_live = self.vats.len() as u64;
        s.gc_p50_us = percentile(&self.gc_us, 50.0);
        s.gc_p99_us = percentile(&self.gc_us, 99.0);
        s.gc_max_us = self.gc_us.iter().copied().max().unwrap_or(0);
        s.gc_total_us = self.gc_us.iter().sum();
        s.wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if s.gc {
            let backlog = self.store.status()?.backlog;
            s.backlog_pending = backlog.pending;
            s.backlog_growth_blobs = backlog.growth_blobs;
            s.backlog_window_epochs = backlog.window_epochs;
            s.backlog_falling_behind = backlog.falling_behind;
        }
        if stats.blobs != self.blobs || stats.stored_bytes != self.stored_bytes {
            tracing::warn!(
                "tracked {} blobs / {} bytes, the store has {} / {}",
                self.blobs,
                self.stored_bytes,
                stats.blobs,
                stats.stored_bytes
            );
        }
        Ok(SimResult {
            summary: self.summary,
            series: self.series,
            final_blobs: blobs.into_iter().map(|b| b.hash).collect(),
            blob_sizes: self.sizes,
        })
    }
}
