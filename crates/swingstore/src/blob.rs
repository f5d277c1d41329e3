//! The content-addressed blob files: streaming save (hash and compress in one pass, on both
//! cores, with bounded memory) and verified streaming load.
//!
//! A blob file is one standard LZ4 frame (`lz4 -d` reads it) of the raw snapshot bytes, named
//! `<sha256 of the raw bytes>.lz4`. This module only writes temp files and reads blob files; the
//! publication protocol (metadata, rename, directory fsync, all under the sweep lock) lives in
//! [`crate::store`].
//!
//! ## Pipelines (see docs/PERFORMANCE.md)
//! Save: a reader thread fills 256 KiB blocks from the input and hashes them; two compressor
//! threads LZ4-compress blocks (the block API, independent blocks) as they come; the calling
//! thread writes them in order as the frame's data blocks, then fsyncs. Load of a frame in our
//! own format: the calling thread reads and decodes blocks and writes them out while a second
//! thread hashes them. Frames in any other valid LZ4 layout are decoded by lz4_flex's
//! `FrameDecoder`. Block buffers are pooled across calls (fresh pages cost ~3 µs each here), so
//! memory stays at a few MiB whatever the snapshot size.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use lz4_flex::frame::FrameDecoder;
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::hash::SnapshotHash;
use crate::layout::{TEMP_PREFIX, TEMP_SUFFIX};

/// Raw bytes per LZ4 block written (the frame's block maximum size, 256 KiB).
const BLOCK: usize = 256 << 10;
/// Block buffers in flight in a save (bounds its memory: `SLOTS` × ~512 KiB).
const SLOTS: usize = 8;
/// Decoded blocks in flight in a load.
const LOAD_SLOTS: usize = 6;
/// Chunk size of the generic (`FrameDecoder`) load path.
const CHUNK: usize = 1 << 20;
/// Largest snapshot we will ever decode when no length is recorded (orphans, damaged metadata).
pub const UNRECORDED_LENGTH_CAP: u64 = 64 << 30;

const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// FLG: version 01, independent blocks, no block checksum, no content size, no content
/// checksum, no dictionary.
const FLG_INDEPENDENT: u8 = 0x60;
/// The frame descriptors we write or fast-decode: (BD byte, header checksum, block max size).
/// The checksum byte is `(xxh32([FLG, BD], 0) >> 8) & 0xff`, as the `lz4` tool writes it.
const CANONICAL: [(u8, u8, usize); 4] =
    [(0x40, 0x82, 64 << 10), (0x50, 0xfb, 256 << 10), (0x60, 0x51, 1 << 20), (0x70, 0x73, 4 << 20)];
/// Header of the frames we write: magic, FLG, BD (256 KiB blocks), header checksum.
const HEADER: [u8; 7] = [0x04, 0x22, 0x4d, 0x18, FLG_INDEPENDENT, 0x50, 0xfb];
/// High bit of a block size: the block is stored uncompressed.
const UNCOMPRESSED: u32 = 0x8000_0000;

/// A fully written, fsynced temp file waiting to be published under its hash.
#[derive(Debug)]
pub struct TempBlob {
    pub path: PathBuf,
    pub name: String,
    pub hash: SnapshotHash,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temp file name, unique in this process (the store is held by one process).
pub(crate) fn temp_name() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n}{TEMP_SUFFIX}", std::process::id())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One block on its way through the save pipeline.
struct Slot {
    seq: u64,
    input: Vec<u8>,
    filled: usize,
    /// 4-byte block size, then the block data.
    output: Vec<u8>,
    out_len: usize,
}

impl Slot {
    fn new() -> Self {
        Self {
            seq: 0,
            input: vec![0u8; BLOCK],
            filled: 0,
            output: vec![0u8; 4 + lz4_flex::block::get_maximum_output_size(BLOCK)],
            out_len: 0,
        }
    }

    /// Compresses `input[..filled]` into `output` as one frame data block (size prefix
    /// included), stored raw when compression does not pay.
    fn compress(&mut self) {
        let input = &self.input[..self.filled];
        let compressed = lz4_flex::block::compress_into(input, &mut self.output[4..]).ok();
        let (size, len) = match compressed {
            Some(n) if n < input.len() => (n as u32, n),
            _ => {
                self.output[4..4 + input.len()].copy_from_slice(input);
                (input.len() as u32 | UNCOMPRESSED, input.len())
            }
        };
        self.output[..4].copy_from_slice(&size.to_le_bytes());
        self.out_len = 4 + len;
    }
}

/// Block buffers kept between saves, and between loads.
static SAVE_POOL: Mutex<Vec<Slot>> = Mutex::new(Vec::new());
static LOAD_POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn take_slots() -> Vec<Slot> {
    let mut pool = lock(&SAVE_POOL);
    let keep = pool.len().saturating_sub(SLOTS);
    let mut slots = pool.split_off(keep);
    drop(pool);
    slots.resize_with(SLOTS, Slot::new);
    slots
}

fn return_slots(slots: Vec<Slot>) {
    let mut pool = lock(&SAVE_POOL);
    let room = SLOTS.saturating_sub(pool.len());
    pool.extend(slots.into_iter().take(room));
}

/// Streams `input` into the temp file `dir/name` as an LZ4 frame, hashing it on the way. No
/// fsync: the commit of the block makes every blob it saved durable at once. The caller
/// removes the file on error.
pub(crate) fn write_temp(dir: &Path, name: String, input: &mut (dyn Read + Send)) -> Result<TempBlob> {
    let path = dir.join(&name);
    let mut file = OpenOptions::new().write(true).create_new(true).open(&path).at(&path)?;
    let (digest, raw_bytes, stored_bytes) = compress_stream(input, &mut file, &path)?;
    Ok(TempBlob { path, name, hash: SnapshotHash::from_bytes(digest), raw_bytes, stored_bytes })
}

/// The save pipeline: returns (sha256 of the input, input length, frame length).
fn compress_stream(
    input: &mut (dyn Read + Send),
    out: &mut dyn Write,
    path: &Path,
) -> Result<([u8; 32], u64, u64)> {
    let (empty_tx, empty_rx) = mpsc::channel::<Slot>();
    let (work_tx, work_rx) = mpsc::channel::<Slot>();
    let (done_tx, done_rx) = mpsc::channel::<Slot>();
    let work_rx = Mutex::new(work_rx);
    for slot in take_slots() {
        let _ = empty_tx.send(slot);
    }

    let mut spare = Vec::with_capacity(SLOTS);
    let result = std::thread::scope(|scope| -> Result<([u8; 32], u64, u64)> {
        let reader = scope.spawn(move || {
            let read = read_and_hash(input, &empty_rx, &work_tx);
            // Hand the idle slots back for the pool.
            (read, empty_rx)
        });
        for _ in 0..2 {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                loop {
                    let next = lock(work_rx).recv();
                    let Ok(mut slot) = next else { break };
                    slot.compress();
                    if done_tx.send(slot).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);

        // The calling thread writes the blocks in order.
        let mut write_result = out.write_all(&HEADER);
        let mut written = HEADER.len() as u64;
        let mut next = 0u64;
        let mut pending: BTreeMap<u64, Slot> = BTreeMap::new();
        let mut empty_tx = Some(empty_tx);
        for slot in &done_rx {
            pending.insert(slot.seq, slot);
            while let Some(slot) = pending.remove(&next) {
                next += 1;
                if write_result.is_ok() {
                    write_result = out.write_all(&slot.output[..slot.out_len]);
                    written += slot.out_len as u64;
                }
                match (&write_result, &empty_tx) {
                    // Stop the reader on a write error; keep draining so every thread ends.
                    (Err(_), _) => {
                        empty_tx = None;
                        spare.push(slot);
                    }
                    (Ok(()), Some(tx)) => {
                        if let Err(mpsc::SendError(slot)) = tx.send(slot) {
                            spare.push(slot);
                        }
                    }
                    (Ok(()), None) => spare.push(slot),
                }
            }
        }
        drop(empty_tx);
        let (read_result, empty_rx) =
            reader.join().map_err(|_| Error::io(path, io::Error::other("reader thread panicked")))?;
        spare.extend(empty_rx.try_iter());
        write_result.at(path)?;
        let (digest, total) = read_result.map_err(|e| Error::io("<snapshot input>", e))?;
        if !pending.is_empty() {
            return Err(Error::io(path, io::Error::other("a compressor thread stopped")));
        }
        out.write_all(&0u32.to_le_bytes()).at(path)?;
        written += 4;
        Ok((digest, total, written))
    });
    // Slots still in the channels were dropped with them; the rest go back to the pool.
    return_slots(spare);
    result
}

/// The reader stage: fills slots from `input`, hashes them, numbers them and passes them on.
fn read_and_hash(
    input: &mut (dyn Read + Send),
    empty: &mpsc::Receiver<Slot>,
    work: &mpsc::Sender<Slot>,
) -> io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut seq = 0u64;
    while let Ok(mut slot) = empty.recv() {
        let filled = read_full(input, &mut slot.input)?;
        let done = filled < slot.input.len();
        if filled > 0 {
            hasher.update(&slot.input[..filled]);
            total += filled as u64;
            slot.seq = seq;
            slot.filled = filled;
            seq += 1;
            if work.send(slot).is_err() {
                break;
            }
        }
        if done {
            break;
        }
    }
    Ok((hasher.finalize().into(), total))
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
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

fn corrupt(hash: &SnapshotHash, expected: impl Into<String>, actual: impl Into<String>) -> Error {
    Error::Corrupt { hash: hash.to_hex(), expected: expected.into(), actual: actual.into() }
}

/// A streaming reader of a blob's raw bytes that verifies length and sha256 at the end.
///
/// Every error it returns is an `io::Error` whose inner error is an [`Error`] (see
/// [`into_store_error`]); a read that returns `Ok(0)` means the content verified.
pub struct BlobReader {
    decoder: FrameDecoder<BufReader<File>>,
    hasher: Sha256,
    hash: SnapshotHash,
    read: u64,
    expected_len: Option<u64>,
    verified: bool,
    /// Set once the end-of-stream checks failed: every later read fails the same way.
    failed: Option<String>,
}

impl BlobReader {
    pub(crate) fn new(file: File, hash: SnapshotHash, expected_len: Option<u64>) -> Self {
        Self {
            decoder: FrameDecoder::new(BufReader::with_capacity(256 << 10, file)),
            hasher: Sha256::new(),
            hash,
            read: 0,
            expected_len,
            verified: false,
            failed: None,
        }
    }

    /// The snapshot this reader yields.
    pub fn hash(&self) -> SnapshotHash {
        self.hash
    }

    fn cap(&self) -> u64 {
        self.expected_len.unwrap_or(UNRECORDED_LENGTH_CAP)
    }

    fn finish(&mut self) -> Result<()> {
        // Like `load_into` and `verify`: bytes after the frame make the blob corrupt.
        let mut probe = [0u8; 1];
        match self.decoder.get_mut().read(&mut probe) {
            Ok(0) => {}
            Ok(_) => return Err(corrupt(&self.hash, "one LZ4 frame", "bytes after the end of the frame")),
            Err(e) => return Err(Error::io(format!("snapshot {}", self.hash), e)),
        }
        if let Some(expected) = self.expected_len
            && self.read != expected
        {
            return Err(corrupt(&self.hash, format!("{expected} bytes"), format!("{} bytes", self.read)));
        }
        let actual = SnapshotHash::from_bytes(std::mem::take(&mut self.hasher).finalize().into());
        if actual != self.hash {
            return Err(corrupt(&self.hash, format!("sha256 {}", self.hash), format!("sha256 {actual}")));
        }
        self.verified = true;
        Ok(())
    }
}

fn as_io(e: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Recovers the typed error from an `io::Error` produced by a [`BlobReader`].
pub fn into_store_error(e: io::Error, hash: &SnapshotHash) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(err)) => *err,
            Some(Err(other)) => corrupt(hash, "a valid LZ4 frame", other.to_string()),
            None => corrupt(hash, "a valid LZ4 frame", "unknown error"),
        }
    } else if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt(hash, "a valid LZ4 frame", e.to_string())
    } else {
        Error::io(format!("snapshot {hash}"), e)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(reason) = &self.failed {
            return Err(as_io(corrupt(&self.hash, "a sound blob", reason.clone())));
        }
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        // Never produce more than the recorded length (+1 byte, to detect an overlong blob).
        let room = self.cap().saturating_add(1).saturating_sub(self.read);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX)).max(1);
        let n = match self.decoder.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) => return Err(as_io(into_store_error(e, &self.hash))),
        };
        if n == 0 {
            if let Err(e) = self.finish() {
                self.failed = Some(e.to_string());
                return Err(as_io(e));
            }
            return Ok(0);
        }
        self.read += n as u64;
        if self.read > self.cap() {
            return Err(as_io(corrupt(
                &self.hash,
                format!("at most {} bytes", self.cap()),
                "more (the frame decodes past the recorded length)",
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Pooled decode buffers of exactly `len` bytes (only small ones are kept between loads).
fn take_buf(len: usize) -> Vec<u8> {
    let mut buf = lock(&LOAD_POOL).pop().unwrap_or_default();
    buf.resize(len, 0);
    buf
}

fn return_bufs(bufs: impl IntoIterator<Item = Vec<u8>>) {
    let mut pool = lock(&LOAD_POOL);
    for buf in bufs {
        if buf.len() <= 1 << 20 && pool.len() < 2 * LOAD_SLOTS {
            pool.push(buf);
        }
    }
}

/// Decodes `file` into `out`, verifying it: the calling thread reads, decodes and writes, a
/// second thread hashes. Returns the raw length.
pub(crate) fn copy_verified(
    mut file: File,
    hash: SnapshotHash,
    expected_len: Option<u64>,
    out: &mut dyn Write,
) -> Result<u64> {
    let cap = expected_len.unwrap_or(UNRECORDED_LENGTH_CAP);
    let mut head = [0u8; 7];
    let got = read_full(&mut file, &mut head).map_err(|e| Error::io(format!("snapshot {hash}"), e))?;
    let block_max = CANONICAL
        .iter()
        .find(|(bd, hc, _)| got == 7 && head[..4] == LZ4_MAGIC && head[4..] == [FLG_INDEPENDENT, *bd, *hc])
        .map(|(_, _, max)| *max);
    let (digest, total) = match block_max {
        Some(block_max) => decode_blocks(file, block_max, hash, cap, out)?,
        None => {
            // Any other LZ4 frame layout: the general decoder (one thread decodes, one hashes).
            let rest = io::Cursor::new(head[..got].to_vec()).chain(file);
            decode_generic(FrameDecoder::new(BufReader::with_capacity(256 << 10, rest)), hash, cap, out)?
        }
    };
    if let Some(expected) = expected_len
        && total != expected
    {
        return Err(corrupt(&hash, format!("{expected} bytes"), format!("{total} bytes")));
    }
    let actual = SnapshotHash::from_bytes(digest);
    if actual != hash {
        return Err(corrupt(&hash, format!("sha256 {hash}"), format!("sha256 {actual}")));
    }
    Ok(total)
}

/// Runs `produce` on the calling thread, hashing every block it sends on a second thread.
/// `produce` gets a sender of decoded blocks and a source of spare buffers.
fn with_hasher(
    in_flight: usize,
    produce: impl FnOnce(
        &mpsc::SyncSender<(Arc<Vec<u8>>, usize)>,
        &mut dyn FnMut() -> Option<Vec<u8>>,
    ) -> Result<u64>,
) -> Result<([u8; 32], u64)> {
    let (full_tx, full_rx) = mpsc::sync_channel::<(Arc<Vec<u8>>, usize)>(in_flight);
    let (back_tx, back_rx) = mpsc::channel::<Arc<Vec<u8>>>();
    let mut spares: Vec<Vec<u8>> = Vec::new();
    let result = std::thread::scope(|scope| -> Result<([u8; 32], u64)> {
        let hasher = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for (buf, len) in full_rx.iter() {
                hasher.update(&buf[..len]);
                let _ = back_tx.send(buf);
            }
            <[u8; 32]>::from(hasher.finalize())
        });
        let mut recycled = || back_rx.try_recv().ok().and_then(|b| Arc::try_unwrap(b).ok());
        let produced = produce(&full_tx, &mut recycled);
        drop(full_tx);
        let digest =
            hasher.join().map_err(|_| Error::io("<hasher>", io::Error::other("hash thread panicked")))?;
        spares.extend(back_rx.try_iter().filter_map(|b| Arc::try_unwrap(b).ok()));
        Ok((digest, produced?))
    });
    return_bufs(spares);
    result
}

fn truncated(hash: &SnapshotHash, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt(hash, "a complete LZ4 frame", "a truncated one")
    } else {
        Error::io(format!("snapshot {hash}"), e)
    }
}

/// The fast load path, for frames of independent blocks without checksums (what we write).
fn decode_blocks(
    mut file: File,
    block_max: usize,
    hash: SnapshotHash,
    cap: u64,
    out: &mut dyn Write,
) -> Result<([u8; 32], u64)> {
    let in_flight = ((2 << 20) / block_max).clamp(2, LOAD_SLOTS);
    let mut packed = take_buf(block_max);
    let result = with_hasher(in_flight, |to_hasher, recycled| {
        let mut total = 0u64;
        loop {
            let mut size = [0u8; 4];
            file.read_exact(&mut size).map_err(|e| truncated(&hash, e))?;
            let size = u32::from_le_bytes(size);
            if size == 0 {
                // End mark. We write one frame per blob: anything after it is damage.
                let mut probe = [0u8; 1];
                return match read_full(&mut file, &mut probe) {
                    Ok(0) => Ok(total),
                    Ok(_) => Err(corrupt(&hash, "one LZ4 frame", "data after the end mark")),
                    Err(e) => Err(Error::io(format!("snapshot {hash}"), e)),
                };
            }
            let len = (size & !UNCOMPRESSED) as usize;
            if len > block_max {
                return Err(corrupt(
                    &hash,
                    format!("LZ4 blocks of at most {block_max} bytes"),
                    format!("a block of {len} bytes"),
                ));
            }
            let mut block = match recycled() {
                Some(mut b) => {
                    b.resize(block_max, 0);
                    b
                }
                None => take_buf(block_max),
            };
            let n = if size & UNCOMPRESSED != 0 {
                file.read_exact(&mut block[..len]).map_err(|e| truncated(&hash, e))?;
                len
            } else {
                file.read_exact(&mut packed[..len]).map_err(|e| truncated(&hash, e))?;
                lz4_flex::block::decompress_into(&packed[..len], &mut block)
                    .map_err(|e| corrupt(&hash, "a valid LZ4 block", e.to_string()))?
            };
            total += n as u64;
            if total > cap {
                return Err(corrupt(&hash, format!("at most {cap} bytes"), "more"));
            }
            let block = Arc::new(block);
            if to_hasher.send((Arc::clone(&block), n)).is_err() {
                return Err(Error::io("<hasher>", io::Error::other("hash thread stopped")));
            }
            out.write_all(&block[..n]).map_err(|e| Error::io("<output>", e))?;
        }
    });
    return_bufs([packed]);
    result
}

/// The general load path: lz4_flex's frame decoder on the calling thread.
fn decode_generic(
    mut decoder: impl Read,
    hash: SnapshotHash,
    cap: u64,
    out: &mut dyn Write,
) -> Result<([u8; 32], u64)> {
    with_hasher(4, |to_hasher, recycled| {
        let mut total = 0u64;
        loop {
            let mut buf = recycled().unwrap_or_else(|| vec![0u8; CHUNK]);
            buf.resize(CHUNK, 0);
            let filled = read_full(&mut decoder, &mut buf).map_err(|e| into_store_error(e, &hash))?;
            total += filled as u64;
            if total > cap {
                return Err(corrupt(&hash, format!("at most {cap} bytes"), "more"));
            }
            if filled == 0 {
                return Ok(total);
            }
            let buf = Arc::new(buf);
            if to_hasher.send((Arc::clone(&buf), filled)).is_err() {
                return Err(Error::io("<hasher>", io::Error::other("hash thread stopped")));
            }
            out.write_all(&buf[..filled]).map_err(|e| Error::io("<output>", e))?;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

    /// Compressible but not trivial bytes, with an incompressible stretch.
    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_u32;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if (300_000..600_000).contains(&i) { x as u8 } else { (i / 7 % 251) as u8 ^ (x & 3) as u8 }
            })
            .collect()
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
        let mut out = Vec::new();
        copy_verified(File::open(&path).expect("open"), hash, len, &mut out)?;
        Ok(out)
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
        assert!(matches!(err, Some(Error::Io { .. })), "{err:?}");
        // The pipeline still works afterwards.
        let data = sample(BLOCK * 2);
        assert!(save(&data).1 == *SnapshotHash::of(&data).as_bytes());
    }
}
