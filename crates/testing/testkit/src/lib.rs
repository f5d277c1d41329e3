//! Deterministic data for tests and simulations: one seed, one sequence, on every platform.
//!
//! - [`Rng`]: a SplitMix64 generator with the few draws tests and simulations need
//!   ([`below`](Rng::below), [`range`](Rng::range), [`chance`](Rng::chance),
//!   [`pick`](Rng::pick), ...), and [`Rng::derive`] to get an independent generator from a list
//!   of numbers (seed, vat, delivery, ...) without threading one generator through everything.
//! - [`bytes`]: incompressible bytes; [`compressible_bytes`]: bytes that compress like a heap
//!   (LZ4 about 3:1). Both are a pure function of `(seed, len)`, and a shorter output is a
//!   prefix of a longer one.
//!
//! Changing what any of these return for a given seed changes every seeded run built on them
//! (kernel-sim's figures in the README included): don't.

/// SplitMix64 (Steele, Lea, Flood 2014): fast, well mixed, 64 bits of state, and the same on
/// every platform. Not for cryptography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator whose state is `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator determined by a list of numbers (seed, vat, delivery, ...): lists that
    /// differ in any element give unrelated sequences.
    pub fn derive(parts: &[u64]) -> Self {
        let mut state = GOLDEN;
        for &p in parts {
            state = mix(state ^ p.wrapping_add(GOLDEN));
        }
        Self(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `0..n` (0 when `n == 0`), by multiply-shift (Lemire), not modulo.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        match hi.saturating_sub(lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(), // the whole u64 range
        }
    }

    /// True with probability `n / out_of` (`rng.chance(15, 1000)`: 1.5 %). One draw, or none
    /// (and false) when `out_of == 0`.
    pub fn chance(&mut self, n: u64, out_of: u64) -> bool {
        out_of > 0 && self.below(out_of) < n
    }

    /// Uniform index into a slice of length `len` (0 when `len == 0`).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A uniformly chosen element.
    ///
    /// # Panics
    /// If `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        assert!(!items.is_empty(), "Rng::pick from an empty slice");
        &items[self.index(items.len())]
    }

    /// Fills `buf` with the next bytes of the sequence (8 per draw, little-endian).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// Tags so that `bytes(s, _)` and `compressible_bytes(s, _)` do not share a sequence.
const BYTES: u64 = 0x0062_7974_6573; // "bytes"
const HEAPLIKE: u64 = 0x6865_6170; // "heap"

/// `len` incompressible bytes determined by `seed` (distinct seeds: distinct bytes).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Rng::derive(&[BYTES, seed]).fill(&mut out);
    out
}

/// `len` bytes determined by `seed` that compress like a heap snapshot: runs of repeated 8-byte
/// words, a new random word starting on average every 4 words (LZ4 about 3:1).
pub fn compressible_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::derive(&[HEAPLIKE, seed]);
    let mut out = Vec::with_capacity(len + 8);
    let mut word = rng.next_u64();
    while out.len() < len {
        if rng.chance(1, 4) {
            word = rng.next_u64();
        }
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_splitmix64() {
        // Reference values of SplitMix64 from seed 0 (as in Vigna's splitmix64.c).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn derive_is_deterministic_and_separates_lists() {
        assert_eq!(Rng::derive(&[1, 2, 3]), Rng::derive(&[1, 2, 3]));
        assert_ne!(Rng::derive(&[1, 2, 3]).next_u64(), Rng::derive(&[1, 2, 4]).next_u64());
        assert_ne!(Rng::derive(&[1, 2]).next_u64(), Rng::derive(&[2, 1]).next_u64());
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            assert!((5..=9).contains(&r.range(5, 9)));
            assert!(r.below(3) < 3);
            assert!(r.index(4) < 4);
            assert!([1, 2, 3].contains(r.pick(&[1, 2, 3])));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.index(0), 0);
        assert_eq!(r.range(4, 4), 4);
        assert_eq!(r.range(9, 5), 9);
        let _ = r.range(0, u64::MAX); // no overflow
        assert!(!r.chance(1, 0));
        assert!(r.chance(1, 1));
        let hits = (0..10_000).filter(|_| r.chance(15, 1000)).count();
        assert!((80..230).contains(&hits), "{hits} hits of 1.5 % in 10,000");
    }

    #[test]
    fn byte_generators_are_pure_and_prefix_stable() {
        assert_eq!(bytes(1, 1000), bytes(1, 1000));
        assert_ne!(bytes(1, 1000), bytes(2, 1000));
        assert_eq!(bytes(1, 13)[..], bytes(1, 1000)[..13]);
        assert_eq!(compressible_bytes(5, 77)[..], compressible_bytes(5, 4096)[..77]);
        assert_ne!(compressible_bytes(5, 4096), compressible_bytes(6, 4096));
        assert_ne!(bytes(5, 64), compressible_bytes(5, 64));
        assert!(bytes(3, 0).is_empty() && compressible_bytes(3, 0).is_empty());
    }

    #[test]
    fn compressible_bytes_compress_and_bytes_do_not() {
        let ratio = |data: &[u8]| data.len() as f64 / lz4_flex::block::compress(data).len() as f64;
        let heap = ratio(&compressible_bytes(9, 1 << 20));
        assert!((2.0..5.0).contains(&heap), "compressible: lz4 {heap:.2}:1");
        let noise = ratio(&bytes(9, 1 << 20));
        assert!(noise < 1.01, "incompressible: lz4 {noise:.2}:1");
    }
}
