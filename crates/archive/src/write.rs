//! One archive step: chunk a snapshot, write its new chunks in a pack, then its manifest.
//!
//! 1. The snapshot streams through FastCDC on one thread; the other names each chunk (sha256),
//!    looks it up in the index and compresses the new ones (zstd, one frame each) into the
//!    pack being built.
//! 2. The pack is written (durable: the local backend fsyncs the file and its directory; an S3
//!    PUT is durable when it returns). A pack is closed every 16 MiB.
//! 3. Only then the manifest. A crash between leaves a pack no manifest names: the archive's
//!    collector condemns it and deletes it after its grace. The index only ever offers chunks a
//!    manifest names, so no step reuses such a chunk.
//!
//! When `archive_stream` returns `Ok`, the snapshot's record is durable and the hot store may
//! unlink it.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc;

use sha2::{Digest, Sha256};
use swingstore::{NamedBy, SnapshotHash};

use crate::error::{Error, Result};
use crate::index::Index;
use crate::manifest::{ChunkRef, Manifest};
use crate::params::{AVG_CHUNK, MAX_CHUNK, MIN_CHUNK, PACK_TARGET, ZSTD_LEVEL};
use crate::store::{Archive, manifest_path, pack_path};

/// What one archive step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archived {
    /// The snapshot.
    pub hash: String,
    /// The manifest already existed: nothing was read or written.
    pub already: bool,
    /// Raw length.
    pub raw_bytes: u64,
    /// Chunks in the snapshot.
    pub chunks: u64,
    /// Of which new (not in the archive before).
    pub new_chunks: u64,
    /// Their raw bytes.
    pub new_raw_bytes: u64,
    /// Bytes of the packs written.
    pub pack_bytes: u64,
    /// Bytes of the manifest written.
    pub manifest_bytes: u64,
}

/// Chunks of the snapshot being archived, and the new ones not yet in a closed pack.
struct Step<'a> {
    index: &'a Index,
    compressor: zstd::bulk::Compressor<'static>,
    /// Each chunk of the snapshot, in order: (hash, raw length).
    order: Vec<([u8; 32], u32)>,
    /// New chunks written in this step (pack id set once their pack is closed).
    new: HashMap<[u8; 32], ChunkRef>,
    /// The pack being built and the chunks in it.
    pack: Vec<u8>,
    in_pack: Vec<[u8; 32]>,
    out: Archived,
}

impl Step<'_> {
    fn add(&mut self, archive: &Archive, hash: [u8; 32], data: &[u8]) -> Result<()> {
        let raw_len = data.len() as u32;
        self.order.push((hash, raw_len));
        self.out.chunks += 1;
        self.out.raw_bytes += u64::from(raw_len);
        if self.index.chunks.contains_key(&hash) || self.new.contains_key(&hash) {
            return Ok(());
        }
        let frame = self.compressor.compress(data).map_err(|e| Error::Other(format!("zstd: {e}")))?;
        let offset = self.pack.len() as u64;
        self.pack.extend_from_slice(&frame);
        self.new
            .insert(hash, ChunkRef { hash, raw_len, pack: [0; 32], offset, stored_len: frame.len() as u32 });
        self.in_pack.push(hash);
        self.out.new_chunks += 1;
        self.out.new_raw_bytes += u64::from(raw_len);
        if self.pack.len() >= PACK_TARGET {
            self.close_pack(archive)?;
        }
        Ok(())
    }

    /// Writes the pack being built (durably) and gives its chunks their pack id.
    fn close_pack(&mut self, archive: &Archive) -> Result<()> {
        if self.in_pack.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.pack);
        let id: [u8; 32] = Sha256::digest(&bytes).into();
        self.out.pack_bytes += bytes.len() as u64;
        archive.put_object(&pack_path(&id), bytes)?;
        archive.fault_at("after_pack")?;
        for hash in self.in_pack.drain(..) {
            if let Some(c) = self.new.get_mut(&hash) {
                c.pack = id;
            }
        }
        Ok(())
    }
}

/// A chunk cut by the reader thread, or how the stream ended.
enum Cut {
    Chunk(Vec<u8>),
    Done,
}

impl Archive {
    /// Whether the archive holds a manifest for `hash` (asks the backend: one HEAD).
    pub fn contains(&self, hash: &SnapshotHash) -> Result<bool> {
        self.exists(&manifest_path(hash))
    }

    /// Whether the archive holds a copy of `hash` that can be read: its manifest decodes and
    /// names `hash`, and every pack it names exists and is long enough (one HEAD per pack).
    /// A damaged manifest is not a copy (issue 23: garbage at `manifests/<h>.json.zst` must not
    /// let the collector unlink the only copy): `false`, and the next archive step rewrites it.
    pub fn holds(&self, hash: &SnapshotHash) -> Result<bool> {
        let manifest = match self.manifest(hash) {
            Ok(m) => m,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(Error::Corrupt { object, reason }) => {
                tracing::warn!("archive manifest {object} is damaged ({reason}): not counted as archived");
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let mut ends: std::collections::BTreeMap<[u8; 32], u64> = std::collections::BTreeMap::new();
        for c in &manifest.chunks {
            let end = ends.entry(c.pack).or_default();
            *end = (*end).max(c.offset + u64::from(c.stored_len));
        }
        for (pack, end) in ends {
            match self.object_size(&pack_path(&pack))? {
                Some(size) if size >= end => {}
                found => {
                    tracing::warn!(
                        "archive manifest of {hash} names pack {} ({}): not counted as archived",
                        pack_path(&pack),
                        match found {
                            None => "missing".to_owned(),
                            Some(size) => format!("{size} bytes, {end} needed"),
                        }
                    );
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Archives the snapshot `hash`, read from `reader`, named last by `named`, at the store's
    /// committed epoch `epoch`. With `reader_verifies` the reader itself fails on bytes that do
    /// not hash to `hash` (a store's [`BlobReader`](swingstore::BlobReader) does); otherwise
    /// the bytes are hashed here too. Durable when it returns `Ok`.
    pub fn archive_stream(
        &self,
        hash: &SnapshotHash,
        named: &NamedBy,
        epoch: u64,
        reader: &mut (dyn Read + Send),
        reader_verifies: bool,
    ) -> Result<Archived> {
        // A readable copy is enough; a damaged one is replaced.
        if self.holds(hash)? {
            return Ok(Archived { hash: hash.to_hex(), already: true, ..Archived::default() });
        }
        self.with_index(|index| {
            let mut step = Step {
                index,
                compressor: new_compressor()?,
                order: Vec::new(),
                new: HashMap::new(),
                pack: Vec::new(),
                in_pack: Vec::new(),
                out: Archived { hash: hash.to_hex(), ..Archived::default() },
            };
            let (tx, rx) = mpsc::sync_channel::<Cut>(64);
            let cut_result = std::thread::scope(|scope| -> Result<()> {
                let cutter = scope.spawn(move || -> Result<Option<SnapshotHash>> {
                    let mut whole = (!reader_verifies).then(Sha256::new);
                    let chunker = fastcdc::v2020::StreamCDC::new(
                        reader,
                        MIN_CHUNK as usize,
                        AVG_CHUNK as usize,
                        MAX_CHUNK as usize,
                    );
                    for chunk in chunker {
                        let chunk = chunk.map_err(|e| Error::Source(e.into()))?;
                        if let Some(h) = whole.as_mut() {
                            h.update(&chunk.data);
                        }
                        if tx.send(Cut::Chunk(chunk.data)).is_err() {
                            return Ok(None);
                        }
                    }
                    let _ = tx.send(Cut::Done);
                    Ok(whole.map(|h| SnapshotHash::from_bytes(h.finalize().into())))
                });
                let mut done = false;
                let mut failed = None;
                for cut in rx.iter() {
                    match cut {
                        Cut::Chunk(data) => {
                            let name: [u8; 32] = Sha256::digest(&data).into();
                            if let Err(e) = step.add(self, name, &data) {
                                failed = Some(e);
                                break;
                            }
                        }
                        Cut::Done => {
                            done = true;
                            break;
                        }
                    }
                }
                drop(rx);
                let whole =
                    cutter.join().map_err(|_| Error::Other("the chunker thread panicked".into()))??;
                if let Some(e) = failed {
                    return Err(e);
                }
                if !done {
                    return Err(Error::Other("the chunker stopped early".into()));
                }
                if let Some(actual) = whole
                    && actual != *hash
                {
                    return Err(Error::Source(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the bytes hash to {actual}, not {hash}"),
                    )));
                }
                Ok(())
            });
            cut_result?;
            step.close_pack(self)?;
            let chunks = step
                .order
                .iter()
                .map(|(h, _)| {
                    step.new
                        .get(h)
                        .or_else(|| step.index.chunks.get(h))
                        .copied()
                        .ok_or_else(|| Error::Other("a chunk lost its place".into()))
                })
                .collect::<Result<Vec<_>>>()?;
            let manifest = Manifest {
                hash: *hash,
                raw_bytes: step.out.raw_bytes,
                root: named.key.clone(),
                position: named.position,
                named_epoch: named.epoch,
                archived_epoch: epoch,
                chunks,
            };
            let bytes = manifest.encode()?;
            step.out.manifest_bytes = bytes.len() as u64;
            let out = step.out.clone();
            self.put_object(&manifest_path(hash), bytes)?;
            index.add(manifest);
            self.fault_at("after_manifest")?;
            Ok(out)
        })
    }

    /// Archives `bytes` (hashed here; for tests, imports and benchmarks).
    pub fn archive_bytes(&self, named: &NamedBy, epoch: u64, bytes: &[u8]) -> Result<Archived> {
        let hash = SnapshotHash::of(bytes);
        self.archive_stream(&hash, named, epoch, &mut std::io::Cursor::new(bytes), false)
    }
}

fn new_compressor() -> Result<zstd::bulk::Compressor<'static>> {
    let zerr = |e: std::io::Error| Error::Other(format!("zstd: {e}"));
    let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(zerr)?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true)).map_err(zerr)?;
    Ok(c)
}
