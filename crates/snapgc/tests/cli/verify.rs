//! `verify --deep`: each kind of damage is reported once, in its list.

use std::fs;
use std::path::Path;
use swingstore::SnapshotHash;
use tempfile::TempDir;

use crate::util::{blob_path, healthy_store, listing, snapgc, strings};

/// `verify --deep --json`, expecting exit 1 and exactly one problem in `list`.
fn expect_one_problem(store: &Path, list: &str, item: &str) {
    let doc = snapgc(store, &["verify", "--deep", "--json"]).expect(1).json();
    assert_eq!(doc["ok"], false);
    for name in ["missing", "corrupt", "orphans", "bad_roots"] {
        let expected: Vec<String> = if name == list { vec![item.to_owned()] } else { vec![] };
        assert_eq!(strings(&doc[name]), expected, "{name} in {doc}");
    }
    let run = snapgc(store, &["verify", "--deep"]).expect(1);
    assert!(run.stderr.contains(item), "stderr names {item}: {}", run.stderr);
}

#[test]
fn verify_deep_finds_bit_flips_truncation_missing_blobs_and_orphans() {
    // Bit flip: same size, so only --deep sees it; export refuses it and leaves no file.
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (h1, _) = healthy_store(&store, work.path());
    let path = blob_path(&store, &h1);
    let mut bytes = fs::read(&path).expect("fs::read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(&path, &bytes).expect("fs::write");
    snapgc(&store, &["verify"]).expect(0);
    expect_one_problem(&store, "corrupt", &h1);
    let out_dir = work.path().join("out");
    fs::create_dir(&out_dir).expect("fs::create_dir");
    let out = out_dir.join("heap.xss");
    let run = snapgc(&store, &["export", &h1, "-o", out.to_str().expect("a UTF-8 path")]).expect(2);
    assert!(run.stderr.contains(&h1), "{}", run.stderr);
    assert!(listing(&out_dir).is_empty(), "a corrupt export left files: {:?}", listing(&out_dir));
    snapgc(&store, &["export", &h1]).expect(2);

    // Truncated.
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (h1, _) = healthy_store(&store, work.path());
    let path = blob_path(&store, &h1);
    let len = fs::metadata(&path).expect("fs::metadata").len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 2).unwrap();
    expect_one_problem(&store, "corrupt", &h1);

    // Missing live blob.
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let (_, h2) = healthy_store(&store, work.path());
    fs::remove_file(blob_path(&store, &h2)).expect("fs::remove_file");
    expect_one_problem(&store, "missing", &h2);

    // Orphan.
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    healthy_store(&store, work.path());
    let name = format!("{}.lz4", SnapshotHash::of(b"orphan").to_hex());
    fs::write(store.join("snapshots").join(&name), b"whatever").expect("fs::write");
    expect_one_problem(&store, "orphans", &name);
}
