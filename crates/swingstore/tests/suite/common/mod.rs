//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use swingstore::{SnapshotHash, SwingStore, format_root_value};

/// Says, visibly, that a test could not run its check here. libtest captures `eprintln!` of
/// passing tests; a direct write to the process's stderr is not captured, so the line shows.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// A temp dir on tmpfs when there is one (fsync is free there, so tests run fast), else /tmp.
pub fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("a temp dir")
}

/// Path of the real XS heap fixture (a blob written by this code).
pub fn fixture_blob() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5.lz4")
}

pub const FIXTURE_HASH: &str = "36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5";

/// The real 2.4 MB lockdown heap, decoded from the fixture.
pub fn fixture_heap() -> Vec<u8> {
    let file = std::fs::File::open(fixture_blob()).expect("fixture present");
    let mut out = Vec::new();
    lz4_flex::frame::FrameDecoder::new(file).read_to_end(&mut out).expect("fixture decodes");
    out
}

/// Real corpus heaps from ../shared, when present (tests skip them otherwise).
pub fn corpus_heaps() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/xsnap");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        skip(
            "corpus heaps",
            &format!("{} absent; the tests that use them run on the fixture only", dir.display()),
        );
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xss"))
        .collect();
    out.sort();
    out
}

/// Distinct deterministic content for id `n`.
pub fn content(n: u64) -> Vec<u8> {
    testkit::compressible_bytes(n, 4096)
}

pub fn set_root(store: &SwingStore, vat: u64, hash: &SnapshotHash) {
    store.kv().set(&format!("v{vat}.lastSnapshot"), &format_root_value(hash, 0));
}

pub fn blob_files(store: &SwingStore) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store.path().join("snapshots"))
        .expect("blob dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn hashes_on_disk(store: &SwingStore) -> Vec<SnapshotHash> {
    blob_files(store)
        .iter()
        .filter_map(|n| n.strip_suffix(".lz4").and_then(|stem| SnapshotHash::parse(stem).ok()))
        .collect()
}

/// One collection with grace `grace` for this pass.
pub fn gc_g(store: &SwingStore, grace: u64) -> swingstore::GcReport {
    store
        .gc_with(&swingstore::GcOptions { grace: Some(grace), ..swingstore::GcOptions::default() })
        .expect("gc")
}

/// Commits an empty block and collects, `n` times.
pub fn age(store: &SwingStore, n: u64, grace: u64) {
    for _ in 0..n {
        store.commit().expect("commit");
        gc_g(store, grace);
    }
}
