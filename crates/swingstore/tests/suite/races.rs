//! Races at the collector's pause points, and injected sync failures. Each test arms hooks for
//! its own store directory only (`failpoint::set_for`), so they run in parallel with the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::*;
use swingstore::SwingStore;
use swingstore::failpoint::{self, Action, points};

/// Arms `point` to save `content(n)` from another thread (as a kernel's save would race the
/// collector) each time the point is reached.
fn save_from_another_thread_at(point: &'static str, store: &SwingStore, n: u64) {
    let dir = store.path().to_owned();
    let store = store.clone();
    failpoint::set_for(
        &dir,
        point,
        Action::Call(Arc::new(move || {
            let store = store.clone();
            std::thread::spawn(move || store.save_bytes(&content(n)).expect("save")).join().expect("thread");
        })),
    );
}

/// The window no outside test can reach: the sweep has decided to delete a blob, and before
/// it unlinks, another thread takes a lease on it. The re-check under the sweep lock must see it.
#[test]
fn a_lease_taken_between_the_decision_and_the_unlink_wins() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(1))?;
    store.commit()?;
    let taken: Arc<std::sync::Mutex<Option<swingstore::Lease>>> = Arc::default();
    let fired = Arc::new(AtomicBool::new(false));
    {
        let store = store.clone();
        let taken = Arc::clone(&taken);
        let fired = Arc::clone(&fired);
        failpoint::set_for(
            dir.path(),
            points::SWEEP_BEFORE_UNLINK,
            Action::Call(Arc::new(move || {
                // Another thread, as a page-in would be.
                let store = store.clone();
                let lease = std::thread::spawn(move || store.lease(a.hash)).join().expect("thread");
                *taken.lock().expect("lock") = Some(lease);
                fired.store(true, Ordering::SeqCst);
            })),
        );
    }
    let report = gc_g(&store, 0);
    failpoint::clear_for(dir.path());
    assert!(fired.load(Ordering::SeqCst), "the pause point was reached");
    assert_eq!((report.swept, report.kept_leased), (0, 1));
    assert_eq!(store.load_bytes(&a.hash)?, content(1));
    taken.lock().expect("lock").take();
    assert_eq!(gc_g(&store, 0).swept, 1);
    Ok(())
}

#[test]
fn a_save_between_the_decision_and_the_unlink_wins() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(3))?;
    store.commit()?;
    save_from_another_thread_at(points::SWEEP_BEFORE_UNLINK, &store, 3);
    let report = gc_g(&store, 0);
    failpoint::clear_for(dir.path());
    assert_eq!(report.swept, 0, "{report:?}");
    assert_eq!(store.load_bytes(&a.hash)?, content(3));
    Ok(())
}

#[test]
fn a_save_racing_the_condemnation_keeps_its_protection() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(5))?;
    set_root(&store, 1, &a.hash);
    store.commit()?;
    age(&store, 3, 2);
    store.kv().delete("v1.lastSnapshot");
    store.commit()?;
    save_from_another_thread_at(points::GC_BEFORE_CONDEMN, &store, 5);
    let report = gc_g(&store, 2);
    failpoint::clear_for(dir.path());
    assert_eq!(report.kept_grace, 1, "decided on the record read before the save");
    let meta = store.blob_meta(&a.hash)?.expect("meta");
    assert_eq!(meta.saved_epoch, store.epoch() + 1, "the save's record was not overwritten");
    assert_eq!(meta.condemned_epoch, None);
    Ok(())
}

/// A failed sync is never retried: the handle refuses every later save, commit, set_config
/// and collection until it is reopened, and neither the epoch nor the roots move. The reopened
/// store holds the block or not (like a crash), and either way every root loads.
#[test]
fn a_failed_sync_poisons_the_handle_until_it_is_reopened() -> swingstore::Result<()> {
    use swingstore::failpoint::SyncStep;
    use swingstore::{Error, GcConfig, OpenOptions};
    // (kv-blobs runs only where sled writes value files of its own: with its default segments
    // and values chunked by the kv store, never; the power-loss suite's tiny segments reach it.)
    for step in [SyncStep::BlobFile, SyncStep::BlobDir, SyncStep::KvLog] {
        let dir = temp_dir();
        let store = SwingStore::create(dir.path())?;
        let a = store.save_bytes(&content(1))?;
        set_root(&store, 1, &a.hash);
        store.commit()?;

        // Armed before the save: the blob's fsync starts on a sync thread as soon as it is
        // renamed into place.
        failpoint::set_for(dir.path(), step.point(), Action::Fail);
        let b = store.save_bytes(&content(2))?;
        set_root(&store, 1, &b.hash);
        store.kv().set("v1.vs.big", &"x".repeat(300_000));
        let failed = store.commit();
        failpoint::clear_for(dir.path());
        // The blob-file sync runs on a sync thread: its failure reaches the commit as poison.
        assert!(
            matches!(failed, Err(Error::Io { .. } | Error::Poisoned { .. })),
            "{}: {failed:?}",
            step.name()
        );
        assert_eq!(store.epoch(), 1, "{}: the epoch must not move on a failed commit", step.name());
        let poisoned = |r: &swingstore::Result<_>| matches!(r, Err(Error::Poisoned { .. }));
        assert!(poisoned(&store.commit().map(|_| ())), "{}", step.name());
        assert!(poisoned(&store.save_bytes(&content(3)).map(|_| ())), "{}", step.name());
        assert!(poisoned(&store.gc().map(|_| ())), "{}", step.name());
        assert!(poisoned(&store.set_config(GcConfig::default()).map(|_| ())), "{}", step.name());
        // Reading still works, and the collector's mark still sees the old root.
        assert_eq!(store.load_bytes(&a.hash)?, content(1));
        assert_eq!(store.gc_dry_run(Some(0))?.live, 1);
        drop(store);

        let store = SwingStore::open(dir.path(), OpenOptions::default())?;
        let root = store.kv().get_committed("v1.lastSnapshot")?.expect("a root");
        let named = swingstore::parse_root_value("v1.lastSnapshot", root.as_bytes())?;
        let expected = if store.epoch() == 2 { b.hash } else { a.hash };
        assert_eq!(named, expected, "{}: epoch {}", step.name(), store.epoch());
        assert!(store.load_bytes(&named).is_ok(), "{}: the root's blob loads", step.name());
        let report = store.gc()?;
        assert!(!report.skipped, "{}: a poisoned handle does not close cleanly", step.name());
        store.commit()?;
    }
    Ok(())
}

/// A sync that fails while opening fails the open; the next open works.
#[test]
fn a_failed_sync_at_open_fails_the_open_not_the_store() -> swingstore::Result<()> {
    use swingstore::failpoint::SyncStep;
    let dir = temp_dir();
    drop(SwingStore::create(dir.path())?);
    for step in [SyncStep::KvDir, SyncStep::OpenMarker] {
        failpoint::set_for(dir.path(), step.point(), Action::Fail);
        let opened = SwingStore::create(dir.path());
        failpoint::clear_for(dir.path());
        assert!(opened.is_err(), "{}: {opened:?}", step.name());
        let store = SwingStore::create(dir.path())?;
        store.commit()?;
    }
    Ok(())
}

/// Hardening 1: a scanning pass verifies an orphan that does not verify; before it quarantines
/// the file, a save of the same bytes publishes the good one. The pass must leave the good
/// file alone: the root that names it commits and loads.
#[test]
fn a_scanning_pass_never_quarantines_a_blob_a_save_just_published() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    store.commit()?;
    let x = content(7);
    let hash = swingstore::SnapshotHash::of(&x);
    // A valid LZ4 frame of X plus one byte, under X's name: an orphan that does not verify.
    let mut damaged = x.clone();
    damaged.push(0);
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut enc, &damaged).expect("encode");
    let frame = enc.finish().expect("frame");
    std::fs::write(dir.path().join("snapshots").join(format!("{hash}.lz4")), frame).expect("write");
    // The kernel replays its block while the first pass scans.
    save_from_another_thread_at(points::GC_AFTER_ORPHAN_VERIFY, &store, 7);
    let report = store.gc_with(&swingstore::GcOptions { scan: true, ..Default::default() })?;
    failpoint::clear_for(dir.path());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    set_root(&store, 1, &hash);
    store.commit()?;
    assert_eq!(store.load_bytes(&hash)?, x, "the published blob was moved away");
    let corrupt = dir.path().join("snapshots").join(format!("{hash}.lz4.corrupt"));
    assert!(!corrupt.exists());
    Ok(())
}

/// Hardening 4: an offline pass refuses to start over a blob saved in the open block (its root
/// is not staged yet), and a dedup save that returns during the pass keeps its blob.
#[test]
fn an_offline_pass_never_deletes_a_blob_saved_before_or_during_it() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let x = store.save_bytes(&content(3))?;
    let now = swingstore::GcOptions { now: true, ..Default::default() };
    assert!(store.gc_with(&now).is_err(), "refused: a blob was saved since the last commit");
    store.commit()?;
    save_from_another_thread_at(points::SWEEP_BEFORE_UNLINK, &store, 3);
    let report = store.gc_with(&now)?;
    failpoint::clear_for(dir.path());
    assert_eq!(report.swept, 0, "{report:?}");
    set_root(&store, 1, &x.hash);
    store.commit()?;
    assert_eq!(store.load_bytes(&x.hash)?, content(3));
    Ok(())
}

/// Hardening 2: a lease keeps protecting its blob after every handle is dropped and the store
/// is reopened in the same process (a kernel restart while a reader still holds it).
#[test]
fn a_lease_outlives_the_handle_it_was_taken_from() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(5))?;
    set_root(&store, 1, &a.hash);
    store.commit()?;
    let lease = store.lease(a.hash);
    drop(store);
    let store = SwingStore::open(dir.path(), swingstore::OpenOptions::default())?;
    store.kv().delete("v1.lastSnapshot");
    store.commit()?;
    for _ in 0..3 {
        let report = gc_g(&store, 0);
        assert_eq!(report.swept, 0, "{report:?}");
        store.commit()?;
    }
    assert_eq!(store.load_bytes(&a.hash)?, content(5));
    drop(lease);
    store.commit()?;
    assert_eq!(gc_g(&store, 0).swept, 1, "once the lease is gone the blob is garbage");
    Ok(())
}
