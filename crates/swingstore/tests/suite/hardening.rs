//! Issue 23, part A, in the library: the metrics file, the archive location, the store id and
//! root patterns are refused when they can never be right.

use std::path::PathBuf;

use swingstore::{ArchiveConfig, Error, GcConfig, SwingStore};

use crate::common::{content, set_root, temp_dir};

fn refused(result: swingstore::Result<()>, needle: &str) {
    match result {
        Err(Error::Config(text)) => assert!(text.contains(needle), "{text}"),
        other => panic!("expected a refusal mentioning {needle:?}: {other:?}"),
    }
}

/// Items 1, 6 and 14: inside the store, someone else's file, a symlink, a missing directory.
#[test]
fn the_metrics_file_is_refused_where_it_can_never_be_right() -> anyhow::Result<()> {
    let dir = temp_dir();
    let root = std::fs::canonicalize(dir.path())?;
    let store = SwingStore::create(root.join("s"))?;
    let a = store.save_bytes(&content(1))?;
    set_root(&store, 1, &a.hash);
    store.commit()?;
    let blob = root.join("s/snapshots").join(format!("{}.lz4", a.hash));
    refused(store.set_metrics_file(Some(&blob)), "inside the store directory");
    refused(store.set_metrics_file(Some(&root.join("s/kv/db"))), "inside the store directory");
    refused(store.set_metrics_file(Some(&root.join("s/../s/kv/x"))), "inside the store directory");
    store.set_metrics_file(Some(&root.join("s/metrics.prom")))?;
    let bashrc = root.join(".bashrc");
    std::fs::write(&bashrc, "alias x=y\n")?;
    refused(store.set_metrics_file(Some(&bashrc)), "not a metrics file snapgc wrote");
    let link = root.join("m.prom");
    std::os::unix::fs::symlink(&bashrc, &link)?;
    refused(store.set_metrics_file(Some(&link)), "not a regular file");
    refused(store.set_metrics_file(Some(&root.join("missing/m.prom"))), "does not exist");
    // A relative path is kept absolute.
    let cwd = std::env::current_dir()?;
    store.set_metrics_file(Some(&PathBuf::from("snapgc-test-relative.prom")))?;
    assert_eq!(store.metrics_file()?, Some(std::fs::canonicalize(&cwd)?.join("snapgc-test-relative.prom")));
    store.set_metrics_file(None)?;
    drop(store);
    assert_eq!(std::fs::read_to_string(&bashrc)?, "alias x=y\n");
    assert!(blob.is_file(), "the live blob is untouched");
    Ok(())
}

/// Item 14: an archive that is relative, a file, or inside the store is refused; the store id
/// an archive records is made once and kept.
#[test]
fn the_archive_location_is_refused_where_it_can_never_work() -> anyhow::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path().join("s"))?;
    let config = |location: String| Some(ArchiveConfig { location, keep_last: 0 });
    refused(store.set_archive_config(config("relative/archive".into())), "relative");
    let file = dir.path().join("file");
    std::fs::write(&file, "x")?;
    refused(store.set_archive_config(config(file.display().to_string())), "not a directory");
    let inside = dir.path().join("s/snapshots");
    refused(store.set_archive_config(config(inside.display().to_string())), "must not contain one another");
    refused(
        store.set_archive_config(config(dir.path().display().to_string())),
        "must not contain one another",
    );
    assert_eq!(store.archive_config(), None);
    store.set_archive_config(config(dir.path().join("archive").display().to_string()))?;
    let id = store.store_id()?;
    assert_eq!(id.len(), 32);
    drop(store);
    let store = SwingStore::open(dir.path().join("s"), Default::default())?;
    assert_eq!(store.store_id()?, id, "kept in the store");
    Ok(())
}

/// Item 14: patterns that would root keys whose values do not parse are refused unless forced.
#[test]
fn a_pattern_rooting_unparsable_values_is_refused_unless_forced() -> anyhow::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    store.kv().set("notes", "plain text");
    store.commit()?;
    let everything = GcConfig { root_patterns: vec!["*".into(), "v*.lastSnapshot".into()], grace: 2 };
    refused(store.set_config(everything.clone()).map(drop), "notes");
    assert_eq!(store.config(), GcConfig::default());
    assert!(store.gc().is_ok(), "collection goes on");
    store.set_config_unrooting(everything)?;
    assert!(store.gc().is_err(), "forced: every pass now fails closed, as the refusal said");
    Ok(())
}
