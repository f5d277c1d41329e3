//! Shared by the benchmarks and the measuring examples: the heap corpus.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use swingstore::format_root_value;
use swingstore::{SnapshotHash, SwingStore};

/// Removes `NAME VALUE` from `args` and returns VALUE, for the measuring examples' flags (a store
/// path is never positional, so a stray number cannot become a store directory).
pub fn take_flag(args: &mut Vec<String>, name: &str) -> anyhow::Result<Option<String>> {
    let Some(i) = args.iter().position(|a| a == name) else { return Ok(None) };
    anyhow::ensure!(i + 1 < args.len(), "{name} needs a value");
    let value = args.remove(i + 1);
    args.remove(i);
    Ok(Some(value))
}

/// One real XS heap snapshot.
pub struct Heap {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The corpus directory: `$SNAPGC_CORPUS`, else `../shared/corpus/xsnap` beside the checkout.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("SNAPGC_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/xsnap"),
    }
}

/// Paths of the corpus heaps (`*.xss`), sorted; empty when the corpus is absent.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "xss"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The fixture heaps (`fixtures/*.lz4`, decoded).
pub fn fixture_heaps() -> Vec<Heap> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> =
        fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.sort();
    for path in files.into_iter().filter(|p| p.extension().is_some_and(|x| x == "lz4")) {
        let Ok(file) = fs::File::open(&path) else { continue };
        let mut bytes = Vec::new();
        if lz4_flex::frame::FrameDecoder::new(file).read_to_end(&mut bytes).is_ok() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(Heap { name, bytes });
        }
    }
    out
}

/// The real heaps, or the fixture when the corpus is absent (with a note on stderr).
pub fn heaps() -> Vec<Heap> {
    let heaps: Vec<Heap> = corpus_files()
        .into_iter()
        .filter_map(|p| {
            let bytes = fs::read(&p).ok()?;
            Some(Heap { name: p.file_name()?.to_string_lossy().into_owned(), bytes })
        })
        .collect();
    if heaps.is_empty() {
        eprintln!("note: corpus {} absent; using the fixture heaps", corpus_dir().display());
        return fixture_heaps();
    }
    heaps
}

/// A few representative heaps: the smallest, the largest, and one vat heap.
pub fn representative(mut heaps: Vec<Heap>) -> Vec<Heap> {
    heaps.sort_by_key(|h| h.bytes.len());
    if heaps.len() <= 3 {
        return heaps;
    }
    let last = heaps.len() - 1;
    let mid = heaps.len() / 2;
    let mut out = Vec::new();
    for (i, h) in heaps.into_iter().enumerate() {
        if i == 0 || i == mid || i == last {
            out.push(h);
        }
    }
    out
}

/// Distinct blobs the roots name (vat i names blob i % BLOBS).
const BLOBS: usize = 64;
/// kv writes per commit while building.
const BUILD_BLOCK: usize = 200_000;

pub struct Built {
    pub _dir: tempfile::TempDir,
    pub store: SwingStore,
    pub hashes: Vec<SnapshotHash>,
    pub floor: sled::Db,
}

/// A store with `vats` roots and `extra` other keys per vat, and a sled tree with the roots only.
pub fn build_gc_store(vats: usize, extra: usize) -> Built {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SwingStore::create(dir.path().join("store")).expect("store");
    let hashes: Vec<SnapshotHash> = (0..BLOBS)
        .map(|i| store.save_bytes(format!("heap {i} ").repeat(100).as_bytes()).expect("save").hash)
        .collect();
    let floor = sled::Config::new().path(dir.path().join("floor")).open().expect("sled");
    let kv = store.kv();
    let mut staged = 0;
    let mut floor_batch = sled::Batch::default();
    for v in 1..=vats {
        let root = format_root_value(&hashes[v % BLOBS], v as u64 * 7);
        let key = format!("v{v}.lastSnapshot");
        kv.set(&key, &root);
        floor_batch.insert(format!("r/{key}").as_bytes(), root.as_bytes());
        // Realistic neighbours: vatstore entries and transcript bookkeeping of the same vat.
        for k in 0..extra {
            let (key, value) = if k < 30 {
                (
                    format!("v{v}.vs.vom.o+d{}/{}", 10 + k % 5, k),
                    format!(r#"{{"label":"entry {k}","n":{v}}}"#),
                )
            } else {
                (format!("v{v}.t.{k}"), format!(r#"{{"d":["message","ko{k}",{{"methargs":{v}}}]}}"#))
            };
            kv.set(&key, &value);
        }
        staged += 1 + extra;
        if staged >= BUILD_BLOCK {
            store.commit().expect("commit");
            staged = 0;
        }
    }
    store.commit().expect("commit");
    floor.apply_batch(floor_batch).expect("floor batch");
    floor.flush().expect("flush");
    let report = store.gc().expect("first gc");
    assert_eq!(report.roots, vats as u64);
    eprintln!(
        "built {vats} vats x {} keys ({} kv rows) in {:.1}s",
        1 + extra,
        vats * (1 + extra),
        started.elapsed().as_secs_f64()
    );
    Built { _dir: dir, store, hashes, floor }
}

/// Decodes the frame's blocks on this thread while a second thread hashes them: the limit of a
/// verified load (our frame layout: 7-byte header, size-prefixed blocks, end mark).
pub fn decode_and_hash(frame: &[u8]) -> [u8; 32] {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for block in rx {
                h.update(&block);
            }
            <[u8; 32]>::from(h.finalize())
        });
        let mut at = 7;
        loop {
            let size = u32::from_le_bytes(frame[at..at + 4].try_into().expect("size"));
            at += 4;
            if size == 0 {
                break;
            }
            let len = (size & 0x7fff_ffff) as usize;
            let data = &frame[at..at + len];
            at += len;
            let block = if size & 0x8000_0000 != 0 {
                data.to_vec()
            } else {
                let mut out = vec![0u8; 256 << 10];
                let n = lz4_flex::block::decompress_into(data, &mut out).expect("decode");
                out.truncate(n);
                out
            };
            if tx.send(block).is_err() {
                break;
            }
        }
        drop(tx);
        hasher.join().expect("hasher")
    })
}

/// This process's peak resident set (VmHWM, KiB; 0 where /proc is absent).
pub fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
