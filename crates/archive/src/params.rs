//! The parameters that define the archive's objects. Chunk boundaries, hence chunk names and
//! deduplication, depend on the chunker and these sizes: changing any of them is a format
//! change (old chunks are then never shared with new ones), which is why the `fastcdc` crate
//! is pinned exactly and `tests/vectors.rs` keeps cut points of known inputs.

/// FastCDC's smallest chunk (bytes): below a quarter of the average, where FastCDC's
/// normalization puts it.
pub const MIN_CHUNK: u32 = 4 * 1024;
/// The average chunk (bytes). 16 KiB: the size the probe and restic/kopia-like stores
/// use; small enough that a localized heap change rewrites little, large enough that each
/// chunk's manifest entry (~100 bytes) and zstd frame overhead stay under 1 %.
pub const AVG_CHUNK: u32 = 16 * 1024;
/// The largest chunk (bytes): 4 × the average, FastCDC's usual bound.
pub const MAX_CHUNK: u32 = 64 * 1024;
/// FastCDC 2020 with normalization level 1 (the crate's default) and gear seed 0.
pub const CHUNKER: &str = "fastcdc-5.0.0/v2020 min 4096 avg 16384 max 65536 level 1 seed 0";

/// zstd level of every chunk (zstd's default: ~6:1 on XS heaps at a few hundred MB/s).
pub const ZSTD_LEVEL: i32 = 3;
/// How chunks are stored: one zstd frame each, with zstd's content checksum.
pub const CODEC: &str = "zstd-3 frame per chunk, content checksum";

/// A pack is closed once it holds this many stored bytes (an archive step writes one pack per
/// 16 MiB of new compressed chunks; most steps write one small pack).
pub const PACK_TARGET: usize = 16 * 1024 * 1024;

/// Format version of manifests and the state object.
pub const FORMAT: u32 = 1;

/// Formerly the largest manifest read (bytes of JSON). A manifest is now bounded by the length
/// of its snapshot instead ([`crate::Manifest::decode`], [`crate::max_manifest_json_bytes`]), so no
/// snapshot is too large for its manifest to be read back (issue 23).
#[deprecated(note = "manifests are bounded by their snapshot's length: see max_manifest_json_bytes")]
pub const MANIFEST_LIMIT: u64 = 64 * 1024 * 1024;
