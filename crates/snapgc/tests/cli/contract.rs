//! The contract shared by every command: exit statuses, read-only commands, hash arguments,
//! JSON fields, error messages, and where a store may be created.

use std::fs;
use swingstore::OpenOptions;
use swingstore::SnapshotHash;
use swingstore::SwingStore;
use tempfile::TempDir;
// `payload(seed, len)`: deterministic, incompressible bytes.
use testkit::bytes as payload;

use crate::util::{
    blob_path, epoch, has_keys, healthy_store, listing, messy_store, snapgc, snapgc_raw, strings, write_file,
};

#[test]
fn a_held_store_gives_exit_3() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    snapgc(&store, &["kv", "set", "k", "v"]).expect(0);
    let file = write_file(work.path(), "x.bin", b"x");
    let held = SwingStore::open(&store, OpenOptions { create: false }).unwrap();
    for args in [
        &["stats"][..],
        &["gc"],
        &["gc", "--json"],
        &["kv", "set", "k", "w"],
        &["kv", "get", "k"],
        &["import", file.to_str().expect("a UTF-8 path")],
        &["verify", "--deep"],
    ] {
        let run = snapgc(&store, args).expect(3);
        assert!(run.stderr.contains("in use"), "{}", run.stderr);
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    }
    assert_eq!(held.kv().get_committed("k").unwrap().as_deref(), Some("v"));
    drop(held);
    assert_eq!(snapgc(&store, &["kv", "get", "k"]).expect(0).text(), "v\n");
}

#[test]
fn read_only_commands_never_create_a_store() {
    let work = TempDir::new().expect("a temp dir");
    let missing = work.path().join("nowhere");
    let hash = SnapshotHash::of(b"x").to_hex();
    let commands: [&[&str]; 12] = [
        &["export", &hash],
        &["kv", "get", "k"],
        &["kv", "list"],
        &["kv", "delete", "k"],
        &["stats"],
        &["verify"],
        &["verify", "--deep"],
        &["ls"],
        &["config"],
        &["config", "set", "--grace", "1"],
        &["gc"],
        &["gc", "--dry-run"],
    ];
    for args in commands {
        let run = snapgc(&missing, args).expect(2);
        assert!(run.stderr.contains("nowhere"), "names the path: {}", run.stderr);
        assert!(!missing.exists(), "{args:?} created the store");
    }
    // An existing directory that is not a store is left as it is.
    let empty = work.path().join("empty");
    fs::create_dir(&empty).expect("fs::create_dir");
    for args in commands {
        snapgc(&empty, args).expect(2);
    }
    assert!(listing(&empty).is_empty(), "{:?}", listing(&empty));
    // No --store at all.
    let run = snapgc_raw(&["stats"]).expect(2);
    assert!(run.stderr.contains("--store"), "{}", run.stderr);

    // import and kv set create it.
    let file = write_file(work.path(), "x.bin", b"x");
    snapgc(&work.path().join("s1"), &["import", file.to_str().expect("a UTF-8 path")]).expect(0);
    snapgc(&work.path().join("s2"), &["kv", "set", "k", "v"]).expect(0);
    assert_eq!(epoch(&work.path().join("s1")), 1);
    assert_eq!(epoch(&work.path().join("s2")), 1);
}

#[test]
fn bad_hashes_are_refused_with_exit_2() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    snapgc(&store, &["kv", "set", "k", "v"]).expect(0);
    let upper = SnapshotHash::of(b"x").to_hex().to_uppercase();
    for bad in ["../../etc/passwd", "abc", upper.as_str(), ""] {
        let run = snapgc(&store, &["export", bad]).expect(2);
        assert!(run.stderr.contains("invalid snapshot hash"), "{}", run.stderr);
        let run = snapgc(&store, &["export", bad, "--json"]).expect(2);
        assert!(run.json()["error"].is_string());
    }
    let absent = SnapshotHash::of(b"absent").to_hex();
    let out = work.path().join("out.bin");
    let run = snapgc(&store, &["export", &absent, "-o", out.to_str().expect("a UTF-8 path")]).expect(2);
    assert!(run.stderr.contains(&absent) && run.stderr.contains("not in the store"), "{}", run.stderr);
    assert!(!out.exists());
}

#[test]
fn json_outputs_carry_the_contract_fields() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (_a, _b, _c, _) = messy_store(&store, work.path());
    let gc_fields = [
        "epoch",
        "roots",
        "live",
        "swept",
        "swept_bytes",
        "kept_grace",
        "kept_leased",
        "dry_run",
        "candidates",
        "kept",
        "mark_us",
        "sweep_us",
    ];
    let doc = snapgc(&store, &["gc", "--dry-run", "--json"]).expect(0).json();
    has_keys(&doc, &gc_fields);
    for k in doc["kept"].as_array().expect("a JSON array") {
        has_keys(k, &["hash", "reason"]);
    }
    let doc = snapgc(&store, &["--json", "gc", "--scan"]).expect(0).json();
    has_keys(&doc, &gc_fields);
    assert_eq!(doc["roots"], 1);
    assert_eq!(doc["live"], 1);
    assert_eq!(doc["orphans_adopted"], 1);
    let doc = snapgc(&store, &["gc", "--now", "--dry-run", "--json"]).expect(0).json();
    for c in doc["candidates"].as_array().expect("a JSON array") {
        has_keys(c, &["hash", "stored_bytes", "reason"]);
    }
    let doc = snapgc(&store, &["stats", "--json"]).expect(0).json();
    has_keys(
        &doc,
        &["epoch", "roots", "live", "blobs", "raw_bytes", "stored_bytes", "garbage", "garbage_bytes"],
    );
    assert_eq!(doc["blobs"], 4, "A, B, C and the adopted orphan");
    assert_eq!(doc["garbage"], 3);
    let doc = snapgc(&store, &["ls", "--json"]).expect(0).json();
    assert_eq!(doc.as_array().expect("a JSON array").len(), 4);
    for row in doc.as_array().expect("a JSON array") {
        has_keys(
            row,
            &["hash", "raw_bytes", "stored_bytes", "saved_epoch", "state", "condemned_epoch", "roots"],
        );
        let state = row["state"].as_str().expect("a JSON string");
        assert!(["live", "young", "unreferenced", "condemned"].contains(&state), "{row}");
    }
    let doc = snapgc(&store, &["verify", "--json"]).expect(1).json();
    assert_eq!(strings(&doc["orphans"]), vec!["junk.txt"], "the stray is reported: {doc}");
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(doc["root_patterns"], serde_json::json!(["v*.lastSnapshot"]));
    assert_eq!(doc["grace"], 2);
    assert!(doc["metrics_file"].as_str().expect("a JSON string").ends_with("metrics.prom"), "{doc}");
    let doc = snapgc(
        &store,
        &["config", "set", "--grace", "5", "--root-pattern", "v*.lastSnapshot", "zygote.*", "--json"],
    )
    .expect(0)
    .json();
    // The config's own fields, extended with what changed.
    assert_eq!(doc["root_patterns"], serde_json::json!(["v*.lastSnapshot", "zygote.*"]));
    assert_eq!(doc["grace"], 5);
    assert_eq!(doc["changed"]["grace_before"], 2);
    assert_eq!(strings(&doc["changed"]["patterns_added"]), vec!["zygote.*"]);
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(doc["grace"], 5);
    snapgc(&store, &["config", "set"]).expect(2);
    snapgc(&store, &["config", "set", "--root-pattern", "a**b"]).expect(2);
    // Human output of every command works too.
    for args in [&["stats"][..], &["ls"], &["config"], &["gc", "--dry-run"], &["verify"]] {
        let run = snapgc(&store, args);
        assert!(run.code == 0 || run.code == 1, "{args:?}: {}", run.stderr);
        assert!(!run.stdout.is_empty(), "{args:?} printed nothing");
    }
}

#[test]
fn a_store_is_never_created_in_a_directory_of_other_files() {
    let work = TempDir::new().expect("a temp dir");
    let d = work.path().join("D");
    fs::create_dir_all(d.join("tmp")).expect("fs::create_dir_all");
    fs::create_dir_all(d.join("snapshots")).expect("fs::create_dir_all");
    fs::write(d.join("tmp").join("notes.txt"), b"x").expect("fs::write");
    fs::write(d.join("snapshots").join("photo.jpg"), b"x").expect("fs::write");
    let run = snapgc(&d, &["kv", "set", "a", "b"]).expect(2);
    assert!(run.stderr.contains("not a snapgc store"), "{}", run.stderr);
    let heap = write_file(work.path(), "heap.bin", &payload(1, 1000));
    snapgc(&d, &["import", heap.to_str().expect("a UTF-8 path")]).expect(2);
    snapgc(&d, &["gc", "--now"]).expect(2);
    assert!(d.join("tmp").join("notes.txt").exists() && d.join("snapshots").join("photo.jpg").exists());
    assert!(!d.join("kv").exists() && !d.join("LOCK").exists(), "nothing of a store was written");
    // An empty directory is fine, and so is a missing one.
    let empty = work.path().join("E");
    fs::create_dir(&empty).expect("fs::create_dir");
    snapgc(&empty, &["kv", "set", "a", "b"]).expect(0);
    snapgc(&work.path().join("new/deep"), &["kv", "set", "a", "b"]).expect(0);
    // Files dropped into a store later are reported, never removed.
    fs::write(empty.join("tmp").join("notes.txt"), b"x").expect("fs::write");
    fs::write(empty.join("snapshots").join("photo.jpg"), b"x").expect("fs::write");
    let doc = snapgc(&empty, &["gc", "--now", "--json"]).expect(0).json();
    assert_eq!(strings(&doc["strays"]), vec!["photo.jpg", "tmp/notes.txt"], "{doc}");
    assert!(
        empty.join("tmp").join("notes.txt").exists() && empty.join("snapshots").join("photo.jpg").exists()
    );
}

#[test]
fn error_messages_say_each_cause_once_and_quote_long_keys_short() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    // A directory squatting on a blob's name: the cause appears once.
    snapgc(&store, &["kv", "delete", "v1.lastSnapshot"]).expect(0);
    snapgc(&store, &["gc", "--now"]).expect(0);
    fs::create_dir(blob_path(&store, &h1)).expect("fs::create_dir");
    let file = write_file(work.path(), "again.bin", &payload(11, 200_000));
    let run = snapgc(&store, &["import", file.to_str().expect("a UTF-8 path")]).expect(2);
    assert_eq!(run.stderr.matches("in the way").count(), 1, "{}", run.stderr);
    // A malformed root under a 1 MB key (set through the library: too long for an argument):
    // the error line stays short.
    fs::remove_dir(blob_path(&store, &h1)).expect("fs::remove_dir");
    let key = format!("v{}.lastSnapshot", "1".repeat(1_000_000));
    {
        let handle = SwingStore::open(&store, OpenOptions::default()).unwrap();
        handle.kv().set(&key, "not json");
        handle.commit().unwrap();
    }
    let run = snapgc(&store, &["gc"]).expect(2);
    assert!(run.stderr.len() < 2_000, "{} bytes of stderr", run.stderr.len());
    // A root value that is a JSON array is malformed (Agoric's JSON.parse(v).snapshotID is undefined).
    {
        let handle = SwingStore::open(&store, OpenOptions::default()).unwrap();
        handle.kv().delete(&key);
        handle.commit().unwrap();
    }
    snapgc(&store, &["kv", "set", "v3.lastSnapshot", &format!("[\"{h1}\"]")]).expect(0);
    let run = snapgc(&store, &["gc"]).expect(2);
    assert!(run.stderr.contains("v3.lastSnapshot"), "{}", run.stderr);
}
