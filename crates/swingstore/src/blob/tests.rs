//! Round trips and damage, across both pipelines.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use lz4_flex::frame::FrameDecoder;

use super::frame::{BLOCK, HEADER};
use super::load::copy_verified;
use super::save::compress_stream;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

/// Compressible bytes with an incompressible stretch (300 000..600 000).
fn sample(len: usize) -> Vec<u8> {
    let mut out = testkit::compressible_bytes(7, len);
    let noise = testkit::bytes(8, 300_000);
    for (i, byte) in out.iter_mut().enumerate().take(600_000).skip(300_000) {
        *byte = noise[i - 300_000];
    }
    out
}

fn save(data: &[u8]) -> (Vec<u8>, [u8; 32], u64, u64) {
    let mut frame = Vec::new();
    let (digest, raw, stored) =
        compress_stream(&mut io::Cursor::new(data), &mut frame, Path::new("mem")).expect("compress");
    (frame, digest, raw, stored)
}

fn load(frame: &[u8], hash: SnapshotHash, len: Option<u64>) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blob");
    std::fs::write(&path, frame).expect("write");
    let run = |hashing| {
        let mut out = Vec::new();
        copy_verified(File::open(&path).expect("open"), hash, len, &mut out, hashing).map(|_| out)
    };
    let threaded = run(super::Hashing::SecondThread);
    // The inline path agrees, byte for byte and error for error.
    match (&threaded, run(super::Hashing::Inline)) {
        (Ok(a), Ok(b)) => assert!(*a == b, "the two hashing paths decode differently"),
        (Err(Error::Corrupt { .. }), Err(Error::Corrupt { .. })) => {}
        (a, b) => panic!("the two hashing paths disagree: {a:?} / {b:?}"),
    }
    threaded
}

#[test]
fn frames_decode_with_the_general_decoder_and_round_trip() {
    for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 17, 1_300_000] {
        let data = sample(len);
        let (frame, digest, raw, stored) = save(&data);
        assert_eq!(raw, len as u64);
        assert_eq!(stored, frame.len() as u64);
        assert_eq!(digest, *SnapshotHash::of(&data).as_bytes());
        assert_eq!(&frame[..7], &HEADER);
        let mut decoded = Vec::new();
        FrameDecoder::new(&frame[..]).read_to_end(&mut decoded).expect("lz4_flex decodes it");
        assert!(decoded == data, "general decoder, {len} bytes");
        let hash = SnapshotHash::from_bytes(digest);
        assert!(load(&frame, hash, Some(len as u64)).expect("load") == data, "fast path, {len} bytes");
    }
}

#[test]
fn other_frame_layouts_still_load() {
    let data = sample(2_000_000);
    let hash = SnapshotHash::of(&data);
    for info in [
        FrameInfo::new().block_size(BlockSize::Max4MB).block_mode(BlockMode::Independent),
        FrameInfo::new().block_size(BlockSize::Max64KB).block_mode(BlockMode::Linked),
        FrameInfo::new().block_size(BlockSize::Max1MB).content_checksum(true),
        FrameInfo::new().block_size(BlockSize::Max256KB).block_checksums(true),
    ] {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&data).expect("encode");
        let frame = enc.finish().expect("finish");
        assert!(load(&frame, hash, Some(data.len() as u64)).expect("load") == data);
        assert!(matches!(load(&frame, hash, Some(data.len() as u64 - 1)), Err(Error::Corrupt { .. })));
    }
}

#[test]
fn damaged_frames_are_corrupt_not_panics() {
    let data = sample(3 * BLOCK + 5);
    let (frame, digest, ..) = save(&data);
    let hash = SnapshotHash::from_bytes(digest);
    let len = Some(data.len() as u64);
    let mut trailing = frame.clone();
    trailing.extend_from_slice(b"junk");
    let mut oversized = frame.clone();
    oversized[7..11].copy_from_slice(&(BLOCK as u32 + 1).to_le_bytes());
    let mut flipped = frame.clone();
    let mid = frame.len() / 2;
    flipped[mid] ^= 0x40;
    let cases: Vec<(&str, Vec<u8>, Option<u64>)> = vec![
        ("trailing data", trailing, len),
        ("oversized block", oversized, len),
        ("bit flip", flipped, len),
        ("no end mark", frame[..frame.len() - 4].to_vec(), len),
        ("header only", frame[..7].to_vec(), len),
        ("empty file", Vec::new(), len),
        ("cap below the content", frame.clone(), Some(BLOCK as u64)),
    ];
    for (what, bytes, len) in cases {
        match load(&bytes, hash, len) {
            Err(Error::Corrupt { .. }) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    // Unrecorded length: the hash alone still decides.
    assert!(load(&frame, hash, None).expect("load") == data);
}

#[test]
fn input_errors_surface_and_buffers_survive() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("pipe broke"));
            }
            let n = buf.len().min(self.0).min(100_000);
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }
    let mut sink = Vec::new();
    let err = compress_stream(&mut Failing(3 * BLOCK), &mut sink, Path::new("mem")).err();
    assert!(matches!(err, Some(Error::Stream { .. })), "{err:?}");
    // The pipeline still works afterwards.
    let data = sample(BLOCK * 2);
    assert!(save(&data).1 == *SnapshotHash::of(&data).as_bytes());
}

#[test]
fn output_errors_surface_without_hanging_and_buffers_survive() {
    /// Accepts `left` bytes, then fails every write.
    struct Full {
        left: usize,
    }
    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let data = sample(12 * BLOCK + 5);
    // In the header, in the first block, deep in the stream (every slot in flight), at the end
    // mark.
    let (full_frame, _, _, _) = save(&data);
    for left in [0, 3, HEADER.len() + 10, full_frame.len() / 2, full_frame.len() - 2] {
        let result = compress_stream(&mut io::Cursor::new(&data), &mut Full { left }, Path::new("mem"));
        assert!(matches!(result, Err(Error::Io { .. })), "left {left}: {result:?}");
    }
    // The pipeline still works afterwards.
    assert!(save(&data).1 == *SnapshotHash::of(&data).as_bytes());
}

#[test]
fn concurrent_saves_share_the_compressors_and_each_frame_is_its_own() {
    let inputs: Vec<Vec<u8>> = (0..6u8)
        .map(|i| {
            let mut data = sample(3 * BLOCK + usize::from(i) * 1_000);
            data[0] = i;
            data
        })
        .collect();
    std::thread::scope(|scope| {
        for data in &inputs {
            scope.spawn(move || {
                for _ in 0..3 {
                    let (frame, digest, raw, _) = save(data);
                    let hash = SnapshotHash::of(data);
                    assert_eq!(digest, *hash.as_bytes());
                    assert_eq!(raw, data.len() as u64);
                    assert!(
                        load(&frame, hash, Some(raw)).expect("load") == *data,
                        "a frame decoded to other bytes"
                    );
                }
            });
        }
    });
}

#[test]
fn a_compressor_that_panics_fails_its_save_and_nothing_hangs() {
    // Block 5 of 20 panics in its compressor: more blocks than slots, so the save must learn of
    // it from the block coming back, not from the end of the stream.
    let mut data = sample(20 * BLOCK);
    data[5 * BLOCK..5 * BLOCK + super::pool::PANIC_BLOCK.len()].copy_from_slice(super::pool::PANIC_BLOCK);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let result = compress_stream(&mut io::Cursor::new(&data), &mut sink, Path::new("mem")).map(|_| ());
        let _ = tx.send(result);
    });
    let result = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the save hung on a lost block");
    assert!(matches!(result, Err(Error::Io { .. })), "{result:?}");
    // The compressors survived: saves still work, and more of them than there are threads.
    for _ in 0..4 {
        let data = sample(3 * BLOCK);
        assert!(save(&data).1 == *SnapshotHash::of(&data).as_bytes());
    }
}
