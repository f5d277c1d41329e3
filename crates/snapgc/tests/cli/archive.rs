//! `config set --archive*` and `archive ls|get|stats|verify|gc` (issue 15).

use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use swingstore::SnapshotHash;
use swingstore::format_root_value;
use tempfile::TempDir;

use crate::util::{blob_path, fixture_heap, has_keys, import, set_root, snapgc, walk, write_file};

/// The archive's interface (issue 15): `config set --archive / --no-archive /
/// --archive-keep-last`, `archive ls|get|stats|verify|gc` and their JSON fields.
#[test]
fn archive_commands_keep_their_contract() {
    let work = TempDir::new().expect("tmp");
    let store = work.path().join("store");
    let archive_dir = work.path().join("archive");
    let heap = fixture_heap();
    let (a, b, c) = (&heap[..400_000], &heap[..420_000], &heap[10_000..430_000]);
    let files: Vec<PathBuf> = [("a.xss", a), ("b.xss", b), ("c.xss", c)]
        .iter()
        .map(|(name, bytes)| write_file(work.path(), name, bytes))
        .collect();
    let hashes = import(&store, &[&files[0], &files[1], &files[2]]);
    snapgc(&store, &["config", "set", "--grace", "0"]).expect(0);
    // Retention needs an archive.
    snapgc(&store, &["config", "set", "--archive-keep-last", "1"]).expect(2);
    let doc = snapgc(&store, &["config", "set", "--archive", archive_dir.to_str().expect("utf-8"), "--json"])
        .expect(0)
        .json();
    assert_eq!(doc["archive"], archive_dir.to_str().expect("utf-8"));
    assert_eq!(doc["archive_keep_last"], 0);
    let shown = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(shown["archive"], archive_dir.to_str().expect("utf-8"));
    assert!(snapgc(&store, &["config"]).expect(0).text().contains("archive"));

    set_root(&store, "v1.lastSnapshot", &hashes[0]);
    // The next snapshot of the vat, at a later position (Agoric's `snapPos`).
    let next = format_root_value(&SnapshotHash::parse(&hashes[1]).expect("a hash"), 2);
    snapgc(&store, &["kv", "set", "v1.lastSnapshot", &next]).expect(0);
    let report = snapgc(&store, &["gc", "--json"]).expect(0).json();
    // b and c went: a was named by a root (archived), c never was (not archived).
    assert_eq!(report["swept"], 2, "{report}");
    let ls = snapgc(&store, &["archive", "ls", "--json"]).expect(0).json();
    let rows = ls.as_array().expect("an array");
    assert_eq!(rows.len(), 1, "{ls}");
    let row = rows[0].as_object().expect("an object");
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["archived_epoch", "hash", "position", "raw_bytes", "root"]);
    assert_eq!(row["hash"], hashes[0].as_str());
    assert_eq!(row["root"], "v1.lastSnapshot");
    assert_eq!(row["raw_bytes"], a.len());
    let stats = snapgc(&store, &["archive", "stats", "--json"]).expect(0).json();
    has_keys(&stats, &["snapshots", "raw_bytes", "chunks", "stored_bytes"]);
    assert_eq!(stats["snapshots"], 1);
    assert!(stats["stored_bytes"].as_u64().expect("a number") < a.len() as u64 / 2);
    assert!(snapgc(&store, &["archive", "stats"]).expect(0).text().contains("snapshots"));

    // get: to a file (only once verified), and to stdout.
    let out = work.path().join("got.xss");
    snapgc(&store, &["archive", "get", &hashes[0], "-o", out.to_str().expect("utf-8")]).expect(0);
    assert_eq!(fs::read(&out).expect("read"), a);
    let run = snapgc(&store, &["archive", "get", &hashes[0]]).expect(0);
    assert_eq!(run.stdout, a);
    snapgc(&store, &["archive", "get", &hashes[2]]).expect(2);
    snapgc(&store, &["archive", "get", "nothex"]).expect(2);
    let v = snapgc(&store, &["archive", "verify", "--deep", "--json"]).expect(0).json();
    assert_eq!(v["ok"], true, "{v}");

    // A debug state export ships the archived (swept) snapshot, verified, beside the current one;
    // an operational one only the current one.
    let export = work.path().join("export-debug");
    let args = ["state", "export", "--dir", export.to_str().expect("utf-8"), "--mode", "debug", "--json"];
    let doc = snapgc(&store, &args).expect(0).json();
    assert_eq!(doc["artifacts"], 2, "{doc}");
    let manifest: Value =
        serde_json::from_slice(&fs::read(export.join("export-manifest.json")).expect("manifest"))
            .expect("json");
    let shipped: Vec<Vec<u8>> = manifest["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|pair| fs::read(export.join(pair[1].as_str().expect("file"))).expect("artifact"))
        .collect();
    assert!(
        shipped.iter().any(|x| x == a) && shipped.iter().any(|x| x == b),
        "the archived and the current snapshot"
    );
    let export = work.path().join("export-operational");
    let doc = snapgc(&store, &["state", "export", "--dir", export.to_str().expect("utf-8"), "--json"])
        .expect(0)
        .json();
    assert_eq!(doc["artifacts"], 1, "{doc}");

    // A damaged pack: get fails and leaves FILE as it was; verify --deep exits 1.
    let pack =
        walk(&archive_dir).into_iter().find(|p| p.extension().is_some_and(|e| e == "pack")).expect("a pack");
    let mut bytes = fs::read(&pack).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&pack, bytes).expect("write");
    fs::write(&out, b"old").expect("write");
    snapgc(&store, &["archive", "get", &hashes[0], "-o", out.to_str().expect("utf-8")]).expect(2);
    assert_eq!(fs::read(&out).expect("read"), b"old", "FILE is replaced only once verified");
    snapgc(&store, &["archive", "verify", "--deep"]).expect(1);
    snapgc(&store, &["archive", "verify"]).expect(0);

    // gc: retention 1 keeps the one manifest; a dry run changes nothing.
    snapgc(&store, &["config", "set", "--archive-keep-last", "1"]).expect(0);
    let dry = snapgc(&store, &["archive", "gc", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["manifests_dropped"], 0);
    snapgc(&store, &["archive", "gc"]).expect(0);

    // An archive that cannot be opened: the collector keeps history (exit 2), deletes nothing.
    import(&store, &[&files[0]]);
    set_root(&store, "v1.lastSnapshot", &hashes[0]);
    // (`config set` refuses a location that can never work: this one breaks afterwards.)
    let bad = work.path().join("broken-later");
    snapgc(&store, &["config", "set", "--archive", bad.to_str().expect("utf-8")]).expect(0);
    fs::write(bad.join("SNAPGC-ARCHIVE"), br#"{"format":1,"owner":"another store"}"#).expect("write");
    let run = snapgc(&store, &["gc", "--json"]).expect(2);
    assert_eq!(run.json()["swept"], 0, "{}", run.text());
    assert!(blob_path(&store, &hashes[1]).exists(), "history is kept");
    let doc = snapgc(&store, &["config", "set", "--no-archive", "--json"]).expect(0).json();
    assert!(doc.get("archive").is_none(), "{doc}");
    snapgc(&store, &["archive", "ls"]).expect(2);
    assert_eq!(snapgc(&store, &["gc", "--json"]).expect(0).json()["swept"], 1);
}
