//! Verified loads: the calling thread reads and decodes blocks and writes them out while a
//! second thread hashes them; length and sha256 are checked at the end. Frames in any other
//! valid LZ4 layout are decoded by lz4_flex's `FrameDecoder`.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::sync::{Arc, mpsc};

use lz4_flex::frame::FrameDecoder;
use sha2::{Digest, Sha256};

use super::frame::{
    CANONICAL, CHUNK, FLG_INDEPENDENT, LOAD_SLOTS, LZ4_MAGIC, UNCOMPRESSED, UNRECORDED_LENGTH_CAP, corrupt,
    read_full, truncated,
};
use super::pool::{return_bufs, take_buf};
use super::reader::into_store_error;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;

/// How a load hashes: on a second thread (one page-in: both cores on one blob), or on the
/// calling thread (many blobs verified at once, one per core: no hand-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    SecondThread,
    Inline,
}

/// Decodes `file` into `out`, verifying it: the calling thread reads, decodes and writes; the
/// hash runs as `hashing` says. Returns the raw length.
pub(crate) fn copy_verified(
    mut file: File,
    hash: SnapshotHash,
    expected_len: Option<u64>,
    out: &mut dyn Write,
    hashing: Hashing,
) -> Result<u64> {
    let cap = expected_len.unwrap_or(UNRECORDED_LENGTH_CAP);
    let mut head = [0u8; 7];
    let got = read_full(&mut file, &mut head).map_err(|e| Error::stream(format!("snapshot {hash}"), e))?;
    let block_max = CANONICAL
        .iter()
        .find(|(bd, hc, _)| got == 7 && head[..4] == LZ4_MAGIC && head[4..] == [FLG_INDEPENDENT, *bd, *hc])
        .map(|(_, _, max)| *max);
    let (digest, total) = match block_max {
        Some(block_max) => {
            let in_flight = ((2 << 20) / block_max).clamp(2, LOAD_SLOTS);
            hashed(hashing, in_flight, out, |sink| decode_blocks(file, block_max, hash, cap, sink))?
        }
        None => {
            // Any other LZ4 frame layout: the general decoder.
            let rest = io::Cursor::new(head[..got].to_vec()).chain(file);
            let decoder = FrameDecoder::new(BufReader::with_capacity(256 << 10, rest));
            hashed(hashing, 4, out, |sink| decode_generic(decoder, hash, cap, sink))?
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

/// Where a decoder puts each decoded block: it is hashed and written out, and a buffer comes
/// back for the next block.
trait BlockSink {
    /// Takes `block[..len]`; returns a buffer (of any length) to decode the next block into.
    fn take(&mut self, block: Vec<u8>, len: usize) -> Result<Vec<u8>>;
}

/// Hashes on the calling thread.
struct InlineSink<'a> {
    hasher: Sha256,
    out: &'a mut dyn Write,
}

impl BlockSink for InlineSink<'_> {
    fn take(&mut self, block: Vec<u8>, len: usize) -> Result<Vec<u8>> {
        self.hasher.update(&block[..len]);
        self.out.write_all(&block[..len]).map_err(|e| Error::stream("the output", e))?;
        Ok(block)
    }
}

/// Hands each block to a hasher thread (by `Arc`) and writes it out; reuses the buffers the
/// hasher is done with.
struct ThreadSink<'a> {
    to_hasher: mpsc::SyncSender<(Arc<Vec<u8>>, usize)>,
    back: mpsc::Receiver<Arc<Vec<u8>>>,
    out: &'a mut dyn Write,
}

impl BlockSink for ThreadSink<'_> {
    fn take(&mut self, block: Vec<u8>, len: usize) -> Result<Vec<u8>> {
        let block = Arc::new(block);
        if self.to_hasher.send((Arc::clone(&block), len)).is_err() {
            return Err(Error::stream("the hash thread", io::Error::other("hash thread stopped")));
        }
        self.out.write_all(&block[..len]).map_err(|e| Error::stream("the output", e))?;
        let recycled = self.back.try_recv().ok().and_then(|b| Arc::try_unwrap(b).ok());
        Ok(recycled.unwrap_or_default())
    }
}

/// Runs `produce` (a decoder feeding a sink) with the hashing asked for; returns the digest
/// and what `produce` returned.
fn hashed(
    hashing: Hashing,
    in_flight: usize,
    out: &mut dyn Write,
    produce: impl FnOnce(&mut dyn BlockSink) -> Result<u64>,
) -> Result<([u8; 32], u64)> {
    if hashing == Hashing::Inline {
        let mut sink = InlineSink { hasher: Sha256::new(), out };
        let total = produce(&mut sink)?;
        return Ok((sink.hasher.finalize().into(), total));
    }
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
        let mut sink = ThreadSink { to_hasher: full_tx, back: back_rx, out };
        let produced = produce(&mut sink);
        let ThreadSink { to_hasher, back, .. } = sink;
        drop(to_hasher);
        let digest = hasher
            .join()
            .map_err(|_| Error::stream("the hash thread", io::Error::other("hash thread panicked")))?;
        spares.extend(back.try_iter().filter_map(|b| Arc::try_unwrap(b).ok()));
        Ok((digest, produced?))
    });
    return_bufs(spares);
    result
}

/// The fast load path, for frames of independent blocks without checksums (what we write).
fn decode_blocks(
    mut file: File,
    block_max: usize,
    hash: SnapshotHash,
    cap: u64,
    sink: &mut dyn BlockSink,
) -> Result<u64> {
    let mut packed = take_buf(block_max);
    let mut block = take_buf(block_max);
    let mut total = 0u64;
    let result = loop {
        let mut size = [0u8; 4];
        if let Err(e) = file.read_exact(&mut size) {
            break Err(truncated(&hash, e));
        }
        let size = u32::from_le_bytes(size);
        if size == 0 {
            // End mark. We write one frame per blob: anything after it is damage.
            let mut probe = [0u8; 1];
            break match read_full(&mut file, &mut probe) {
                Ok(0) => Ok(total),
                Ok(_) => Err(corrupt(&hash, "one LZ4 frame", "data after the end mark")),
                Err(e) => Err(Error::stream(format!("snapshot {hash}"), e)),
            };
        }
        let len = (size & !UNCOMPRESSED) as usize;
        if len > block_max {
            break Err(corrupt(
                &hash,
                format!("LZ4 blocks of at most {block_max} bytes"),
                format!("a block of {len} bytes"),
            ));
        }
        block.resize(block_max, 0);
        let decoded = if size & UNCOMPRESSED != 0 {
            file.read_exact(&mut block[..len]).map(|()| len).map_err(|e| truncated(&hash, e))
        } else {
            file.read_exact(&mut packed[..len]).map_err(|e| truncated(&hash, e)).and_then(|()| {
                lz4_flex::block::decompress_into(&packed[..len], &mut block)
                    .map_err(|e| corrupt(&hash, "a valid LZ4 block", e.to_string()))
            })
        };
        let n = match decoded {
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        total += n as u64;
        if total > cap {
            break Err(corrupt(&hash, format!("at most {cap} bytes"), "more"));
        }
        match sink.take(std::mem::take(&mut block), n) {
            Ok(next) => block = next,
            Err(e) => break Err(e),
        }
    };
    return_bufs([packed, block]);
    result
}

/// The general load path: lz4_flex's frame decoder on the calling thread.
fn decode_generic(
    mut decoder: impl Read,
    hash: SnapshotHash,
    cap: u64,
    sink: &mut dyn BlockSink,
) -> Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        buf.resize(CHUNK, 0);
        let filled = read_full(&mut decoder, &mut buf).map_err(|e| into_store_error(e, &hash))?;
        total += filled as u64;
        if total > cap {
            return Err(corrupt(&hash, format!("at most {cap} bytes"), "more"));
        }
        if filled == 0 {
            return Ok(total);
        }
        buf = sink.take(std::mem::take(&mut buf), filled)?;
    }
}
