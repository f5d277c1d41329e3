//! The collector's guards: a configuration that could not be read back, a change or an offline
//! pass with a block open, what `verify` reports, and orphans that do not verify.

use std::fs;

use crate::common::*;
use swingstore::{Error, GcConfig, GcOptions, OpenOptions, SnapshotHash, SwingStore};

#[test]
fn a_config_that_could_not_be_read_back_is_refused() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let long = GcConfig { root_patterns: vec![format!("v*.{}", "x".repeat(70_000))], grace: 2 };
    assert!(matches!(store.set_config(long), Err(Error::Config(_))));
    let many = GcConfig { root_patterns: (0..15_000).map(|i| format!("p{i}.*")).collect(), grace: 2 };
    assert!(matches!(store.set_config(many), Err(Error::Config(_))));
    drop(store);
    // The store still opens (the refused configs were never written).
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    assert_eq!(store.config(), GcConfig::default());
    Ok(())
}

#[test]
fn verify_reports_missing_corrupt_orphans_and_bad_roots() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&fixture_heap())?;
    let b = store.save_bytes(&content(2))?;
    let c = store.save_bytes(&content(3))?;
    set_root(&store, 1, &a.hash);
    set_root(&store, 2, &b.hash);
    store.kv().set("v3.lastSnapshot", "garbage");
    store.commit()?;
    assert_eq!(store.verify(true, None)?.bad_roots, vec!["v3.lastSnapshot".to_owned()]);
    let blob = |h: &SnapshotHash| dir.path().join("snapshots").join(format!("{h}.lz4"));
    let mut bytes = fs::read(blob(&a.hash)).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(blob(&a.hash), bytes).expect("write");
    fs::remove_file(blob(&b.hash)).expect("rm");
    fs::write(dir.path().join("snapshots").join(format!("{}.lz4", SnapshotHash::of(b"x"))), b"?").expect("w");
    let shallow = store.verify(false, None)?;
    assert_eq!(shallow.missing, vec![b.hash.to_hex()]);
    assert!(shallow.corrupt.is_empty(), "a same-size bit flip needs --deep");
    let deep = store.verify(true, None)?;
    assert!(!deep.ok);
    assert_eq!(deep.corrupt, vec![a.hash.to_hex()]);
    assert_eq!(deep.orphans, vec![format!("{}.lz4", SnapshotHash::of(b"x"))]);
    assert!(store.contains(&c.hash));
    Ok(())
}

#[test]
fn an_orphan_that_does_not_verify_is_quarantined_once() -> swingstore::Result<()> {
    let dir = temp_dir();
    let bogus = SnapshotHash::of(b"claimed");
    {
        let store = SwingStore::create(dir.path())?;
        store.commit()?;
    }
    fs::write(dir.path().join("snapshots").join(format!("{bogus}.lz4")), b"not an lz4 frame").expect("write");
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    let report = store.gc_with(&GcOptions { scan: true, ..GcOptions::default() })?;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(dir.path().join("snapshots").join(format!("{bogus}.lz4.corrupt")).exists(), "kept, renamed");
    let again = store.gc_with(&GcOptions { scan: true, ..GcOptions::default() })?;
    assert!(again.errors.is_empty(), "not decoded again: {:?}", again.errors);
    assert_eq!(again.strays, vec![format!("{bogus}.lz4.corrupt")]);
    assert!(store.gc()?.skipped, "a reported leftover does not block the O(1) pass");
    Ok(())
}

#[test]
fn an_offline_pass_refuses_to_run_with_an_open_block() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(1))?;
    set_root(&store, 1, &a.hash);
    let now = store.gc_with(&GcOptions { now: true, ..GcOptions::default() });
    assert!(matches!(now, Err(Error::BlockOpen { .. })), "{now:?}");
    let text = now.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!text.contains("invalid configuration"), "{text}");
    assert!(store.contains(&a.hash));
    store.commit()?;
    assert_eq!(store.gc_with(&GcOptions { now: true, ..GcOptions::default() })?.swept, 0);
    Ok(())
}

#[test]
fn a_configuration_change_with_an_open_block_is_block_open_not_invalid_configuration()
-> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    store.kv().set("v1.vs.x", "staged");
    let refused = store.set_config(GcConfig::default());
    assert!(matches!(refused, Err(Error::BlockOpen { .. })), "{refused:?}");
    let text = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("open block") && !text.contains("invalid configuration"), "{text}");
    store.commit()?;
    store.set_config(GcConfig::default())?;
    Ok(())
}
