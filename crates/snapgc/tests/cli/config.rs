//! `config`: guarded pattern changes, size limits, the metrics file path.

use std::fs;
use tempfile::TempDir;

use crate::util::{hashes_of, healthy_store, set_root, snapgc, strings};

#[test]
fn config_set_refuses_to_unroot_committed_keys_without_force() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    let text = snapgc(&store, &["config", "set", "--root-pattern", "v*.lastSnapshot", "zygote.*.snapshot"])
        .expect(0)
        .text();
    assert!(text.contains("changed: root patterns +\"zygote.*.snapshot\""), "{text}");
    set_root(&store, "zygote.base.snapshot", &h1);
    snapgc(&store, &["kv", "delete", "v1.lastSnapshot"]).expect(0);
    let run = snapgc(&store, &["config", "set", "--root-pattern", "v*.lastSnapshot"]).expect(2);
    assert!(run.stderr.contains("zygote.base.snapshot"), "the key is named: {}", run.stderr);
    let shown = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(shown["root_patterns"].as_array().expect("a JSON array").len(), 2, "unchanged: {shown}");
    let doc = snapgc(&store, &["gc", "--dry-run", "--grace", "0", "--json"]).expect(0).json();
    assert!(!hashes_of(&doc["candidates"]).contains(&h1), "the zygote stays live: {doc}");
    let doc = snapgc(&store, &["config", "set", "--root-pattern", "v*.lastSnapshot", "--force", "--json"])
        .expect(0)
        .json();
    assert_eq!(strings(&doc["changed"]["keys_unrooted"]), vec!["zygote.base.snapshot"]);
}

#[test]
fn an_oversized_config_is_refused_and_the_store_still_opens() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    healthy_store(&store, work.path());
    let long = format!("v*.{}", "x".repeat(70_000));
    let run = snapgc(&store, &["config", "set", "--root-pattern", &long]).expect(2);
    assert!(run.stderr.len() < 1_000, "a long pattern is not quoted whole: {} bytes", run.stderr.len());
    let many: Vec<String> = (0..15_000).map(|i| format!("p{i}.*")).collect();
    let mut args = vec!["config", "set", "--root-pattern"];
    args.extend(many.iter().map(String::as_str));
    snapgc(&store, &args).expect(2);
    snapgc(&store, &["config"]).expect(0);
    snapgc(&store, &["config", "set", "--grace", "3"]).expect(0);
    snapgc(&store, &["verify"]).expect(0);
}

#[test]
fn config_set_metrics_file_persists_the_path() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    healthy_store(&store, work.path());
    let target = work.path().join("textfile").join("snapgc.prom");
    fs::create_dir_all(target.parent().expect("a parent")).unwrap();
    let doc = snapgc(
        &store,
        &["config", "set", "--metrics-file", target.to_str().expect("a UTF-8 path"), "--json"],
    )
    .expect(0)
    .json();
    assert_eq!(doc["metrics_file"], target.to_str().expect("a UTF-8 path"));
    snapgc(&store, &["gc"]).expect(0);
    assert!(target.exists(), "the metrics file is written where configured");
    let text = fs::read_to_string(&target).expect("fs::read_to_string");
    assert!(text.contains("# TYPE snapgc_garbage_bytes gauge"), "{text}");
    snapgc(&store, &["config", "set", "--no-metrics-file"]).expect(0);
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert!(doc["metrics_file"].as_str().expect("a JSON string").ends_with("metrics.prom"));
}
