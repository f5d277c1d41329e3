//! `kv`: one block per command; a root naming an absent blob commits nothing.

use serde_json::Value;
use swingstore::SnapshotHash;
use swingstore::format_root_value;
use tempfile::TempDir;

use crate::util::{blob_path, epoch, healthy_store, snapgc};

#[test]
fn kv_commands_commit_one_block_each() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    snapgc(&store, &["kv", "set", "a.1", "one"]).expect(0);
    snapgc(&store, &["kv", "set", "a.2", "-two with spaces"]).expect(0);
    let doc = snapgc(&store, &["--json", "kv", "set", "b", "three"]).expect(0).json();
    assert_eq!(doc["epoch"], 3);
    assert_eq!(epoch(&store), 3);
    assert_eq!(snapgc(&store, &["kv", "get", "a.2"]).expect(0).text(), "-two with spaces\n");
    assert_eq!(snapgc(&store, &["kv", "list", "a."]).expect(0).text(), "a.1\tone\na.2\t-two with spaces\n");
    assert_eq!(snapgc(&store, &["kv", "list"]).expect(0).text().lines().count(), 3);
    let doc = snapgc(&store, &["kv", "list", "--json"]).expect(0).json();
    assert_eq!(doc[2]["key"], "b");
    assert_eq!(doc[2]["value"], "three");
    let doc = snapgc(&store, &["kv", "get", "b", "--json"]).expect(0).json();
    assert_eq!(doc["value"], "three");

    snapgc(&store, &["kv", "delete", "a.1"]).expect(0);
    assert_eq!(epoch(&store), 4);
    let run = snapgc(&store, &["kv", "get", "a.1"]).expect(1);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("a.1"), "{}", run.stderr);
    assert_eq!(snapgc(&store, &["kv", "get", "a.1", "--json"]).expect(1).json()["value"], Value::Null);
    let run = snapgc(&store, &["kv", "delete", "a.1"]).expect(1);
    assert!(run.stderr.contains("a.1"), "{}", run.stderr);
    assert_eq!(epoch(&store), 4, "a failed delete commits nothing");
    // gc never advances the epoch.
    snapgc(&store, &["gc"]).expect(0);
    snapgc(&store, &["gc", "--now"]).expect(0);
    assert_eq!(epoch(&store), 4);
}

#[test]
fn kv_set_of_a_root_naming_an_absent_blob_exits_2_and_commits_nothing() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    snapgc(&store, &["kv", "delete", "v1.lastSnapshot"]).expect(0);
    snapgc(&store, &["gc", "--grace", "0"]).expect(0);
    snapgc(&store, &["gc", "--grace", "0"]).expect(0);
    assert!(!blob_path(&store, &h1).exists(), "h1 was collected");
    let before = epoch(&store);
    let value = format_root_value(&SnapshotHash::parse(&h1).unwrap(), 1);
    let run = snapgc(&store, &["kv", "set", "v1.lastSnapshot", &value]).expect(2);
    assert!(
        run.stderr.contains("not in the store") && run.stderr.contains("v1.lastSnapshot"),
        "{}",
        run.stderr
    );
    assert_eq!(epoch(&store), before, "nothing committed");
    snapgc(&store, &["kv", "get", "v1.lastSnapshot"]).expect(1);
    snapgc(&store, &["verify"]).expect(0);
    // A malformed value is still stored as given (the collector then fails closed on it).
    snapgc(&store, &["kv", "set", "v1.lastSnapshot", "not json"]).expect(0);
    snapgc(&store, &["gc"]).expect(2);
}
