//! State sync at the edges (issue 23 items 8, 10, 11, 12): two imports into one target, a
//! poisoned exporter, records no import could take or should take, hostile manifest files.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use swingstore::failpoint::{self, Action, SyncStep, points};
use swingstore::{
    ArtifactMode, DATA_FILE, Error, ImportOptions, MANIFEST_FILE, OpenOptions, SwingStore, export_to_dir,
    format_root_value, import_from_dir,
};

use crate::common::{content, temp_dir};

/// A store with two vat roots and a plain key, exported: (temp dir, export dir).
fn exported() -> (tempfile::TempDir, PathBuf) {
    let tmp = temp_dir();
    let store = SwingStore::create(tmp.path().join("source")).expect("create");
    for vat in 1..=2u64 {
        let saved = store.save_bytes(&content(vat)).expect("save");
        store.kv().set(&format!("v{vat}.lastSnapshot"), &format_root_value(&saved.hash, vat * 10));
    }
    store.kv().set("kernel.x", "1");
    store.commit().expect("commit");
    let dir = tmp.path().join("export");
    export_to_dir(&store, &dir, ArtifactMode::Operational).expect("export");
    (tmp, dir)
}

fn refusal(result: swingstore::Result<swingstore::ImportReport>) -> (String, String) {
    match result {
        Err(Error::ImportRefused { item, reason }) => (item, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn append_line(dir: &Path, line: &str) {
    let mut text = fs::read_to_string(dir.join(DATA_FILE)).expect("data");
    text.push_str(line);
    text.push('\n');
    fs::write(dir.join(DATA_FILE), text).expect("write data");
}

/// Item 8: a second import into a target an import holds meets `InUse`, touches nothing, and
/// the first import finishes with every root.
#[test]
fn a_second_import_into_one_target_is_refused_as_in_use() {
    let (tmp, dir) = exported();
    let target = tmp.path().join("t");
    fs::create_dir(&target).expect("mkdir");
    let (reached_tx, reached_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    let reached_tx = std::sync::Mutex::new(reached_tx);
    failpoint::set_for(
        &target,
        points::IMPORT_BEFORE_COMMIT,
        Action::Call(std::sync::Arc::new(move || {
            let _ = reached_tx.lock().expect("lock").send(());
            let _ = go_rx.lock().expect("lock").recv_timeout(Duration::from_secs(30));
        })),
    );
    let first = {
        let (target, dir) = (target.clone(), dir.clone());
        std::thread::spawn(move || import_from_dir(&target, &dir, &ImportOptions::default()))
    };
    reached_rx.recv_timeout(Duration::from_secs(30)).expect("the first import reaches its commit");
    let second = import_from_dir(&target, &dir, &ImportOptions::default());
    assert!(matches!(second, Err(Error::InUse { .. })), "{second:?}");
    assert!(target.join("IMPORT-INCOMPLETE").exists(), "the first import's marker is left alone");
    go_tx.send(()).expect("resume");
    let report = first.join().expect("thread").expect("the first import");
    failpoint::clear_for(&target);
    assert_eq!(report.roots, 2);
    let store = SwingStore::open(&target, OpenOptions::default()).expect("open");
    assert_eq!(store.stats().expect("stats").roots, 2, "the second import emptied nothing");
    assert!(!target.join("IMPORT-INCOMPLETE").exists());
}

/// Item 10: after a failed commit sync, the handle exports nothing and reads nothing of sled's
/// (the failed block is there, never durable, under the old epoch).
#[test]
fn a_poisoned_handle_refuses_exports_and_committed_reads() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    store.kv().set("k", "old");
    store.commit()?;
    failpoint::set_for(dir.path(), SyncStep::KvLog.point(), Action::Fail);
    store.kv().set("k", "never durable");
    assert!(store.commit().is_err());
    failpoint::clear_for(dir.path());
    assert_eq!(store.epoch(), 1);
    let mut data = Vec::new();
    let exported = store.export_state(ArtifactMode::Operational, &mut data);
    assert!(matches!(exported, Err(Error::Poisoned { .. })), "{exported:?}");
    assert!(data.is_empty(), "no export data written");
    let out = dir.path().join("export");
    assert!(matches!(export_to_dir(&store, &out, ArtifactMode::Operational), Err(Error::Poisoned { .. })));
    assert!(!out.exists(), "no half export left");
    let poisoned = |r: swingstore::Result<Option<String>>| matches!(r, Err(Error::Poisoned { .. }));
    assert!(poisoned(store.kv().get_committed("k")));
    assert!(poisoned(store.kv().get("k")));
    assert!(matches!(store.kv().scan_prefix(""), Err(Error::Poisoned { .. })));
    assert!(matches!(store.kv().next_key(""), Err(Error::Poisoned { .. })));
    drop(store);
    let store = SwingStore::open(dir.path(), OpenOptions::default())?;
    let value = store.kv().get_committed("k")?;
    assert!(value.as_deref() == Some("old") || store.epoch() == 2, "{value:?} at epoch {}", store.epoch());
    Ok(())
}

/// Item 11: a value whose export-data line is over the import's 64 MiB line limit is refused at
/// export, naming its key (here 11.2 MiB of control characters: six bytes each in JSON).
#[test]
fn an_export_refuses_a_kv_value_no_import_could_read() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path().join("s"))?;
    store.kv().set("big.escaped", &"\u{1}".repeat(11 << 20) as &str);
    store.kv().set("fits", &"x".repeat(1 << 20));
    store.commit()?;
    let mut data = Vec::new();
    match store.export_state(ArtifactMode::Operational, &mut data) {
        Err(Error::ExportFailed { item, reason }) => {
            assert_eq!(item, "kv.big.escaped");
            assert!(reason.contains("at most 67108864 bytes"), "{reason}");
        }
        other => panic!("expected a refusal naming the key, got {:?}", other.map(|e| e.records())),
    }
    store.kv().delete("big.escaped");
    store.commit()?;
    let out = dir.path().join("export");
    export_to_dir(&store, &out, ArtifactMode::Operational)?;
    import_from_dir(&dir.path().join("t"), &out, &ImportOptions::default())?;
    Ok(())
}

/// Item 11: node-local keys are never export data (Agoric's kernel kvStore refuses `host.`
/// keys); the importer refuses them, naming the line.
#[test]
fn an_import_refuses_host_and_local_kv_records_naming_the_line() {
    for key in ["kv.host.height", "kv.local.note"] {
        let (tmp, dir) = exported();
        let lines = fs::read_to_string(dir.join(DATA_FILE)).expect("data").lines().count();
        append_line(&dir, &format!(r#"["{key}","7"]"#));
        let target = tmp.path().join("t");
        let (item, reason) = refusal(import_from_dir(&target, &dir, &ImportOptions::default()));
        assert_eq!(item, format!("record {key}"));
        assert!(reason.contains(&format!("line {}", lines + 1)), "{reason}");
        assert!(reason.contains("node-local"), "{reason}");
    }
}

/// Item 11: a key listed twice (Agoric's importer would keep the last silently) is refused,
/// naming the line, for kv, snapshot and `.current` records, and after a deletion too.
#[test]
fn an_import_refuses_duplicate_records_naming_the_line() {
    let (_tmp, dir) = exported();
    let data = fs::read_to_string(dir.join(DATA_FILE)).expect("data");
    let lines: Vec<&str> = data.lines().collect();
    let pick = |prefix: &str| *lines.iter().find(|l| l.starts_with(prefix)).expect("a line");
    for repeated in [
        pick(r#"["kv.kernel.x""#),
        pick(r#"["snapshot.v1.10""#),
        pick(r#"["snapshot.v2.current""#),
        r#"["kv.kernel.y",null]"#,
    ] {
        let tmp = temp_dir();
        let copy = tmp.path().join("export");
        fs::create_dir(&copy).expect("mkdir");
        for entry in fs::read_dir(&dir).expect("ls") {
            let entry = entry.expect("entry");
            fs::copy(entry.path(), copy.join(entry.file_name())).expect("copy");
        }
        let mut text = data.clone();
        if repeated.contains("null") {
            text.push_str(repeated);
            text.push('\n');
        }
        text.push_str(repeated);
        text.push('\n');
        fs::write(copy.join(DATA_FILE), &text).expect("write");
        let line = text.lines().count();
        let (item, reason) =
            refusal(import_from_dir(&tmp.path().join("t"), &copy, &ImportOptions::default()));
        assert!(reason.contains(&format!("line {line}")), "{repeated}: {item}: {reason}");
        assert!(reason.contains("earlier line"), "{reason}");
    }
}

/// Item 12: a FIFO manifest does not hang the import; one linked to /dev/zero is not read
/// (the link is not followed); an oversized one is read only up to the cap.
#[test]
fn hostile_manifest_files_are_refused_without_hanging() {
    let (tmp, dir) = exported();
    let manifest = dir.join(MANIFEST_FILE);
    let target = tmp.path().join("t");
    fs::remove_file(&manifest).expect("rm");
    let made = std::process::Command::new("mkfifo").arg(&manifest).status();
    if made.is_ok_and(|s| s.success()) {
        let started = Instant::now();
        let (item, reason) = refusal(import_from_dir(&target, &dir, &ImportOptions::default()));
        assert_eq!(item, MANIFEST_FILE);
        assert!(reason.contains("not a regular file"), "{reason}");
        assert!(started.elapsed() < Duration::from_secs(10));
        fs::remove_file(&manifest).expect("rm");
    } else {
        crate::common::skip("hostile_manifest_files_are_refused_without_hanging (FIFO)", "no mkfifo here");
    }
    std::os::unix::fs::symlink("/dev/zero", &manifest).expect("symlink");
    let (item, _) = refusal(import_from_dir(&target, &dir, &ImportOptions::default()));
    assert_eq!(item, MANIFEST_FILE);
    fs::remove_file(&manifest).expect("rm");
    let file = fs::File::create(&manifest).expect("create");
    file.set_len(65 << 20).expect("sparse");
    let (_, reason) = refusal(import_from_dir(&target, &dir, &ImportOptions::default()));
    assert!(reason.contains("over 67108864 bytes"), "{reason}");
    // The data file and artifacts are opened the same way: a FIFO data file is refused too.
    fs::remove_file(&manifest).expect("rm");
    let (tmp2, dir2) = exported();
    let data = dir2.join(DATA_FILE);
    fs::remove_file(&data).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &data).expect("symlink");
    let (item, _) = refusal(import_from_dir(&tmp2.path().join("t"), &dir2, &ImportOptions::default()));
    assert_eq!(item, DATA_FILE);
}

/// Our exporter ships a root whatever its key (its snapshot must travel): a `host.*` root
/// imports under the exporting store's patterns, and is refused (as node-local) without them.
#[test]
fn a_host_key_root_travels_only_as_a_root() -> swingstore::Result<()> {
    let tmp = temp_dir();
    let config = swingstore::GcConfig {
        root_patterns: vec!["v*.lastSnapshot".into(), "host.*.snap".into()],
        ..swingstore::GcConfig::default()
    };
    let store = SwingStore::create(tmp.path().join("s"))?;
    store.set_config(config.clone())?;
    let saved = store.save_bytes(&content(5))?;
    store.kv().set("host.z.snap", &format_root_value(&saved.hash, 2));
    store.kv().set("host.height", "9");
    store.commit()?;
    let dir = tmp.path().join("export");
    export_to_dir(&store, &dir, ArtifactMode::Operational)?;
    let data = fs::read_to_string(dir.join(DATA_FILE)).expect("data");
    assert!(data.contains("kv.host.z.snap") && !data.contains("host.height"), "{data}");
    let with = ImportOptions { config, ..ImportOptions::default() };
    let report = import_from_dir(&tmp.path().join("a"), &dir, &with)?;
    assert_eq!(report.roots, 1);
    let (item, reason) = refusal(import_from_dir(&tmp.path().join("b"), &dir, &ImportOptions::default()));
    assert_eq!(item, "record kv.host.z.snap");
    assert!(reason.contains("node-local"), "{reason}");
    Ok(())
}

#[test]
fn a_malformed_hash_or_mode_is_an_invalid_argument_not_a_configuration_error() {
    let hash = swingstore::ExportDataHash::parse("sha256:nothex");
    assert!(matches!(hash, Err(Error::InvalidArgument(_))), "{hash:?}");
    let mode = "verbose".parse::<ArtifactMode>();
    assert!(matches!(mode, Err(Error::InvalidArgument(_))), "{mode:?}");
}
