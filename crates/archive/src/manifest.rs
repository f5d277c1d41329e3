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

use std::cell::Cell;
use std::rc::Rc;

use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use swingstore::SnapshotHash;

use crate::error::{Error, Result};
use crate::params::{CHUNKER, CODEC, FORMAT, MAX_CHUNK, MIN_CHUNK};

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

#[derive(Serialize)]
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
        let bytes = zstd::bulk::compress(&json, crate::params::ZSTD_LEVEL)
            .map_err(|e| Error::Other(format!("zstd: {e}")))?;
        // Never write what cannot be read back: the reader's rules, on the bytes themselves.
        let object = format!("the new manifest of {}", self.hash);
        Self::decode(&bytes, &object, Some(&self.hash)).map_err(|e| match e {
            Error::Corrupt { reason, .. } => Error::Unwritable { hash: self.hash.to_hex(), reason },
            other => other,
        })?;
        Ok(bytes)
    }

    /// Parses and checks a manifest read from `object` (for `name`, the hash its name says).
    ///
    /// Streamed: the zstd frame is decompressed and the JSON parsed as it goes, so no limit
    /// on the whole text is needed. What bounds the work is the snapshot's declared length:
    /// every chunk but the last is at least [`MIN_CHUNK`] bytes (FastCDC never cuts shorter),
    /// so a snapshot of `raw_bytes` has at most [`max_chunks`] chunks and its manifest at most
    /// [`max_json_bytes`] bytes of JSON; more is corrupt. [`encode`](Self::encode) checks the
    /// same rules (it decodes what it wrote), so no manifest is ever written that cannot be read.
    pub fn decode(bytes: &[u8], object: &str, name: Option<&SnapshotHash>) -> Result<Self> {
        let bad = |reason: String| Error::Corrupt { object: object.to_owned(), reason };
        let limit = Rc::new(Cell::new(HEADER_LIMIT));
        let decoder =
            zstd::stream::read::Decoder::new(bytes).map_err(|e| bad(format!("does not decompress: {e}")))?;
        let reader = Limited { inner: std::io::BufReader::new(decoder), read: 0, limit: Rc::clone(&limit) };
        let mut de = serde_json::Deserializer::from_reader(reader);
        let wire = serde::de::DeserializeSeed::deserialize(WireSeed { limit: Rc::clone(&limit) }, &mut de)
            .and_then(|w| de.end().map(|()| w))
            .map_err(|e| bad(format!("not a manifest: {e}")))?;
        let format = wire.format.ok_or_else(|| bad("no format".into()))?;
        if format != FORMAT {
            return Err(bad(format!("unknown format {format}")));
        }
        let (Some(chunker), Some(codec)) = (wire.chunker, wire.codec) else {
            return Err(bad("no chunker or codec".into()));
        };
        if chunker != CHUNKER || codec != CODEC {
            return Err(bad(format!("written with another chunker or codec ({chunker}, {codec})")));
        }
        let missing = |field: &str| bad(format!("no {field}"));
        let hash_text = wire.hash.ok_or_else(|| missing("hash"))?;
        let hash = SnapshotHash::parse(&hash_text).map_err(|e| bad(e.to_string()))?;
        if let Some(name) = name
            && *name != hash
        {
            return Err(bad(format!("names snapshot {hash}, not {name}")));
        }
        let raw_bytes = wire.raw_bytes.ok_or_else(|| missing("raw_bytes"))?;
        let packs = wire.packs.ok_or_else(|| missing("packs"))?;
        let listed = wire.chunks.ok_or_else(|| missing("chunks"))?;
        let mut chunks = Vec::with_capacity(listed.len());
        let mut total = 0u64;
        for (hash, raw_len, pack, offset, stored_len) in listed {
            let pack =
                *packs.get(pack as usize).ok_or_else(|| bad(format!("pack index {pack} out of range")))?;
            total += u64::from(raw_len);
            chunks.push(ChunkRef { hash, raw_len, pack, offset, stored_len });
        }
        if total != raw_bytes {
            return Err(bad(format!("chunks add up to {total} bytes, not {raw_bytes}")));
        }
        Ok(Manifest {
            hash,
            raw_bytes,
            root: wire.root.ok_or_else(|| missing("root"))?,
            position: wire.position.ok_or_else(|| missing("position"))?,
            named_epoch: wire.named_epoch.ok_or_else(|| missing("named_epoch"))?,
            archived_epoch: wire.archived_epoch.ok_or_else(|| missing("archived_epoch"))?,
            chunks,
        })
    }
}

/// Most chunks a snapshot of `raw_bytes` has: each but the last is at least [`MIN_CHUNK`].
pub fn max_chunks(raw_bytes: u64) -> u64 {
    raw_bytes / u64::from(MIN_CHUNK) + 1
}

/// JSON bytes a manifest may hold before its `raw_bytes` field, and besides its lists.
pub const HEADER_LIMIT: u64 = 1024 * 1024;

/// Longest JSON of one chunk entry and one pack id:
/// `["<64 hex>",4294967295,4294967295,18446744073709551615,4294967295],` is 123 bytes and
/// `"<64 hex>",` 67.
const MAX_JSON_PER_CHUNK: u64 = 128 + 72;

/// Most JSON bytes the manifest of a snapshot of `raw_bytes` may hold (the reader's bound, which
/// the writer checks too): 1 MiB plus 200 bytes per possible chunk, about 5 % of the snapshot
/// when every chunk is cut at the minimum, 1.2 % for the average chunk.
pub fn max_json_bytes(raw_bytes: u64) -> u64 {
    HEADER_LIMIT.saturating_add(max_chunks(raw_bytes).saturating_mul(MAX_JSON_PER_CHUNK))
}

/// A reader that fails once more than `limit` bytes were read (the limit may rise meanwhile).
struct Limited<R> {
    inner: R,
    read: u64,
    limit: Rc<Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit.get() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than the {} bytes of JSON its length allows", self.limit.get()),
            ));
        }
        Ok(n)
    }
}

/// One chunk entry as listed: hash, raw length, pack index, offset, stored length.
type Entry = ([u8; 32], u32, u32, u64, u32);

/// The fields as parsed (all optional until checked).
#[derive(Default)]
struct Parsed {
    format: Option<u32>,
    hash: Option<String>,
    raw_bytes: Option<u64>,
    root: Option<String>,
    position: Option<u64>,
    named_epoch: Option<u64>,
    archived_epoch: Option<u64>,
    chunker: Option<String>,
    codec: Option<String>,
    packs: Option<Vec<[u8; 32]>>,
    chunks: Option<Vec<Entry>>,
}

/// Parses the manifest object field by field: `raw_bytes` raises the reader's limit, and the
/// chunk list is checked entry by entry as it streams in.
struct WireSeed {
    limit: Rc<Cell<u64>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for WireSeed {
    type Value = Parsed;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WireSeed {
    type Value = Parsed;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a manifest object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Parsed, A::Error> {
        let mut p = Parsed::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => p.format = Some(map.next_value()?),
                "hash" => p.hash = Some(map.next_value()?),
                "raw_bytes" => {
                    let raw: u64 = map.next_value()?;
                    self.limit.set(max_json_bytes(raw));
                    p.raw_bytes = Some(raw);
                }
                "root" => p.root = Some(map.next_value()?),
                "position" => p.position = Some(map.next_value()?),
                "named_epoch" => p.named_epoch = Some(map.next_value()?),
                "archived_epoch" => p.archived_epoch = Some(map.next_value()?),
                "chunker" => p.chunker = Some(map.next_value()?),
                "codec" => p.codec = Some(map.next_value()?),
                "packs" => {
                    let raw = p.raw_bytes.ok_or_else(|| A::Error::custom("packs before raw_bytes"))?;
                    p.packs = Some(map.next_value_seed(PacksSeed { most: max_chunks(raw) })?);
                }
                "chunks" => {
                    let raw = p.raw_bytes.ok_or_else(|| A::Error::custom("chunks before raw_bytes"))?;
                    p.chunks = Some(map.next_value_seed(ChunksSeed { raw_bytes: raw })?);
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }
}

/// A 32-byte id in hex.
struct Hex32([u8; 32]);

impl<'de> Deserialize<'de> for Hex32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Hex32;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("64 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Hex32, E> {
                hex32(v).map(Hex32).ok_or_else(|| E::custom(format!("bad id {:?}", crate::short(v))))
            }
        }
        d.deserialize_str(V)
    }
}

struct PacksSeed {
    most: u64,
}

impl<'de> serde::de::DeserializeSeed<'de> for PacksSeed {
    type Value = Vec<[u8; 32]>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PacksSeed {
    type Value = Vec<[u8; 32]>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of pack ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Hex32(id)) = seq.next_element()? {
            if out.len() as u64 >= self.most {
                return Err(A::Error::custom("more packs than chunks"));
            }
            out.push(id);
        }
        Ok(out)
    }
}

/// The chunk list, checked as it streams: lengths within the chunker's bounds, only the last
/// chunk shorter than the minimum, never more bytes than the snapshot has.
struct ChunksSeed {
    raw_bytes: u64,
}

impl<'de> serde::de::DeserializeSeed<'de> for ChunksSeed {
    type Value = Vec<Entry>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ChunksSeed {
    type Value = Vec<Entry>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of chunks")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
        let mut out: Vec<Entry> = Vec::new();
        let mut total = 0u64;
        while let Some((Hex32(hash), raw_len, pack, offset, stored_len)) =
            seq.next_element::<(Hex32, u32, u32, u64, u32)>()?
        {
            let n = out.len();
            if raw_len == 0 || raw_len > MAX_CHUNK || stored_len == 0 {
                return Err(A::Error::custom(format!(
                    "chunk {n} has length {raw_len} (stored {stored_len})"
                )));
            }
            if let Some(prev) = out.last()
                && prev.1 < MIN_CHUNK
            {
                return Err(A::Error::custom(format!(
                    "chunk {} has {} bytes, under the minimum, and is not the last",
                    n - 1,
                    prev.1
                )));
            }
            total += u64::from(raw_len);
            if total > self.raw_bytes {
                return Err(A::Error::custom(format!("chunks add up to more than {} bytes", self.raw_bytes)));
            }
            out.push((hash, raw_len, pack, offset, stored_len));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
