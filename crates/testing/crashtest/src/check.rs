//! What the parent checks after a crash, and how it brings the store to quiescence.

use std::collections::BTreeSet;
use std::fs;

use anyhow::{Context, Result, bail, ensure};
use swingstore::{GcOptions, SnapshotHash, SwingStore};

pub use crate::committed_roots;
use crate::journal::Expect;
use crate::{big_value_is_whole, heap, item_count, vat_of};

/// What the store was found in right after the crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterCrash {
    pub epoch: u64,
    /// The store had the in-flight commit (log epoch + 1), not the last logged one.
    pub at_pending: bool,
    pub roots: usize,
}

/// The invariant, checked before any collection runs: the store is at the last logged
/// committed state or at the in-flight one, and every root names a blob that loads, verifies
/// and holds the heap the workload meant (the root's itemCount is the heap version).
pub fn check_after_crash(store: &SwingStore, expect: &Expect) -> Result<AfterCrash> {
    let epoch = store.epoch();
    let roots = committed_roots(store)?;
    let at_pending = if epoch == expect.committed.epoch {
        ensure!(
            roots == expect.committed.roots,
            "epoch {epoch}: roots {roots:?} differ from the logged committed roots {:?}",
            expect.committed.roots
        );
        false
    } else if let Some(p) = &expect.pending
        && epoch == p.epoch
    {
        ensure!(
            roots == p.roots,
            "epoch {epoch}: roots {roots:?} differ from the in-flight roots {:?}",
            p.roots
        );
        true
    } else {
        bail!(
            "store epoch {epoch}, but the log says {} (in flight: {:?})",
            expect.committed.epoch,
            expect.pending.as_ref().map(|p| p.epoch)
        );
    };
    check_roots_load(store)?;
    check_values_read(store)?;
    Ok(AfterCrash { epoch, at_pending, roots: roots.len() })
}

/// Every committed kv value reads back (sled keeps large ones in files of their own), and the
/// workload's large values are whole.
pub fn check_values_read(store: &SwingStore) -> Result<()> {
    for (key, value) in store.kv().scan_prefix("").context("reading every kv value")? {
        if key.ends_with(".vs.big") {
            ensure!(big_value_is_whole(&value), "kv value {key} is not whole ({} bytes)", value.len());
        }
    }
    Ok(())
}

/// Every committed root loads and verifies; workload roots also hold the expected heap.
pub fn check_roots_load(store: &SwingStore) -> Result<()> {
    for (key, hex) in committed_roots(store)? {
        let hash = SnapshotHash::parse(&hex)?;
        let bytes = store
            .load_bytes(&hash)
            .with_context(|| format!("root {key} names {hex}, which does not load"))?;
        ensure!(SnapshotHash::of(&bytes) == hash, "root {key}: loaded bytes do not hash to {hex}");
        let value = store.kv().get_committed(&key)?.unwrap_or_default();
        if let (Some(vat), Some(version)) = (vat_of(&key), item_count(&value))
            && vat < 1000
        {
            ensure!(heap(vat, version) == bytes, "root {key}: content is not heap({vat}, {version})");
        }
    }
    Ok(())
}

/// How to bring a crashed store to quiescence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// One offline pass (`GcOptions { now: true }`).
    Now,
    /// The kernel's way: empty commits, each followed by `gc()` with the persisted grace,
    /// until nothing but live blobs is left (bounded).
    Grace,
}

/// What settling took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub passes: u64,
    pub swept: u64,
    pub temp_removed: u64,
    pub orphans_adopted: u64,
}

/// Most commits + gcs a grace settle may need: leftovers adopted at C+1, condemned after G
/// more epochs, swept after G more (G = 2 by default), plus slack.
const MAX_GRACE_PASSES: u64 = 16;

pub fn settle(store: &SwingStore, mode: Settle) -> Result<Settled> {
    let mut out = Settled::default();
    let add = |out: &mut Settled, r: &swingstore::GcReport| -> Result<()> {
        ensure!(r.errors.is_empty(), "gc reported errors: {:?}", r.errors);
        out.passes += 1;
        out.swept += r.swept;
        out.temp_removed += r.temp_removed;
        out.orphans_adopted += r.orphans_adopted;
        Ok(())
    };
    match mode {
        Settle::Now => {
            let r = store.gc_with(&GcOptions { now: true, ..GcOptions::default() })?;
            add(&mut out, &r)?;
        }
        Settle::Grace => {
            // The first pass after an unclean open lists the blob area (temp files, orphans).
            let r = store.gc()?;
            add(&mut out, &r)?;
            while !is_clean(store)? {
                ensure!(out.passes < MAX_GRACE_PASSES, "not quiescent after {} commits + gc", out.passes);
                store.commit()?;
                let r = store.gc()?;
                add(&mut out, &r)?;
            }
        }
    }
    Ok(out)
}

/// File names in `dir` (empty if it does not exist).
fn names(dir: &std::path::Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                out.insert(e?.file_name().to_string_lossy().into_owned());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    }
    Ok(out)
}

fn live_files(store: &SwingStore) -> Result<BTreeSet<String>> {
    Ok(committed_roots(store)?.into_values().map(|h| format!("{h}.lz4")).collect())
}

fn is_clean(store: &SwingStore) -> Result<bool> {
    let live: BTreeSet<String> = committed_roots(store)?.into_values().collect();
    let known: BTreeSet<String> = store.list_blobs()?.into_iter().map(|b| b.hash).collect();
    Ok(known == live
        && names(&store.path().join("snapshots"))? == live_files(store)?
        && names(&store.path().join("tmp"))?.is_empty())
}

/// Quiescent and clean: blob files == metadata records == live set, every blob live, no temp
/// file, no stray, `verify(deep)` ok, and every root loads.
pub fn check_clean(store: &SwingStore) -> Result<()> {
    let roots = committed_roots(store)?;
    let live: BTreeSet<String> = roots.values().cloned().collect();
    let blobs = store.list_blobs()?;
    let known: BTreeSet<String> = blobs.iter().map(|b| b.hash.clone()).collect();
    ensure!(known == live, "metadata {known:?} != live set {live:?}");
    for b in &blobs {
        ensure!(b.state == swingstore::BlobState::Live, "blob {} is {} after settling", b.hash, b.state);
    }
    let files = names(&store.path().join("snapshots"))?;
    ensure!(files == live_files(store)?, "blob area {files:?} != live set {live:?}");
    let temps = names(&store.path().join("tmp"))?;
    ensure!(temps.is_empty(), "temp files left: {temps:?}");
    let v = store.verify(true, None)?;
    ensure!(v.ok, "verify: {v:?}");
    check_roots_load(store)?;
    Ok(())
}
