//! Which directories are stores (issue 23 item 4), the format gate and the committed fixtures
//! of every layout a release wrote (issue 24 item 3): what a store adopts, what it refuses, and
//! that it never removes a file it did not write.

use std::fs;
use std::path::{Path, PathBuf};

use swingstore::{
    ArchiveConfig, Error, GcConfig, ImportOptions, OpenOptions, SnapshotHash, SwingStore, export_to_dir,
    format_root_value, import_from_dir,
};

use crate::common::{content, temp_dir};

/// A copy of `fixtures/<name>` in a temp dir (tests never open the committed files).
pub fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name);
    let tmp = temp_dir();
    let to = tmp.path().join(name);
    copy_tree(&from, &to);
    (tmp, to)
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn not_a_store(result: swingstore::Result<SwingStore>) -> String {
    match result {
        Err(Error::NoStore { reason, .. }) => reason,
        other => panic!("expected NoStore, got {other:?}"),
    }
}

#[test]
fn a_directory_whose_kv_holds_someones_files_is_not_a_store() {
    let tmp = temp_dir();
    let p = tmp.path().join("P");
    fs::create_dir_all(p.join("kv")).expect("mkdir");
    fs::write(p.join("kv/notes.txt"), b"x").expect("write");
    let reason = not_a_store(SwingStore::open(&p, OpenOptions { create: false }));
    assert!(reason.contains("not a snapgc store"), "{reason}");
    not_a_store(SwingStore::open(&p, OpenOptions { create: true }));
    assert!(SwingStore::open_read_only(&p).is_err());
    assert_eq!(fs::read(p.join("kv/notes.txt")).expect("kept"), b"x", "never deleted");
    let names: Vec<_> = fs::read_dir(&p).expect("ls").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("kv")], "nothing written beside it");
}

#[test]
fn a_marked_store_whose_kv_holds_someones_files_is_refused_not_emptied() {
    let tmp = temp_dir();
    let p = tmp.path().join("P");
    fs::create_dir_all(p.join("kv")).expect("mkdir");
    fs::write(p.join("SNAPGC-STORE"), b"snapgc store\nformat 1\n").expect("marker");
    fs::write(p.join("kv/notes.txt"), b"x").expect("write");
    let reason = not_a_store(SwingStore::open(&p, OpenOptions { create: false }));
    assert!(reason.contains("sled never writes"), "{reason}");
    assert_eq!(fs::read(p.join("kv/notes.txt")).expect("kept"), b"x");
}

#[test]
fn an_empty_kv_left_by_a_creation_cut_short_is_replaced() -> swingstore::Result<()> {
    let tmp = temp_dir();
    let p = tmp.path().join("P");
    fs::create_dir_all(p.join("kv/blobs")).expect("mkdir");
    fs::write(p.join("SNAPGC-STORE"), b"snapgc store\nformat 1\n").expect("marker");
    let store = SwingStore::open(&p, OpenOptions { create: false })?;
    store.kv().set("a", "1");
    store.commit()?;
    assert!(p.join("kv/db").is_file());
    Ok(())
}

#[test]
fn a_stray_import_marker_beside_someones_files_does_nothing() {
    let tmp = temp_dir();
    let p = tmp.path().join("photos");
    fs::create_dir_all(&p).expect("mkdir");
    fs::write(p.join("IMPORT-INCOMPLETE"), b"").expect("stray");
    fs::write(p.join("cat.jpg"), b"meow").expect("photo");
    let export = tmp.path().join("export");
    let source = SwingStore::create(tmp.path().join("src")).expect("create");
    source.commit().expect("commit");
    export_to_dir(&source, &export, swingstore::ArtifactMode::Operational).expect("export");
    let result = import_from_dir(&p, &export, &ImportOptions::default());
    assert!(matches!(result, Err(Error::ImportRefused { .. })), "{result:?}");
    assert_eq!(fs::read(p.join("cat.jpg")).expect("kept"), b"meow");
    assert!(p.join("IMPORT-INCOMPLETE").exists(), "not ours to remove");
    assert!(!p.join("LOCK").exists() && !p.join("kv").exists(), "nothing written");
    // Opening it is refused too (the marker), and removes nothing.
    not_a_store(SwingStore::open(&p, OpenOptions { create: true }));
    assert_eq!(fs::read(p.join("cat.jpg")).expect("kept"), b"meow");
}

#[test]
fn an_import_wipes_only_the_store_names_of_an_unused_store() {
    let tmp = temp_dir();
    let p = tmp.path().join("t");
    drop(SwingStore::create(&p).expect("create"));
    fs::write(p.join("README"), b"my notes").expect("write");
    let export = tmp.path().join("export");
    let source = SwingStore::create(tmp.path().join("src")).expect("create");
    source.commit().expect("commit");
    export_to_dir(&source, &export, swingstore::ArtifactMode::Operational).expect("export");
    let result = import_from_dir(&p, &export, &ImportOptions::default());
    match result {
        Err(Error::NoStore { reason, .. }) => assert!(reason.contains("README"), "{reason}"),
        other => panic!("expected a refusal naming README, got {other:?}"),
    }
    assert_eq!(fs::read(p.join("README")).expect("kept"), b"my notes");
    // Without it, the unused store is an empty target.
    fs::remove_file(p.join("README")).expect("rm");
    import_from_dir(&p, &export, &ImportOptions::default()).expect("import");
}

fn write_marker(dir: &Path, text: &str) {
    fs::write(dir.join("SNAPGC-STORE"), text).expect("marker");
}

#[test]
fn a_store_of_an_unknown_format_is_refused_with_what_to_do() {
    let tmp = temp_dir();
    let p = tmp.path().join("S");
    let store = SwingStore::create(&p).expect("create");
    store.kv().set("a", "1");
    store.commit().expect("commit");
    drop(store);
    assert_eq!(fs::read_to_string(p.join("SNAPGC-STORE")).expect("marker"), "snapgc store\nformat 1\n");
    let kv_before = fs::read(p.join("kv/conf")).expect("conf");
    for (text, found, says) in [
        ("snapgc store\nformat 2\n", "2", "newer snapgc"),
        ("snapgc store\nformat 0\n", "0", "no release"),
        ("snapgc store\nformat two\n", "two", "damaged"),
        ("snapgc store\n", "names no format", "damaged"),
        ("garbage", "snapgc store", "damaged"),
    ] {
        write_marker(&p, text);
        for opened in [
            SwingStore::open(&p, OpenOptions { create: false }),
            SwingStore::open(&p, OpenOptions { create: true }),
            SwingStore::open_read_only(&p),
        ] {
            match opened {
                Err(Error::UnsupportedFormat { found: f, supported, hint, .. }) => {
                    assert!(f.contains(found), "{text:?}: found {f:?}");
                    assert_eq!(supported, 1);
                    assert!(hint.contains(says), "{text:?}: {hint}");
                }
                other => panic!("{text:?}: expected UnsupportedFormat, got {other:?}"),
            }
        }
        // An import does not take it over either.
        let result = import_from_dir(&p, tmp.path(), &ImportOptions::default());
        assert!(matches!(result, Err(Error::UnsupportedFormat { .. })), "{text:?}: {result:?}");
        assert_eq!(fs::read_to_string(p.join("SNAPGC-STORE")).expect("marker"), text, "marker untouched");
    }
    assert_eq!(fs::read(p.join("kv/conf")).expect("conf"), kv_before, "nothing changed");
    let message = Error::UnsupportedFormat {
        path: p.clone(),
        found: "2".into(),
        supported: 1,
        hint: "it was written by a newer snapgc".into(),
    }
    .to_string();
    assert!(message.contains("format 2") && message.contains("reads format 1"), "{message}");
    write_marker(&p, "snapgc store\nformat 1\n");
    let store = SwingStore::open(&p, OpenOptions::default()).expect("format 1 opens");
    assert_eq!(store.kv().get("a").expect("get").as_deref(), Some("1"));
}

fn hash(text: &str) -> SnapshotHash {
    SnapshotHash::parse(text).expect("hash")
}

// The fixture store (fixtures/README.md): `heap one\n` (H1) was v1's snapshot at position 4,
// replaced by `heap three\n` (H3) at 12, archived and swept; v2 names `heap two\n` (H2) at 9.
const H1: &str = "71dab29c5d2a8a5b8c266c5742b78ec2dfbd5b0a193c3d8225d7316299318765";
const H2: &str = "b257d68a46a8aba8188a9bec3778e34582f87448d5a14714142208e9d14b1b2c";
const H3: &str = "b8f64f403c35f96509dd951fb20a6b0258f3e33ad1e7677a5261a9badb8c4a0a";

/// What both fixtures hold, read back through the API; then the store works on. The format-1
/// fixture also has root history, named-by records and an archive (`current`).
fn check_fixture_store(store: &SwingStore, current: bool) -> swingstore::Result<()> {
    let kv = store.kv();
    assert_eq!(kv.get("kernel.note")?.as_deref(), Some("fixture"));
    assert_eq!(kv.get("v1.lastSnapshot")?, Some(format_root_value(&hash(H3), 12)));
    assert_eq!(kv.get("v2.lastSnapshot")?, Some(format_root_value(&hash(H2), 9)));
    assert_eq!(store.load_bytes(&hash(H3))?, b"heap three\n");
    assert_eq!(store.load_bytes(&hash(H2))?, b"heap two\n");
    assert_eq!(store.config(), GcConfig::default());
    assert!(!store.contains(&hash(H1)), "replaced and swept");
    if current {
        let history = store.root_history()?;
        assert!(
            history.iter().any(|u| u.key == "v1.lastSnapshot" && u.position == 4 && u.hash == hash(H1)),
            "{history:?}"
        );
        let named = store.named_by(&hash(H3))?.expect("named-by record");
        assert_eq!((named.key.as_str(), named.position), ("v1.lastSnapshot", 12));
        let config = store.archive_config().expect("an archive configured");
        assert_eq!(config, ArchiveConfig { location: "/tmp/fx/A".into(), keep_last: 2 });
    }
    assert!(store.verify(true, None)?.ok);
    // The store goes on: a new block commits and collects.
    let saved = store.save_bytes(&content(1))?;
    kv.set("v3.lastSnapshot", &format_root_value(&saved.hash, 1));
    store.commit()?;
    assert_eq!(store.gc()?.roots, 3);
    Ok(())
}

#[test]
fn the_format_1_fixture_opens_and_reads_back() -> swingstore::Result<()> {
    let (_tmp, dir) = fixture_copy("store-format-1");
    let root = dir.join("store");
    {
        let store = SwingStore::open_read_only(&root)?;
        assert_eq!(store.epoch(), 6);
        assert!(store.status()?.roots == 2);
    }
    let store = SwingStore::open(&root, OpenOptions::default())?;
    assert_eq!(store.epoch(), 6);
    check_fixture_store(&store, true)?;
    // The archived snapshot's bytes are in the fixture's archive (one pack).
    assert!(dir.join("archive/manifests").join(format!("{H1}.json.zst")).is_file());
    Ok(())
}

#[test]
fn the_pre_marker_fixture_opens_and_gets_its_marker() -> swingstore::Result<()> {
    let (_tmp, dir) = fixture_copy("store-pre-marker");
    assert!(!dir.join("SNAPGC-STORE").exists());
    let store = SwingStore::open(&dir, OpenOptions::default())?;
    assert_eq!(fs::read_to_string(dir.join("SNAPGC-STORE")).expect("marker"), "snapgc store\nformat 1\n");
    check_fixture_store(&store, false)?;
    Ok(())
}

/// Issue 23 item 13: `status` on a stopped store opens it read-only. A kernel's open that meets
/// such a reader waits for it instead of failing with InUse (polled in a loop, the old exclusive
/// open made some kernel opens exit 3); a reader meets a running writer as InUse; a read-only
/// handle refuses writes and leaves no recovery work done.
#[test]
fn a_writer_open_waits_for_a_read_only_handle_and_readers_write_nothing() -> swingstore::Result<()> {
    let tmp = temp_dir();
    let p = tmp.path().join("S");
    {
        let store = SwingStore::create(&p)?;
        store.kv().set("a", "1");
        store.commit()?;
    }
    fs::write(p.join("tmp/save-999999-9.tmp"), b"left by a dead process").expect("leftover");
    let reader = SwingStore::open_read_only(&p)?;
    assert_eq!(reader.kv().get("a")?.as_deref(), Some("1"));
    assert!(p.join("tmp/save-999999-9.tmp").exists(), "a read-only open removes nothing");
    assert!(matches!(reader.commit(), Err(Error::ReadOnly { .. })));
    assert!(matches!(reader.save_bytes(b"x"), Err(Error::ReadOnly { .. })));
    assert!(matches!(reader.gc(), Err(Error::ReadOnly { .. })));
    assert!(matches!(reader.set_config(GcConfig::default()), Err(Error::ReadOnly { .. })));
    // Two readers at once are fine (the lock is shared).
    let second = SwingStore::open_read_only(&p);
    assert!(second.is_ok() || matches!(second, Err(Error::InUse { .. })), "{second:?}");
    drop(second);
    let started = std::time::Instant::now();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(reader);
    });
    let writer = SwingStore::open(&p, OpenOptions::default())?;
    assert!(started.elapsed() >= std::time::Duration::from_millis(1000), "waited for the reader");
    release.join().expect("thread");
    assert!(!p.join("tmp/save-999999-9.tmp").exists(), "the writer's open does the recovery");
    // A reader meets the running writer as InUse.
    assert!(matches!(SwingStore::open_read_only(&p), Err(Error::InUse { .. })));
    drop(writer);
    Ok(())
}
