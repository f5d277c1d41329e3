//! Unit tests of the manifest codec: round trips, refusals, and the size bound.
use super::*;

fn chunk(n: u8, raw_len: u32, pack: u8, offset: u64) -> ChunkRef {
    ChunkRef { hash: [n; 32], raw_len, pack: [pack; 32], offset, stored_len: 5 }
}

#[test]
fn a_manifest_round_trips_and_damage_is_refused() -> Result<()> {
    let m = Manifest {
        hash: SnapshotHash::of(b"x"),
        raw_bytes: 5000 + 20,
        root: "v1.lastSnapshot".into(),
        position: 7,
        named_epoch: 3,
        archived_epoch: 5,
        chunks: vec![chunk(1, 5000, 9, 0), chunk(2, 20, 8, 5)],
    };
    let bytes = m.encode()?;
    assert_eq!(Manifest::decode(&bytes, "m", Some(&m.hash))?, m);
    assert!(Manifest::decode(&bytes, "m", Some(&SnapshotHash::of(b"y"))).is_err());
    let json = zstd::bulk::decompress(&bytes, 1 << 20).map_err(|e| Error::Other(e.to_string()))?;
    let text = String::from_utf8(json).map_err(|e| Error::Other(e.to_string()))?;
    let short = text.replace("\"raw_bytes\":5020", "\"raw_bytes\":5021");
    let pack = |t: &str| zstd::bulk::compress(t.as_bytes(), 3).map_err(|e| Error::Other(e.to_string()));
    assert!(Manifest::decode(&pack(&short)?, "m", None).is_err());
    assert!(Manifest::decode(&pack(&text[..text.len() - 2])?, "m", None).is_err());
    assert!(Manifest::decode(&bytes[..bytes.len() - 2], "m", None).is_err());
    assert!(Manifest::decode(text.as_bytes(), "m", None).is_err(), "uncompressed JSON is not a manifest");
    // Only the last chunk may be shorter than the chunker's minimum.
    let early = Manifest { chunks: vec![chunk(2, 20, 8, 5), chunk(1, 5000, 9, 0)], ..m.clone() };
    assert!(matches!(early.encode(), Err(Error::Unwritable { .. })), "never written, as never read");
    // More bytes of JSON than the declared length allows: refused while streaming.
    let padded =
        text.replacen("\"root\":\"v1.lastSnapshot\"", &format!("\"root\":\"{}\"", "r".repeat(2 << 20)), 1);
    let err = Manifest::decode(&pack(&padded)?, "m", None).map(|_| ()).expect_err("too long").to_string();
    assert!(err.contains("bytes of JSON its length allows"), "{err}");
    Ok(())
}

/// Issue 23: a 3.7 GB heap cut near the minimum made a 73.8 MB manifest that the 64 MiB
/// reader refused. A manifest of 1.1 million minimum-size chunks (a 4.5 GB snapshot) is
/// written and read back; the bound it must fit scales with the snapshot.
#[test]
fn the_manifest_of_a_huge_snapshot_cut_at_the_minimum_reads_back() -> Result<()> {
    let n: u64 = 1_100_000;
    let chunks: Vec<ChunkRef> = (0..n)
        .map(|i| {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&i.to_le_bytes());
            hash[8..16].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes());
            ChunkRef {
                hash,
                raw_len: MIN_CHUNK,
                pack: [(i / 4000) as u8; 32],
                offset: (i % 4000) * 3000,
                stored_len: 2999,
            }
        })
        .collect();
    let m = Manifest {
        hash: SnapshotHash::of(b"huge"),
        raw_bytes: n * u64::from(MIN_CHUNK),
        root: "v7.lastSnapshot".into(),
        position: 1,
        named_epoch: 1,
        archived_epoch: 2,
        chunks,
    };
    let bytes = m.encode()?;
    let json = zstd::bulk::decompress(&bytes, usize::MAX >> 1).map_err(|e| Error::Other(e.to_string()))?;
    assert!(json.len() as u64 > 64 * 1024 * 1024, "over the old limit: {} bytes", json.len());
    assert!(json.len() as u64 <= max_json_bytes(m.raw_bytes));
    let back = Manifest::decode(&bytes, "m", Some(&m.hash))?;
    assert_eq!(back.chunks.len() as u64, n);
    assert_eq!(back, m);
    Ok(())
}
