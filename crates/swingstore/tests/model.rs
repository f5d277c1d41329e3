//! Model-based property test: random kernel histories against a small in-memory model of the
//! collector's rules (written independently of `gc::policy`).
//!
//! Invariants after every step: every committed root's blob loads and verifies; no leased blob
//! and no blob saved in the open block is gone; the blobs on disk are exactly the model's. At the
//! end, after quiescent commits with gc, the blobs on disk are exactly the live set.
//!
//! `SNAPGC_MODEL_CASES` sets the number of cases (default 2500).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{content, temp_dir};
use proptest::prelude::*;
use swingstore::{GcOptions, Lease, OpenOptions, SnapshotHash, SwingStore, format_root_value};

const CONTENTS: u8 = 8;
const VATS: u8 = 4;

#[derive(Debug, Clone)]
enum Op {
    Save(u8),
    SetRoot(u8, u8),
    DeleteRoot(u8),
    Commit,
    Abort,
    Gc { grace: u64, budget: Option<u64> },
    GcNow,
    TakeLease(u8),
    DropLease(usize),
    Reopen,
    CrashReopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..CONTENTS).prop_map(Op::Save),
        4 => (0..VATS, 0..CONTENTS).prop_map(|(v, c)| Op::SetRoot(v, c)),
        1 => (0..VATS).prop_map(Op::DeleteRoot),
        5 => Just(Op::Commit),
        1 => Just(Op::Abort),
        5 => (0..4u64, prop::option::weighted(0.3, 1..3u64)).prop_map(|(grace, budget)| Op::Gc { grace, budget }),
        1 => Just(Op::GcNow),
        1 => (0..CONTENTS).prop_map(Op::TakeLease),
        1 => (0..4usize).prop_map(Op::DropLease),
        1 => Just(Op::Reopen),
        1 => Just(Op::CrashReopen),
    ]
}

#[derive(Debug, Clone, Copy)]
struct ModelBlob {
    content: u8,
    saved: u64,
    condemned: Option<u64>,
}

struct Model {
    epoch: u64,
    committed: BTreeMap<u8, u8>,
    staged: BTreeMap<u8, Option<u8>>,
    saved_this_block: BTreeSet<u8>,
    blobs: BTreeMap<SnapshotHash, ModelBlob>,
}

impl Model {
    fn live(&self) -> BTreeSet<SnapshotHash> {
        self.committed.values().map(|&c| hash_of(c)).collect()
    }

    /// The collector's rule, restated: protected while saved > C or C - saved < G; condemned at
    /// the first pass outside that window; deleted by the first pass at C >= condemned + G,
    /// unless leased; `now` ignores protection and grace. Deletions in hash order, up to budget.
    fn gc(&mut self, grace: u64, budget: Option<u64>, now: bool, leased: &BTreeSet<SnapshotHash>) {
        let live = self.live();
        let c = self.epoch;
        let mut due = Vec::new();
        for (hash, blob) in self.blobs.iter_mut() {
            if live.contains(hash) {
                blob.condemned = None;
                continue;
            }
            let protected = blob.saved > c || c - blob.saved < grace;
            if now {
                if !leased.contains(hash) {
                    due.push(*hash);
                }
                continue;
            }
            if protected {
                continue;
            }
            let condemned = *blob.condemned.get_or_insert(c);
            if c >= condemned + grace && !leased.contains(hash) {
                due.push(*hash);
            }
        }
        for hash in due.into_iter().take(budget.map_or(usize::MAX, |b| b as usize)) {
            self.blobs.remove(&hash);
        }
    }
}

fn hash_of(c: u8) -> SnapshotHash {
    SnapshotHash::of(&content(u64::from(c)))
}

fn root_key(vat: u8) -> String {
    format!("v{vat}.lastSnapshot")
}

fn check(store: &SwingStore, model: &Model, leases: &[(u8, Lease)]) -> Result<(), TestCaseError> {
    for (&vat, &c) in &model.committed {
        let bytes = store.load_bytes(&hash_of(c));
        prop_assert!(bytes.is_ok(), "root v{vat} names content {c}, which does not load: {bytes:?}");
        prop_assert_eq!(bytes.ok(), Some(content(u64::from(c))));
    }
    for (c, _) in leases {
        prop_assert!(store.contains(&hash_of(*c)) || !model.blobs.contains_key(&hash_of(*c)));
    }
    for &c in &model.saved_this_block {
        prop_assert!(store.contains(&hash_of(c)), "content {c}, saved in the open block, is gone");
    }
    let on_disk: BTreeSet<SnapshotHash> = common::hashes_on_disk(store).into_iter().collect();
    let expected: BTreeSet<SnapshotHash> = model.blobs.keys().copied().collect();
    prop_assert_eq!(on_disk, expected);
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = temp_dir();
    let mut store = SwingStore::create(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut model = Model {
        epoch: 0,
        committed: BTreeMap::new(),
        staged: BTreeMap::new(),
        saved_this_block: BTreeSet::new(),
        blobs: BTreeMap::new(),
    };
    let mut leases: Vec<(u8, Lease)> = Vec::new();
    let fail = |e: swingstore::Error| TestCaseError::fail(e.to_string());

    for op in ops {
        match op {
            Op::Save(c) => {
                let info = store.save_bytes(&content(u64::from(c))).map_err(fail)?;
                prop_assert_eq!(info.hash, hash_of(c));
                model
                    .blobs
                    .insert(info.hash, ModelBlob { content: c, saved: model.epoch + 1, condemned: None });
                model.saved_this_block.insert(c);
            }
            Op::SetRoot(vat, c) => {
                // A kernel only names a snapshot it saved in this block, or one a committed root
                // names (a clone of a live vat); anything else is not a valid history.
                let live_now = model.committed.values().any(|&x| x == c);
                if !model.saved_this_block.contains(&c) && !live_now {
                    continue;
                }
                store.kv().set(&root_key(vat), &format_root_value(&hash_of(c), 0));
                model.staged.insert(vat, Some(c));
            }
            Op::DeleteRoot(vat) => {
                store.kv().delete(&root_key(vat));
                model.staged.insert(vat, None);
            }
            Op::Commit => {
                let e = store.commit().map_err(fail)?;
                model.epoch += 1;
                prop_assert_eq!(e, model.epoch);
                for (vat, v) in std::mem::take(&mut model.staged) {
                    match v {
                        Some(c) => model.committed.insert(vat, c),
                        None => model.committed.remove(&vat),
                    };
                }
                model.saved_this_block.clear();
            }
            Op::Abort => {
                store.abort();
                model.staged.clear();
                // Blobs saved in the aborted block stay, as young garbage; the block stays open.
            }
            Op::Gc { grace, budget } => {
                let leased: BTreeSet<SnapshotHash> = leases.iter().map(|(c, _)| hash_of(*c)).collect();
                let report = store
                    .gc_with(&GcOptions { grace: Some(grace), budget, ..GcOptions::default() })
                    .map_err(fail)?;
                prop_assert!(report.errors.is_empty(), "{:?}", report.errors);
                model.gc(grace, budget, false, &leased);
            }
            Op::GcNow => {
                // Offline pass: only valid with no open block (the CLI holds the store alone).
                if !model.staged.is_empty() || !model.saved_this_block.is_empty() {
                    continue;
                }
                let leased: BTreeSet<SnapshotHash> = leases.iter().map(|(c, _)| hash_of(*c)).collect();
                store.gc_with(&GcOptions { now: true, ..GcOptions::default() }).map_err(fail)?;
                model.gc(0, None, true, &leased);
            }
            Op::TakeLease(c) => {
                // A page-in leases a snapshot a committed root names.
                if model.committed.values().any(|&x| x == c) {
                    leases.push((c, store.lease(hash_of(c))));
                }
            }
            Op::DropLease(i) => {
                if i < leases.len() {
                    drop(leases.remove(i));
                }
            }
            Op::Reopen | Op::CrashReopen => {
                leases.clear();
                if matches!(op, Op::CrashReopen) {
                    store.close_as_if_crashed();
                } else {
                    drop(store);
                }
                store = SwingStore::open(dir.path(), OpenOptions::default()).map_err(fail)?;
                model.staged.clear();
                model.saved_this_block.clear();
            }
        }
        check(&store, &model, &leases)?;
    }

    // Quiescence: no leases, no open writes; the protection window (G) and then the grace (G)
    // run out, and exactly the live set remains.
    leases.clear();
    store.abort();
    model.staged.clear();
    let grace = 2;
    for _ in 0..(2 * grace + 1) {
        store.commit().map_err(fail)?;
        model.epoch += 1;
        model.saved_this_block.clear();
        store.gc_with(&GcOptions { grace: Some(grace), ..GcOptions::default() }).map_err(fail)?;
        model.gc(grace, None, false, &BTreeSet::new());
        check(&store, &model, &leases)?;
    }
    let on_disk: BTreeSet<SnapshotHash> = common::hashes_on_disk(&store).into_iter().collect();
    prop_assert_eq!(on_disk, model.live());
    let verify = store.verify(true, None).map_err(fail)?;
    prop_assert!(verify.ok, "{verify:?}");
    let contents: BTreeSet<u8> = model.blobs.values().map(|b| b.content).collect();
    prop_assert_eq!(contents, model.committed.values().copied().collect::<BTreeSet<u8>>());
    Ok(())
}

fn cases() -> u32 {
    std::env::var("SNAPGC_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2500)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
