//! Manifests: one JSON object per archived snapshot, zstd-compressed
//! (`manifests/<hash>.json.zst`; `zstd -dc FILE | jq .` shows it).
//!
//! ```json
//! {"format":1,"hash":"<64 hex>","raw_bytes":2732291,"root":"v1.lastSnapshot","position":3,
//!  "named_epoch":12,"archived_epoch":15,"chunker":"fastcdc-5.0.0/v2020 …","codec":"zstd-3 …",
//!  "packs":["<pack id>", …],
//!  "chunks":[["<chunk sha256>", raw_len, pack_index, offset, stored_len], …]}
//! ```
//!
//! Chunks are listed in snapshot order; the raw lengths add up to `raw_bytes`. A chunk lives
//! at `offset .. offset + stored_len` of its pack: one zstd frame.

use serde::{Deserialize, Serialize};
use swingstore::SnapshotHash;

use crate::error::{Error, Result};
use crate::params::{CHUNKER, CODEC, FORMAT, MAX_CHUNK};

/// Where one chunk of a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// sha256 of its raw bytes.
    pub hash: [u8; 32],
    /// Raw length.
    pub raw_len: u32,
    /// The pack holding it (its id: sha256 of the pack's bytes).
    pub pack: [u8; 32],
    /// Byte offset of its zstd frame in the pack.
    pub offset: u64,
    /// Length of its zstd frame.
    pub stored_len: u32,
}

/// The record of one archived snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The snapshot.
    pub hash: SnapshotHash,
    /// Its raw length.
    pub raw_bytes: u64,
    /// The root key that last named it.
    pub root: String,
    /// That root's position (`startPos.itemCount`).
    pub position: u64,
    /// The epoch of the commit that set that root.
    pub named_epoch: u64,
    /// The store's committed epoch when it was archived.
    pub archived_epoch: u64,
    /// Its chunks, in order.
    pub chunks: Vec<ChunkRef>,
}

/// What `archive ls` shows of one archived snapshot (the JSON fields are a contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotEntry {
    /// The snapshot's sha256.
    pub hash: String,
    /// Its raw length.
    pub raw_bytes: u64,
    /// The root key that last named it.
    pub root: String,
    /// That root's position.
    pub position: u64,
    /// The store's committed epoch when it was archived.
    pub archived_epoch: u64,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    format: u32,
    hash: String,
    raw_bytes: u64,
    root: String,
    position: u64,
    named_epoch: u64,
    archived_epoch: u64,
    chunker: String,
    codec: String,
    packs: Vec<String>,
    chunks: Vec<(String, u32, u32, u64, u32)>,
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

impl Manifest {
    /// The `ls` entry.
    pub fn entry(&self) -> SnapshotEntry {
        SnapshotEntry {
            hash: self.hash.to_hex(),
            raw_bytes: self.raw_bytes,
            root: self.root.clone(),
            position: self.position,
            archived_epoch: self.archived_epoch,
        }
    }

    /// The distinct packs it uses.
    pub fn packs(&self) -> Vec<[u8; 32]> {
        let mut packs: Vec<[u8; 32]> = self.chunks.iter().map(|c| c.pack).collect();
        packs.sort_unstable();
        packs.dedup();
        packs
    }

    /// The JSON bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let packs = self.packs();
        let index_of = |p: &[u8; 32]| packs.binary_search(p).unwrap_or(0) as u32;
        let wire = Wire {
            format: FORMAT,
            hash: self.hash.to_hex(),
            raw_bytes: self.raw_bytes,
            root: self.root.clone(),
            position: self.position,
            named_epoch: self.named_epoch,
            archived_epoch: self.archived_epoch,
            chunker: CHUNKER.to_owned(),
            codec: CODEC.to_owned(),
            packs: packs.iter().map(hex::encode).collect(),
            chunks: self
                .chunks
                .iter()
                .map(|c| (hex::encode(c.hash), c.raw_len, index_of(&c.pack), c.offset, c.stored_len))
                .collect(),
        };
        let json =
            serde_json::to_vec(&wire).map_err(|e| Error::Other(format!("encoding a manifest: {e}")))?;
        zstd::bulk::compress(&json, crate::params::ZSTD_LEVEL).map_err(|e| Error::Other(format!("zstd: {e}")))
    }

    /// Parses and checks a manifest read from `object` (for `name`, the hash its name says).
    pub fn decode(bytes: &[u8], object: &str, name: Option<&SnapshotHash>) -> Result<Self> {
        let bad = |reason: String| Error::Corrupt { object: object.to_owned(), reason };
        let json = zstd::bulk::decompress(bytes, crate::params::MANIFEST_LIMIT as usize)
            .map_err(|e| bad(format!("does not decompress: {e}")))?;
        let wire: Wire = serde_json::from_slice(&json).map_err(|e| bad(format!("not a manifest: {e}")))?;
        if wire.format != FORMAT {
            return Err(bad(format!("unknown format {}", wire.format)));
        }
        if wire.chunker != CHUNKER || wire.codec != CODEC {
            return Err(bad(format!(
                "written with another chunker or codec ({}, {})",
                wire.chunker, wire.codec
            )));
        }
        let hash = SnapshotHash::parse(&wire.hash).map_err(|e| bad(e.to_string()))?;
        if let Some(name) = name
            && *name != hash
        {
            return Err(bad(format!("names snapshot {hash}, not {name}")));
        }
        let packs: Vec<[u8; 32]> = wire
            .packs
            .iter()
            .map(|p| hex32(p).ok_or_else(|| bad(format!("bad pack id {p:?}"))))
            .collect::<Result<_>>()?;
        let mut total = 0u64;
        let mut chunks = Vec::with_capacity(wire.chunks.len());
        for (h, raw_len, pack, offset, stored_len) in wire.chunks {
            let hash = hex32(&h).ok_or_else(|| bad(format!("bad chunk hash {h:?}")))?;
            let pack =
                *packs.get(pack as usize).ok_or_else(|| bad(format!("pack index {pack} out of range")))?;
            if raw_len == 0 || raw_len > MAX_CHUNK || stored_len == 0 {
                return Err(bad(format!("chunk {h} has length {raw_len} (stored {stored_len})")));
            }
            total += u64::from(raw_len);
            chunks.push(ChunkRef { hash, raw_len, pack, offset, stored_len });
        }
        if total != wire.raw_bytes {
            return Err(bad(format!("chunks add up to {total} bytes, not {}", wire.raw_bytes)));
        }
        Ok(Manifest {
            hash,
            raw_bytes: wire.raw_bytes,
            root: wire.root,
            position: wire.position,
            named_epoch: wire.named_epoch,
            archived_epoch: wire.archived_epoch,
            chunks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_damage_is_refused() -> Result<()> {
        let m = Manifest {
            hash: SnapshotHash::of(b"x"),
            raw_bytes: 30,
            root: "v1.lastSnapshot".into(),
            position: 7,
            named_epoch: 3,
            archived_epoch: 5,
            chunks: vec![
                ChunkRef { hash: [1; 32], raw_len: 10, pack: [9; 32], offset: 0, stored_len: 5 },
                ChunkRef { hash: [2; 32], raw_len: 20, pack: [8; 32], offset: 5, stored_len: 6 },
            ],
        };
        let bytes = m.encode()?;
        assert_eq!(Manifest::decode(&bytes, "m", Some(&m.hash))?, m);
        assert!(Manifest::decode(&bytes, "m", Some(&SnapshotHash::of(b"y"))).is_err());
        let json = zstd::bulk::decompress(&bytes, 1 << 20).map_err(|e| Error::Other(e.to_string()))?;
        let text = String::from_utf8(json).map_err(|e| Error::Other(e.to_string()))?;
        let short = text.replace("\"raw_bytes\":30", "\"raw_bytes\":31");
        let pack = |t: &str| zstd::bulk::compress(t.as_bytes(), 3).map_err(|e| Error::Other(e.to_string()));
        assert!(Manifest::decode(&pack(&short)?, "m", None).is_err());
        assert!(Manifest::decode(&pack(&text[..text.len() - 2])?, "m", None).is_err());
        assert!(Manifest::decode(&bytes[..bytes.len() - 2], "m", None).is_err());
        assert!(Manifest::decode(text.as_bytes(), "m", None).is_err(), "uncompressed JSON is not a manifest");
        Ok(())
    }
}
