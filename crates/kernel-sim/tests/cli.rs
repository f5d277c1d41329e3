//! The real binary: `--json` parses and carries every documented field, `--store` leaves a sound
//! store behind, bad input gives a clear error and a non-zero exit.

use std::process::Command;

use swingstore::{OpenOptions, SwingStore};

const SMALL: &[&str] = &[
    "--blocks",
    "12",
    "--heap-limit",
    "32768",
    "--snapshot-interval",
    "40",
    "--export-every",
    "4",
    "--grace",
    "0",
];

fn sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kernel-sim"))
}

#[test]
fn json_with_compare_parses_and_has_every_field() {
    let out = sim().args(["--workload", "mixed", "--compare", "--json"]).args(SMALL).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "workload",
        "blocks",
        "epoch",
        "vats_live",
        "vats_terminated",
        "snapshots_saved",
        "page_ins",
        "blobs",
        "live",
        "stored_bytes",
        "live_stored_bytes",
        "swept",
        "gc_p50_us",
        "gc_p99_us",
        "gc_max_us",
        "exports",
        "exported_snapshots",
    ] {
        assert!(doc.get(key).is_some(), "missing {key} in {doc}");
        assert!(doc["no_gc"].get(key).is_some(), "missing no_gc.{key}");
    }
    assert_eq!(doc["workload"], "mixed");
    assert_eq!(doc["blocks"], 12);
    assert_eq!(doc["gc"], true);
    assert_eq!(doc["no_gc"]["gc"], false);
    assert!(doc["no_gc"]["blobs"].as_u64().unwrap() > doc["blobs"].as_u64().unwrap());
    assert!(doc["page_ins"].as_u64().unwrap() > 0);
}

#[test]
fn table_and_svg_report() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("storage.svg");
    let out = sim()
        .args(["--workload", "testnet", "--vats", "8", "--compare", "--report"])
        .arg(&svg)
        .args(SMALL)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("with gc") && table.contains("no gc") && table.contains("blobs on disk"),
        "{table}"
    );
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.contains("no gc:") && picture.contains("Blob files"));
}

#[test]
fn a_given_store_is_kept_and_sound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node");
    let out = sim()
        .args(["--workload", "zygote", "--vats", "1000", "--json", "--store"])
        .arg(&path)
        .args(SMALL)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = SwingStore::open(&path, OpenOptions { create: false }).unwrap();
    let report = store.verify(true, None).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(store.epoch(), 12);
    assert_eq!(store.stats().unwrap().blobs, doc["blobs"].as_u64().unwrap());
    drop(store);
    // Run again on it: refused, the store is not fresh.
    let again = sim().args(["--workload", "zygote", "--store"]).arg(&path).args(SMALL).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn heaps_dir_without_snapshots_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readme.txt"), "no heaps here").unwrap();
    let out = sim().arg("--heaps").arg(dir.path()).args(SMALL).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no usable .xss"), "{err}");
}

#[test]
fn heaps_dir_with_xss_files_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let heap = crate::util::embedded();
    std::fs::write(dir.path().join("a.xss"), &heap.bytes[..65536]).unwrap();
    std::fs::write(dir.path().join("b.xss"), &heap.bytes[65536..131072]).unwrap();
    let out = sim()
        .args(["--workload", "vattp", "--json", "--heaps"])
        .arg(dir.path())
        .args(SMALL)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["heap_source"], "a.xss, b.xss");
}

/// `--archive DIR`: the replaced snapshots go to a real archive (readable afterwards, every one
/// verified), and `--json`, the table and the chart report what it holds against whole files.
#[test]
fn an_archive_run_reports_what_the_archive_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (store_dir, archive_dir, svg) =
        (dir.path().join("store"), dir.path().join("archive"), dir.path().join("storage.svg"));
    let out = sim()
        .args(["--workload", "testnet", "--vats", "4", "--json", "--store"])
        .arg(&store_dir)
        .arg("--archive")
        .arg(&archive_dir)
        .arg("--report")
        .arg(&svg)
        .args(SMALL)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &doc["archive"];
    for key in [
        "location",
        "snapshots",
        "raw_bytes",
        "chunks",
        "stored_bytes",
        "whole_lz4_bytes",
        "whole_gzip6_bytes",
    ] {
        assert!(a.get(key).is_some(), "missing archive.{key} in {doc}");
    }
    let snapshots = a["snapshots"].as_u64().unwrap();
    assert!(snapshots > 0 && doc["swept"].as_u64().unwrap() >= snapshots, "{doc}");
    assert!(a["stored_bytes"].as_u64().unwrap() > 0);
    // The archive on disk holds exactly what the report says, and every snapshot verifies.
    let archive = archive::Archive::open(archive_dir.to_str().unwrap()).unwrap();
    let listed = archive.list().unwrap();
    assert_eq!(listed.len() as u64, snapshots);
    let verified = archive.verify(true).unwrap();
    assert!(verified.ok, "{verified:?}");
    let store = SwingStore::open(&store_dir, OpenOptions { create: false }).unwrap();
    for entry in &listed {
        let hash = swingstore::SnapshotHash::parse(&entry.hash).unwrap();
        assert!(!store.contains(&hash), "an archived snapshot was swept from the hot store");
    }
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains("archive (CDC chunks, zstd)"), "the chart has the archive panel");
}
