//! Heaps: real XS heap bytes, evolved deterministically one delivery at a time.
//!
//! The default source is the real 2.4 MB heap of a fresh `xsnap-worker` after SES lockdown
//! (`fixtures/36464bd8….lz4`, embedded in the binary and LZ4-decoded at start). `--heaps DIR`
//! uses the `.xss` files of a directory instead. A delivery overwrites a few short runs of the
//! heap with bytes copied from elsewhere in the source heap and, for growing vats, inserts a
//! run of a few hundred bytes near the end of the heap (where XS allocates). So the heap keeps
//! the statistics of a real one (LZ4 ~3:1), and what a delivery does depends only on
//! (seed, vat, delivery number): the same history always gives byte-identical heaps.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Result, SimError};
use testkit::Rng;

/// The embedded fixture: the LZ4 frame of `base-lockdown.xss` (XS 0.15.0 after lockdown).
const FIXTURE_LZ4: &[u8] =
    include_bytes!("../../../fixtures/36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5.lz4");

/// sha256 of the embedded fixture's raw bytes.
pub const FIXTURE_HASH: &str = "36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5";

/// Smallest heap a source may have (the mutation model needs room).
pub const MIN_HEAP: usize = 4096;

/// A real heap the vats start from.
#[derive(Debug, Clone)]
pub struct HeapSource {
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
}

/// The embedded lockdown heap, decoded.
pub fn embedded() -> Result<HeapSource> {
    let mut out = Vec::with_capacity(2_500_000);
    lz4_flex::frame::FrameDecoder::new(FIXTURE_LZ4)
        .read_to_end(&mut out)
        .map_err(|e| SimError::Heaps(format!("the embedded fixture does not decode: {e}")))?;
    Ok(HeapSource { name: "base-lockdown (embedded)".into(), bytes: Arc::new(out) })
}

/// Every usable `.xss` file of `dir` (at least [`MIN_HEAP`] bytes), in name order.
pub fn from_dir(dir: &Path) -> Result<Vec<HeapSource>> {
    let io = |e| SimError::Io { path: dir.to_owned(), cause: e };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "xss") && path.is_file() {
            names.push(path);
        }
    }
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let bytes = fs::read(&path).map_err(|e| SimError::Io { path: path.clone(), cause: e })?;
        if bytes.len() < MIN_HEAP {
            tracing::warn!("skipping {}: {} bytes is too small for a heap", path.display(), bytes.len());
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(HeapSource { name, bytes: Arc::new(bytes) });
    }
    if out.is_empty() {
        return Err(SimError::Heaps(format!(
            "no usable .xss heap snapshot (a file named *.xss of at least {MIN_HEAP} bytes) in {}",
            dir.display()
        )));
    }
    Ok(out)
}

/// How a vat's heap evolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Mean bytes inserted per (non read-only) delivery; 0 = the heap does not grow.
    pub growth: u64,
    /// Per mille of deliveries that are read-only (leave the heap byte-identical).
    pub read_only: u64,
    /// The first `shared` deliveries are the same for every vat of the lineage (zygote clones
    /// doing the same start-up work), so their heaps are identical.
    pub shared: u64,
}

/// Where the new bytes of a growing heap go: XS allocates near the end of its arenas.
const ALLOC_WINDOW: u64 = 64 * 1024;

/// Applies delivery number `n` (1-based) to `heap`. `key` identifies whose delivery it is (the
/// vat, or its lineage for shared deliveries). Returns whether the heap changed.
pub fn deliver(heap: &mut Vec<u8>, source: &[u8], seed: u64, key: u64, n: u64, profile: &Profile) -> bool {
    let mut rng = Rng::derive(&[seed, key, n]);
    if rng.chance(profile.read_only, 1000) || heap.len() < 64 || source.len() < 64 {
        return false;
    }
    let mut changed = false;
    for _ in 0..rng.range(1, 4) {
        let len = rng.range(8, 64) as usize;
        let from = rng.index(source.len() - len);
        let to = rng.index(heap.len() - len);
        if heap[to..to + len] != source[from..from + len] {
            heap[to..to + len].copy_from_slice(&source[from..from + len]);
            changed = true;
        }
    }
    if profile.growth > 0 {
        let len = (rng.range(profile.growth / 2, profile.growth * 3 / 2) as usize).min(source.len() / 2);
        let from = rng.index(source.len() - len);
        let at = heap.len() - rng.index(heap.len().min(ALLOC_WINDOW as usize));
        heap.splice(at..at, source[from..from + len].iter().copied());
        changed |= len > 0;
    }
    changed
}

/// A fresh vat's starting heap: the source heap (or, with `limit`, a slice of it chosen by
/// `key`), plus `code_bytes` of "vat code" copied from the source into its allocation window.
pub fn base_heap(source: &[u8], seed: u64, key: u64, code_bytes: u64, limit: Option<usize>) -> Vec<u8> {
    let mut rng = Rng::derive(&[seed, key, u64::MAX]);
    let mut heap = match limit {
        Some(l) if l < source.len() => {
            let start = rng.index(source.len() - l);
            source[start..start + l].to_vec()
        }
        _ => source.to_vec(),
    };
    let code = (code_bytes as usize).min(heap.len() / 8).min(source.len() / 2);
    if code > 0 {
        let from = rng.index(source.len() - code);
        let at = heap.len() - rng.index(heap.len().min(ALLOC_WINDOW as usize));
        heap.splice(at..at, source[from..from + code].iter().copied());
    }
    heap
}

/// A source heap cut to `limit` bytes (a deterministic slice), for the zygote.
pub fn limited(source: &[u8], limit: Option<usize>) -> Vec<u8> {
    match limit {
        Some(l) if l < source.len() => source[..l].to_vec(),
        _ => source.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_decodes_to_the_real_heap() -> Result<()> {
        let h = embedded()?;
        assert_eq!(h.bytes.len(), 2_429_523);
        assert_eq!(swingstore::SnapshotHash::of(&h.bytes).to_hex(), FIXTURE_HASH);
        Ok(())
    }

    #[test]
    fn deliveries_are_deterministic_and_read_only_ones_change_nothing() -> Result<()> {
        let src = embedded()?;
        let p = Profile { growth: 300, read_only: 500, shared: 0 };
        let base = base_heap(&src.bytes, 1, 7, 10_000, Some(200_000));
        let (mut a, mut b) = (base.clone(), base.clone());
        let mut unchanged = 0;
        for n in 1..=50 {
            let before = a.clone();
            let changed = deliver(&mut a, &src.bytes, 1, 7, n, &p);
            deliver(&mut b, &src.bytes, 1, 7, n, &p);
            if !changed {
                assert_eq!(a, before, "a delivery reported as no change changed the heap");
                unchanged += 1;
            }
        }
        assert_eq!(a, b);
        assert!(unchanged > 5 && unchanged < 45, "{unchanged}");
        assert!(a.len() > base.len() + 3000, "a growing heap grows");
        Ok(())
    }

    #[test]
    fn mutated_heaps_still_compress_like_real_ones() -> Result<()> {
        let src = embedded()?;
        let p = Profile { growth: 300, read_only: 0, shared: 0 };
        let mut heap = base_heap(&src.bytes, 3, 9, 50_000, Some(400_000));
        for n in 1..=400 {
            deliver(&mut heap, &src.bytes, 3, 9, n, &p);
        }
        let ratio = heap.len() as f64 / lz4_flex::block::compress(&heap).len() as f64;
        assert!((2.0..5.0).contains(&ratio), "lz4 ratio {ratio}");
        Ok(())
    }

    #[test]
    fn heaps_dir_without_xss_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("tiny.xss"), b"x").unwrap();
        let err = from_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no usable .xss"), "{err}");
        assert!(from_dir(&dir.path().join("missing")).is_err());
    }
}
