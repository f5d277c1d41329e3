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
