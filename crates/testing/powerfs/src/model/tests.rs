//! The model's crash semantics, without FUSE.

use super::*;

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn file(fs: &mut Fs, parent: Ino, n: &str, data: &[u8]) -> FsResult<Ino> {
    let ino = fs.create(parent, name(n), Owner::default())?;
    fs.write(ino, 0, data)?;
    Ok(ino)
}

fn contents(fs: &Fs, parent: Ino, n: &str) -> FsResult<Vec<u8>> {
    fs.read(fs.lookup(parent, name(n))?, 0, u32::MAX)
}

#[test]
fn an_unsynced_write_is_lost_and_a_synced_one_kept() -> FsResult<()> {
    let mut fs = Fs::new();
    let f = file(&mut fs, ROOT, "f", b"first")?;
    fs.fsync(f)?;
    fs.fsyncdir(ROOT)?;
    fs.write(f, 5, b" second")?;
    fs.truncate(f, 3)?;
    assert_eq!(contents(&fs, ROOT, "f")?, b"fir", "the live view has every write");
    fs.crash();
    assert_eq!(contents(&fs, ROOT, "f")?, b"first");
    Ok(())
}

#[test]
fn fsync_keeps_data_but_a_new_name_needs_fsyncdir() -> FsResult<()> {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
    fs.fsyncdir(ROOT)?;
    let f = file(&mut fs, d, "f", b"data")?;
    fs.fsync(f)?;
    let mut without = fs.clone();
    without.crash();
    assert_eq!(without.lookup(d, name("f")), Err(FsError::NotFound), "the name was never synced");
    assert_eq!(without.inode_count(), 2, "the unreachable inode is dropped");
    fs.fsyncdir(d)?;
    fs.crash();
    assert_eq!(contents(&fs, d, "f")?, b"data");
    Ok(())
}

#[test]
fn fsyncdir_makes_entries_durable_not_the_childrens_contents() -> FsResult<()> {
    let mut fs = Fs::new();
    file(&mut fs, ROOT, "f", b"never synced")?;
    let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
    file(&mut fs, d, "inner", b"x")?;
    fs.fsyncdir(ROOT)?;
    fs.crash();
    assert_eq!(contents(&fs, ROOT, "f")?, b"", "a new file's durable content is empty");
    assert_eq!(fs.readdir(d)?, Vec::new(), "a new directory's durable entries are empty");
    Ok(())
}

#[test]
fn a_rename_is_durable_only_after_fsyncdir_of_both_sides() -> FsResult<()> {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, name("a"), Owner::default())?;
    let b = fs.mkdir(ROOT, name("b"), Owner::default())?;
    fs.fsyncdir(ROOT)?;
    let f = file(&mut fs, a, "f", b"blob")?;
    fs.fsync(f)?;
    fs.fsyncdir(a)?;
    fs.rename(a, name("f"), b, name("g"), false, false)?;
    let mut before = fs.clone();
    before.crash();
    assert_eq!(contents(&before, a, "f")?, b"blob");
    assert_eq!(before.lookup(b, name("g")), Err(FsError::NotFound));
    // Only the destination synced: both names survive, one inode with two links.
    fs.fsyncdir(b)?;
    let mut both = fs.clone();
    both.crash();
    let (old, new) = (both.lookup(a, name("f"))?, both.lookup(b, name("g"))?);
    assert_eq!(old, new);
    assert_eq!(both.node(old)?.nlink, 2);
    fs.fsyncdir(a)?;
    fs.crash();
    assert_eq!(fs.lookup(a, name("f")), Err(FsError::NotFound));
    assert_eq!(contents(&fs, b, "g")?, b"blob");
    assert_eq!(fs.node(fs.lookup(b, name("g"))?)?.nlink, 1);
    Ok(())
}

#[test]
fn an_unlink_comes_back_without_fsyncdir() -> FsResult<()> {
    let mut fs = Fs::new();
    let f = file(&mut fs, ROOT, "f", b"still here")?;
    fs.fsync(f)?;
    fs.fsyncdir(ROOT)?;
    fs.unlink(ROOT, name("f"))?;
    assert_eq!(fs.lookup(ROOT, name("f")), Err(FsError::NotFound));
    assert_eq!(fs.read(f, 0, 100)?, b"still here", "an open descriptor still reads it");
    let mut back = fs.clone();
    back.crash();
    assert_eq!(contents(&back, ROOT, "f")?, b"still here");
    fs.fsyncdir(ROOT)?;
    fs.crash();
    assert_eq!(fs.lookup(ROOT, name("f")), Err(FsError::NotFound));
    Ok(())
}

#[test]
fn rename_flags_and_targets_behave_like_linux() -> FsResult<()> {
    let mut fs = Fs::new();
    file(&mut fs, ROOT, "a", b"A")?;
    file(&mut fs, ROOT, "b", b"B")?;
    let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
    file(&mut fs, d, "x", b"X")?;
    fs.mkdir(ROOT, name("e"), Owner::default())?;
    assert_eq!(fs.rename(ROOT, name("a"), ROOT, name("b"), true, false), Err(FsError::Exists));
    fs.rename(ROOT, name("a"), ROOT, name("b"), false, true)?;
    assert_eq!((contents(&fs, ROOT, "a")?, contents(&fs, ROOT, "b")?), (b"B".to_vec(), b"A".to_vec()));
    assert_eq!(fs.rename(ROOT, name("a"), ROOT, name("nope"), false, true), Err(FsError::NotFound));
    assert_eq!(fs.rename(ROOT, name("e"), ROOT, name("d"), false, false), Err(FsError::NotEmpty));
    assert_eq!(fs.rename(ROOT, name("a"), ROOT, name("d"), false, false), Err(FsError::IsDir));
    assert_eq!(fs.rename(ROOT, name("d"), ROOT, name("a"), false, false), Err(FsError::NotDir));
    assert_eq!(fs.rename(ROOT, name("d"), d, name("inside"), false, false), Err(FsError::Invalid));
    fs.rename(ROOT, name("a"), ROOT, name("b"), false, false)?;
    assert_eq!(contents(&fs, ROOT, "b")?, b"B");
    assert_eq!(fs.lookup(ROOT, name("a")), Err(FsError::NotFound));
    fs.rename(ROOT, name("d"), ROOT, name("e"), false, false)?;
    assert_eq!(fs.path(fs.lookup(fs.lookup(ROOT, name("e"))?, name("x"))?), "/e/x");
    Ok(())
}

/// Every byte of a torn result is the live or the durable byte at that offset (or zero
/// where the file grew); and whole pages come from one side.
fn check_torn(live: &[u8], durable: &[u8], out: &[u8]) {
    assert!(out.len() == live.len() || out.len() == durable.len(), "size {} is neither", out.len());
    for (p, page) in out.chunks(PAGE).enumerate() {
        let at = |v: &[u8], i: usize| v.get(p * PAGE + i).copied().unwrap_or(0);
        let from_live = page.iter().enumerate().all(|(i, b)| *b == at(live, i));
        let from_durable = page.iter().enumerate().all(|(i, b)| *b == at(durable, i));
        assert!(from_live || from_durable, "page {p} mixes live and durable bytes or invents some");
    }
}

#[test]
fn a_torn_crash_keeps_a_subset_of_pages_and_invents_nothing() -> FsResult<()> {
    let durable: Vec<u8> = (0..5 * PAGE).map(|i| (i % 251) as u8).collect();
    let mut live = durable.clone();
    for page in [0, 2, 4] {
        live[page * PAGE + 7] ^= 0xff;
    }
    live.extend(std::iter::repeat_n(9u8, 2 * PAGE + 100));
    let (mut sizes, mut kept) = (BTreeSet::new(), BTreeSet::new());
    for seed in 0..200 {
        let mut fs = Fs::new();
        let f = file(&mut fs, ROOT, "f", &durable)?;
        fs.fsync(f)?;
        fs.fsyncdir(ROOT)?;
        fs.write(f, 0, &live)?;
        fs.crash_torn(&mut Rng::new(seed));
        let out = contents(&fs, ROOT, "f")?;
        check_torn(&live, &durable, &out);
        sizes.insert(out.len());
        let pages_from_live = out.chunks(PAGE).enumerate().filter(|(p, c)| {
            live.get(p * PAGE..(p * PAGE + c.len()).min(live.len())) == Some(*c)
                && durable.get(p * PAGE..p * PAGE + c.len()) != Some(*c)
        });
        kept.insert(pages_from_live.count());
    }
    assert_eq!(sizes, BTreeSet::from([durable.len(), live.len()]), "both sizes happen");
    assert!(kept.len() >= 4, "the subset varies: {kept:?}");
    // A synced file is never torn.
    let mut fs = Fs::new();
    let f = file(&mut fs, ROOT, "f", &live)?;
    fs.fsync(f)?;
    fs.fsyncdir(ROOT)?;
    fs.crash_torn(&mut Rng::new(1));
    assert_eq!(contents(&fs, ROOT, "f")?, live);
    Ok(())
}

#[test]
fn torn_truncation_zero_fills_past_the_live_end() {
    let durable = vec![1u8; 3 * PAGE];
    let live = vec![2u8; PAGE + 10];
    for seed in 0..100 {
        let out = torn(&live, &durable, &mut Rng::new(seed));
        check_torn(&live, &durable, &out);
    }
}

#[test]
fn a_crash_is_idempotent() -> FsResult<()> {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
    fs.fsyncdir(ROOT)?;
    let f = file(&mut fs, d, "f", b"abc")?;
    fs.fsync(f)?;
    fs.fsyncdir(d)?;
    file(&mut fs, d, "g", b"unsynced")?;
    fs.symlink(ROOT, name("l"), name("d/f"), Owner::default())?;
    fs.fsyncdir(ROOT)?;
    fs.crash_torn(&mut Rng::new(7));
    let once = (fs.tree(), contents(&fs, d, "f")?, fs.inode_count());
    fs.crash();
    let image = fs.image();
    let twice = (fs.tree(), contents(&fs, d, "f")?, fs.inode_count());
    assert_eq!(once, twice);
    assert_eq!(image.fs().tree(), once.0);
    assert_eq!(fs.readlink(fs.lookup(ROOT, name("l"))?)?, "d/f");
    assert_eq!(
        once.0,
        vec![("/d".to_owned(), Kind::Dir), ("/d/f".to_owned(), Kind::File), ("/l".to_owned(), Kind::Symlink)]
    );
    Ok(())
}
