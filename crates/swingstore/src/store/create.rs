//! Creating a store's pieces durably: its directory (every directory `mkdir -p` made, synced
//! in its parent), and a new sled database, built in `kv.new/` and renamed to `kv/` once its
//! files are synced.

use std::fs;
use std::io;
use std::path::Path;

use super::open::open_sled;
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, IoContext, Result};
use crate::layout::Layout;

/// Where a new sled database is built before it is renamed to `kv/`.
pub(super) const KV_STAGING: &str = "kv.new";

/// Whether the store has no sled database yet: no `kv/`, or a `kv/` without sled's files (left
/// by a crash of an older version while it created one: nothing was ever committed in it).
pub(super) fn needs_new_kv(layout: &Layout) -> Result<bool> {
    let kv = layout.kv_dir();
    if !kv.exists() {
        return Ok(true);
    }
    let empty = !kv.join("db").exists() && !kv.join("conf").exists();
    if empty {
        fs::remove_dir_all(&kv).at(&kv)?;
    }
    Ok(empty)
}

/// Builds a new sled database in `kv.new/`, makes its files and their names durable, then
/// renames it to `kv/` and syncs the store directory: a crash during creation leaves no
/// half-written `kv/` (sled writes its `conf` file in two writes; a store whose `conf` is torn
/// would never open again).
pub(super) fn create_kv(layout: &Layout, durability: &Durability) -> Result<()> {
    let staging = layout.root().join(KV_STAGING);
    remove_dir_if_present(&staging)?;
    {
        let db = open_sled(&staging, layout.root())?;
        db.flush()?;
    }
    let mut dirs = vec![staging.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            if entry.file_type().at(&entry.path())?.is_dir() {
                dirs.push(entry.path());
            }
            durability.sync_path(SyncStep::KvCreate, &entry.path())?;
        }
    }
    durability.sync_path(SyncStep::KvCreate, &staging)?;
    fs::rename(&staging, layout.kv_dir()).at(&layout.kv_dir())?;
    durability.sync_path(SyncStep::KvCreate, layout.root())
}

pub(super) fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// What the marker file says (informational; its presence is what counts).
pub(super) const STORE_MARKER_TEXT: &str = "snapgc store\nformat 1\n";

/// The directory holding `dir` (`.` for a bare relative name).
pub(super) fn parent_of(dir: &Path) -> std::path::PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => Path::new(".").to_owned(),
    }
}

/// `mkdir -p`, then fsyncs the parent of every directory it created, deepest first.
pub(super) fn create_dir_durably(root: &Path, durability: &Durability) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(root);
    while let Some(dir) = at {
        if dir.as_os_str().is_empty() || dir.exists() {
            break;
        }
        missing.push(dir.to_owned());
        at = dir.parent();
    }
    fs::create_dir_all(root).at(root)?;
    for dir in &missing {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        durability.sync_path(SyncStep::StoreCreate, parent)?;
    }
    Ok(())
}
