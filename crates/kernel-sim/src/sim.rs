//! The kernel: runs a workload block by block against a [`SwingStore`], the way the SwingSet
//! kernel drives swing-store: deliveries (saving snapshots on schedule), `commit()`, then
//! `gc()`, with vats paged in on worker threads and optional state-sync exports.
//!
//! Threads never cost determinism: a vat whose page-in is issued in block `b` runs its queued
//! deliveries at the start of block `b + 1` (waiting for its load if needed), whatever the
//! threads' timing; eviction is LRU in the logical order of deliveries. So the snapshots saved
//! (and, with no reader in flight at the end, the blob set left) depend on the seed only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use swingstore::{GcConfig, SnapshotHash, SwingStore};
use swingstore::{format_root_value, parse_root_value};

use crate::error::{Result, SimError};
use crate::exporter::Export;
use crate::heap::{self, HeapSource};
use crate::pager::PageIn;
use crate::stats::percentile;
use crate::vat::{Origin, Residency, Vat, VatSpec, key_prefix, pick_source, root_key};
use crate::workload::{Event, Ids, NewOrigin, Workload, WorkloadKind};

/// The root pattern of zygote snapshots (configured next to the default `v*.lastSnapshot`).
pub const ZYGOTE_ROOT_PATTERN: &str = "zygote.*.snapshot";

/// `zygote.<name>.snapshot`.
pub fn zygote_key(name: &str) -> String {
    format!("zygote.{name}.snapshot")
}

/// The delivery key shared by every clone of a zygote (ids of vats are small numbers; this is
/// far above them).
fn lineage_key(zygote: &str) -> u64 {
    zygote.bytes().fold(0x7a79_676f_7465_0000u64, |acc, b| acc.rotate_left(8) ^ u64::from(b)) | (1 << 63)
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub workload: WorkloadKind,
    /// Blocks to run (default: the workload's).
    pub blocks: Option<u64>,
    pub seed: u64,
    /// Overrides the workload's vat count (per part for `mixed`).
    pub vats: Option<u64>,
    pub snapshot_interval: u64,
    pub snapshot_initial: u64,
    pub max_vats_online: usize,
    /// Each page-in and each exported snapshot read waits this long first.
    pub page_in_delay: Duration,
    /// Start an export every this many blocks (0: never).
    pub export_every: u64,
    /// Default grace persisted in the store (default: keep the store's).
    pub grace: Option<u64>,
    /// Collect after every commit.
    pub gc: bool,
    /// `vN.vs.*` keys per vat.
    pub vatstore_keys: u64,
    /// Restart the kernel (all workers offline) every this many blocks (default: the
    /// workload's; 0: never).
    pub restart_every: Option<u64>,
    /// Cap on each vat's base heap (a slice of the source heap); `None`: the whole heap.
    pub heap_limit: Option<usize>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            workload: WorkloadKind::Testnet,
            blocks: None,
            seed: 1,
            vats: None,
            snapshot_interval: 200,
            snapshot_initial: 3,
            max_vats_online: 50,
            page_in_delay: Duration::ZERO,
            export_every: 100,
            grace: None,
            gc: true,
            vatstore_keys: 0,
            restart_every: None,
            heap_limit: None,
        }
    }
}

impl SimConfig {
    pub fn blocks(&self) -> u64 {
        self.blocks.unwrap_or_else(|| self.workload.default_blocks())
    }

    pub fn restart_every(&self) -> u64 {
        self.restart_every.unwrap_or_else(|| self.workload.default_restart_every())
    }
}

/// The store after one block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlockStat {
    pub block: u64,
    /// Blob files and their bytes on disk after the block's collection.
    pub blobs: u64,
    pub stored_bytes: u64,
    /// Distinct snapshots named by roots, and their bytes.
    pub live: u64,
    pub live_bytes: u64,
    /// Wall time of the block's `gc()` call (0 without gc).
    pub gc_us: u64,
}

/// What a run did, and the store it left.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub workload: String,
    pub gc: bool,
    pub seed: u64,
    pub grace: u64,
    pub blocks: u64,
    pub epoch: u64,
    pub heap_source: String,
    pub vats_created: u64,
    pub vats_live: u64,
    pub vats_terminated: u64,
    pub deliveries: u64,
    pub snapshots_saved: u64,
    pub snapshots_deduplicated: u64,
    pub saved_raw_bytes: u64,
    pub page_ins: u64,
    pub restarts: u64,
    pub roots: u64,
    pub blobs: u64,
    pub live: u64,
    pub stored_bytes: u64,
    pub raw_bytes: u64,
    pub live_stored_bytes: u64,
    pub peak_stored_bytes: u64,
    pub peak_blobs: u64,
    pub swept: u64,
    pub swept_bytes: u64,
    pub kept_leased: u64,
    pub gc_passes: u64,
    pub gc_errors: u64,
    pub gc_p50_us: u64,
    pub gc_p99_us: u64,
    pub gc_max_us: u64,
    pub gc_total_us: u64,
    pub exports: u64,
    pub exported_snapshots: u64,
    pub exported_raw_bytes: u64,
    pub wall_ms: u64,
}

/// A run's summary, its per-block series and the final blob set.
#[derive(Debug, Clone, Default)]
pub struct SimResult {
    pub summary: Summary,
    pub series: Vec<BlockStat>,
    /// Hashes of every blob left in the store, sorted.
    pub final_blobs: Vec<String>,
}

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
    if config.max_vats_online == 0 {
        return Err(SimError::Config("--max-vats-online must be at least 1".into()));
    }
    if config.snapshot_interval == 0 {
        return Err(SimError::Config("--snapshot-interval must be at least 1".into()));
    }
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
    store.set_config(GcConfig { ..gc_config })?;

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

    fn block(&mut self, block: u64) -> Result<()> {
        // The fixed point: vats paged in during the last block run their queued deliveries now.
        for load in std::mem::take(&mut self.orphan_loads) {
            load.finish()?;
        }
        for id in std::mem::take(&mut self.loading) {
            let Some(vat) = self.vats.get_mut(&id) else { continue };
            let Residency::Loading(load) = std::mem::replace(&mut vat.residency, Residency::Offline) else {
                continue;
            };
            vat.residency = Residency::Online(load.finish()?);
            self.online.insert(id);
            let queued = std::mem::take(&mut vat.queued);
            self.run_deliveries(id, queued)?;
        }
        let restart = self.config.restart_every();
        if restart > 0 && block.is_multiple_of(restart) {
            self.summary.restarts += 1;
            for id in std::mem::take(&mut self.online) {
                if let Some(vat) = self.vats.get_mut(&id) {
                    vat.residency = Residency::Offline;
                }
            }
        }

        for event in self.workload.plan(block, &mut self.ids, &self.vats) {
            match event {
                Event::CreateZygote { name } => self.create_zygote(&name)?,
                Event::DropZygote { name } => {
                    self.store.kv().delete(&zygote_key(&name));
                    self.zygotes.remove(&name);
                }
                Event::CreateVat(new) => self.create_vat(new)?,
                Event::Deliver { vat, count } => self.deliver(vat, count)?,
                Event::Terminate { vat } => self.terminate(vat)?,
            }
        }

        let epoch = self.store.commit()?;
        if self.config.export_every > 0 && block.is_multiple_of(self.config.export_every) {
            self.start_export(block)?;
        }
        let mut gc_us = 0;
        if self.config.gc {
            let t = Instant::now();
            let report = self.store.gc()?;
            gc_us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
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
        }
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
        Ok(())
    }

    /// Snapshots named by roots (after a commit: the committed roots).
    fn live_set(&self) -> BTreeSet<SnapshotHash> {
        self.vats.values().filter_map(|v| v.last_snapshot).chain(self.zygotes.values().copied()).collect()
    }

    fn spec(
        &self,
        id: u64,
        lineage: u64,
        profile: heap::Profile,
        origin: Origin,
        source: &HeapSource,
    ) -> VatSpec {
        VatSpec {
            id,
            lineage,
            source: Arc::clone(&source.bytes),
            profile,
            origin,
            seed: self.config.seed,
            heap_limit: self.config.heap_limit,
        }
    }

    fn create_zygote(&mut self, name: &str) -> Result<()> {
        let source = &self.sources[0];
        let bytes = heap::limited(&source.bytes, self.config.heap_limit);
        let info = self.store.save_bytes(&bytes)?;
        self.record_save(&info);
        self.store.kv().set(&zygote_key(name), &format_root_value(&info.hash, 0));
        self.zygotes.insert(name.to_owned(), info.hash);
        Ok(())
    }

    fn create_vat(&mut self, new: crate::workload::NewVat) -> Result<()> {
        let kv = self.store.kv();
        let (origin, lineage, source) = match &new.origin {
            NewOrigin::Fresh { code_bytes } => {
                (Origin::Fresh { code_bytes: *code_bytes }, new.id, pick_source(self.sources, new.id))
            }
            NewOrigin::Clone { zygote } => {
                let hash = self.zygotes.get(zygote).copied().ok_or_else(|| {
                    SimError::Config(format!("clone v{} of zygote {zygote}, which is gone", new.id))
                })?;
                kv.set(&root_key(new.id), &format_root_value(&hash, 0));
                (Origin::Clone { zygote: hash }, lineage_key(zygote), &self.sources[0])
            }
        };
        let spec = self.spec(new.id, lineage, new.profile, origin, source);
        let id = new.id;
        let p = key_prefix(id);
        kv.set(
            &format!("{p}options"),
            &format!(r#"{{"name":"vat{id}","workerOptions":{{"type":"xsnap"}}}}"#),
        );
        kv.set(&format!("{p}t.endPos"), "0");
        for i in 0..self.config.vatstore_keys {
            kv.set(
                &format!("{p}vs.vc.{i}"),
                &format!(r##"{{"body":"#{{\"slot\":{i}}}","slots":["o+{i}"]}}"##),
            );
        }
        let mut vat = Vat::new(spec, new.terminate_after);
        if let Some(base) = vat.spec.base() {
            self.make_room(1);
            self.tick += 1;
            vat.last_used = self.tick;
            vat.residency = Residency::Online(base);
            self.online.insert(id);
        }
        self.vats.insert(id, vat);
        self.summary.vats_created += 1;
        Ok(())
    }

    /// Evicts least recently used online vats until `incoming` more fit.
    fn make_room(&mut self, incoming: usize) {
        let mut resident = self.online.len() + self.loading.len();
        if resident + incoming <= self.config.max_vats_online {
            return;
        }
        let mut lru: Vec<(u64, u64)> =
            self.online.iter().filter_map(|id| self.vats.get(id)).map(|v| (v.last_used, v.id())).collect();
        lru.sort_unstable();
        let mut victims = lru.into_iter();
        while resident + incoming > self.config.max_vats_online {
            let Some((_, id)) = victims.next() else { break };
            if let Some(vat) = self.vats.get_mut(&id) {
                vat.residency = Residency::Offline;
            }
            self.online.remove(&id);
            resident -= 1;
        }
    }

    fn deliver(&mut self, id: u64, count: u64) -> Result<()> {
        let Some(vat) = self.vats.get_mut(&id) else { return Ok(()) };
        match vat.residency {
            Residency::Online(_) => self.run_deliveries(id, count),
            Residency::Loading(_) => {
                vat.queued += count;
                Ok(())
            }
            Residency::Offline => {
                match vat.last_snapshot {
                    None => {
                        // Never snapshotted: the worker starts from scratch and replays.
                        let mut heap = vat.spec.base().ok_or_else(|| SimError::PageIn {
                            vat: id,
                            hash: "-".into(),
                            reason: "a clone without a snapshot".into(),
                        })?;
                        vat.spec.replay(&mut heap, 1, vat.deliveries);
                        self.make_room(1);
                        if let Some(vat) = self.vats.get_mut(&id) {
                            vat.residency = Residency::Online(heap);
                            self.online.insert(id);
                        }
                        self.run_deliveries(id, count)
                    }
                    Some(hash) => {
                        self.make_room(1);
                        let Some(vat) = self.vats.get_mut(&id) else { return Ok(()) };
                        let delay = self.config.page_in_delay;
                        let load =
                            PageIn::start(self.store, &vat.spec, hash, vat.snap_at, vat.deliveries, delay)?;
                        vat.residency = Residency::Loading(load);
                        vat.queued = count;
                        self.loading.insert(id);
                        self.summary.page_ins += 1;
                        Ok(())
                    }
                }
            }
        }
    }

    /// Runs `count` deliveries on an online vat, saving snapshots on schedule.
    fn run_deliveries(&mut self, id: u64, count: u64) -> Result<()> {
        let kv = self.store.kv();
        for _ in 0..count {
            let Some(vat) = self.vats.get_mut(&id) else { return Ok(()) };
            let Residency::Online(heap) = &mut vat.residency else { return Ok(()) };
            vat.deliveries += 1;
            vat.spec.deliver(heap, vat.deliveries);
            self.tick += 1;
            vat.last_used = self.tick;
            self.summary.deliveries += 1;
            kv.set(&format!("v{id}.t.endPos"), &vat.deliveries.to_string());
            if vat.terminate_after.is_some_and(|n| vat.deliveries >= n) {
                return self.terminate(id);
            }
            let due = vat.snapshot_due(self.config.snapshot_initial, self.config.snapshot_interval);
            let Residency::Online(heap) = &vat.residency else { return Ok(()) };
            if due {
                let info = self.store.save_bytes(heap)?;
                let from = vat.snap_at;
                vat.snap_at = vat.deliveries;
                vat.own_snapshots += 1;
                vat.last_snapshot = Some(info.hash);
                kv.set(&root_key(id), &format_root_value(&info.hash, vat.deliveries));
                kv.set(&format!("v{id}.t.startPos"), &vat.deliveries.to_string());
                kv.set(
                    &format!("v{id}.t.span.{}", vat.own_snapshots),
                    &format!(r#"{{"startPos":{from},"endPos":{},"incarnation":0}}"#, vat.deliveries),
                );
                self.record_save(&info);
            }
        }
        Ok(())
    }

    fn record_save(&mut self, info: &swingstore::SaveInfo) {
        self.summary.snapshots_saved += 1;
        self.summary.saved_raw_bytes += info.raw_bytes;
        if info.deduplicated {
            self.summary.snapshots_deduplicated += 1;
        } else {
            self.blobs += 1;
            self.stored_bytes += info.stored_bytes;
        }
        self.sizes.insert(info.hash, info.stored_bytes);
    }

    /// Deletes every key of the vat (its root included): its blob becomes garbage.
    fn terminate(&mut self, id: u64) -> Result<()> {
        let Some(vat) = self.vats.remove(&id) else { return Ok(()) };
        if let Residency::Loading(load) = vat.residency {
            self.orphan_loads.push(load);
        }
        self.loading.remove(&id);
        self.online.remove(&id);
        let kv = self.store.kv();
        for (key, _) in kv.scan_prefix(&key_prefix(id))? {
            kv.delete(&key);
        }
        self.summary.vats_terminated += 1;
        Ok(())
    }

    /// Leases every snapshot the committed roots name, then reads them on a thread.
    fn start_export(&mut self, block: u64) -> Result<()> {
        let kv = self.store.kv();
        let mut hashes = BTreeSet::new();
        let keys = self.vats.keys().map(|&id| root_key(id)).chain(self.zygotes.keys().map(|n| zygote_key(n)));
        for key in keys {
            if let Some(value) = kv.get_committed(&key)? {
                hashes.insert(parse_root_value(&key, value.as_bytes())?);
            }
        }
        let export =
            Export::start(self.store, block, hashes.into_iter().collect(), self.config.page_in_delay)?;
        self.summary.exports += 1;
        self.summary.exported_snapshots += export.snapshots;
        self.exports.push(export);
        Ok(())
    }

    /// Waits for every thread still running (page-ins, exports); the first error wins.
    fn drain(&mut self) -> Result<()> {
        let mut first: Result<()> = Ok(());
        let mut keep = |r: Result<()>| {
            if first.is_ok() {
                first = r;
            }
        };
        for load in std::mem::take(&mut self.orphan_loads) {
            keep(load.finish().map(drop));
        }
        for id in std::mem::take(&mut self.loading) {
            if let Some(vat) = self.vats.get_mut(&id)
                && let Residency::Loading(load) = std::mem::replace(&mut vat.residency, Residency::Offline)
            {
                keep(load.finish().map(drop));
            }
        }
        for export in std::mem::take(&mut self.exports) {
            match export.finish() {
                Ok(bytes) => self.summary.exported_raw_bytes += bytes,
                Err(e) => keep(Err(e)),
            }
        }
        first
    }

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
        })
    }
}
