//! The archive tier end to end, on a local directory and on S3 (moto): archive on sweep, get
//! verified, corrupt chunk detected, retention, chunk GC with grace, crash points, fail closed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use archive::{ArchiveGcOptions, Error};
use common::{Backend, base_heap, commit_gc, env, hash_of, heap_version, save_root};
use swingstore::GcOptions;

const HEAP: usize = 600 * 1024;

/// Runs `$body(backend)` as two tests: `local` and `s3`.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn local() {
                ($body)(Backend::Local, concat!(stringify!($name), "-local"));
            }
            #[test]
            fn s3() {
                ($body)(Backend::S3, concat!(stringify!($name), "-s3"));
            }
        }
    };
}

both!(a_replaced_snapshot_is_archived_before_it_is_swept_and_garbage_is_not, |backend, name| {
    let Some(env) = env(name, backend, 0, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    let v1 = heap_version(&base, 1, 1);
    let v2 = heap_version(&base, 1, 2);
    let first = save_root(store, 1, 10, &v1);
    // Garbage: saved, never named by a committed root.
    let junk = store.save_bytes(&heap_version(&base, 9, 9)).expect("save");
    assert!(commit_gc(store, 1).is_empty());
    save_root(store, 1, 20, &v2);
    let errors = commit_gc(store, 3);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!store.contains(&first.hash), "the replaced snapshot is swept");
    assert!(!store.contains(&junk.hash), "the garbage is swept");
    let listed = env.archive.list().expect("ls");
    assert_eq!(listed.len(), 1, "only the once-named snapshot is archived: {listed:?}");
    assert_eq!(listed[0].hash, first.hash.to_hex());
    assert_eq!((listed[0].root.as_str(), listed[0].position), ("v1.lastSnapshot", 10));
    assert_eq!(listed[0].raw_bytes, v1.len() as u64);
    assert_eq!(env.archive.get_bytes(&first.hash).expect("get"), v1);
    assert!(env.archive.get_bytes(&junk.hash).expect_err("not archived").is_not_found());
    // A second archive handle (a new process) reads it too.
    let other = common::open_archive(&env.location, &env.s3_options);
    assert_eq!(other.get_bytes(&first.hash).expect("get"), v1);
    let stats = other.stats().expect("stats");
    assert_eq!((stats.snapshots, stats.raw_bytes), (1, v1.len() as u64));
    assert!(stats.stored_bytes > 0 && stats.stored_bytes < v1.len() as u64 / 2, "{stats:?}");
});

both!(consecutive_snapshots_share_chunks, |backend, name| {
    let Some(env) = env(name, backend, 0, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    let mut hashes = Vec::new();
    for n in 1..=5 {
        let bytes = heap_version(&base, 1, n);
        hashes.push((save_root(store, 1, n * 10, &bytes).hash, bytes));
        assert!(commit_gc(store, 2).is_empty());
    }
    let stats = env.archive.stats().expect("stats");
    assert_eq!(stats.snapshots, 4);
    // Four ~600 KiB snapshots that differ in a few places: far fewer unique chunk bytes.
    assert!(stats.unique_raw_bytes < 2 * HEAP as u64, "{stats:?}");
    for (hash, bytes) in &hashes[..4] {
        assert_eq!(&env.archive.get_bytes(hash).expect("get"), bytes);
    }
    let v = env.archive.verify(true).expect("verify");
    assert!(v.ok && v.snapshots == 4, "{v:?}");
});

both!(a_corrupt_chunk_is_detected_and_never_returned, |backend, name| {
    let Some(env) = env(name, backend, 0, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    let v1 = heap_version(&base, 1, 1);
    let first = save_root(store, 1, 1, &v1);
    commit_gc(store, 1);
    save_root(store, 1, 2, &heap_version(&base, 1, 2));
    assert!(commit_gc(store, 2).is_empty());
    let pack = env
        .archive
        .debug_objects()
        .expect("objects")
        .into_iter()
        .find(|n| n.ends_with(".pack"))
        .expect("a pack");
    let mut bytes = env.archive.debug_get(&pack).expect("get").expect("present");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    env.archive.debug_put(&pack, bytes).expect("put");
    let mut out = Vec::new();
    let err = env.archive.get_into(&first.hash, &mut out).expect_err("a corrupt chunk must fail");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(env.archive.get_bytes(&first.hash).is_err());
    let v = env.archive.verify(true).expect("verify");
    assert!(!v.ok && v.problems.len() == 1, "{v:?}");
    assert!(env.archive.verify(false).expect("verify").ok, "a shallow verify only checks the layout");
});

both!(retention_keeps_the_last_n_of_each_root_and_gc_reclaims_after_grace, |backend, name| {
    let grace = 2;
    let Some(env) = env(name, backend, grace, 2) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    let mut archived = Vec::new();
    for n in 1..=5u64 {
        for vat in [1u64, 2] {
            let bytes = heap_version(&base, vat, n + vat * 100);
            archived.push((vat, n, save_root(store, vat, n, &bytes).hash, bytes));
        }
        assert!(commit_gc(store, 3).is_empty());
    }
    assert_eq!(env.archive.list().expect("ls").len(), 8, "4 replaced snapshots of each vat");
    let before = env.archive.stats().expect("stats");
    let gc = |dry_run| {
        env.archive
            .gc(&ArchiveGcOptions { epoch: store.epoch(), grace, keep_last: 2, budget: None, dry_run })
            .expect("archive gc")
    };
    let dry = gc(true);
    assert_eq!(dry.manifests_dropped, 4);
    assert_eq!(env.archive.list().expect("ls").len(), 8, "a dry run changes nothing");
    let first = gc(false);
    assert_eq!((first.manifests_dropped, first.packs_deleted), (4, 0), "{first:?}");
    assert!(first.packs_condemned > 0, "{first:?}");
    let kept = env.archive.list().expect("ls");
    assert_eq!(kept.len(), 4);
    for vat in [1u64, 2] {
        let mut positions: Vec<u64> =
            kept.iter().filter(|e| e.root == format!("v{vat}.lastSnapshot")).map(|e| e.position).collect();
        positions.sort();
        assert_eq!(positions, vec![3, 4], "the last two replaced snapshots of v{vat}");
    }
    // Inside the grace nothing is deleted, however often the collector runs.
    assert_eq!(gc(false).packs_deleted, 0);
    store.commit().expect("commit");
    assert_eq!(gc(false).packs_deleted, 0);
    store.commit().expect("commit");
    let last = gc(false);
    assert!(last.packs_deleted > 0, "{last:?}");
    let after = env.archive.stats().expect("stats");
    assert!(after.pack_bytes < before.pack_bytes, "{before:?} -> {after:?}");
    // What is kept still reads and verifies; what was dropped is gone.
    for (_, n, hash, bytes) in &archived {
        match *n {
            3 | 4 => assert_eq!(&env.archive.get_bytes(hash).expect("kept"), bytes),
            1 | 2 => assert!(env.archive.get_bytes(hash).expect_err("dropped").is_not_found()),
            _ => {}
        }
    }
    assert!(env.archive.verify(true).expect("verify").ok);
    // Idempotent.
    let again = gc(false);
    assert_eq!((again.manifests_dropped, again.packs_deleted, again.packs_condemned), (0, 0, 0));
});

both!(a_crash_between_pack_and_manifest_keeps_the_blob_and_the_pack_ages_out, |backend, name| {
    let grace = 1;
    let Some(env) = env(name, backend, grace, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    let v1 = heap_version(&base, 1, 1);
    let first = save_root(store, 1, 1, &v1);
    commit_gc(store, 1);
    save_root(store, 1, 2, &heap_version(&base, 1, 2));
    env.archive.set_fault(Some(Arc::new(|point| point == "after_pack")));
    let errors = commit_gc(store, 4);
    assert!(!errors.is_empty(), "the failed archive step is reported");
    assert!(store.contains(&first.hash), "fail closed: the unarchived blob stays");
    assert!(env.archive.list().expect("ls").is_empty());
    let packs = |a: &archive::Archive| {
        a.debug_objects().expect("objects").into_iter().filter(|n| n.ends_with(".pack")).count()
    };
    assert!(packs(&env.archive) >= 1, "the unfinished steps left packs");
    // The fault clears: the next pass archives and sweeps.
    env.archive.set_fault(None);
    assert!(commit_gc(store, 1).is_empty());
    assert!(!store.contains(&first.hash));
    assert_eq!(env.archive.get_bytes(&first.hash).expect("get"), v1);
    let named = env.archive.manifest(&first.hash).expect("manifest").packs();
    // Packs are named by their content: the finished step rewrote the same pack.
    assert_eq!(packs(&env.archive), named.len());
    // A step that never finishes (its snapshot is never archived after all) leaves a pack.
    env.archive.set_fault(Some(Arc::new(|point| point == "after_pack")));
    let named_by = swingstore::NamedBy { key: "v7.lastSnapshot".into(), position: 1, epoch: 1 };
    assert!(env.archive.archive_bytes(&named_by, store.epoch(), &heap_version(&base, 7, 7)).is_err());
    env.archive.set_fault(None);
    assert_eq!(packs(&env.archive), named.len() + 1);
    // The leftover pack: condemned, kept for the grace, then deleted; the named one stays.
    let opts = |epoch| ArchiveGcOptions { epoch, grace, keep_last: 0, budget: None, dry_run: false };
    let r1 = env.archive.gc(&opts(store.epoch())).expect("gc");
    assert!(r1.packs_condemned >= 1 && r1.packs_deleted == 0, "{r1:?}");
    store.commit().expect("commit");
    let r2 = env.archive.gc(&opts(store.epoch())).expect("gc");
    assert_eq!(r2.packs_deleted, r1.packs_condemned, "{r2:?}");
    assert_eq!(packs(&env.archive), named.len());
    assert_eq!(env.archive.get_bytes(&first.hash).expect("get"), v1);
});

both!(a_crash_after_the_manifest_unlinks_on_the_next_pass_without_rearchiving, |backend, name| {
    let Some(env) = env(name, backend, 0, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    let v1 = heap_version(&base, 1, 1);
    let first = save_root(store, 1, 1, &v1);
    commit_gc(store, 1);
    save_root(store, 1, 2, &heap_version(&base, 1, 2));
    let hits = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&hits);
    env.archive.set_fault(Some(Arc::new(move |point| {
        counter.fetch_add(1, Ordering::SeqCst);
        point == "after_manifest"
    })));
    assert!(!commit_gc(store, 1).is_empty());
    assert!(store.contains(&first.hash), "the step did not return: the blob stays");
    let objects = env.archive.debug_objects().expect("objects").len();
    env.archive.set_fault(None);
    assert!(commit_gc(store, 1).is_empty());
    assert!(!store.contains(&first.hash));
    assert_eq!(env.archive.debug_objects().expect("objects").len(), objects, "nothing written again");
    assert_eq!(env.archive.get_bytes(&first.hash).expect("get"), v1);
});

both!(
    an_unattached_archive_keeps_history_and_an_unreadable_manifest_stops_only_its_own_snapshot,
    |backend, name| {
        let Some(env) = env(name, backend, 0, 0) else { return };
        let store = &env.store;
        let base = base_heap(HEAP);
        let first = save_root(store, 1, 1, &heap_version(&base, 1, 1));
        commit_gc(store, 1);
        save_root(store, 1, 2, &heap_version(&base, 1, 2));
        store.clear_archiver();
        let errors = commit_gc(store, 3);
        assert!(errors.iter().any(|e| e.contains("not attached")), "{errors:?}");
        assert!(store.contains(&first.hash), "configured but not attached: kept");
        // An offline pass too.
        let report = store.gc_with(&GcOptions { now: true, ..GcOptions::default() }).expect("gc");
        assert!(!report.errors.is_empty() && store.contains(&first.hash));
        store.set_archiver(Arc::new(archive::StoreArchiver::new(Arc::clone(&env.archive))));
        assert!(commit_gc(store, 1).is_empty());
        assert!(!store.contains(&first.hash));
        // A damaged manifest: the archive's gc deletes no pack (it could name any), keeps
        // going and names it (issue 23: it used to fail whole, and so did every archive step).
        let manifest = format!("manifests/{}.json.zst", first.hash.to_hex());
        env.archive.debug_put(&manifest, b"{not json".to_vec()).expect("put");
        let before = env.archive.debug_objects().expect("objects");
        let report = env
            .archive
            .gc(&ArchiveGcOptions {
                epoch: store.epoch() + 100,
                grace: 0,
                keep_last: 1,
                budget: None,
                dry_run: false,
            })
            .expect("one unreadable manifest does not stop the archive's gc");
        assert_eq!(report.unreadable.len(), 1, "{report:?}");
        assert!(report.unreadable[0].contains(&first.hash.to_hex()), "{report:?}");
        assert_eq!((report.packs_condemned, report.packs_deleted), (0, 0), "{report:?}");
        assert_eq!(env.archive.debug_objects().expect("objects"), before);
        assert!(env.archive.get_bytes(&first.hash).is_err(), "never unverified bytes");
        let (listed, unreadable) = env.archive.listing().expect("ls keeps going");
        assert!(listed.is_empty() && unreadable.len() == 1, "{listed:?} {unreadable:?}");
        // The index loads without it: the next archive step works.
        env.archive.debug_forget_index();
        let third = save_root(store, 1, 3, &heap_version(&base, 1, 3));
        let errors = commit_gc(store, 2);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(env.archive.holds(&hash_of(&heap_version(&base, 1, 2))).expect("holds"));
        assert!(store.contains(&third.hash));
    }
);

both!(the_budget_bounds_deletions_and_the_rest_follows, |backend, name| {
    let Some(env) = env(name, backend, 0, 1) else { return };
    let store = &env.store;
    let base = base_heap(HEAP / 2);
    for n in 1..=5u64 {
        save_root(store, 1, n, &heap_version(&base, 1, n + 50));
        assert!(commit_gc(store, 2).is_empty());
    }
    assert_eq!(env.archive.list().expect("ls").len(), 4);
    let opts =
        ArchiveGcOptions { epoch: store.epoch(), grace: 0, keep_last: 1, budget: Some(2), dry_run: false };
    let r = env.archive.gc(&opts).expect("gc");
    assert_eq!((r.manifests_dropped, r.pending > 0), (2, true), "{r:?}");
    let mut passes = 0;
    while env.archive.gc(&opts).expect("gc").pending > 0 {
        passes += 1;
        assert!(passes < 10);
    }
    assert_eq!(env.archive.list().expect("ls").len(), 1);
    assert!(env.archive.verify(true).expect("verify").ok);
});

#[test]
fn hashes_of_archived_bytes_are_checked_when_the_reader_does_not_verify() {
    let dir = tempfile::tempdir().expect("tmp");
    let archive = archive::Archive::open(&dir.path().display().to_string()).expect("open");
    let named = swingstore::NamedBy { key: "v1.lastSnapshot".into(), position: 1, epoch: 1 };
    let bytes = base_heap(100_000);
    let wrong = hash_of(b"something else");
    let err = archive
        .archive_stream(&wrong, &named, 1, &mut std::io::Cursor::new(&bytes[..]), false)
        .expect_err("a mismatch is refused");
    assert!(matches!(err, Error::Source(_)), "{err}");
    assert!(archive.list().expect("ls").is_empty(), "no manifest for unverified bytes");
    let done = archive.archive_bytes(&named, 1, &bytes).expect("archive");
    assert_eq!(done.raw_bytes, bytes.len() as u64);
    assert!(archive.archive_bytes(&named, 2, &bytes).expect("again").already);
    let empty = archive.archive_bytes(&named, 3, b"").expect("empty snapshot");
    assert_eq!(empty.chunks, 0);
    assert_eq!(archive.get_bytes(&hash_of(b"")).expect("get"), b"");
}

#[test]
fn the_archive_config_survives_a_reopen_and_history_waits_for_an_archiver() {
    let Some(env) = env("reopen", Backend::Local, 0, 3) else { return };
    let base = base_heap(HEAP / 2);
    let first = save_root(&env.store, 1, 1, &heap_version(&base, 1, 1));
    commit_gc(&env.store, 1);
    save_root(&env.store, 1, 2, &heap_version(&base, 1, 2));
    env.store.commit().expect("commit");
    let path = env.store.path().to_owned();
    let location = env.location.clone();
    drop(env.store);
    let store =
        swingstore::SwingStore::open(&path, swingstore::OpenOptions { create: false }).expect("reopen");
    assert_eq!(
        store.archive_config(),
        Some(swingstore::ArchiveConfig { location: location.clone(), keep_last: 3 })
    );
    // A process that opens the store and does not attach the archive collects nothing of history.
    assert!(!commit_gc(&store, 2).is_empty());
    assert!(store.contains(&first.hash));
    let archive = archive::attach(&store).expect("attach").expect("configured");
    assert!(commit_gc(&store, 1).is_empty());
    assert!(!store.contains(&first.hash));
    assert!(archive.contains(&first.hash).expect("head"));
    store.set_archive_config(None).expect("no archive");
    assert_eq!(store.archive_config(), None);
    drop(store);
    let store =
        swingstore::SwingStore::open(&path, swingstore::OpenOptions { create: false }).expect("reopen");
    assert_eq!(store.archive_config(), None);
}

both!(a_debug_state_export_ships_archived_history_and_an_operational_one_does_not, |backend, name| {
    let Some(env) = env(name, backend, 0, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    let versions: Vec<Vec<u8>> = (1..=3).map(|n| heap_version(&base, 1, n)).collect();
    for (i, bytes) in versions.iter().enumerate() {
        save_root(store, 1, (i as u64 + 1) * 10, bytes);
        assert!(commit_gc(store, 2).is_empty());
    }
    let old: Vec<_> = versions[..2].iter().map(|b| hash_of(b)).collect();
    assert!(old.iter().all(|h| !store.contains(h)), "the replaced snapshots were swept");

    let read_export = |dir: &std::path::Path| -> std::collections::BTreeMap<String, Vec<u8>> {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("export-manifest.json")).expect("manifest"))
                .expect("manifest json");
        manifest["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .map(|pair| {
                let name = pair[0].as_str().expect("name").to_owned();
                let file = pair[1].as_str().expect("file");
                (name, std::fs::read(dir.join(file)).expect("artifact"))
            })
            .collect()
    };
    let debug = env.dir.path().join("debug");
    swingstore::export_to_dir(store, &debug, swingstore::ArtifactMode::Debug).expect("debug export");
    let shipped = read_export(&debug);
    assert_eq!(shipped.len(), 3, "{:?}", shipped.keys());
    for (i, bytes) in versions.iter().enumerate() {
        let name = format!("snapshot.v1.{}", (i + 1) * 10);
        assert!(shipped.get(&name) == Some(bytes), "{name}: the archived bytes, verified");
    }
    let operational = env.dir.path().join("operational");
    swingstore::export_to_dir(store, &operational, swingstore::ArtifactMode::Operational).expect("export");
    assert_eq!(read_export(&operational).keys().collect::<Vec<_>>(), ["snapshot.v1.30"]);

    // The debug export imports (every artifact verified again) into a fresh store.
    let target = env.dir.path().join("imported");
    let options = swingstore::ImportOptions { mode: swingstore::ArtifactMode::Debug, ..Default::default() };
    let report = swingstore::import_from_dir(&target, &debug, &options).expect("import");
    assert_eq!(report.artifacts, 3, "{report:?}");
    let imported = swingstore::SwingStore::open(&target, swingstore::OpenOptions::default()).expect("open");
    assert!(old.iter().all(|h| imported.contains(h)), "history imported");

    // Without an archiver attached, a debug export ships only what the store holds.
    store.clear_archiver();
    let bare = env.dir.path().join("bare");
    swingstore::export_to_dir(store, &bare, swingstore::ArtifactMode::Debug).expect("export");
    assert_eq!(read_export(&bare).len(), 1);
});

/// The failpoint between the archive step and the unlink (`sweep.after_archive`): a failure
/// there keeps the blob (reported, not unlinked) with its history already archived; the next
/// pass unlinks it without archiving it again.
#[test]
fn a_failure_after_the_archive_step_keeps_the_blob_and_the_next_pass_unlinks_it() {
    use swingstore::failpoint::{self, Action, points};
    let Some(env) = env("after-archive", Backend::Local, 0, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP / 2);
    let v1 = heap_version(&base, 1, 1);
    let first = save_root(store, 1, 1, &v1);
    commit_gc(store, 1);
    save_root(store, 1, 2, &heap_version(&base, 1, 2));
    failpoint::set_for(store.path(), points::SWEEP_AFTER_ARCHIVE, Action::Fail);
    let errors = commit_gc(store, 1);
    failpoint::clear_for(store.path());
    assert!(errors.iter().any(|e| e.contains("after archiving")), "{errors:?}");
    assert!(store.contains(&first.hash), "the point fired before the unlink: the blob stays");
    assert_eq!(env.archive.get_bytes(&first.hash).expect("archived"), v1);
    let objects = env.archive.debug_objects().expect("objects").len();
    assert!(commit_gc(store, 1).is_empty());
    assert!(!store.contains(&first.hash), "the next pass unlinks it");
    assert_eq!(env.archive.debug_objects().expect("objects").len(), objects, "nothing archived again");
}
