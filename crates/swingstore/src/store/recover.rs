//! What a dead process may have left, dealt with at open: temp files of saves, sled's unfinished
//! snapshot files, sled's value files not yet synced, and (after an unclean close) blob files
//! the killed process renamed but never synced.

use std::fs;
use std::io;
use std::path::Path;

use super::syncer::Syncer;
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, IoContext, Result};
use crate::layout::{Layout, TEMP_PREFIX, TEMP_SUFFIX, parse_blob_file_name};

/// fsyncs every file in `kv/blobs/` and the directory (see [`SyncStep::KvBlobs`]).
pub(super) fn sync_value_files_before_open(layout: &Layout, durability: &Durability) -> Result<()> {
    let dir = layout.kv_dir().join("blobs");
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut any = false;
    for entry in entries {
        let entry = entry.at(&dir)?;
        durability.sync_path(SyncStep::KvBlobs, &entry.path())?;
        any = true;
    }
    if any {
        durability.sync_path(SyncStep::KvBlobs, &dir)?;
    }
    Ok(())
}

/// fsyncs every blob file (on the sync threads, several in flight) and then `snapshots/`
/// (after an unclean close).
pub(super) fn sync_blob_area(layout: &Layout, durability: &Durability, syncer: &Syncer) -> Result<()> {
    let dir = layout.blob_dir();
    let mut paths = Vec::new();
    for entry in fs::read_dir(&dir).at(&dir)? {
        let entry = entry.at(&dir)?;
        let name = entry.file_name();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && name.to_str().and_then(parse_blob_file_name).is_some() {
            paths.push(entry.path());
        }
    }
    for path in paths {
        syncer.push(SyncStep::OpenBlobs, path);
    }
    syncer.wait()?;
    durability.sync_path(SyncStep::OpenBlobs, &dir)
}

/// Removes the temp files saves write (`save-*.tmp`) from the temp area; returns how many.
/// Anything else there is not ours: it is left alone (the collector reports it).
pub(super) fn remove_temp_leftovers(temp_dir: &Path) -> Result<u64> {
    let mut removed = 0;
    for entry in fs::read_dir(temp_dir).at(temp_dir)? {
        let entry = entry.at(temp_dir)?;
        let name = entry.file_name();
        let ours = name.to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX));
        if !ours {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove {}: {e}", entry.path().display()),
        }
    }
    Ok(removed)
}

/// sled 0.34 writes `snap.<lsn>.generating` and renames it when complete; a kill in between
/// leaves a file that makes the next open fail with `Corruption`. The completed snapshots and
/// the log are untouched by it, so removing it is safe (we hold the store's lock).
pub(super) fn remove_unfinished_sled_snapshots(kv_dir: &Path) -> Result<()> {
    for name in unfinished_sled_snapshots(kv_dir)? {
        tracing::info!("removing sled's unfinished snapshot {name}");
        let path = kv_dir.join(&name);
        fs::remove_file(&path).at(&path)?;
    }
    Ok(())
}

/// The names of sled's unfinished snapshot files in `kv_dir`.
pub(super) fn unfinished_sled_snapshots(kv_dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(kv_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(kv_dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.at(kv_dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            names.push(name);
        }
    }
    Ok(names)
}
