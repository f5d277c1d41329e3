//! Issue 23 (items 2, 3, 5, 9): manifests of any size read back, a damaged manifest is not a
//! copy, `archive gc` removes only its own staging files, one archive per store, one index per
//! location in a process.

mod common;

use std::io::Read;
use std::sync::Arc;

use archive::{Archive, ArchiveGcOptions, Error};
use common::{Backend, base_heap, commit_gc, env, hash_of, heap_version, save_root};
use swingstore::{NamedBy, OpenOptions, SwingStore};

const HEAP: usize = 600 * 1024;

fn named(key: &str, position: u64) -> NamedBy {
    NamedBy { key: key.into(), position, epoch: 1 }
}

/// Chunk lengths as the archive's pinned chunker cuts `bytes` (docs/ARCHIVE.md).
fn chunk_lengths(bytes: &[u8]) -> Vec<usize> {
    use archive::params::{AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};
    fastcdc::v2020::FastCDC::new(bytes, MIN_CHUNK as usize, AVG_CHUNK as usize, MAX_CHUNK as usize)
        .map(|c| c.length)
        .collect()
}

/// A content generator that makes FastCDC cut every chunk at (nearly) its minimum: blocks of
/// `[f][random MIN-1 bytes][p...]`, where the bytes FastCDC looks at past the minimum (`p`, then
/// the next block's first byte `f`) are a pattern found once by search. Returns the pattern's
/// length and the block maker.
struct MinCutter {
    first: u8,
    tail: Vec<u8>,
}

impl MinCutter {
    fn find() -> Self {
        let min = archive::params::MIN_CHUNK as usize;
        // One try: a block with the candidate pattern, then the next block's first byte and
        // enough filler that only the first cut matters. Cut points past the minimum depend only
        // on bytes past the minimum (the gear hash restarts there), so the random part is free.
        let filler = testkit::bytes(7, min - 1);
        let cut_of = |first: u8, tail: &[u8]| -> usize {
            let mut buf = vec![first];
            buf.extend_from_slice(&filler);
            buf.extend_from_slice(tail);
            buf.push(first);
            buf.extend_from_slice(&testkit::bytes(8, 70_000));
            fastcdc::v2020::FastCDC::new(
                &buf,
                min,
                archive::params::AVG_CHUNK as usize,
                archive::params::MAX_CHUNK as usize,
            )
            .next()
            .map(|c| c.length)
            .unwrap_or(0)
        };
        for len in 1..=2usize {
            let total = 1u32 << (8 * (len + 1));
            for n in 0..total {
                let first = (n & 0xff) as u8;
                let tail: Vec<u8> = (0..len).map(|i| (n >> (8 * (i + 1))) as u8).collect();
                if cut_of(first, &tail) == min + len {
                    return Self { first, tail };
                }
            }
        }
        panic!("no pattern makes FastCDC cut at the minimum");
    }

    fn block_len(&self) -> usize {
        archive::params::MIN_CHUNK as usize + self.tail.len()
    }

    /// `blocks` blocks; with `distinct`, each block's random part differs.
    fn stream(&self, blocks: u64, distinct: bool) -> MinCutStream<'_> {
        MinCutStream { cutter: self, blocks, distinct, block: 0, buf: Vec::new(), at: 0 }
    }
}

/// The bytes of [`MinCutter::stream`], made block by block (never all in memory).
struct MinCutStream<'a> {
    cutter: &'a MinCutter,
    blocks: u64,
    distinct: bool,
    block: u64,
    buf: Vec<u8>,
    at: usize,
}

impl Read for MinCutStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if self.block == self.blocks {
                return Ok(0);
            }
            let min = archive::params::MIN_CHUNK as usize;
            self.buf.clear();
            self.buf.push(self.cutter.first);
            self.buf.extend_from_slice(&testkit::bytes(if self.distinct { self.block } else { 0 }, min - 1));
            self.buf.extend_from_slice(&self.cutter.tail);
            self.block += 1;
            self.at = 0;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Item 2: the generator cuts at the minimum; the manifest of such a snapshot stays within the
/// bound the reader applies (scaled by the snapshot's length), and reads back.
#[test]
fn content_cut_at_the_minimum_makes_a_manifest_that_reads_back() {
    let cutter = MinCutter::find();
    let mut sample = Vec::new();
    cutter.stream(40, true).read_to_end(&mut sample).expect("generate");
    let lengths = chunk_lengths(&sample);
    assert!(
        lengths[..lengths.len() - 1].iter().all(|&n| n == cutter.block_len()),
        "every chunk is cut at the minimum: {lengths:?}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let archive = Archive::open(&dir.path().display().to_string()).expect("open");
    // 8 192 distinct minimum chunks: 32 MiB, the worst case for manifest bytes per snapshot byte.
    let blocks = 8192u64;
    let mut bytes = Vec::new();
    cutter.stream(blocks, true).read_to_end(&mut bytes).expect("generate");
    let hash = hash_of(&bytes);
    let done = archive.archive_bytes(&named("v1.lastSnapshot", 1), 1, &bytes).expect("archive");
    assert_eq!(done.chunks, blocks);
    let m = archive.manifest(&hash).expect("manifest reads back");
    assert_eq!(m.chunks.len() as u64, blocks);
    let json =
        zstd_len(&archive.debug_get(&format!("manifests/{hash}.json.zst")).expect("get").expect("there"));
    assert!(json <= archive::max_manifest_json_bytes(m.raw_bytes), "{json}");
    // Per snapshot byte, the JSON stays under the bound for any length, so a snapshot of any
    // size the store accepts has a manifest its reader takes (the 3.7 GB heap of issue 23
    // would need 73.8 MB; the bound for it is ~180 MB).
    let per_chunk = json as f64 / blocks as f64;
    assert!(per_chunk < 200.0, "{per_chunk} JSON bytes per chunk");
    assert_eq!(archive.get_bytes(&hash).expect("get"), bytes);
}

fn zstd_len(bytes: &[u8]) -> u64 {
    zstd::stream::decode_all(bytes).expect("decompress").len() as u64
}

/// Item 3: garbage at `manifests/<h>.json.zst` does not count as archived: the sweep archives
/// the snapshot again (rewriting the manifest) before it unlinks the only copy.
mod a_damaged_manifest_is_not_a_copy {
    use super::*;

    fn run(backend: Backend, name: &str) {
        let Some(env) = env(name, backend, 0, 0) else { return };
        let store = &env.store;
        let base = base_heap(HEAP);
        let v1 = heap_version(&base, 1, 1);
        let first = save_root(store, 1, 1, &v1);
        assert!(commit_gc(store, 1).is_empty());
        let manifest = format!("manifests/{}.json.zst", first.hash.to_hex());
        env.archive.debug_put(&manifest, b"garbage".to_vec()).expect("put");
        assert!(!env.archive.holds(&first.hash).expect("holds"), "garbage is not a copy");
        save_root(store, 1, 2, &heap_version(&base, 1, 2));
        let errors = commit_gc(store, 3);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!store.contains(&first.hash), "swept once truly archived");
        assert_eq!(env.archive.get_bytes(&first.hash).expect("the archived copy reads"), v1);
        // A manifest naming a pack that is gone is not a copy either.
        let m = env.archive.manifest(&first.hash).expect("manifest");
        let pack = m.packs()[0];
        let pack_name = format!("packs/{}/{}.pack", &hex(&pack)[..2], hex(&pack));
        let pack_bytes = env.archive.debug_get(&pack_name).expect("get").expect("pack");
        env.archive.debug_put(&pack_name, pack_bytes[..pack_bytes.len() / 2].to_vec()).expect("cut");
        assert!(!env.archive.holds(&first.hash).expect("holds"), "a short pack: not a copy");
    }

    fn hex(id: &[u8; 32]) -> String {
        id.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn local() {
        run(Backend::Local, "damaged-manifest-local");
    }

    #[test]
    fn s3() {
        run(Backend::S3, "damaged-manifest-s3");
    }
}

/// Item 5: `archive gc` removes only `<object name>#<digits>` in the archive's own folders.
#[test]
fn archive_gc_removes_only_its_own_staging_files() {
    let Some(env) = env("staging", Backend::Local, 0, 0) else { return };
    let store = &env.store;
    let base = base_heap(HEAP);
    save_root(store, 1, 1, &heap_version(&base, 1, 1));
    commit_gc(store, 1);
    save_root(store, 1, 2, &heap_version(&base, 1, 2));
    assert!(commit_gc(store, 3).is_empty());
    let root = std::path::PathBuf::from(&env.location);
    let m = env.archive.list().expect("ls")[0].hash.clone();
    let user = ["notes#1.txt", "manifests/photo#2", "state/readme#x", "packs/zz#3"];
    std::fs::create_dir_all(root.join("packs/zz")).ok();
    for name in user {
        std::fs::create_dir_all(root.join(name).parent().expect("parent")).expect("mkdir");
        std::fs::write(root.join(name), b"user data").expect("write");
    }
    let staging = [format!("manifests/{m}.json.zst#17"), "state/gc.json#3".to_owned()];
    for name in &staging {
        std::fs::create_dir_all(root.join(name).parent().expect("parent")).expect("mkdir");
        std::fs::write(root.join(name), b"partial").expect("write");
    }
    let report = env
        .archive
        .gc(&ArchiveGcOptions { epoch: store.epoch(), grace: 0, keep_last: 0, budget: None, dry_run: false })
        .expect("gc");
    assert_eq!(report.staging_removed, 2, "{report:?}");
    for name in user {
        assert!(root.join(name).exists(), "{name} is the user's: kept");
    }
    for name in &staging {
        assert!(!root.join(name).exists(), "{name} removed");
    }
}

/// Items 5 and 9: an archive marker names its owner; a non-empty directory without one, and a
/// second store, are refused; an archive from before markers is adopted.
#[test]
fn an_archive_belongs_to_one_store_and_a_foreign_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = SwingStore::open(dir.path().join("a"), OpenOptions { create: true }).expect("a");
    let b = SwingStore::open(dir.path().join("b"), OpenOptions { create: true }).expect("b");
    let (id_a, id_b) = (a.store_id().expect("id"), b.store_id().expect("id"));
    assert_ne!(id_a, id_b);
    assert_eq!(a.store_id().expect("id"), id_a, "made once");

    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::write(home.join(".bashrc"), b"alias ll='ls -l'").expect("write");
    let err = Archive::open_owned(&home.display().to_string(), &id_a, &[]).expect_err("a user's dir");
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert!(err.to_string().contains("no SNAPGC-ARCHIVE marker"), "{err}");
    assert!(Archive::open(&home.display().to_string()).is_err(), "tools refuse it too");
    assert_eq!(std::fs::read_dir(&home).expect("ls").count(), 1, "nothing written in it");

    let loc = dir.path().join("archive").display().to_string();
    let archive = Archive::open_owned(&loc, &id_a, &[]).expect("created for a");
    archive.archive_bytes(&named("v1.lastSnapshot", 1), 1, &base_heap(100_000)).expect("archive");
    drop(archive);
    let err = Archive::open_owned(&loc, &id_b, &[]).expect_err("b is not the owner");
    assert!(err.to_string().contains("belongs to another store"), "{err}");
    Archive::open_owned(&loc, &id_a, &[]).expect("the owner reopens it");
    Archive::open(&loc).expect("a tool reads it");

    // An archive from before markers: adopted by the first store that opens it.
    let old = dir.path().join("old");
    let tool = Archive::open(&old.display().to_string()).expect("created, unclaimed");
    tool.archive_bytes(&named("v1.lastSnapshot", 1), 1, &base_heap(50_000)).expect("archive");
    drop(tool);
    std::fs::remove_file(old.join(archive::MARKER_OBJECT)).expect("as before markers");
    // A staging file of a marker a cut interrupted is not a stranger either.
    std::fs::write(old.join(format!("{}#3", archive::MARKER_OBJECT)), b"{").expect("staging");
    Archive::open_owned(&old.display().to_string(), &id_b, &[]).expect("adopted");
    assert!(Archive::open_owned(&old.display().to_string(), &id_a, &[]).is_err(), "now b's");

    // A fresh file system mounted as the archive directory: its lost+found is not a stranger.
    let mount = dir.path().join("mount");
    std::fs::create_dir_all(mount.join("lost+found")).expect("mkdir");
    Archive::open_owned(&mount.display().to_string(), &id_a, &[]).expect("a mount point's lost+found");

    // Through the store: `attach` opens with the store's id.
    a.set_archive_config(Some(swingstore::ArchiveConfig { location: loc.clone(), keep_last: 0 })).expect("a");
    archive::attach(&a).expect("a attaches its archive");
    b.set_archive_config(Some(swingstore::ArchiveConfig { location: loc, keep_last: 1 })).expect("config");
    assert!(archive::attach(&b).is_err(), "b's retention never touches a's history");
}

/// Item 9: two handles on one location in one process share one index: a pack the collector
/// of one deletes is never named by a manifest the other writes.
#[test]
fn two_handles_on_one_location_share_one_index() {
    let dir = tempfile::tempdir().expect("tmp");
    let loc = dir.path().join("archive").display().to_string();
    let one = Arc::new(Archive::open(&loc).expect("one"));
    let two = Archive::open(&loc).expect("two");
    let base = base_heap(HEAP);
    let x = heap_version(&base, 1, 1);
    one.archive_bytes(&named("v1.lastSnapshot", 1), 1, &x).expect("x");
    // Unrelated content at a later position of the same root: retention drops x.
    let z = testkit::bytes(99, 200_000);
    one.archive_bytes(&named("v1.lastSnapshot", 2), 2, &z).expect("z");
    let r = two
        .gc(&ArchiveGcOptions { epoch: 10, grace: 0, keep_last: 1, budget: None, dry_run: false })
        .expect("gc");
    assert_eq!((r.manifests_dropped, r.packs_deleted), (1, 1), "{r:?}");
    // y shares most chunks with x, whose pack is gone.
    let y = heap_version(&base, 1, 2);
    one.archive_bytes(&named("v2.lastSnapshot", 1), 3, &y).expect("y");
    assert_eq!(one.get_bytes(&hash_of(&y)).expect("y reads back"), y);
    assert!(two.verify(true).expect("verify").ok);
}
