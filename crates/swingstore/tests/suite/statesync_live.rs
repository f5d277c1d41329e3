//! State sync while the kernel runs: exports pinned and streamed while it commits and collects at
//! grace 0 (docs/STATE-SYNC.md), each export importing and verifying.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use swingstore::{
    ArtifactMode, ImportOptions, OpenOptions, SnapshotHash, SwingStore, export_to_dir, format_root_value,
    import_from_dir,
};

use crate::common::{content, gc_g, temp_dir};

fn heap(n: u64, len: usize) -> Vec<u8> {
    let unit = content(n);
    unit.iter().cycle().take(len).copied().collect()
}

/// The exporter pins one epoch; the kernel then commits, replaces every root and collects
/// at grace 0 several times before the artifacts are read: every one still verifies, and
/// exports made while it runs import.
#[test]
fn export_while_the_kernel_commits_and_collects_at_grace_zero() {
    let tmp = temp_dir();
    let store = SwingStore::create(tmp.path().join("kernel")).expect("create");
    const VATS: u64 = 4;
    let rounds = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<u64>();
    let kernel = {
        let (store, rounds, stop) = (store.clone(), Arc::clone(&rounds), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut swept, mut kept_leased) = (0, 0);
            for round in 0u64.. {
                if stop.load(Ordering::SeqCst) && round > 12 {
                    break;
                }
                for vat in 1..=VATS {
                    let bytes = heap(round * 100 + vat, 50_000);
                    let hash = store.save_bytes(&bytes).expect("save").hash;
                    store.kv().set(&format!("v{vat}.lastSnapshot"), &format_root_value(&hash, round));
                    store.kv().set(&format!("v{vat}.vs.round"), &round.to_string());
                }
                store.commit().expect("commit");
                let report = gc_g(&store, 0);
                swept += report.swept;
                kept_leased += report.kept_leased;
                rounds.store(round + 1, Ordering::SeqCst);
                let _ = tx.send(round + 1);
            }
            (swept, kept_leased)
        })
    };
    let wait_for = |n: u64| {
        while rounds.load(Ordering::SeqCst) < n {
            rx.recv().expect("the kernel runs");
        }
    };
    wait_for(2);
    let mut data = Vec::new();
    let exporter = store.export_state(ArtifactMode::Operational, &mut data).expect("pin");
    let pinned = exporter.epoch();
    assert_eq!(exporter.artifacts().len() as u64, VATS);
    // Every pinned root is replaced, and the old blobs would have been swept (grace 0).
    let after = rounds.load(Ordering::SeqCst);
    wait_for(after + 3);
    for artifact in exporter.artifacts() {
        let mut bytes = Vec::new();
        exporter.write_artifact(artifact, &mut bytes).expect("a pinned artifact still loads, verified");
        assert_eq!(SnapshotHash::of(&bytes), artifact.hash, "{}", artifact.name);
        assert!(
            data.windows(64).any(|w| w == artifact.hash.to_hex().as_bytes()),
            "its record is in the data"
        );
    }
    assert!(store.epoch() >= pinned + 3);
    drop(exporter);
    // Whole exports to directories while the kernel runs: each imports and verifies.
    for i in 0..3 {
        let dir = tmp.path().join(format!("export{i}"));
        let summary = export_to_dir(&store, &dir, ArtifactMode::Operational).expect("export");
        let target = tmp.path().join(format!("import{i}"));
        let report = import_from_dir(&target, &dir, &ImportOptions::default()).expect("import");
        assert_eq!(report.roots, VATS);
        let dst = SwingStore::open(&target, OpenOptions::default()).expect("open");
        assert!(dst.verify(true, None).expect("verify").ok, "export {i} of epoch {}", summary.block_height);
    }
    stop.store(true, Ordering::SeqCst);
    let (swept, kept_leased) = kernel.join().expect("kernel thread");
    assert!(swept > 0, "the kernel collected meanwhile");
    assert!(kept_leased >= VATS, "the pinned blobs were kept for their leases only ({kept_leased})");
}
