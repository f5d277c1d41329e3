//! `status`: a running store read without its lock, a stopped one computed.

use std::fs;
use swingstore::OpenOptions;
use swingstore::SwingStore;
use tempfile::TempDir;

use crate::util::{blob_path, has_keys, healthy_store, snapgc};

#[test]
fn status_reads_a_running_store_without_its_lock_and_computes_a_stopped_one() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    // Stopped: computed now.
    let doc = snapgc(&store, &["status", "--json"]).expect(0).json();
    has_keys(
        &doc,
        &[
            "epoch",
            "roots",
            "live",
            "blobs",
            "stored_bytes",
            "live_bytes",
            "garbage_blobs",
            "garbage_bytes",
            "pending",
            "last_pass",
            "backlog",
            "pid",
            "updated_unix_ms",
            "source",
            "age_ms",
            "writer_alive",
        ],
    );
    assert_eq!(doc["source"], "computed");
    assert_eq!(doc["live"], 2);
    // Running: this test process holds the store (as a kernel would) and collects.
    let handle = SwingStore::open(&store, OpenOptions::default()).unwrap();
    handle.kv().set("x", "y");
    handle.commit().unwrap();
    handle.gc().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let doc = loop {
        let run = snapgc(&store, &["status", "--json"]);
        if run.code == 0 {
            break run.json();
        }
        assert!(std::time::Instant::now() < deadline, "no status while running: {}", run.stderr);
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(doc["source"], "status-file");
    assert_eq!(doc["writer_alive"], true);
    assert_eq!(doc["pid"], std::process::id());
    let text = snapgc(&store, &["status"]).expect(0).text();
    assert!(text.contains("running") && text.contains("backlog"), "{text}");
    // A live snapshot gone: exit 1, named in the text.
    fs::remove_file(blob_path(&store, &h1)).expect("fs::remove_file");
    handle.kv().set("x", "z");
    handle.commit().unwrap();
    handle.gc().unwrap();
    drop(handle);
    let run = snapgc(&store, &["status"]).expect(1);
    assert!(run.text().contains("MISSING"), "{}", run.text());
}
