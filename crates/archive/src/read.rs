//! Reading a snapshot back: its manifest, then its chunks, window by window (bounded memory:
//! at most [`WINDOW`] raw bytes in flight), each window's chunks fetched with one ranged read
//! per pack, decompressed (zstd checks each frame's checksum) and hashed on a second thread.
//! The snapshot's sha256 and length are checked at the end: only then is the read a success.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use swingstore::SnapshotHash;

use crate::error::{Error, Result};
use crate::manifest::{ChunkRef, Manifest};
use crate::store::{Archive, manifest_path, pack_path};

/// Raw bytes fetched at once.
const WINDOW: u64 = 8 * 1024 * 1024;

impl Archive {
    /// The manifest of `hash` (`NotFound` if it is not archived).
    pub fn manifest(&self, hash: &SnapshotHash) -> Result<Manifest> {
        let path = manifest_path(hash);
        let bytes =
            self.get_object(&path, u64::MAX)?.ok_or_else(|| Error::NotFound { hash: hash.to_hex() })?;
        Manifest::decode(&bytes, path.as_ref(), Some(hash))
    }

    /// Writes the raw bytes of `hash` to `out` and verifies them (length and sha256); returns
    /// the length. On an error `out` has received bytes that are not verified: discard them
    /// (`snapgc archive get -o FILE` writes a temp file and renames it only on success).
    pub fn get_into(&self, hash: &SnapshotHash, out: &mut dyn Write) -> Result<u64> {
        let manifest = self.manifest(hash)?;
        self.read_chunks(&manifest, out, false)
    }

    /// The verified raw bytes of `hash`, in memory.
    pub fn get_bytes(&self, hash: &SnapshotHash) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.get_into(hash, &mut out)?;
        Ok(out)
    }

    /// Reassembles `manifest`'s snapshot into `out`, verifying the whole (and with `each`,
    /// every chunk's own sha256 too: `verify --deep` names the damaged chunk).
    pub(crate) fn read_chunks(&self, manifest: &Manifest, out: &mut dyn Write, each: bool) -> Result<u64> {
        let hash = manifest.hash;
        let (tx, rx) = mpsc::sync_channel::<Bytes>(64);
        std::thread::scope(|scope| -> Result<u64> {
            let hasher = scope.spawn(move || {
                let mut h = Sha256::new();
                let mut n = 0u64;
                for part in rx.iter() {
                    h.update(&part);
                    n += part.len() as u64;
                }
                (SnapshotHash::from_bytes(h.finalize().into()), n)
            });
            let result = (|| -> Result<()> {
                let mut decompressor =
                    zstd::bulk::Decompressor::new().map_err(|e| Error::Other(format!("zstd: {e}")))?;
                for window in windows(&manifest.chunks) {
                    let fetched = self.fetch_window(window)?;
                    for c in window {
                        let frame = fetched
                            .get(&(c.pack, c.offset))
                            .ok_or_else(|| Error::Other("a fetched chunk went missing".into()))?;
                        let raw = decompress(&mut decompressor, c, frame)?;
                        if each && Sha256::digest(&raw).as_slice() != c.hash.as_slice() {
                            return Err(corrupt_chunk(c, "its bytes do not hash to its name".into()));
                        }
                        out.write_all(&raw).map_err(Error::Output)?;
                        if tx.send(Bytes::from(raw)).is_err() {
                            return Err(Error::Other("the hashing thread stopped".into()));
                        }
                    }
                }
                Ok(())
            })();
            drop(tx);
            let (actual, len) =
                hasher.join().map_err(|_| Error::Other("the hashing thread panicked".into()))?;
            result?;
            if len != manifest.raw_bytes || actual != hash {
                return Err(Error::Corrupt {
                    object: manifest_path(&hash).to_string(),
                    reason: format!(
                        "its chunks give {len} bytes hashing to {actual}, not {} bytes hashing to {hash}",
                        manifest.raw_bytes
                    ),
                });
            }
            out.flush().map_err(Error::Output)?;
            Ok(len)
        })
    }

    /// The zstd frames of one window's chunks, by (pack, offset): one ranged read per pack.
    fn fetch_window(&self, window: &[ChunkRef]) -> Result<BTreeMap<([u8; 32], u64), Bytes>> {
        let mut by_pack: BTreeMap<[u8; 32], Vec<&ChunkRef>> = BTreeMap::new();
        for c in window {
            by_pack.entry(c.pack).or_default().push(c);
        }
        let mut out = BTreeMap::new();
        for (pack, mut chunks) in by_pack {
            chunks.sort_by_key(|c| c.offset);
            chunks.dedup_by_key(|c| c.offset);
            let ranges: Vec<std::ops::Range<u64>> =
                chunks.iter().map(|c| c.offset..c.offset + u64::from(c.stored_len)).collect();
            let fetched = match &self.local_root {
                // A local archive: positioned reads of the pack file, neighbours merged.
                Some(root) => {
                    read_local_ranges(&root.join(pack_path(&pack).as_ref()), &ranges).map_err(|e| {
                        Error::Corrupt { object: pack_path(&pack).to_string(), reason: e.to_string() }
                    })
                }
                None => self.get_ranges(&pack_path(&pack), &ranges),
            };
            let parts = fetched.map_err(|e| match e {
                Error::Store(object_store::Error::Generic { source, .. }) => Error::Corrupt {
                    object: pack_path(&pack).to_string(),
                    reason: format!("a chunk's range cannot be read: {source}"),
                },
                other => other,
            })?;
            for (c, part) in chunks.iter().zip(parts) {
                if part.len() != c.stored_len as usize {
                    return Err(corrupt_chunk(
                        c,
                        format!("{} bytes read, {} expected", part.len(), c.stored_len),
                    ));
                }
                out.insert((c.pack, c.offset), part);
            }
        }
        Ok(out)
    }
}

/// Reads `ranges` (sorted) of a local file, merging ranges less than 64 KiB apart into one
/// positioned read.
fn read_local_ranges(path: &std::path::Path, ranges: &[std::ops::Range<u64>]) -> std::io::Result<Vec<Bytes>> {
    use std::os::unix::fs::FileExt;
    const GAP: u64 = 64 * 1024;
    let file = std::fs::File::open(path)?;
    let mut out = Vec::with_capacity(ranges.len());
    let mut i = 0;
    while i < ranges.len() {
        let start = ranges[i].start;
        let mut end = ranges[i].end;
        let mut j = i + 1;
        while j < ranges.len() && ranges[j].start <= end + GAP {
            end = end.max(ranges[j].end);
            j += 1;
        }
        let mut buf = vec![0u8; (end - start) as usize];
        file.read_exact_at(&mut buf, start)?;
        let buf = Bytes::from(buf);
        for r in &ranges[i..j] {
            out.push(buf.slice((r.start - start) as usize..(r.end - start) as usize));
        }
        i = j;
    }
    Ok(out)
}

/// Consecutive runs of chunks of at most [`WINDOW`] raw bytes (at least one chunk each).
fn windows(chunks: &[ChunkRef]) -> impl Iterator<Item = &[ChunkRef]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= chunks.len() {
            return None;
        }
        let mut end = start;
        let mut bytes = 0u64;
        while end < chunks.len() && (end == start || bytes + u64::from(chunks[end].raw_len) <= WINDOW) {
            bytes += u64::from(chunks[end].raw_len);
            end += 1;
        }
        let window = &chunks[start..end];
        start = end;
        Some(window)
    })
}

pub(crate) fn corrupt_chunk(c: &ChunkRef, reason: String) -> Error {
    Error::Corrupt {
        object: format!("{} (chunk {} at offset {})", pack_path(&c.pack), hex::encode(c.hash), c.offset),
        reason,
    }
}

/// One chunk's raw bytes from its zstd frame (checksum checked by zstd, length here).
pub(crate) fn decompress(
    d: &mut zstd::bulk::Decompressor<'_>,
    c: &ChunkRef,
    frame: &[u8],
) -> Result<Vec<u8>> {
    let raw = d
        .decompress(frame, c.raw_len as usize)
        .map_err(|e| corrupt_chunk(c, format!("does not decompress: {e}")))?;
    if raw.len() != c.raw_len as usize {
        return Err(corrupt_chunk(c, format!("{} raw bytes, {} expected", raw.len(), c.raw_len)));
    }
    Ok(raw)
}
