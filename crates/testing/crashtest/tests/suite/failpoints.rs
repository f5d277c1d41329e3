//! A crash at each failpoint, in a child process running the scripted scenario; then reopen,
//! check the invariant, settle (both ways) and check that nothing is left.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use crashtest::check::{AfterCrash, Settle, check_after_crash, check_clean, settle};
use crashtest::journal;
use crashtest::scenario::Hashes;
use swingstore::failpoint::points;
use swingstore::{OpenOptions, SnapshotHash, SwingStore};

const SIGABRT: i32 = 6;

fn child() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crash-child"))
}

fn blob_file(store: &Path, hash: &SnapshotHash) -> PathBuf {
    store.join("snapshots").join(format!("{hash}.lz4"))
}

fn temp_files(store: &Path) -> Result<usize> {
    Ok(std::fs::read_dir(store.join("tmp"))?.count())
}

/// Runs the child to its crash; returns the reopened store and what the check found.
fn crash(args: &[&str], store: &Path, log_path: &Path) -> Result<(SwingStore, AfterCrash)> {
    let out = Command::new(child())
        .args(args)
        .arg(store)
        .arg(log_path)
        .stdin(Stdio::null())
        .output()
        .context("running the child")?;
    ensure!(
        out.status.signal() == Some(SIGABRT),
        "the child should have crashed, it exited with {} ({})",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("child: {}", String::from_utf8_lossy(&out.stderr));
    let expect = journal::expectations(&journal::read(log_path)?)?;
    let store = SwingStore::open(store, OpenOptions { create: false })?;
    let after = check_after_crash(&store, &expect)?;
    Ok((store, after))
}

fn crash_at(point: &'static str, mode: Settle) -> Result<()> {
    let dir = crashtest::scratch_dir()?;
    let store_path = dir.path().join("store");
    let log_path = dir.path().join("log");
    let out = Command::new(child())
        .arg("scenario")
        .arg(&store_path)
        .arg(&log_path)
        .arg(point)
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.signal() == Some(SIGABRT),
        "{point}: the child should have crashed there, it exited with {} ({})",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let h = Hashes::new();
    let expect = journal::expectations(&journal::read(&log_path)?)?;
    // What the crash left behind, proving it happened where it should.
    let a2_file = blob_file(&store_path, &h.a2).exists();
    let g1_file = blob_file(&store_path, &h.g1).exists();
    let temps = temp_files(&store_path)?;
    match point {
        points::SAVE_AFTER_WRITE | points::SAVE_AFTER_META => {
            ensure!(temps == 1 && !a2_file, "{point}: temps {temps}, A2 present {a2_file}");
        }
        points::SAVE_BEFORE_DIR_SYNC => {
            ensure!(temps == 0 && a2_file, "{point}: temps {temps}, A2 {a2_file}")
        }
        points::COMMIT_BEFORE_SYNC | points::GC_AFTER_CONDEMN | points::SWEEP_BEFORE_UNLINK => {
            ensure!(a2_file && g1_file, "{point}: A2 {a2_file}, G1 {g1_file}")
        }
        points::SWEEP_AFTER_UNLINK => ensure!(a2_file && !g1_file, "{point}: A2 {a2_file}, G1 {g1_file}"),
        _ => {}
    }

    let store = SwingStore::open(&store_path, OpenOptions { create: false })?;
    let after = check_after_crash(&store, &expect).with_context(|| format!("after a crash at {point}"))?;
    match crashtest::scenario::phase_of(point) {
        crashtest::scenario::Phase::Save => ensure!(after.epoch == 2, "{point}: epoch {}", after.epoch),
        crashtest::scenario::Phase::Commit => ensure!(after.epoch == 2 || after.epoch == 3),
        crashtest::scenario::Phase::Gc => ensure!(after.epoch == 3, "{point}: epoch {}", after.epoch),
    }
    let settled = settle(&store, mode).with_context(|| format!("settling after {point}"))?;
    check_clean(&store).with_context(|| format!("clean after {point} ({mode:?}): {settled:?}"))?;
    // The store keeps working: another block and collection.
    drop(store);
    let store = SwingStore::open(&store_path, OpenOptions { create: false })?;
    let again = store.save_bytes(b"after recovery")?;
    store.kv().set("v7.lastSnapshot", &swingstore::format_root_value(&again.hash, 0));
    store.commit()?;
    store.gc()?;
    ensure!(store.load_bytes(&again.hash)? == b"after recovery");
    Ok(())
}

macro_rules! point_tests {
    ($($name:ident => $point:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() -> Result<()> {
                crash_at($point, Settle::Now)?;
                crash_at($point, Settle::Grace)
            }
        )*
    };
}

point_tests! {
    crash_at_save_after_write => points::SAVE_AFTER_WRITE,
    crash_at_save_after_meta => points::SAVE_AFTER_META,
    crash_at_save_before_dir_sync => points::SAVE_BEFORE_DIR_SYNC,
    crash_at_commit_before_sync => points::COMMIT_BEFORE_SYNC,
    crash_at_gc_before_condemn => points::GC_BEFORE_CONDEMN,
    crash_at_gc_after_condemn => points::GC_AFTER_CONDEMN,
    crash_at_sweep_before_unlink => points::SWEEP_BEFORE_UNLINK,
    crash_at_sweep_after_unlink => points::SWEEP_AFTER_UNLINK,
}

/// A commit whose flush fails returns an error, but its batch is already visible in memory.
/// A collection run after that must not delete what the durable state still names: the child
/// fails the flush, collects with grace 0 (which would sweep `A1`, unreferenced in the
/// non-durable state), and crashes. On reopen, whichever state survived must be whole.
#[test]
fn gc_after_a_failed_commit_flush_deletes_nothing_the_durable_state_needs() -> Result<()> {
    for _ in 0..10 {
        let dir = crashtest::scratch_dir()?;
        let store_path = dir.path().join("store");
        let log_path = dir.path().join("log");
        let (store, after) = crash(&["commit-fail-then-gc"], &store_path, &log_path)?;
        settle(&store, Settle::Now)?;
        check_clean(&store)?;
        eprintln!("reopened at epoch {} (in flight: {})", after.epoch, after.at_pending);
    }
    Ok(())
}
