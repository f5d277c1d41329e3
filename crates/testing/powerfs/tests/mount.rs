//! Through a real FUSE mount with std::fs: what survives a crash is exactly what was synced.
//! Prints `skipped (no FUSE: …)` and passes where FUSE cannot be mounted.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

use powerfs::state::lock;
use powerfs::{Image, mount, probe};

fn fuse_or_skip() -> bool {
    match probe() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("skipped (no FUSE: {reason})");
            false
        }
    }
}

#[test]
fn a_crash_through_the_mount_keeps_exactly_what_was_synced() -> Result<(), Box<dyn std::error::Error>> {
    if !fuse_or_skip() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mnt = dir.path();
    let m = mount(mnt, Image::empty())?;

    // A directory made durable in the root, with a file whose entry and data are synced.
    fs::create_dir(mnt.join("d"))?;
    File::open(mnt)?.sync_all()?;
    let mut synced = File::create(mnt.join("d/synced"))?;
    synced.write_all(b"durable bytes")?;
    synced.sync_all()?;
    fs::write(mnt.join("d/gone"), b"x")?;
    File::open(mnt.join("d/gone"))?.sync_all()?;
    File::open(mnt.join("d"))?.sync_all()?;
    // Later writes to it are not synced.
    synced.write_all(b" and more")?;
    drop(synced);
    // A file whose name is synced but whose data never is (closed, flushed: not durable).
    let mut empty = File::create(mnt.join("d/empty"))?;
    File::open(mnt.join("d"))?.sync_all()?;
    empty.write_all(b"never synced")?;
    empty.flush()?;
    drop(empty);
    // A file whose data is synced but whose name never is.
    let mut nameless = File::create(mnt.join("d/nameless"))?;
    nameless.write_all(b"lost")?;
    nameless.sync_data()?;
    drop(nameless);
    // A positional write past the end, then a read back through the mount (live view).
    let f = OpenOptions::new().read(true).write(true).open(mnt.join("d/synced"))?;
    f.write_all_at(b"!", 30)?;
    let mut live = Vec::new();
    File::open(mnt.join("d/synced"))?.read_to_end(&mut live)?;
    assert_eq!(live.len(), 31);
    assert_eq!(&live[..22], b"durable bytes and more");
    drop(f);
    // An unlink that is never synced, and a rename that is (in the root only).
    fs::remove_file(mnt.join("d/gone"))?;
    fs::rename(mnt.join("d/synced"), mnt.join("moved"))?;
    File::open(mnt)?.sync_all()?;

    let requests = lock(m.shared()).log.records().count();
    assert!(requests > 20, "the request log saw {requests} requests");
    let image = m.crash(None);
    // Frozen: every request now fails with EIO.
    let err = fs::metadata(mnt.join("moved")).err();
    assert!(err.is_some(), "a request after the cut succeeded");
    m.unmount()?;

    let m = mount(mnt, image)?;
    assert_eq!(fs::read(mnt.join("d/synced"))?, b"durable bytes", "the old name was synced in d");
    assert_eq!(fs::read(mnt.join("moved"))?, b"durable bytes", "the new name was synced in /");
    assert!(!mnt.join("d/nameless").exists(), "a name that was never synced survived");
    assert_eq!(fs::read(mnt.join("d/empty"))?, b"", "unsynced data survived");
    assert_eq!(fs::read(mnt.join("d/gone"))?, b"x", "an unsynced unlink took effect");
    let mut names: Vec<String> = fs::read_dir(mnt.join("d"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(names, ["empty", "gone", "synced"]);
    // The remounted file system works (live and durable start as the image).
    fs::write(mnt.join("after"), b"y")?;
    assert_eq!(fs::read(mnt.join("after"))?, b"y");
    m.unmount()?;
    Ok(())
}
