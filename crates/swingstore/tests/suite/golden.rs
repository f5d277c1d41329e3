//! Golden bytes of every on-disk record: a dependency bump (bincode, lz4_flex, serde) or a
//! field added in passing must not silently change what a store already holds. A change here
//! is a format change: bump the record version and say so in CHANGELOG.md.

use swingstore::internals::{GcState, decode, encode};
use swingstore::{ArchiveConfig, BlobMeta, GcConfig, NamedBy, SwingStore};

use crate::common::temp_dir;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// Encodes to exactly `golden`, and `golden` decodes back to the value.
fn golden<T>(value: &T, golden: &str, what: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(hex(&encode(value).expect("encode")), golden, "{what}: the encoding changed");
    assert_eq!(&decode::<T>(&unhex(golden), what).expect("decode"), value, "{what}: the golden bytes decode");
}

#[test]
fn blob_metadata_records_keep_their_bytes() {
    // Version 1, then bincode 2 standard: varints (0xfb u16, 0xfc u32, 0xfd u64), Option tag.
    let meta =
        BlobMeta { raw_bytes: 2_429_523, stored_bytes: 809_560, saved_epoch: 7, condemned_epoch: Some(9) };
    golden(&meta, "01fc53122500fc585a0c00070109", "blob metadata");
    let meta = BlobMeta { raw_bytes: 1, stored_bytes: 300, saved_epoch: 70_000, condemned_epoch: None };
    golden(&meta, "0101fb2c01fc7011010000", "blob metadata");
}

#[test]
fn collector_config_records_keep_their_bytes() {
    golden(&GcConfig::default(), "01010f762a2e6c617374536e617073686f7402", "gc config");
    let config =
        GcConfig { root_patterns: vec!["v*.lastSnapshot".into(), "zygote.*.snapshot".into()], grace: 300 };
    golden(
        &config,
        "01020f762a2e6c617374536e617073686f74117a79676f74652e2a2e736e617073686f74fb2c01",
        "gc config",
    );
}

#[test]
fn named_by_records_keep_their_bytes() {
    // The `n/<hash>` record: the last committed root to name a snapshot (what the archive
    // files a snapshot under). Strings are a varint length and the bytes.
    let named = NamedBy { key: "v1.lastSnapshot".into(), position: 400, epoch: 70_000 };
    golden(&named, "010f76312e6c617374536e617073686f74fb9001fc70110100", "named-by");
    let named = NamedBy { key: "zygote.z1.snapshot".into(), position: 0, epoch: 3 };
    golden(&named, "01127a79676f74652e7a312e736e617073686f740003", "named-by");
}

#[test]
fn archive_config_records_keep_their_bytes() {
    // The `s/archive` record.
    let config = ArchiveConfig { location: "/var/lib/archive".into(), keep_last: 0 };
    golden(&config, "01102f7661722f6c69622f6172636869766500", "archive config");
    let config = ArchiveConfig { location: "s3://b/p".into(), keep_last: 300 };
    golden(&config, "010873333a2f2f622f70fb2c01", "archive config");
}

#[test]
fn collector_state_records_keep_their_bytes() {
    let state = GcState {
        root_generation: 5,
        save_generation: 1 << 40,
        grace: 2,
        next_due_epoch: u64::MAX,
        roots: 36,
        live: 36,
        blobs: 37,
        stored_bytes: 37_600_000,
    };
    golden(&state, "0105fd000000000001000002fdffffffffffffffff242425fc00bb3d02", "gc state");
}

#[test]
fn the_blob_frame_keeps_its_bytes() {
    // Magic, FLG 0x60 (v1, independent blocks), BD 0x50 (256 KiB), header checksum 0xfb; one
    // block stored raw (high bit: 3 bytes do not compress), "abc", the end mark.
    let dir = temp_dir();
    let store = SwingStore::create(dir.path()).expect("store");
    let info = store.save_bytes(b"abc").expect("save");
    let file = std::fs::read(dir.path().join("snapshots").join(format!("{}.lz4", info.hash))).expect("read");
    assert_eq!(hex(&file), "04224d186050fb0300008061626300000000");
    // Every blob we write starts with the same 7-byte header.
    let big = store.save_bytes(&crate::common::content(9)).expect("save");
    let file = std::fs::read(dir.path().join("snapshots").join(format!("{}.lz4", big.hash))).expect("read");
    assert_eq!(hex(&file[..7]), "04224d186050fb");
}
