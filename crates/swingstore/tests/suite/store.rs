//! The swingStore foundation: kv blocks, durability, the snapshot store and its checks.

use std::fs;
use std::io::Read;
use std::process::Command;

use crate::common::*;
use swingstore::{Error, OpenOptions, SnapshotHash, SwingStore};

#[test]
fn read_your_writes_commit_abort_and_epochs() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    assert_eq!(store.epoch(), 0);
    store.kv().set("a", "1");
    store.kv().set("b", "2");
    assert_eq!(store.kv().get("a")?.as_deref(), Some("1"));
    assert_eq!(store.kv().get_committed("a")?, None);
    assert_eq!(store.commit()?, 1);
    assert_eq!(store.kv().get_committed("a")?.as_deref(), Some("1"));

    store.kv().set("a", "changed");
    store.kv().delete("b");
    store.kv().set("c", "3");
    assert_eq!(store.kv().get("a")?.as_deref(), Some("changed"));
    assert_eq!(store.kv().get("b")?, None);
    assert_eq!(store.kv().scan_prefix("")?, vec![("a".into(), "changed".into()), ("c".into(), "3".into())]);
    assert_eq!(store.kv().next_key("a")?.as_deref(), Some("c"));
    store.abort();
    assert_eq!(store.kv().get("a")?.as_deref(), Some("1"));
    assert_eq!(store.kv().get("b")?.as_deref(), Some("2"));
    assert_eq!(store.kv().get("c")?, None);
    assert_eq!(store.epoch(), 1, "abort does not advance the epoch");
    assert_eq!(store.commit()?, 2, "an empty block still advances the epoch");
    Ok(())
}

#[test]
fn a_block_is_all_or_nothing_across_a_reopen() -> swingstore::Result<()> {
    let dir = temp_dir();
    {
        let store = SwingStore::create(dir.path())?;
        for i in 0..500 {
            store.kv().set(&format!("k{i:04}"), &format!("v{i}"));
        }
        store.commit()?;
        for i in 0..500 {
            store.kv().set(&format!("k{i:04}"), "uncommitted");
        }
        store.kv().set("new", "x");
        // Dropped with a staged block: nothing of it may survive.
    }
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    assert_eq!(store.epoch(), 1);
    let all = store.kv().scan_prefix("k")?;
    assert_eq!(all.len(), 500);
    assert!(
        all.iter()
            .all(|(k, v)| v == &format!("v{}", &k[1..].trim_start_matches('0').parse::<u32>().unwrap_or(0)))
    );
    assert_eq!(store.kv().get("new")?, None);
    Ok(())
}

/// Child half of `commit_is_durable_when_it_returns` (run by it, in a process of its own):
/// commits, then dies without any clean-up (no destructor, no flush).
#[test]
#[ignore = "the child half of commit_is_durable_when_it_returns, which runs it"]
fn child_commit_then_abort() {
    let dir = std::env::var("SWINGSTORE_TEST_CHILD_DIR").expect("run by commit_is_durable_when_it_returns");
    let store = SwingStore::create(&dir).expect("open");
    store.kv().set("durable", "yes");
    let saved = store.save_bytes(&content(7)).expect("save");
    set_root(&store, 1, &saved.hash);
    store.commit().expect("commit");
    std::process::abort();
}

#[test]
fn commit_is_durable_when_it_returns() -> swingstore::Result<()> {
    let dir = tempfile::tempdir().expect("tempdir"); // a real disk, not tmpfs
    let status = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "store::child_commit_then_abort", "--ignored", "--nocapture", "--test-threads=1"])
        .env("SWINGSTORE_TEST_CHILD_DIR", dir.path())
        .status()
        .expect("child runs");
    assert!(!status.success(), "the child must die by abort");
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    assert_eq!(store.epoch(), 1);
    assert_eq!(store.kv().get("durable")?.as_deref(), Some("yes"));
    let hash = SnapshotHash::of(&content(7));
    assert_eq!(store.load_bytes(&hash)?, content(7));
    // The unclean close is noticed: the next collection lists the blob area.
    let report = store.gc()?;
    assert!(!report.skipped);
    assert_eq!(report.live, 1);
    Ok(())
}

#[test]
fn save_and_load_round_trip_real_heaps() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let heap = fixture_heap();
    let saved = store.save_bytes(&heap)?;
    assert_eq!(saved.hash.to_hex(), FIXTURE_HASH);
    assert_eq!(saved.raw_bytes, heap.len() as u64);
    assert!(saved.stored_bytes * 2 < saved.raw_bytes, "lz4 should compress a real heap well");
    assert_eq!(store.load_bytes(&saved.hash)?, heap);
    let mut streamed = Vec::new();
    store
        .load(&saved.hash)?
        .read_to_end(&mut streamed)
        .map_err(|e| swingstore::into_store_error(e, &saved.hash))?;
    assert_eq!(streamed, heap);

    for path in corpus_heaps() {
        let bytes = fs::read(&path).expect("corpus heap");
        let saved = store.save(&mut fs::File::open(&path).expect("open"))?;
        assert_eq!(saved.hash, SnapshotHash::of(&bytes), "{}", path.display());
        assert_eq!(store.verify_blob(&saved.hash)?, bytes.len() as u64);
    }
    Ok(())
}

#[test]
fn empty_and_chunk_boundary_sizes_round_trip() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    for len in [0usize, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20] {
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let saved = store.save_bytes(&bytes)?;
        assert_eq!(saved.hash, SnapshotHash::of(&bytes));
        assert_eq!(store.load_bytes(&saved.hash)?, bytes, "len {len}");
    }
    Ok(())
}

#[test]
fn same_bytes_same_hash_one_file() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(1))?;
    let b = store.save_bytes(&content(1))?;
    assert_eq!(a.hash, b.hash);
    assert!(!a.deduplicated);
    assert!(b.deduplicated);
    assert_eq!(blob_files(&store).len(), 1);
    assert!(fs::read_dir(dir.path().join("tmp")).map(|d| d.count()).unwrap_or(0) == 0, "no temp left");
    Ok(())
}

fn corrupt_and_expect(mutate: impl FnOnce(&std::path::Path)) -> Error {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path()).expect("store");
    // Two heaps back to back: more than one 4 MiB LZ4 block.
    let heap = fixture_heap();
    let mut bytes = heap.clone();
    bytes.extend(heap.iter().rev());
    let saved = store.save_bytes(&bytes).expect("save");
    let path = dir.path().join("snapshots").join(format!("{}.lz4", saved.hash));
    mutate(&path);
    let Err(err) = store.load_bytes(&saved.hash) else { panic!("a damaged blob must not load") };
    let mut sink = Vec::new();
    let streamed = store
        .load(&saved.hash)
        .and_then(|mut r| r.read_to_end(&mut sink).map_err(|e| swingstore::into_store_error(e, &saved.hash)));
    assert!(streamed.is_err(), "the streaming reader must fail too");
    err
}

#[test]
fn bit_flipped_blob_is_a_typed_error() {
    let err = corrupt_and_expect(|p| {
        let mut bytes = fs::read(p).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x10;
        fs::write(p, bytes).expect("write");
    });
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn truncated_blob_is_a_typed_error() {
    // Cut at an LZ4 block boundary: the frame decodes "successfully" to a prefix, and only the
    // length and hash catch it. The first block holds 4 MiB of raw input, so cut after the
    // frame header plus the first block.
    let err = corrupt_and_expect(|p| {
        let bytes = fs::read(p).expect("read");
        let first_block = u32::from_le_bytes(bytes[7..11].try_into().expect("4 bytes")) & 0x7fff_ffff;
        let cut = 7 + 4 + first_block as usize;
        assert!(cut + 100 < bytes.len(), "the blob must have a second block");
        fs::write(p, &bytes[..cut]).expect("write");
    });
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let err = corrupt_and_expect(|p| {
        let bytes = fs::read(p).expect("read");
        fs::write(p, &bytes[..bytes.len() - 20]).expect("write");
    });
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn wrong_content_under_a_name_is_a_typed_error() {
    let err = corrupt_and_expect(|p| {
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut enc, &fixture_heap()[..1000]).expect("encode");
        fs::write(p, enc.finish().expect("finish")).expect("write");
    });
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn missing_blob_is_not_found_and_bad_names_never_reach_a_path() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let absent = SnapshotHash::of(b"never saved");
    assert!(matches!(store.load_bytes(&absent), Err(Error::NotFound { .. })));
    for bad in ["../../etc/passwd", "../kv/db", "", "ABCDEF"] {
        assert!(matches!(SnapshotHash::parse(bad), Err(Error::InvalidHash { .. })));
    }
    Ok(())
}

#[test]
fn second_open_is_refused_with_a_clear_message() -> swingstore::Result<()> {
    let dir = temp_dir();
    let _held = SwingStore::create(dir.path())?;
    let err = SwingStore::open(dir.path(), OpenOptions::default()).expect_err("second open refused");
    assert!(matches!(err, Error::InUse { .. }), "{err:?}");
    assert!(err.to_string().contains("in use by another process"), "{err}");
    Ok(())
}

#[test]
fn read_only_open_does_not_create_a_store() {
    let dir = temp_dir();
    let missing = dir.path().join("nope");
    assert!(matches!(SwingStore::open(&missing, OpenOptions::default()), Err(Error::NoStore { .. })));
    assert!(!missing.exists());
    assert!(matches!(SwingStore::open(dir.path(), OpenOptions::default()), Err(Error::NoStore { .. })));
}

#[test]
fn reopen_after_a_leftover_sled_generating_snapshot() -> swingstore::Result<()> {
    let dir = temp_dir();
    {
        let store = SwingStore::create(dir.path())?;
        store.kv().set("k", "v");
        store.commit()?;
    }
    // What a kill in the middle of sled's snapshot write leaves behind.
    fs::write(dir.path().join("kv").join("snap.00000000DEADBEEF.generating"), b"torn").expect("write");
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    assert_eq!(store.kv().get("k")?.as_deref(), Some("v"));
    assert!(!dir.path().join("kv").join("snap.00000000DEADBEEF.generating").exists());
    Ok(())
}

#[test]
fn fixture_written_by_an_earlier_version_still_loads() -> swingstore::Result<()> {
    let dir = temp_dir();
    let hash = SnapshotHash::parse(FIXTURE_HASH)?;
    {
        let _store = SwingStore::create(dir.path())?;
    }
    fs::copy(fixture_blob(), dir.path().join("snapshots").join(format!("{FIXTURE_HASH}.lz4"))).expect("copy");
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    assert_eq!(store.verify_blob(&hash)?, 2_429_523);
    assert_eq!(SnapshotHash::of(&store.load_bytes(&hash)?), hash);
    Ok(())
}

#[test]
fn blob_files_are_standard_lz4_frames() -> swingstore::Result<()> {
    if Command::new("lz4").arg("--version").output().is_err() {
        skip("blob_files_are_standard_lz4_frames", "the lz4 tool is absent (apt-get install lz4)");
        return Ok(());
    }
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let heap = fixture_heap();
    let saved = store.save_bytes(&heap)?;
    let out = Command::new("lz4")
        .args(["-d", "-c"])
        .arg(dir.path().join("snapshots").join(format!("{}.lz4", saved.hash)))
        .output()
        .expect("lz4 runs");
    assert!(out.status.success());
    assert_eq!(SnapshotHash::of(&out.stdout), saved.hash);
    Ok(())
}

#[test]
fn range_scans_merge_the_open_block() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    for k in ["a", "b1", "b2", "b3", "c"] {
        store.kv().set(k, k);
    }
    store.commit()?;
    store.kv().delete("b2");
    store.kv().set("b25", "new");
    let keys = |pairs: Vec<(String, String)>| pairs.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(keys(store.kv().scan_range("b", "c")?), vec!["b1", "b25", "b3"]);
    assert_eq!(keys(store.kv().scan_prefix("b")?), vec!["b1", "b25", "b3"]);
    assert_eq!(keys(store.kv().scan_prefix("")?), vec!["a", "b1", "b25", "b3", "c"]);
    assert_eq!(keys(store.kv().scan_range("b2", "b3")?), vec!["b25"]);
    Ok(())
}

#[test]
fn bytes_after_the_frame_are_corruption_on_every_load_path() {
    let err = corrupt_and_expect(|p| {
        let mut bytes = fs::read(p).expect("read");
        bytes.extend_from_slice(b"extra");
        fs::write(p, bytes).expect("write");
    });
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn a_streaming_reader_that_failed_keeps_failing() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let saved = store.save_bytes(&content(3))?;
    let path = dir.path().join("snapshots").join(format!("{}.lz4", saved.hash));
    let mut bytes = fs::read(&path).expect("read");
    bytes.push(0);
    fs::write(&path, bytes).expect("write");
    let mut reader = store.load(&saved.hash)?;
    let mut out = Vec::new();
    assert!(reader.read_to_end(&mut out).is_err());
    let mut more = [0u8; 16];
    assert!(reader.read(&mut more).is_err(), "a reader that reported corruption must not turn verified");
    assert!(reader.read(&mut more).is_err());
    Ok(())
}

/// Values over 4 KiB are chunked: they read back whole (after a reopen too), shrink, grow and
/// go away cleanly, and sled never writes a value file of its own (which it does not make
/// crash-safe: docs/CRASH-SAFETY.md).
#[test]
fn large_values_are_chunked_and_sled_writes_no_value_file() -> swingstore::Result<()> {
    let dir = temp_dir();
    let big = |n: usize, c: char| std::iter::repeat_n(c, n).collect::<String>();
    let value_files =
        |dir: &std::path::Path| fs::read_dir(dir.join("kv/blobs")).map(|d| d.count()).unwrap_or(0);
    {
        let store = SwingStore::create(dir.path())?;
        store.kv().set("a.big", &big(1_000_000, 'a'));
        store.kv().set("b.small", "x");
        store.kv().set("c.edge", &big(4096, 'c'));
        store.kv().set("d.edge", &big(4097, 'd'));
        store.commit()?;
        assert_eq!(store.kv().get_committed("a.big")?.map(|v| v.len()), Some(1_000_000));
        store.kv().set("a.big", &big(300_000, 'b'));
        store.commit()?;
        let keys: Vec<String> = store.kv().scan_prefix("")?.into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a.big", "b.small", "c.edge", "d.edge"]);
    }
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    assert_eq!(store.kv().get("a.big")?, Some(big(300_000, 'b')));
    assert_eq!(store.kv().get("d.edge")?, Some(big(4097, 'd')));
    // Multi-byte characters split across chunks still read back.
    store.kv().set("e.utf8", &big(10_000, 'é'));
    store.kv().set("a.big", "small again");
    store.commit()?;
    assert_eq!(store.kv().get_committed("e.utf8")?, Some(big(10_000, 'é')));
    assert_eq!(store.kv().get_committed("a.big")?.as_deref(), Some("small again"));
    store.kv().delete("e.utf8");
    store.commit()?;
    assert_eq!(store.kv().get_committed("e.utf8")?, None);
    assert_eq!(value_files(dir.path()), 0, "sled wrote a value file");
    // A long value under a root key is a bad root (indexed short), not a 1 MB index entry.
    store.kv().set("v1.lastSnapshot", &big(100_000, '{'));
    store.commit()?;
    assert!(matches!(store.gc(), Err(Error::BadRoot { .. })));
    drop(store);
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    assert!(matches!(store.gc(), Err(Error::BadRoot { .. })), "the same after a reopen");
    Ok(())
}

/// Every snapshot a root ever named is recorded with its position, in the commit that set it,
/// and outlives the blob; the last root to name a snapshot is known until the blob goes.
#[test]
fn root_history_records_every_snapshot_a_root_named() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(1))?.hash;
    let b = store.save_bytes(&content(2))?.hash;
    store.kv().set("v1.lastSnapshot", &swingstore::format_root_value(&a, 200));
    store.commit()?;
    store.kv().set("v1.lastSnapshot", &swingstore::format_root_value(&b, 400));
    store.kv().set("v2.lastSnapshot", &swingstore::format_root_value(&a, 7));
    store.abort();
    store.kv().set("v1.lastSnapshot", &swingstore::format_root_value(&b, 400));
    store.kv().set("v1.vs.other", "not a root");
    store.commit()?;
    let history: Vec<(String, u64, SnapshotHash)> =
        store.root_history()?.into_iter().map(|r| (r.key, r.position, r.hash)).collect();
    assert_eq!(history, vec![("v1.lastSnapshot".into(), 200, a), ("v1.lastSnapshot".into(), 400, b)]);
    let named = store.named_by(&a)?.expect("a was named");
    assert_eq!((named.key.as_str(), named.position, named.epoch), ("v1.lastSnapshot", 200, 1));
    // Once a is swept, who named it is forgotten; the history record stays.
    for _ in 0..2 {
        store.commit()?;
        store.gc_with(&swingstore::GcOptions { grace: Some(0), ..Default::default() })?;
    }
    assert!(!store.contains(&a));
    assert_eq!(store.named_by(&a)?, None);
    assert_eq!(store.root_history()?.len(), 2);
    Ok(())
}
