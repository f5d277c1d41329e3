//! `Action::Fail` at each failpoint, in process: the operation returns an error, nothing
//! committed is lost, the operation can be retried, and collections clean up what it left.
//!
//! Each test arms hooks for its own store only (`failpoint::set_for`): they run in parallel.

use anyhow::{Result, ensure};
use crashtest::check::{Settle, check_clean, check_roots_load, committed_roots, settle};
use crashtest::scenario::{self, Hashes, Phase, final_roots, phase_of};
use swingstore::failpoint::{self, Action, points};
use swingstore::{OpenOptions, SwingStore};

fn fail_at(point: &'static str, mode: Settle) -> Result<()> {
    let dir = crashtest::scratch_dir()?;
    let path = dir.path().join("store");
    let store = SwingStore::create(&path)?;
    let h: Hashes = scenario::setup(&store, None)?;
    scenario::step_garbage(&store)?;
    let phase = phase_of(point);

    failpoint::set_for(&path, point, Action::Fail);
    let failed = match phase {
        Phase::Save => scenario::step_save(&store, &h).is_err(),
        Phase::Commit => {
            scenario::step_save(&store, &h)?;
            scenario::step_commit(&store, None, &h).is_err()
        }
        Phase::Gc => {
            scenario::step_save(&store, &h)?;
            scenario::step_commit(&store, None, &h)?;
            scenario::step_gc(&store).is_err()
        }
    };
    failpoint::clear_for(&path);
    ensure!(failed, "{point}: the operation should have returned the injected error");
    // A failed commit sync poisons the handle: everything is refused until a reopen, which
    // finds the block either committed or not (like a crash).
    let store = if phase == Phase::Commit {
        ensure!(matches!(store.commit(), Err(swingstore::Error::Poisoned { .. })), "{point}: not poisoned");
        ensure!(matches!(store.save_bytes(b"x"), Err(swingstore::Error::Poisoned { .. })));
        ensure!(matches!(store.gc(), Err(swingstore::Error::Poisoned { .. })));
        drop(store);
        SwingStore::open(&path, OpenOptions { create: false })?
    } else {
        store
    };

    // Nothing committed is lost.
    check_roots_load(&store)?;
    // Retry the operation and finish the block.
    match phase {
        Phase::Save => {
            scenario::step_save(&store, &h)?;
            scenario::step_commit(&store, None, &h)?;
        }
        Phase::Commit => {
            // The failed commit may or may not have reached the disk; redo the block if not.
            if committed_roots(&store)? != final_roots(&h) {
                scenario::step_save(&store, &h)?;
                scenario::step_commit(&store, None, &h)?;
            }
        }
        Phase::Gc => {}
    }
    ensure!(committed_roots(&store)? == final_roots(&h), "{point}: roots");
    scenario::step_gc(&store)?;
    check_roots_load(&store)?;
    // A clean close and reopen, then quiescence.
    drop(store);
    let store = SwingStore::open(&path, OpenOptions { create: false })?;
    check_roots_load(&store)?;
    settle(&store, mode)?;
    check_clean(&store)?;
    ensure!(store.contains(&h.a2) && store.contains(&h.b1), "{point}: live blobs present");
    Ok(())
}

macro_rules! fail_tests {
    ($($name:ident => $point:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() -> Result<()> {
                fail_at($point, Settle::Now)?;
                fail_at($point, Settle::Grace)
            }
        )*
    };
}

fail_tests! {
    fail_at_save_after_write => points::SAVE_AFTER_WRITE,
    fail_at_save_after_meta => points::SAVE_AFTER_META,
    fail_at_save_before_dir_sync => points::SAVE_BEFORE_DIR_SYNC,
    fail_at_commit_before_sync => points::COMMIT_BEFORE_SYNC,
    fail_at_gc_before_condemn => points::GC_BEFORE_CONDEMN,
    fail_at_gc_after_condemn => points::GC_AFTER_CONDEMN,
    fail_at_sweep_before_unlink => points::SWEEP_BEFORE_UNLINK,
    fail_at_sweep_after_unlink => points::SWEEP_AFTER_UNLINK,
}

/// A save that fails after its metadata is recorded leaves metadata without a file; a dedup
/// of the same bytes afterwards must write the file (not trust the metadata).
#[test]
fn a_save_after_a_failed_save_of_the_same_bytes_writes_the_file() -> Result<()> {
    let dir = crashtest::scratch_dir()?;
    let store = SwingStore::create(dir.path().join("store"))?;
    failpoint::set_for(store.path(), points::SAVE_AFTER_META, Action::Fail);
    ensure!(store.save_bytes(b"heap").is_err());
    failpoint::clear_for(store.path());
    ensure!(!store.contains(&swingstore::SnapshotHash::of(b"heap")));
    let info = store.save_bytes(b"heap")?;
    ensure!(!info.deduplicated && store.load_bytes(&info.hash)? == b"heap");
    Ok(())
}
