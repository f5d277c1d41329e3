//! Blob loading: the input is written as a blob file in a scratch store and loaded by every
//! read path. Nothing may panic or allocate without bound; whatever a path accepts must be
//! exactly what a reference LZ4 frame decoder produces and must hash to the blob's name.
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use swingstore::{SnapshotHash, SwingStore};

struct Scratch {
    _dir: tempfile::TempDir,
    store: SwingStore,
}

fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("temp dir");
        let store = SwingStore::create(dir.path().join("store")).expect("store");
        Scratch { _dir: dir, store }
    })
}

/// The reference: lz4_flex's frame decoder over the whole input, bounded at 64 MiB.
fn reference(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let decoder = lz4_flex::frame::FrameDecoder::new(data);
    decoder.take(64 << 20).read_to_end(&mut out).ok()?;
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    // Name the file after what the reference decodes it to, so the success paths are reached.
    let decoded = reference(data);
    let hash = match &decoded {
        Some(bytes) => SnapshotHash::of(bytes),
        None => SnapshotHash::of(data),
    };
    let path = s.store.path().join("snapshots").join(format!("{hash}.lz4"));
    std::fs::write(&path, data).expect("write blob");

    if let Ok(bytes) = s.store.load_bytes(&hash) {
        assert_eq!(SnapshotHash::of(&bytes), hash);
        assert_eq!(Some(&bytes), decoded.as_ref(), "load_bytes accepted what the reference does not decode");
    }
    if let Ok(n) = s.store.verify_blob(&hash) {
        assert_eq!(Some(n as usize), decoded.as_ref().map(Vec::len));
    }
    if let Ok(mut reader) = s.store.load(&hash) {
        let mut streamed = Vec::new();
        if reader.read_to_end(&mut streamed).is_ok() {
            assert_eq!(SnapshotHash::of(&streamed), hash, "the streaming reader served unverified bytes");
        }
    }
    std::fs::remove_file(&path).expect("remove blob");
});
