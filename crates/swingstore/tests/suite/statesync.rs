//! State sync (docs/STATE-SYNC.md): round trips, every refusal of the importer (one test each),
//! the import marker, and an export while the kernel commits and collects at grace 0.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use swingstore::{
    ArtifactMode, DATA_FILE, Error, ExportDataHash, GcConfig, ImportOptions, MANIFEST_FILE, Manifest,
    OpenOptions, SnapshotHash, SwingStore, export_to_dir, format_root_value, import_from_dir,
};

use crate::common::{content, temp_dir};

const ZYGOTE: &str = "zygote.*.snapshot";

fn config() -> GcConfig {
    GcConfig { root_patterns: vec!["v*.lastSnapshot".into(), ZYGOTE.into()], grace: 2 }
}

fn options() -> ImportOptions {
    ImportOptions { config: config(), ..ImportOptions::default() }
}

/// A heap of `len` bytes, distinct per `n`.
fn heap(n: u64, len: usize) -> Vec<u8> {
    let unit = content(n);
    unit.iter().cycle().take(len).copied().collect()
}

struct Source {
    store: SwingStore,
    /// Root key → the bytes it names now.
    heaps: BTreeMap<String, Vec<u8>>,
    /// The bytes of v1's first snapshot (replaced since: an `inUse: 0` record).
    old_v1: Vec<u8>,
}

/// A store with vat roots (v1 replaced once, v3 with a non-canonical value), a zygote root,
/// plain keys (one chunked, one needing JSON escapes), and node-local keys.
fn source(dir: &Path) -> Source {
    let store = SwingStore::create(dir.join("source")).expect("create");
    store.set_config(config()).expect("config");
    let kv = store.kv();
    let old_v1 = heap(1, 300_000);
    let h = store.save_bytes(&old_v1).expect("save").hash;
    kv.set("v1.lastSnapshot", &format_root_value(&h, 10));
    store.commit().expect("commit");
    let mut heaps = BTreeMap::new();
    for (key, n, value) in [
        ("v1.lastSnapshot", 2, None),
        ("v2.lastSnapshot", 3, None),
        ("v3.lastSnapshot", 4, Some(r#"{"startPos":{"itemCount":7},"snapshotID":"HASH","extra":true}"#)),
        ("zygote.z1.snapshot", 5, None),
    ] {
        let bytes = heap(n, 200_000 + 1000 * n as usize);
        let hash = store.save_bytes(&bytes).expect("save").hash;
        let value = match value {
            Some(v) => v.replace("HASH", &hash.to_hex()),
            None => format_root_value(&hash, 20 + n),
        };
        kv.set(key, &value);
        heaps.insert(key.to_owned(), bytes);
    }
    kv.set("v1.vs.big", &"x".repeat(10_000));
    kv.set("v2.vs.text", "quote \" backslash \\ newline \n tab \t unicode é中 \u{1}");
    kv.set("kernel.defaultManagerType", "xs-worker");
    kv.set("host.height", "7");
    kv.set("local.note", "node-local");
    store.commit().expect("commit");
    Source { store, heaps, old_v1 }
}

fn all_kv(store: &SwingStore) -> Vec<(String, String)> {
    store.kv().scan_prefix("").expect("scan")
}

fn read_lines(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join(DATA_FILE)).expect("export data").lines().map(str::to_owned).collect()
}

fn manifest(dir: &Path) -> Manifest {
    serde_json::from_slice(&fs::read(dir.join(MANIFEST_FILE)).expect("manifest")).expect("manifest parses")
}

fn write_manifest(dir: &Path, m: &Manifest) {
    fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec_pretty(m).expect("json")).expect("write manifest");
}

/// The target after a refusal: a new, empty store (opens; no root, no kv, no blob, epoch 0).
fn assert_left_empty(target: &Path) {
    let store =
        SwingStore::open(target, OpenOptions { create: false }).expect("the target opens after a refusal");
    assert_eq!(store.epoch(), 0, "nothing committed");
    assert_eq!(store.stats().expect("stats").roots, 0, "no root");
    assert!(all_kv(&store).is_empty(), "no kv entry");
    assert!(store.list_blobs().expect("ls").is_empty(), "no blob");
    assert!(!target.join("IMPORT-INCOMPLETE").exists(), "no import marker");
}

/// Asserts `result` is a refusal naming `item` (a substring of the error's item).
fn assert_refused(result: swingstore::Result<swingstore::ImportReport>, item: &str) -> String {
    match result {
        Err(Error::ImportRefused { item: got, reason }) => {
            assert!(got.contains(item), "refusal names {got:?}, expected {item:?} ({reason})");
            reason
        }
        other => panic!("expected a refusal naming {item}, got {other:?}"),
    }
}

/// An exported source store: (temp dir, source, export dir).
fn exported(mode: ArtifactMode) -> (tempfile::TempDir, Source, PathBuf) {
    let tmp = temp_dir();
    let src = source(tmp.path());
    let dir = tmp.path().join("export");
    export_to_dir(&src.store, &dir, mode).expect("export");
    (tmp, src, dir)
}

#[test]
fn round_trip_keeps_roots_kv_history_and_live_digest() {
    let (tmp, src, dir) = exported(ArtifactMode::Operational);
    let target = tmp.path().join("imported");
    let report = import_from_dir(&target, &dir, &options()).expect("import");
    assert_eq!(report.roots, 4);
    assert_eq!(report.historical_records, 1, "v1's first snapshot");
    assert_eq!(report.artifacts, 4);
    let dst = SwingStore::open(&target, OpenOptions { create: false }).expect("open the import");
    assert_eq!(dst.config(), config());

    // kv: everything but the node-local keys, byte for byte (roots included).
    let expected: Vec<_> = all_kv(&src.store)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("host.") && !k.starts_with("local."))
        .collect();
    assert_eq!(all_kv(&dst), expected);
    // Roots and live digest.
    let (a, b) = (src.store.stats().expect("stats"), dst.stats().expect("stats"));
    assert_eq!((a.roots, a.live, &a.live_digest), (b.roots, b.live, &b.live_digest));
    // History: every vat root's, exactly; the zygote's current use (its past does not travel).
    let vat_history = |s: &SwingStore| -> Vec<_> {
        s.root_history().expect("history").into_iter().filter(|u| u.key.starts_with('v')).collect()
    };
    assert_eq!(vat_history(&dst), vat_history(&src.store));
    assert_eq!(vat_history(&dst).len(), 4);
    // Loads verify and give the bytes.
    assert!(dst.verify(true, None).expect("verify").ok);
    for (key, bytes) in &src.heaps {
        let value = dst.kv().get(key).expect("get").expect("root present");
        let hash = swingstore::parse_root_value(key, value.as_bytes()).expect("root parses");
        assert_eq!(&dst.load_bytes(&hash).expect("load"), bytes, "{key}");
    }
    // The imported store exports byte-identical export data.
    let again = tmp.path().join("again");
    let summary = export_to_dir(&dst, &again, ArtifactMode::Operational).expect("re-export");
    assert_eq!(fs::read(again.join(DATA_FILE)).expect("data"), fs::read(dir.join(DATA_FILE)).expect("data"));
    assert_eq!(summary.export_data_hash.to_hex(), hex_sha256(&fs::read(dir.join(DATA_FILE)).expect("data")));
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn export_data_is_sorted_unique_and_byte_identical_across_exports() {
    let (tmp, src, dir) = exported(ArtifactMode::Operational);
    let lines = read_lines(&dir);
    let keys: Vec<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<(String, String)>(l).expect("a [key, value] line").0)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "sorted by key, each key once");
    assert!(
        !keys.iter().any(|k| k.starts_with("kv.host.") || k.starts_with("kv.local.")),
        "no node-local key"
    );
    assert!(!keys.contains(&"kv.v1.lastSnapshot".to_owned()), "a canonical vat root needs no kv record");
    assert!(keys.contains(&"kv.v3.lastSnapshot".to_owned()), "a non-canonical one travels verbatim");
    assert!(keys.contains(&"kv.zygote.z1.snapshot".to_owned()), "another pattern's root is a kv record");
    let old = SnapshotHash::of(&src.old_v1);
    assert!(
        lines.contains(&format!(
            r#"["snapshot.v1.10","{{\"vatID\":\"v1\",\"snapPos\":10,\"hash\":\"{old}\",\"inUse\":0}}"]"#
        )),
        "Agoric's inUse:0 record, byte for byte"
    );
    assert!(lines.contains(&r#"["snapshot.v1.current","snapshot.v1.22"]"#.to_owned()));
    let names: Vec<String> = manifest(&dir).artifacts.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["kv.zygote.z1.snapshot", "snapshot.v1.22", "snapshot.v2.23", "snapshot.v3.7"]);
    // A second export of the same committed state: the same bytes.
    let second = tmp.path().join("second");
    export_to_dir(&src.store, &second, ArtifactMode::Operational).expect("export");
    assert_eq!(fs::read(second.join(DATA_FILE)).expect("data"), fs::read(dir.join(DATA_FILE)).expect("data"));
}

#[test]
fn debug_mode_ships_and_imports_earlier_snapshots_still_stored() {
    let (tmp, src, dir) = exported(ArtifactMode::Debug);
    let names: Vec<String> = manifest(&dir).artifacts.into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"snapshot.v1.10".to_owned()), "{names:?}");
    let old = SnapshotHash::of(&src.old_v1);
    assert_eq!(fs::read(dir.join("snapshot.v1.10")).expect("artifact"), src.old_v1);

    let operational = tmp.path().join("operational");
    let report = import_from_dir(&operational, &dir, &options()).expect("import");
    assert_eq!(report.ignored_artifacts, 1);
    assert!(!SwingStore::open(&operational, OpenOptions::default()).expect("open").contains(&old));

    let debug = tmp.path().join("debug");
    let report = import_from_dir(&debug, &dir, &ImportOptions { mode: ArtifactMode::Debug, ..options() })
        .expect("import");
    assert_eq!((report.artifacts, report.ignored_artifacts), (5, 0));
    let store = SwingStore::open(&debug, OpenOptions::default()).expect("open");
    assert_eq!(store.load_bytes(&old).expect("the earlier snapshot, verified"), src.old_v1);
}

#[test]
fn import_refuses_an_artifact_whose_hash_does_not_match() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    let path = dir.join("snapshot.v2.23");
    let mut bytes = fs::read(&path).expect("artifact");
    bytes[1000] ^= 1;
    fs::write(&path, bytes).expect("tamper");
    let target = tmp.path().join("t");
    let reason = assert_refused(import_from_dir(&target, &dir, &options()), "artifact snapshot.v2.23");
    assert!(reason.contains("sha256"), "{reason}");
    assert_left_empty(&target);
}

#[test]
fn import_refuses_an_artifact_with_no_record() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    fs::write(dir.join("snapshot.v9.1"), b"who sent this").expect("write");
    let mut m = manifest(&dir);
    m.artifacts.push(("snapshot.v9.1".into(), "snapshot.v9.1".into()));
    write_manifest(&dir, &m);
    let target = tmp.path().join("t");
    let reason = assert_refused(import_from_dir(&target, &dir, &options()), "artifact snapshot.v9.1");
    assert!(reason.contains("no record"), "{reason}");
    assert_left_empty(&target);
}

#[test]
fn import_refuses_a_missing_in_use_artifact() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    let mut m = manifest(&dir);
    m.artifacts.retain(|(name, _)| name != "snapshot.v2.23");
    write_manifest(&dir, &m);
    let target = tmp.path().join("t");
    let reason = assert_refused(import_from_dir(&target, &dir, &options()), "snapshot.v2.23");
    assert!(reason.contains("missing"), "{reason}");
    assert_left_empty(&target);
}

#[test]
fn import_refuses_a_manifest_path_outside_the_directory() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    let original = manifest(&dir);
    // A real copy outside: the bytes would even verify, but the path is refused.
    fs::copy(dir.join("snapshot.v2.23"), tmp.path().join("outside")).expect("copy");
    for path in ["../outside".to_owned(), tmp.path().join("outside").display().to_string(), "sub/../x".into()]
    {
        let mut m = original.clone();
        for entry in &mut m.artifacts {
            if entry.0 == "snapshot.v2.23" {
                entry.1 = path.clone();
            }
        }
        write_manifest(&dir, &m);
        let target = tmp.path().join(format!("t{}", path.len()));
        let reason = assert_refused(import_from_dir(&target, &dir, &options()), "artifact snapshot.v2.23");
        assert!(reason.contains("outside the export directory"), "{path}: {reason}");
        assert_left_empty(&target);
    }
}

fn append_line(dir: &Path, line: &str) {
    let mut text = fs::read_to_string(dir.join(DATA_FILE)).expect("data");
    text.push_str(line);
    text.push('\n');
    fs::write(dir.join(DATA_FILE), text).expect("write data");
}

#[test]
fn import_refuses_an_unknown_record_type() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    append_line(&dir, r#"["mystery.v1","what is this"]"#);
    let target = tmp.path().join("t");
    let reason = assert_refused(import_from_dir(&target, &dir, &options()), "record mystery.v1");
    assert!(reason.contains("unknown record type"), "{reason}");
    assert_left_empty(&target);
}

/// Adds Agoric's transcript and bundle records and artifacts to an export.
fn add_transcripts_and_bundles(dir: &Path) {
    append_line(
        dir,
        r#"["transcript.v1.0","{\"vatID\":\"v1\",\"startPos\":0,\"endPos\":3,\"hash\":\"ab\",\"isCurrent\":1,\"incarnation\":0}"]"#,
    );
    append_line(dir, r#"["bundle.b1-00","{}"]"#);
    let mut m = manifest(dir);
    for name in ["transcript.v1.0.3", "bundle.b1-00"] {
        fs::write(dir.join(name), b"{}").expect("write");
        m.artifacts.push((name.into(), name.into()));
    }
    write_manifest(dir, &m);
}

#[test]
fn import_refuses_transcript_and_bundle_records_without_snapshots_only() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    add_transcripts_and_bundles(&dir);
    let target = tmp.path().join("t");
    let reason = assert_refused(import_from_dir(&target, &dir, &options()), "record transcript.v1.0");
    assert!(reason.contains("--snapshots-only"), "{reason}");
    assert_left_empty(&target);
}

#[test]
fn snapshots_only_skips_and_counts_transcript_and_bundle_records_and_artifacts() {
    let (tmp, src, dir) = exported(ArtifactMode::Operational);
    add_transcripts_and_bundles(&dir);
    let target = tmp.path().join("t");
    let report =
        import_from_dir(&target, &dir, &ImportOptions { snapshots_only: true, ..options() }).expect("import");
    assert_eq!(report.skipped, 4, "two records and two artifacts");
    assert_eq!(report.roots, 4);
    let dst = SwingStore::open(&target, OpenOptions::default()).expect("open");
    assert_eq!(dst.stats().expect("stats").live_digest, src.store.stats().expect("stats").live_digest);
}

#[test]
fn import_refuses_export_data_that_does_not_match_the_expected_hash() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    let good = ExportDataHash::parse(&format!(
        "sha256:{}",
        hex_sha256(&fs::read(dir.join(DATA_FILE)).expect("data"))
    ))
    .expect("parse");
    let target = tmp.path().join("ok");
    import_from_dir(&target, &dir, &ImportOptions { expect_data_hash: Some(good), ..options() })
        .expect("import");
    // One byte of a kv value changed: the artifacts still verify, the export data does not.
    let text = fs::read_to_string(dir.join(DATA_FILE)).expect("data").replace("xs-worker", "xs-workes");
    fs::write(dir.join(DATA_FILE), text).expect("write");
    let target = tmp.path().join("t");
    let reason = assert_refused(
        import_from_dir(&target, &dir, &ImportOptions { expect_data_hash: Some(good), ..options() }),
        DATA_FILE,
    );
    assert!(reason.contains("trusted value"), "{reason}");
    assert_left_empty(&target);
}

#[test]
fn import_refuses_a_kv_root_artifact_when_the_key_is_no_root_here() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    let target = tmp.path().join("t");
    // The default patterns: zygote.z1.snapshot would be a plain key, its snapshot garbage.
    let reason =
        assert_refused(import_from_dir(&target, &dir, &ImportOptions::default()), "kv.zygote.z1.snapshot");
    assert!(reason.contains("not a root"), "{reason}");
    assert_left_empty(&target);
}

#[test]
fn import_refuses_a_target_that_holds_a_store_and_leaves_it_alone() {
    let (tmp, src, dir) = exported(ArtifactMode::Operational);
    let digest = src.store.stats().expect("stats").live_digest;
    let path = src.store.path().to_owned();
    drop(src);
    let reason = assert_refused(import_from_dir(&path, &dir, &options()), &path.display().to_string());
    assert!(reason.contains("already holds a store"), "{reason}");
    let store = SwingStore::open(&path, OpenOptions::default()).expect("still opens");
    assert_eq!(store.stats().expect("stats").live_digest, digest, "untouched");
    drop(store);
    // A directory of someone's files is refused too, and left alone.
    let other = tmp.path().join("other");
    fs::create_dir(&other).expect("mkdir");
    fs::write(other.join("notes.txt"), b"mine").expect("write");
    assert_refused(import_from_dir(&other, &dir, &options()), "other");
    assert_eq!(fs::read(other.join("notes.txt")).expect("kept"), b"mine");
}

#[test]
fn a_store_left_mid_import_refuses_to_open_and_a_rerun_starts_over() {
    let (tmp, src, dir) = exported(ArtifactMode::Operational);
    let target = tmp.path().join("t");
    import_from_dir(&target, &dir, &options()).expect("import");
    // What a crash before the marker's removal leaves: a store (here even a complete one)
    // with the marker. (Real kills at each import point: crates/testing/crashtest.)
    fs::write(target.join("IMPORT-INCOMPLETE"), b"").expect("marker");
    match SwingStore::open(&target, OpenOptions::default()) {
        Err(Error::NoStore { reason, .. }) => assert!(reason.contains("import"), "{reason}"),
        other => panic!("a store with the import marker must not open, got {other:?}"),
    }
    let report = import_from_dir(&target, &dir, &options()).expect("the re-run starts over");
    assert_eq!(report.epoch, 1, "a new store");
    let dst = SwingStore::open(&target, OpenOptions::default()).expect("open");
    assert_eq!(dst.stats().expect("stats").live_digest, src.store.stats().expect("stats").live_digest);
}

#[test]
fn an_unused_store_is_an_empty_target() {
    let (tmp, _src, dir) = exported(ArtifactMode::Operational);
    let target = tmp.path().join("t");
    drop(SwingStore::create(&target).expect("create"));
    import_from_dir(&target, &dir, &options()).expect("import into an unused store");
}
