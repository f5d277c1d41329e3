//! Every workload, small: no page-in or export fails, the collector keeps exactly the live set,
//! the no-gc run keeps more, one seed gives one blob set, zygote clones share blobs.

use std::time::Duration;

use kernel_sim::heap;
use kernel_sim::pager::PageIn;
use kernel_sim::vat::{Origin, VatSpec};
use kernel_sim::{SimConfig, SimError, SimResult, WorkloadKind, run};
use swingstore::format_root_value;
use swingstore::{GcOptions, SwingStore};

use crate::util::{embedded, sources};

/// A few blocks, small heaps, short snapshot interval, so each run takes well under a second.
fn small(workload: WorkloadKind) -> SimConfig {
    SimConfig {
        workload,
        blocks: Some(24),
        seed: 7,
        vats: match workload {
            WorkloadKind::Testnet => Some(12),
            WorkloadKind::Vattp => Some(1),
            WorkloadKind::Zygote => Some(1000),
            WorkloadKind::Mixed => None,
        },
        snapshot_interval: 40,
        snapshot_initial: 3,
        max_vats_online: 8,
        page_in_delay: Duration::ZERO,
        export_every: 5,
        grace: Some(0),
        gc: true,
        gc_budget: None,
        vatstore_keys: 3,
        restart_every: Some(10),
        heap_limit: Some(48 * 1024),
    }
}

fn run_fresh(config: &SimConfig) -> (tempfile::TempDir, SwingStore, SimResult) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SwingStore::create(dir.path().join("store")).expect("create the store");
    let result = run(config, &store, &sources(), &|_, _| {}).expect("the simulation");
    (dir, store, result)
}

/// One more collection with grace 0 once every reader is done; returns the blob set.
fn final_gc(store: &SwingStore) -> Vec<String> {
    store.gc_with(&GcOptions { grace: Some(0), ..GcOptions::default() }).expect("final gc");
    store.list_blobs().expect("list blobs").into_iter().map(|b| b.hash).collect()
}

#[test]
fn every_workload_keeps_exactly_the_live_set_and_beats_no_gc() {
    for workload in [WorkloadKind::Testnet, WorkloadKind::Zygote, WorkloadKind::Vattp, WorkloadKind::Mixed] {
        let config = small(workload);
        let (_dir, store, result) = run_fresh(&config);
        let s = &result.summary;
        assert_eq!(s.blocks, 24, "{workload}");
        assert_eq!(s.epoch, 24, "{workload}");
        assert!(s.snapshots_saved >= 5, "{workload}: {} snapshots", s.snapshots_saved);
        assert!(s.swept > 0, "{workload}: nothing swept");
        assert!(s.exports > 0 && s.exported_snapshots > 0, "{workload}");
        assert_eq!(s.gc_passes, 24);
        assert_eq!(s.gc_errors, 0);
        assert_eq!(result.series.len(), 24);
        final_gc(&store);
        let stats = store.stats().unwrap();
        assert_eq!(stats.blobs, stats.live, "{workload}: garbage left after a grace-0 pass");
        assert!(stats.live > 0);
        let verify = store.verify(true, None).unwrap();
        assert!(verify.ok, "{workload}: {verify:?}");

        let no_gc = SimConfig { gc: false, ..config.clone() };
        let (_dir2, store2, base) = run_fresh(&no_gc);
        assert_eq!(base.summary.snapshots_saved, s.snapshots_saved, "{workload}: same history");
        assert_eq!(base.summary.swept, 0);
        assert_eq!(base.summary.gc_passes, 0);
        let base_stats = store2.stats().unwrap();
        assert!(
            base_stats.blobs > stats.blobs && base_stats.stored_bytes > stats.stored_bytes,
            "{workload}: no-gc keeps {} blobs, gc {}",
            base_stats.blobs,
            stats.blobs
        );
        assert!(store2.verify(true, None).unwrap().ok);
    }
}

#[test]
fn pages_in_and_tracks_the_store_exactly() {
    let config = small(WorkloadKind::Mixed);
    let (_dir, store, result) = run_fresh(&config);
    let s = &result.summary;
    assert!(s.page_ins > 10, "page-ins: {}", s.page_ins);
    assert!(s.vats_terminated > 0);
    // The per-block series follows the store: its last point is what the store holds.
    let last = result.series.last().unwrap();
    assert_eq!((last.blobs, last.stored_bytes), (s.blobs, s.stored_bytes));
    assert_eq!(store.list_blobs().unwrap().len() as u64, s.blobs);
    assert_eq!(last.live, s.live);
}

#[test]
fn one_seed_gives_one_blob_set() {
    for workload in [WorkloadKind::Mixed, WorkloadKind::Testnet] {
        let config = small(workload);
        let (_a, store_a, result_a) = run_fresh(&config);
        let (_b, store_b, result_b) = run_fresh(&config);
        assert_eq!(result_a.summary.snapshots_saved, result_b.summary.snapshots_saved);
        assert_eq!(result_a.summary.page_ins, result_b.summary.page_ins);
        let blobs_a = final_gc(&store_a);
        assert!(!blobs_a.is_empty());
        assert_eq!(blobs_a, final_gc(&store_b), "{workload}: same seed, different blobs");

        let (_c, store_c, _) = run_fresh(&SimConfig { seed: 8, ..config });
        assert_ne!(blobs_a, final_gc(&store_c), "{workload}: the seed changes nothing");
    }
}

#[test]
fn zygote_clones_share_one_blob() {
    let config =
        SimConfig { blocks: Some(10), vats: Some(1000), export_every: 0, ..small(WorkloadKind::Zygote) };
    let (_dir, store, result) = run_fresh(&config);
    assert!(result.summary.vats_created >= 20);
    assert!(result.summary.snapshots_deduplicated > 5, "{:?}", result.summary);
    let blobs = store.list_blobs().unwrap();
    let most_shared = blobs.iter().map(|b| b.roots.len()).max().unwrap();
    assert!(most_shared >= 10, "the most shared blob has {most_shared} roots");
    // The zygote is named by its own root, under the configured pattern.
    let zygote = blobs.iter().find(|b| b.roots.iter().any(|r| r == "zygote.z1.snapshot")).unwrap();
    assert_eq!(zygote.raw_bytes, 48 * 1024, "the zygote is the (limited) lockdown heap");
    assert!(store.config().root_patterns.iter().any(|p| p == "zygote.*.snapshot"));
    assert!(store.config().root_patterns.iter().any(|p| p == "v*.lastSnapshot"));
    // Far fewer blobs than vats.
    assert!((blobs.len() as u64) * 4 < result.summary.vats_created, "{} blobs", blobs.len());
}

#[test]
fn slow_exports_and_page_ins_survive_a_grace_zero_collector() {
    let config = SimConfig {
        blocks: Some(16),
        page_in_delay: Duration::from_millis(3),
        export_every: 2,
        restart_every: Some(4),
        ..small(WorkloadKind::Testnet)
    };
    let (_dir, store, result) = run_fresh(&config);
    let s = &result.summary;
    assert!(s.page_ins > 0 && s.exports == 8 && s.exported_snapshots > 0, "{s:?}");
    assert!(s.swept > 0);
    final_gc(&store);
    assert!(store.verify(true, None).unwrap().ok);
}

#[test]
fn a_page_in_of_a_lost_snapshot_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = SwingStore::create(dir.path()).unwrap();
    let source = embedded();
    let bytes = heap::limited(&source.bytes, Some(8192));
    let info = store.save_bytes(&bytes).unwrap();
    store.kv().set("v1.lastSnapshot", &format_root_value(&info.hash, 0));
    store.commit().unwrap();
    let spec = VatSpec {
        id: 1,
        lineage: 1,
        source: source.bytes.clone(),
        profile: heap::Profile { growth: 0, read_only: 0, shared: 0 },
        origin: Origin::Clone { zygote: info.hash },
        seed: 1,
        heap_limit: None,
    };
    // The snapshot is at delivery 0 and the vat made none since: nothing to replay.
    let page_in = || {
        let spec = spec.clone();
        PageIn::start(&store, 1, info.hash, Duration::ZERO, move |heap| spec.replay(heap, 1, 0))
    };
    // Fine while the blob is there.
    let heap = page_in().unwrap().finish().unwrap();
    assert_eq!(heap, bytes);
    // Lost: a clear, fatal error naming the vat.
    std::fs::remove_file(dir.path().join("snapshots").join(format!("{}.lz4", info.hash))).unwrap();
    let err = page_in().unwrap().finish().unwrap_err();
    assert!(matches!(err, SimError::PageIn { vat: 1, .. }), "{err}");
    assert!(err.to_string().contains("page-in of vat v1"), "{err}");
}

#[test]
fn refuses_a_used_store() {
    let config = small(WorkloadKind::Vattp);
    let (_dir, store, _) = run_fresh(&config);
    let err = run(&config, &store, &sources(), &|_, _| {}).unwrap_err();
    assert!(matches!(err, SimError::Config(_)), "{err}");
}
