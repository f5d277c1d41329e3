//! The on-disk frame: a blob file is one standard LZ4 frame (`lz4 -d` reads it) of the raw
//! snapshot bytes. We write independent 256 KiB blocks, no checksums (the sha256 of the raw
//! bytes, which names the blob, is checked at every load instead), and the end mark.

use std::io::{self, Read};

use crate::error::Error;
use crate::hash::SnapshotHash;

/// Raw bytes per LZ4 block written (the frame's block maximum size, 256 KiB).
pub(super) const BLOCK: usize = 256 << 10;
/// Block buffers in flight in a save (bounds its memory: `SLOTS` × ~512 KiB).
pub(super) const SLOTS: usize = 8;
/// Decoded blocks in flight in a load.
pub(super) const LOAD_SLOTS: usize = 6;
/// Chunk size of the generic (`FrameDecoder`) load path.
pub(super) const CHUNK: usize = 1 << 20;
/// Largest snapshot we will ever decode when no length is recorded (orphans, damaged metadata).
pub const UNRECORDED_LENGTH_CAP: u64 = 64 << 30;

pub(super) const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// FLG: version 01, independent blocks, no block checksum, no content size, no content
/// checksum, no dictionary.
pub(super) const FLG_INDEPENDENT: u8 = 0x60;
/// The frame descriptors we write or fast-decode: (BD byte, header checksum, block max size).
/// The checksum byte is `(xxh32([FLG, BD], 0) >> 8) & 0xff`, as the `lz4` tool writes it.
pub(super) const CANONICAL: [(u8, u8, usize); 4] =
    [(0x40, 0x82, 64 << 10), (0x50, 0xfb, 256 << 10), (0x60, 0x51, 1 << 20), (0x70, 0x73, 4 << 20)];
/// Header of the frames we write: magic, FLG, BD (256 KiB blocks), header checksum.
pub(super) const HEADER: [u8; 7] = [0x04, 0x22, 0x4d, 0x18, FLG_INDEPENDENT, 0x50, 0xfb];
/// High bit of a block size: the block is stored uncompressed.
pub(super) const UNCOMPRESSED: u32 = 0x8000_0000;

/// Reads until `buf` is full or the input ends; returns how much was read.
pub(super) fn read_full<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A `Corrupt` error for `hash`.
pub(super) fn corrupt(hash: &SnapshotHash, expected: impl Into<String>, actual: impl Into<String>) -> Error {
    Error::Corrupt { hash: hash.to_hex(), expected: expected.into(), actual: actual.into() }
}

/// A short read of a frame: truncation, or an I/O error.
pub(super) fn truncated(hash: &SnapshotHash, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt(hash, "a complete LZ4 frame", "a truncated one")
    } else {
        Error::stream(format!("snapshot {hash}"), e)
    }
}
