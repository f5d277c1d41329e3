//! `import` / `export`: real heaps round-trip byte for byte.

use std::fs;
use std::path::Path;
use std::path::PathBuf;
use swingstore::SnapshotHash;
use tempfile::TempDir;

use crate::util::{FIXTURE, blob_path, epoch, fixture_heap, has_keys, snapgc, write_file};

fn round_trip(store: &Path, work: &Path, heap_file: &Path, heap: &[u8]) {
    let expected = SnapshotHash::of(heap).to_hex();
    let before = epoch(store);
    let run = snapgc(store, &["import", heap_file.to_str().expect("a UTF-8 path")]).expect(0);
    assert_eq!(run.text(), format!("{expected}  {}\n", heap_file.display()));
    assert_eq!(epoch(store), before + 1, "import commits exactly one block");
    let out = work.join("exported.bin");
    snapgc(store, &["export", &expected, "-o", out.to_str().expect("a UTF-8 path")]).expect(0);
    assert!(fs::read(&out).expect("fs::read") == heap, "exported file differs from the heap");
    let run = snapgc(store, &["export", &expected]).expect(0);
    assert!(run.stdout == heap, "exported stdout differs from the heap");
    fs::remove_file(&out).expect("fs::remove_file");
}

#[test]
fn import_export_round_trip_of_real_heaps() {
    let work = TempDir::new().expect("a temp dir");
    let store = work.path().join("store");
    let heap = fixture_heap();
    assert!(heap.len() > 1_000_000);
    assert_eq!(SnapshotHash::of(&heap).to_hex(), FIXTURE);
    let heap_file = write_file(work.path(), "base-lockdown.xss", &heap);

    // JSON fields; two files in one import commit one block.
    let small = write_file(work.path(), "small.bin", b"abc");
    let doc = snapgc(
        &store,
        &[
            "import",
            "--json",
            heap_file.to_str().expect("a UTF-8 path"),
            small.to_str().expect("a UTF-8 path"),
        ],
    )
    .expect(0)
    .json();
    let rows = doc.as_array().expect("a JSON array");
    assert_eq!(rows.len(), 2);
    has_keys(&rows[0], &["hash", "file", "raw_bytes", "stored_bytes"]);
    assert_eq!(rows[0]["hash"], FIXTURE);
    assert_eq!(rows[0]["file"], heap_file.to_str().expect("a UTF-8 path"));
    assert_eq!(rows[0]["raw_bytes"].as_u64().expect("a JSON number"), heap.len() as u64);
    let stored = rows[0]["stored_bytes"].as_u64().expect("a JSON number");
    assert!(stored > 0 && stored < heap.len() as u64, "a heap compresses");
    assert_eq!(stored, fs::metadata(blob_path(&store, FIXTURE)).expect("fs::metadata").len());
    assert_eq!(rows[1]["hash"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(epoch(&store), 1);

    // Re-import (dedup) plus export to file and stdout.
    round_trip(&store, work.path(), &heap_file, &heap);

    // Real corpus heaps when present (never needed by CI).
    let corpus = Path::new("/work/shared/corpus/xsnap");
    let mut files: Vec<(u64, PathBuf)> = match fs::read_dir(corpus) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xss"))
            .filter_map(|p| fs::metadata(&p).ok().map(|m| (m.len(), p)))
            .filter(|(len, _)| *len <= 64 << 20)
            .collect(),
        Err(_) => Vec::new(),
    };
    if files.is_empty() {
        println!("note: no corpus heaps under {} (or none small enough); fixture only", corpus.display());
    }
    files.sort();
    for (_, path) in files.into_iter().take(3) {
        let heap = fs::read(&path).expect("fs::read");
        round_trip(&store, work.path(), &path, &heap);
    }
    snapgc(&store, &["verify", "--deep"]).expect(0);
}

/// `snapgc export H | head -c 1`: the reader leaves, the export's write to stdout fails with a
/// broken pipe (an `Error::Stream`, not an `Error::Io` with a made-up path): exit 0, no error.
#[test]
fn export_to_a_reader_that_leaves_exits_zero() {
    let store_dir = TempDir::new().expect("tempdir");
    let store = store_dir.path().join("store");
    let work = TempDir::new().expect("tempdir");
    let heap = testkit::bytes(7, 8 << 20);
    let heap_file = write_file(work.path(), "big.xss", &heap);
    snapgc(&store, &["import", heap_file.to_str().expect("a UTF-8 path")]).expect(0);
    let hash = SnapshotHash::of(&heap).to_hex();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_snapgc"))
        .args(["--store", store.to_str().expect("a UTF-8 path"), "export", &hash])
        .env_remove("SNAPGC_STORE")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run snapgc");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for snapgc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("I/O error"), "{stderr}");
}
