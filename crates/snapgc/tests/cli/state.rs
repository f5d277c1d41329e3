//! `state export` / `state import` (issue 14).

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::path::PathBuf;
use swingstore::SnapshotHash;
use swingstore::format_root_value;
use tempfile::TempDir;
// `payload(seed, len)`: deterministic, incompressible bytes.
use testkit::bytes as payload;

use crate::util::{epoch, exact_fields, import, listing, set_root, sha256_hex, snapgc, write_file};

/// A store with two vats (v1 replaced once: an inUse:0 record) and a kv entry.
fn state_source(tmp: &Path) -> PathBuf {
    let store = tmp.join("source");
    let a = write_file(tmp, "a.xss", &payload(1, 300_000));
    let b = write_file(tmp, "b.xss", &payload(2, 200_000));
    let c = write_file(tmp, "c.xss", &payload(3, 100_000));
    let hashes = import(&store, &[&a, &b, &c]);
    set_root(&store, "v1.lastSnapshot", &hashes[0]);
    let moved = format_root_value(&SnapshotHash::parse(&hashes[1]).expect("hash"), 40);
    snapgc(&store, &["kv", "set", "v1.lastSnapshot", &moved]).expect(0);
    set_root(&store, "v2.lastSnapshot", &hashes[2]);
    snapgc(&store, &["kv", "set", "v1.vs.x", "state"]).expect(0);
    store
}

#[test]
fn state_export_then_import_round_trips_with_the_contract_output() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("export");
    let text = snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(0).text();
    let data = fs::read(dir.join("export-data.jsonl")).expect("export-data.jsonl");
    assert_eq!(
        text.lines().last(),
        Some(format!("export-data sha256:{}", sha256_hex(&data)).as_str()),
        "{text}"
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.join("export-manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    assert_eq!(manifest["artifactMode"], "operational");
    assert_eq!(manifest["data"], "export-data.jsonl");
    assert_eq!(manifest["blockHeight"].as_u64(), Some(epoch(&store)));
    assert_eq!(manifest["artifacts"].as_array().expect("artifacts").len(), 2);

    let json_dir = tmp.path().join("export-json");
    let doc = snapgc(&store, &["--json", "state", "export", "--dir", json_dir.to_str().expect("utf-8")])
        .expect(0)
        .json();
    exact_fields(
        &doc,
        &["block_height", "artifact_mode", "export_data_hash", "records", "artifacts", "artifact_bytes"],
    );
    assert_eq!(doc["export_data_hash"], format!("sha256:{}", sha256_hex(&data)), "the same committed state");
    assert_eq!((doc["records"].as_u64(), doc["artifacts"].as_u64()), (Some(6), Some(2)));
    assert_eq!(doc["artifact_bytes"].as_u64(), Some(300_000));

    let target = tmp.path().join("imported");
    let expect = format!("sha256:{}", sha256_hex(&data));
    let doc = snapgc(
        &target,
        &["--json", "state", "import", "--dir", dir.to_str().expect("utf-8"), "--expect-data-hash", &expect],
    )
    .expect(0)
    .json();
    exact_fields(&doc, &["epoch", "roots", "kv_entries", "historical_records", "artifacts", "skipped"]);
    assert_eq!(
        (doc["roots"].as_u64(), doc["kv_entries"].as_u64(), doc["historical_records"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    let (a, b) = (
        snapgc(&store, &["--json", "stats"]).expect(0).json(),
        snapgc(&target, &["--json", "stats"]).expect(0).json(),
    );
    assert!(a["live_digest"].as_str().expect("live_digest").starts_with("sha256:"));
    assert_eq!(a["live_digest"], b["live_digest"]);
    assert!(
        snapgc(&target, &["stats"]).expect(0).text().contains(a["live_digest"].as_str().expect("digest"))
    );
    assert_eq!(snapgc(&target, &["kv", "get", "v1.vs.x"]).expect(0).text(), "state\n");
    snapgc(&target, &["verify", "--deep"]).expect(0);
}

#[test]
fn state_export_refuses_a_non_empty_directory() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("busy");
    fs::create_dir(&dir).expect("mkdir");
    write_file(&dir, "mine.txt", b"keep");
    let run = snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(2);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    assert_eq!(listing(&dir).len(), 1, "nothing written");
}

#[test]
fn state_import_refusal_exits_2_names_the_artifact_and_leaves_no_root() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("export");
    snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(0);
    let artifact = dir.join("snapshot.v2.1");
    let mut bytes = fs::read(&artifact).expect("artifact");
    bytes[7] ^= 0x40;
    fs::write(&artifact, bytes).expect("tamper");
    let target = tmp.path().join("imported");
    let run = snapgc(&target, &["state", "import", "--dir", dir.to_str().expect("utf-8")]).expect(2);
    assert!(run.stderr.contains("snapshot.v2.1"), "names the artifact: {}", run.stderr);
    let stats = snapgc(&target, &["--json", "stats"]).expect(0).json();
    assert_eq!((stats["roots"].as_u64(), stats["blobs"].as_u64()), (Some(0), Some(0)), "{stats}");
    // The same directory takes a good import afterwards.
    fs::copy(tmp.path().join("c.xss"), &artifact).expect("restore");
    snapgc(&target, &["state", "import", "--dir", dir.to_str().expect("utf-8")]).expect(0);
}

#[test]
fn state_import_checks_the_expected_data_hash_and_the_target() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("export");
    snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(0);
    let d = dir.to_str().expect("utf-8");
    let target = tmp.path().join("t");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let run = snapgc(&target, &["state", "import", "--dir", d, "--expect-data-hash", &wrong]).expect(2);
    assert!(run.stderr.contains("export-data.jsonl"), "{}", run.stderr);
    assert_eq!(snapgc(&target, &["--json", "stats"]).expect(0).json()["roots"].as_u64(), Some(0));
    // A malformed hash is refused before the store is touched.
    let fresh = tmp.path().join("fresh");
    snapgc(&fresh, &["state", "import", "--dir", d, "--expect-data-hash", "sha256:xyz"]).expect(2);
    assert!(!fresh.exists());
    // A store that is in use for real is refused and left alone.
    let run = snapgc(&store, &["state", "import", "--dir", d]).expect(2);
    assert!(run.stderr.contains("already holds a store"), "{}", run.stderr);
    assert_eq!(snapgc(&store, &["--json", "stats"]).expect(0).json()["roots"].as_u64(), Some(2));
}
