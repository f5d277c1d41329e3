//! The fixed costs of a session, counted (issue 25, target 4): which of the store's sync steps
//! an open, a one-blob commit and a clean close of an existing, cleanly closed store run. (sled's
//! own fsyncs at its open and drop are not steps of ours; `bench/limit.sh` counts every fsync of
//! a whole `snapgc import` with strace.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use swingstore::SwingStore;
use swingstore::failpoint::{self, Action, SYNC_STEPS};

use crate::common::{content, temp_dir};

type Counts = Arc<Mutex<BTreeMap<&'static str, u64>>>;

/// Counts every sync step the store at `store` runs from now on, by name.
fn count_steps(store: &Path) -> Counts {
    let counts: Counts = Arc::default();
    for step in SYNC_STEPS {
        let counts = Arc::clone(&counts);
        let name = step.name();
        failpoint::set_for(
            store,
            step.point(),
            Action::Call(Arc::new(move || {
                *counts.lock().unwrap_or_else(|p| p.into_inner()).entry(name).or_default() += 1;
            })),
        );
    }
    counts
}

fn taken(counts: &Counts) -> BTreeMap<&'static str, u64> {
    std::mem::take(&mut *counts.lock().unwrap_or_else(|p| p.into_inner()))
}

/// A store created, given one committed blob and closed cleanly.
fn closed_store(dir: &Path) {
    let store = SwingStore::create(dir).expect("create");
    store.save_bytes(&content(1)).expect("save");
    store.commit().expect("commit");
}

#[test]
fn a_one_blob_session_on_a_cleanly_closed_store_runs_only_the_steps_it_needs() {
    let tmp = temp_dir();
    let dir = tmp.path().join("store");
    closed_store(&dir);
    let counts = count_steps(&dir);
    {
        let store = SwingStore::open(&dir, Default::default()).expect("reopen");
        store.save_bytes(&content(2)).expect("save");
        store.commit().expect("commit");
    }
    let seen = taken(&counts);
    failpoint::clear_for(&dir);
    // At open: sled's snapshot file's name (kv-dir) and the session marker (open-marker); at
    // commit: the blob, its name, the log. No store-create (kv/ exists, nothing created) and
    // no close-blobs (no collection ran; the commit synced snapshots/ already).
    let expected: BTreeMap<&'static str, u64> =
        [("kv-dir", 1), ("open-marker", 1), ("blob-file", 1), ("blob-dir", 1), ("kv-log", 1)].into();
    assert_eq!(seen, expected, "the sync steps of open + one-blob commit + clean close");
}

#[test]
fn a_clean_close_after_a_collection_syncs_the_blob_directory() {
    let tmp = temp_dir();
    let dir = tmp.path().join("store");
    closed_store(&dir);
    let counts = count_steps(&dir);
    {
        let store = SwingStore::open(&dir, Default::default()).expect("reopen");
        store.gc().expect("gc");
    }
    let seen = taken(&counts);
    failpoint::clear_for(&dir);
    assert_eq!(
        seen.get("close-blobs"),
        Some(&1),
        "a collection's unlinks are made durable at close: {seen:?}"
    );
    assert_eq!(seen.get("store-create"), None, "{seen:?}");
}

#[test]
fn a_store_left_by_a_creation_cut_short_is_synced_in_its_parent_at_the_next_open() {
    // A creation killed after its mkdir and marker, before kv/: the next open must sync the
    // directory and its parent (store-create) though it creates nothing of the directory.
    let tmp = temp_dir();
    let dir = tmp.path().join("store");
    closed_store(&dir);
    std::fs::remove_dir_all(dir.join("kv")).expect("remove kv/");
    let counts = count_steps(&dir);
    drop(SwingStore::open(&dir, Default::default()).expect("reopen"));
    let seen = taken(&counts);
    failpoint::clear_for(&dir);
    assert!(seen.get("store-create").is_some_and(|n| *n >= 2), "{seen:?}");
    assert!(seen.contains_key("kv-create"), "{seen:?}");
}

#[test]
fn an_open_after_an_unclean_close_or_before_any_commit_syncs_the_store_directory() {
    // A killed process may have left a change of the directory unsynced (`kv/`'s rename of a
    // creation cut short; an import's marker removal cut short, its store still open).
    let tmp = temp_dir();
    let dir = tmp.path().join("store");
    closed_store(&dir);
    SwingStore::open(&dir, Default::default()).expect("open").close_as_if_crashed();
    let counts = count_steps(&dir);
    drop(SwingStore::open(&dir, Default::default()).expect("reopen after a crash"));
    let seen = taken(&counts);
    failpoint::clear_for(&dir);
    assert_eq!(seen.get("store-create"), Some(&2), "after an unclean close: {seen:?}");

    let empty = tmp.path().join("empty");
    drop(SwingStore::create(&empty).expect("create"));
    let counts = count_steps(&empty);
    drop(SwingStore::open(&empty, Default::default()).expect("reopen, nothing committed"));
    let seen = taken(&counts);
    failpoint::clear_for(&empty);
    assert_eq!(seen.get("store-create"), Some(&2), "nothing committed yet: {seen:?}");
}

#[test]
fn reading_a_store_read_only_runs_no_sync_step() {
    let tmp = temp_dir();
    let dir = tmp.path().join("store");
    closed_store(&dir);
    let counts = count_steps(&dir);
    {
        let store = SwingStore::open_read_only(&dir).expect("read-only open");
        store.stats().expect("stats");
    }
    let seen = taken(&counts);
    failpoint::clear_for(&dir);
    assert!(seen.is_empty(), "a read-only open and stats ran sync steps: {seen:?}");
}
