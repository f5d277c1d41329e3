//! Hostile and corrupt input: malformed roots, hostile snapshot IDs, damaged LZ4 frames, files
//! of the wrong kind in the blob area, undecodable metadata. Expected every time: a typed error
//! or a reported problem; never a panic; never the deletion of a live blob.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use crashtest::heap;
use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
use swingstore::format_root_value;
use swingstore::{BlobState, Error, GcOptions, GcReport, OpenOptions, SnapshotHash, SwingStore};

/// A store with roots `v1 -> a`, `v2 -> b` and an unreferenced `g` that a grace-0 pass sweeps.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Option<SwingStore>,
    a: SnapshotHash,
    b: SnapshotHash,
    g: SnapshotHash,
}

impl Fixture {
    fn new() -> Result<Self> {
        let dir = crashtest::scratch_dir()?;
        let path = dir.path().join("store");
        let store = SwingStore::create(&path)?;
        let a = store.save_bytes(&heap(1, 1))?.hash;
        let b = store.save_bytes(&heap(2, 1))?.hash;
        let g = store.save_bytes(&heap(1001, 1))?.hash;
        store.kv().set("v1.lastSnapshot", &format_root_value(&a, 1));
        store.kv().set("v2.lastSnapshot", &format_root_value(&b, 1));
        store.commit()?;
        store.commit()?;
        Ok(Self { _dir: dir, path, store: Some(store), a, b, g })
    }

    fn store(&self) -> &SwingStore {
        self.store.as_ref().expect("the store is open")
    }

    fn file(&self, hash: &SnapshotHash) -> PathBuf {
        self.path.join("snapshots").join(format!("{hash}.lz4"))
    }

    fn gc0(&self) -> swingstore::Result<GcReport> {
        self.store().gc_with(&GcOptions { grace: Some(0), ..GcOptions::default() })
    }

    /// Both live blob files are still there (whatever their content).
    fn live_files_present(&self) -> Result<()> {
        for h in [self.a, self.b] {
            ensure!(fs::symlink_metadata(self.file(&h)).is_ok(), "live blob {h} was deleted");
        }
        Ok(())
    }

    fn close(&mut self) {
        self.store = None;
    }

    fn reopen(&mut self) -> Result<()> {
        self.store = Some(SwingStore::open(&self.path, OpenOptions { create: false })?);
        Ok(())
    }

    /// Opens the store's sled database directly (the store must be closed). sled releases its
    /// own lock asynchronously after a close, hence the retry.
    fn sled(&self) -> Result<sled::Db> {
        let mut last = None;
        for _ in 0..50 {
            match sled::open(self.path.join("kv")) {
                Ok(db) => return Ok(db),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(last.map(anyhow::Error::from).unwrap_or_else(|| anyhow::anyhow!("sled did not open")))
    }
}

fn is_bad_root(r: swingstore::Result<GcReport>, key: &str) -> Result<()> {
    match r {
        Err(Error::BadRoot { key: k, .. }) if k == key => Ok(()),
        other => anyhow::bail!("expected BadRoot for {key}, got {other:?}"),
    }
}

fn is_corrupt<T: std::fmt::Debug>(r: swingstore::Result<T>) -> Result<()> {
    match r {
        Err(Error::Corrupt { .. }) => Ok(()),
        other => anyhow::bail!("expected Corrupt, got {other:?}"),
    }
}

/// A root value that does not parse stops every kind of pass before anything is deleted, and
/// verify names the key.
fn bad_root_value_fails_closed(value: &str) -> Result<()> {
    let f = Fixture::new()?;
    f.store().kv().set("v3.lastSnapshot", value);
    f.store().commit()?;
    let r = f.gc0();
    ensure!(r.is_err(), "accepted: {r:?}");
    is_bad_root(f.gc0(), "v3.lastSnapshot")?;
    is_bad_root(f.store().gc_with(&GcOptions { now: true, ..GcOptions::default() }), "v3.lastSnapshot")?;
    is_bad_root(f.store().gc_dry_run(Some(0)), "v3.lastSnapshot")?;
    ensure!(f.store().contains(&f.g), "garbage must stay while a root is bad");
    f.live_files_present()?;
    let v = f.store().verify(true, None)?;
    ensure!(!v.ok && v.bad_roots == ["v3.lastSnapshot"], "{v:?}");
    f.store().list_blobs()?;
    f.store().stats()?;
    // Fixing the root lets the collector go on.
    f.store().kv().delete("v3.lastSnapshot");
    f.store().commit()?;
    ensure!(f.gc0()?.swept == 1 && !f.store().contains(&f.g));
    f.live_files_present()
}

#[test]
fn malformed_root_json() -> Result<()> {
    let a = SnapshotHash::of(&heap(1, 1));
    let g = SnapshotHash::of(&heap(1001, 1));
    let cases = [
        String::new(),
        "{".into(),
        "null".into(),
        "[]".into(),
        "42".into(),
        r#"{"snapshotID":5}"#.into(),
        r#"{"snapshotID":null}"#.into(),
        r#"{"startPos":{"itemCount":1}}"#.into(),
        format!(r#"{{"snapshotID":"{a}"}} trailing"#),
        // Ambiguous: which one is live? Refuse.
        format!(r#"{{"snapshotID":"{a}","snapshotID":"{g}"}}"#),
        // Deep nesting must be an error, not a stack overflow.
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!(r#"{{"snapshotID":{}"{a}"{}}}"#, "[".repeat(100_000), "]".repeat(100_000)),
        // A 4 MB string.
        format!(r#"{{"snapshotID":"{}"}}"#, "a".repeat(4 << 20)),
        "\u{feff}{}".into(),
    ];
    // Deep nesting inside an ignored extra field is skipped without recursion: the root is
    // valid (and no stack overflows).
    let nested = format!(r#"{{"x":{}1{},"snapshotID":"{a}"}}"#, "[".repeat(100_000), "]".repeat(100_000));
    ensure!(swingstore::parse_root_value("v1.lastSnapshot", nested.as_bytes())? == a);
    for value in &cases {
        let shown: String = value.chars().take(80).collect();
        bad_root_value_fails_closed(value).with_context(|| format!("root value {shown:?}"))?;
    }
    Ok(())
}

#[test]
fn hostile_snapshot_ids() -> Result<()> {
    let hex = SnapshotHash::of(&heap(1, 1)).to_hex();
    let ids = [
        "../../etc/passwd".to_owned(),
        format!("../{}", &hex[3..]),
        format!("{}/{}", &hex[..31], &hex[32..]),
        format!("..{}", &hex[2..]),
        "..".into(),
        "/".into(),
        hex.to_uppercase(),
        hex[..63].to_owned(),
        format!("{hex}0"),
        String::new(),
        format!("{}\u{0430}", &hex[..63]), // Cyrillic 'а' looks like 'a'
        format!("{}\\u0000", &hex[..58]),
        format!(" {}", &hex[..63]),
        format!("{}.lz4", &hex[..60]),
    ];
    for id in &ids {
        ensure!(matches!(SnapshotHash::parse(id), Err(Error::InvalidHash { .. })), "{id:?} parsed");
        let value = serde_json::json!({ "snapshotID": id, "startPos": { "itemCount": 1 } }).to_string();
        bad_root_value_fails_closed(&value).with_context(|| format!("snapshotID {id:?}"))?;
    }
    Ok(())
}

/// A root naming a well-formed hash that is not stored is reported as missing; the collector
/// still runs (there is nothing it could protect) and deletes no live blob.
#[test]
fn root_naming_an_absent_blob_is_reported_missing() -> Result<()> {
    let f = Fixture::new()?;
    // commit() refuses a root that names an absent blob, and keeps the block staged.
    let absent = SnapshotHash::of(b"never saved");
    f.store().kv().set("v3.lastSnapshot", &format_root_value(&absent, 0));
    let refused = f.store().commit();
    ensure!(
        matches!(&refused, Err(Error::DanglingRoot { key, .. }) if key == "v3.lastSnapshot"),
        "{refused:?}"
    );
    ensure!(f.store().kv().staged_len() == 1, "the block stays staged");
    f.store().abort();
    // A blob that vanishes behind the store's back (an operator's rm) is reported by verify
    // and by every collection, which still sweeps nothing live.
    let gone = f.store().save_bytes(b"deleted by hand")?;
    f.store().kv().set("v3.lastSnapshot", &format_root_value(&gone.hash, 0));
    f.store().commit()?;
    fs::remove_file(f.path.join("snapshots").join(format!("{}.lz4", gone.hash)))?;
    let v = f.store().verify(false, None)?;
    ensure!(!v.ok && v.missing == [gone.hash.to_hex()], "{v:?}");
    ensure!(matches!(f.store().load_bytes(&gone.hash), Err(Error::NotFound { .. })));
    let r = f.store().gc_with(&GcOptions { grace: Some(0), ..GcOptions::default() })?;
    ensure!(r.errors.iter().any(|e| e.item == gone.hash.to_hex() && e.error.contains("missing")), "{r:?}");
    f.store().kv().delete("v3.lastSnapshot");
    f.store().commit()?;
    f.gc0()?;
    f.live_files_present()
}

/// A standard frame of `data` whose header claims `claimed` bytes of content.
fn frame_claiming(data: &[u8], claimed: u64) -> Result<Vec<u8>> {
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .content_size(Some(claimed));
    let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
    enc.write_all(data)?;
    enc.flush()?;
    let mut out = enc.get_ref().clone();
    out.extend_from_slice(&[0, 0, 0, 0]); // end mark (the encoder refuses to write it: sizes differ)
    Ok(out)
}

/// Damage to a live blob: every read path reports it as corrupt, verify lists it, and the
/// collector leaves it alone (and still sweeps the garbage).
fn damaged_live_blob(damage: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    damaged_live_blob_with(damage, false)
}

/// `content_intact`: the damage leaves the frame's content whole (bytes after the end mark):
/// the streaming reader, which stops at the end mark, may then serve the (verified) bytes.
fn damaged_live_blob_with(damage: impl FnOnce(&Path) -> Result<()>, content_intact: bool) -> Result<()> {
    let f = Fixture::new()?;
    damage(&f.file(&f.a))?;
    is_corrupt(f.store().load_bytes(&f.a))?;
    is_corrupt(f.store().verify_blob(&f.a))?;
    let mut reader = f.store().load(&f.a)?;
    let mut streamed = Vec::new();
    match std::io::Read::read_to_end(&mut reader, &mut streamed) {
        Err(_) => {}
        Ok(_) if content_intact => ensure!(streamed == heap(1, 1), "the streaming reader served wrong bytes"),
        Ok(n) => anyhow::bail!("the streaming reader accepted a damaged blob ({n} bytes)"),
    }
    ensure!(f.store().load_bytes(&f.b)? == heap(2, 1));
    let v = f.store().verify(true, None)?;
    ensure!(!v.ok && v.corrupt == [f.a.to_hex()], "{v:?}");
    let r = f.gc0()?;
    ensure!(r.swept == 1 && !f.store().contains(&f.g), "{r:?}");
    f.live_files_present()?;
    let r = f.store().gc_with(&GcOptions { now: true, ..GcOptions::default() })?;
    ensure!(r.swept == 0, "{r:?}");
    f.live_files_present()
}

#[test]
fn frame_claiming_a_huge_content_size_is_not_allocated() -> Result<()> {
    for claimed in [1u64 << 62, u64::MAX, 64 << 30] {
        damaged_live_blob(|path| Ok(fs::write(path, frame_claiming(&heap(1, 1), claimed)?)?))?;
    }
    // A claimed size smaller than the content is corrupt too.
    damaged_live_blob(|path| Ok(fs::write(path, frame_claiming(&heap(1, 1), 10)?)?))
}

#[test]
fn block_length_beyond_the_block_maximum() -> Result<()> {
    // Our own header (independent 256 KiB blocks), then a block claiming ~2 GiB.
    let header = [0x04u8, 0x22, 0x4d, 0x18, 0x60, 0x50, 0xfb];
    for size in [0x7fff_ffffu32, 0xffff_ffff, (256 << 10) + 1, 1 << 20] {
        damaged_live_blob(|path| {
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(&size.to_le_bytes());
            bytes.extend_from_slice(&[0u8; 64]);
            Ok(fs::write(path, bytes)?)
        })?;
    }
    // Bad descriptors: reserved bits, an invalid block size code, a wrong header checksum.
    for (flg, bd, hc) in
        [(0x61u8, 0x50u8, 0xfbu8), (0x60, 0x10, 0xfb), (0x60, 0x50, 0x00), (0x60, 0x00, 0x00)]
    {
        damaged_live_blob(|path| Ok(fs::write(path, [0x04, 0x22, 0x4d, 0x18, flg, bd, hc, 0, 0, 0, 0])?))?;
    }
    Ok(())
}

#[test]
fn truncated_frames() -> Result<()> {
    for keep in [0.5f64, 0.99, 0.0] {
        damaged_live_blob(|path| {
            let bytes = fs::read(path)?;
            let n = ((bytes.len() as f64) * keep) as usize;
            Ok(fs::write(path, &bytes[..n.max(1)])?)
        })?;
    }
    for keep in [3usize, 7, 11] {
        damaged_live_blob(|path| {
            let bytes = fs::read(path)?;
            Ok(fs::write(path, &bytes[..keep])?)
        })?;
    }
    Ok(())
}

#[test]
fn bit_flips() -> Result<()> {
    for at in [0.5f64, 0.25, 0.9] {
        damaged_live_blob(|path| {
            let mut bytes = fs::read(path)?;
            let i = ((bytes.len() as f64) * at) as usize;
            bytes[i] ^= 0x10;
            Ok(fs::write(path, bytes)?)
        })
        .with_context(|| format!("flip at {at}"))?;
    }
    // In the header (magic, descriptor) and in the end mark.
    for i in [0usize, 4, 5, 6] {
        damaged_live_blob(|path| {
            let mut bytes = fs::read(path)?;
            bytes[i] ^= 0x01;
            Ok(fs::write(path, bytes)?)
        })
        .with_context(|| format!("flip at byte {i}"))?;
    }
    damaged_live_blob(|path| {
        let mut bytes = fs::read(path)?;
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        Ok(fs::write(path, bytes)?)
    })
    .context("flip in the end mark")?;
    // Bytes after a valid frame: reported by verify and refused by the whole-blob loads.
    damaged_live_blob_with(
        |path| {
            let mut bytes = fs::read(path)?;
            bytes.extend_from_slice(b"extra");
            Ok(fs::write(path, bytes)?)
        },
        true,
    )
    .context("trailing bytes")
}

#[test]
fn zero_length_blob_file() -> Result<()> {
    damaged_live_blob(|path| Ok(fs::write(path, b"")?))
}

#[test]
fn blob_replaced_by_a_directory() -> Result<()> {
    let f = Fixture::new()?;
    for h in [f.a, f.g] {
        fs::remove_file(f.file(&h))?;
        fs::create_dir(f.file(&h))?;
    }
    ensure!(f.store().load_bytes(&f.a).is_err());
    ensure!(f.store().verify_blob(&f.a).is_err());
    let v = f.store().verify(true, None)?;
    ensure!(!v.ok && v.corrupt.contains(&f.a.to_hex()), "{v:?}");
    // Saving the same bytes again cannot replace the directory: an error, not a panic.
    ensure!(matches!(f.store().save_bytes(&heap(1, 1)), Err(Error::Io { .. })));
    // The unreferenced one cannot be unlinked: reported, and the pass goes on.
    let r = f.gc0()?;
    ensure!(r.errors.iter().any(|e| e.item == f.g.to_hex()), "{r:?}");
    ensure!(f.file(&f.g).is_dir() && f.file(&f.a).is_dir());
    let r = f.store().gc_with(&GcOptions { now: true, scan: true, ..GcOptions::default() })?;
    ensure!(!r.errors.is_empty(), "{r:?}");
    ensure!(f.file(&f.a).is_dir() && f.store().load_bytes(&f.b)? == heap(2, 1));
    Ok(())
}

#[test]
fn blob_replaced_by_a_symlink() -> Result<()> {
    let f = Fixture::new()?;
    let outside = f.path.parent().context("parent")?.join("outside");
    fs::create_dir(&outside)?;
    // Symlinks to valid copies kept outside the store.
    for h in [f.a, f.g] {
        let copy = outside.join(format!("{h}.lz4"));
        fs::copy(f.file(&h), &copy)?;
        fs::remove_file(f.file(&h))?;
        std::os::unix::fs::symlink(&copy, f.file(&h))?;
    }
    // An orphan symlink (a blob name the store has no record of).
    let stranger = SnapshotHash::of(b"stranger");
    let target = outside.join("stranger");
    fs::write(&target, b"not a frame")?;
    std::os::unix::fs::symlink(&target, f.file(&stranger))?;

    is_corrupt(f.store().load_bytes(&f.a))?;
    ensure!(!f.store().contains(&f.a));
    let v = f.store().verify(true, None)?;
    ensure!(!v.ok && v.corrupt.contains(&f.a.to_hex()), "{v:?}");
    let r = f.store().gc_with(&GcOptions { grace: Some(0), scan: true, ..GcOptions::default() })?;
    ensure!(r.errors.iter().any(|e| e.item == stranger.to_hex()), "{r:?}");
    // The symlinks go or stay, but what they point to outside the store is never touched.
    for h in [f.a, f.g] {
        ensure!(outside.join(format!("{h}.lz4")).is_file(), "a file outside the store was deleted");
    }
    ensure!(target.is_file() && fs::symlink_metadata(f.file(&stranger)).is_ok());
    f.live_files_present()?;
    let r = f.store().gc_with(&GcOptions { now: true, ..GcOptions::default() })?;
    ensure!(target.is_file() && outside.join(format!("{}.lz4", f.a)).is_file(), "{r:?}");
    f.live_files_present()
}

#[test]
fn unknown_files_in_the_snapshot_area() -> Result<()> {
    let f = Fixture::new()?;
    let area = f.path.join("snapshots");
    let upper = format!("{}.lz4", f.a.to_hex().to_uppercase());
    let names =
        ["README".to_owned(), "x.lz4".into(), upper.clone(), format!("{}.lz4.tmp", f.a), ".hidden".into()];
    for name in &names {
        fs::write(area.join(name), b"junk")?;
    }
    fs::create_dir(area.join("subdir"))?;
    let v = f.store().verify(false, None)?;
    ensure!(!v.ok, "{v:?}");
    for name in names.iter().chain(std::iter::once(&"subdir".to_owned())) {
        ensure!(v.orphans.contains(name), "{name} not reported: {v:?}");
    }
    // An ordinary pass reports strays and leaves them.
    let r = f.store().gc_with(&GcOptions { grace: Some(0), scan: true, ..GcOptions::default() })?;
    ensure!(r.strays.len() == names.len() + 1, "{r:?}");
    for name in &names {
        ensure!(area.join(name).exists(), "{name} removed by an ordinary pass");
    }
    // An offline pass reports them too, and removes none: they are not names the store writes.
    let r = f.store().gc_with(&GcOptions { now: true, ..GcOptions::default() })?;
    ensure!(r.strays.len() == names.len() + 1, "{r:?}");
    for name in &names {
        ensure!(area.join(name).exists(), "{name} removed by an offline pass");
    }
    ensure!(area.join("subdir").is_dir());
    f.live_files_present()?;
    ensure!(f.store().load_bytes(&f.a)? == heap(1, 1));
    Ok(())
}

#[test]
fn undecodable_metadata_records() -> Result<()> {
    let mut f = Fixture::new()?;
    f.close();
    {
        let db = f.sled()?;
        let key = |h: &SnapshotHash| format!("m/{h}").into_bytes();
        db.insert(key(&f.a), &[0xffu8, 0xff, 0xff][..])?; // unknown version
        db.insert(key(&f.g), &[1u8, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..])?; // huge varint
        db.insert(key(&f.b), &[][..])?; // empty
        db.insert(key(&SnapshotHash::of(b"absent")), &[1u8, 2, 3][..])?;
        db.insert(&b"m/not-a-hash"[..], &[1u8][..])?;
        db.insert(&b"m/"[..], &[1u8][..])?;
        db.flush()?;
    }
    f.reopen()?;
    let store = f.store();
    // Loads still verify (only the length bound is lost).
    ensure!(store.load_bytes(&f.a)? == heap(1, 1) && store.load_bytes(&f.b)? == heap(2, 1));
    // The collector keeps a blob whose record it cannot read, and says so.
    let r = f.gc0()?;
    ensure!(r.swept == 0 && r.errors.iter().any(|e| e.item == f.g.to_hex()), "{r:?}");
    ensure!(store.contains(&f.g));
    let r = store.gc_with(&GcOptions { now: true, ..GcOptions::default() })?;
    ensure!(store.contains(&f.g), "{r:?}");
    f.live_files_present()?;
    let v = store.verify(true, None)?;
    ensure!(!v.ok && v.corrupt.contains(&f.g.to_hex()), "{v:?}");
    let states: Vec<BlobState> = store.list_blobs()?.into_iter().map(|b| b.state).collect();
    ensure!(states.contains(&BlobState::DamagedMetadata), "{states:?}");
    store.stats()?;
    // Saving the bytes again repairs the record; then the blob ages out normally.
    store.save_bytes(&heap(1001, 1))?;
    for _ in 0..3 {
        store.commit()?;
        f.gc0()?;
    }
    ensure!(!store.contains(&f.g));
    f.live_files_present()
}

#[test]
fn damaged_store_records_are_typed_errors_on_open() -> Result<()> {
    for (key, value) in [
        (&b"s/config"[..], &[0xffu8, 0][..]),
        (&b"s/config"[..], &[1u8, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..]),
        (&b"s/epoch"[..], &[1u8, 2, 3][..]),
        (&b"s/root_generation"[..], &[][..]),
    ] {
        let mut f = Fixture::new()?;
        f.close();
        {
            let db = f.sled()?;
            db.insert(key, value)?;
            db.flush()?;
        }
        match SwingStore::open(&f.path, OpenOptions { create: false }) {
            Err(Error::Codec { .. }) => {}
            other => anyhow::bail!(
                "{}: expected a Codec error, got {:?}",
                String::from_utf8_lossy(key),
                other.err()
            ),
        }
        ensure!(f.file(&f.a).is_file() && f.file(&f.b).is_file() && f.file(&f.g).is_file());
    }
    Ok(())
}

/// Root values and keys that are not UTF-8 (only reachable by writing sled directly).
#[test]
fn non_utf8_roots_fail_closed() -> Result<()> {
    for (key, value) in [
        (b"r/v5.lastSnapshot".to_vec(), vec![0xffu8, 0xfe]),
        (b"r/v\xff.lastSnapshot".to_vec(), b"{}".to_vec()),
    ] {
        let mut f = Fixture::new()?;
        f.close();
        {
            let db = f.sled()?;
            db.insert(&key[..], &value[..])?;
            db.flush()?;
        }
        f.reopen()?;
        let r = f.gc0();
        ensure!(matches!(r, Err(Error::BadRoot { .. }) | Err(Error::Codec { .. })), "{r:?}");
        ensure!(f.store().contains(&f.g), "nothing may be deleted");
        f.live_files_present()?;
        f.store().verify(false, None).ok();
    }
    Ok(())
}
