//! A scripted scenario whose last block reaches every failpoint once.
//!
//! Setup (grace 1 per pass): epoch 1 roots `v1 -> A1`, `v2 -> B1`, and an unrooted `G1`;
//! epoch 2 condemns `G1`. Then the final block: save `G2` (unrooted), save `A2` and point `v1`
//! at it (the save points), commit epoch 3 (the commit point), and collect with grace 1, which
//! sweeps `G1` (condemned at 2, due at 3) and condemns `A1` (unreferenced since 3) — the gc and
//! sweep points.

use anyhow::{Result, ensure};
use swingstore::failpoint::points;
use swingstore::format_root_value;
use swingstore::{GcOptions, GcReport, SnapshotHash, SwingStore};

use crate::heap;
use crate::journal::{Kind, LogWriter, Roots};

/// The phase of the final block in which a point is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Save,
    Commit,
    Gc,
}

pub fn phase_of(point: &str) -> Phase {
    match point {
        points::SAVE_AFTER_WRITE | points::SAVE_AFTER_META | points::SAVE_BEFORE_DIR_SYNC => Phase::Save,
        points::COMMIT_BEFORE_SYNC => Phase::Commit,
        _ => Phase::Gc,
    }
}

/// The scenario's snapshots.
#[derive(Debug, Clone, Copy)]
pub struct Hashes {
    pub a1: SnapshotHash,
    pub b1: SnapshotHash,
    pub g1: SnapshotHash,
    pub a2: SnapshotHash,
    pub g2: SnapshotHash,
}

impl Hashes {
    pub fn new() -> Self {
        let h = |vat, version| SnapshotHash::of(&heap(vat, version));
        Self { a1: h(1, 1), b1: h(2, 1), g1: h(1001, 1), a2: h(1, 2), g2: h(1001, 2) }
    }
}

impl Default for Hashes {
    fn default() -> Self {
        Self::new()
    }
}

fn grace1() -> GcOptions {
    GcOptions { grace: Some(1), ..GcOptions::default() }
}

fn commit_logged(store: &SwingStore, log: &mut Option<&mut LogWriter>, roots: &Roots) -> Result<u64> {
    let epoch = store.epoch() + 1;
    if let Some(log) = log.as_deref_mut() {
        log.write(Kind::Pending, epoch, roots)?;
    }
    let got = store.commit()?;
    if let Some(log) = log.as_deref_mut() {
        log.write(Kind::Committed, got, roots)?;
    }
    Ok(got)
}

fn roots_of(pairs: &[(&str, SnapshotHash)]) -> Roots {
    pairs.iter().map(|(k, h)| ((*k).to_owned(), h.to_hex())).collect()
}

/// Epochs 1 and 2 (no failpoint armed).
pub fn setup(store: &SwingStore, mut log: Option<&mut LogWriter>) -> Result<Hashes> {
    let h = Hashes::new();
    ensure!(store.save_bytes(&heap(1, 1))?.hash == h.a1, "A1 hash");
    ensure!(store.save_bytes(&heap(2, 1))?.hash == h.b1, "B1 hash");
    ensure!(store.save_bytes(&heap(1001, 1))?.hash == h.g1, "G1 hash");
    store.kv().set("v1.lastSnapshot", &format_root_value(&h.a1, 1));
    store.kv().set("v2.lastSnapshot", &format_root_value(&h.b1, 1));
    commit_logged(store, &mut log, &roots_of(&[("v1.lastSnapshot", h.a1), ("v2.lastSnapshot", h.b1)]))?;
    store.gc_with(&grace1())?;
    commit_logged(store, &mut log, &roots_of(&[("v1.lastSnapshot", h.a1), ("v2.lastSnapshot", h.b1)]))?;
    let r = store.gc_with(&grace1())?;
    ensure!(r.kept_grace == 1 && r.swept == 0, "setup: G1 should be condemned at epoch 2: {r:?}");
    Ok(h)
}

/// The final block's first save: G2, never rooted.
pub fn step_garbage(store: &SwingStore) -> Result<()> {
    store.save_bytes(&heap(1001, 2))?;
    Ok(())
}

/// The final block's second save: A2, rooted at v1 (staged).
pub fn step_save(store: &SwingStore, h: &Hashes) -> Result<()> {
    store.save_bytes(&heap(1, 2))?;
    store.kv().set("v1.lastSnapshot", &format_root_value(&h.a2, 2));
    Ok(())
}

/// The roots after the final commit.
pub fn final_roots(h: &Hashes) -> Roots {
    roots_of(&[("v1.lastSnapshot", h.a2), ("v2.lastSnapshot", h.b1)])
}

pub fn step_commit(store: &SwingStore, log: Option<&mut LogWriter>, h: &Hashes) -> Result<u64> {
    commit_logged(store, &mut { log }, &final_roots(h))
}

/// The final collection: sweeps G1, condemns A1.
pub fn step_gc(store: &SwingStore) -> Result<GcReport> {
    Ok(store.gc_with(&grace1())?)
}

/// Runs the whole scenario, calling `arm` at the start of each phase of the final block.
pub fn run(store: &SwingStore, mut log: Option<&mut LogWriter>, arm: impl Fn(Phase)) -> Result<GcReport> {
    let h = setup(store, log.as_deref_mut())?;
    step_garbage(store)?;
    arm(Phase::Save);
    step_save(store, &h)?;
    arm(Phase::Commit);
    step_commit(store, log, &h)?;
    arm(Phase::Gc);
    let r = step_gc(store)?;
    ensure!(r.swept == 1 && r.kept_grace == 1, "final gc should sweep G1 and condemn A1: {r:?}");
    Ok(r)
}
